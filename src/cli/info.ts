/** `info`: what a model folder holds — config, parameters by group, λ_init and λ per layer (V1). */
import type { Backend } from '../core/backend.ts';
import { loadModelFolder } from '../io/model-folder.ts';
import { layerLambdaInit, type ModelConfig } from '../model/config.ts';
import { reparameterisedLambda } from '../model/lambda.ts';
import { countParameters, layerPrefix, type ParameterGroup } from '../model/parameters.ts';

export interface ModelInfo {
  folder: string;
  config: ModelConfig;
  parameters: { total: number; byGroup: Record<ParameterGroup, number> };
  /** V1 only: λ_init and the current λ of every layer. */
  lambda?: Array<{ layer: number; lambda_init: number; lambda: number }>;
  backend: string;
}

export function modelInfo(folder: string, backend: Backend): ModelInfo {
  const model = loadModelFolder(folder, backend);
  const c = model.config;
  const info: ModelInfo = {
    folder,
    config: c,
    parameters: countParameters(c),
    backend: backend.detail ? `${backend.name} (${backend.detail})` : backend.name,
  };
  if (c.variant === 'diff') {
    info.lambda = [];
    for (let l = 0; l < c.n_layers; l++) {
      const a = `${layerPrefix(l)}self_attn.lambda_`;
      const get = (n: string) => model.params.get(a + n)!;
      const init = layerLambdaInit(c, l);
      const lambda = reparameterisedLambda(
        { q1: get('q1'), k1: get('k1'), q2: get('q2'), k2: get('k2') },
        init,
      );
      info.lambda.push({ layer: l, lambda_init: init, lambda });
    }
  }
  return info;
}

export function printModelInfo(info: ModelInfo): string {
  const c = info.config;
  const lines = [`model folder  ${info.folder}`, `backend       ${info.backend}`, '', 'config'];
  for (const [key, value] of Object.entries(c)) lines.push(`  ${key.padEnd(15)} ${value}`);
  lines.push('', `parameters    ${info.parameters.total.toLocaleString('en-US')}`);
  for (const [group, n] of Object.entries(info.parameters.byGroup)) {
    if (n > 0) lines.push(`  ${group.padEnd(15)} ${n.toLocaleString('en-US').padStart(12)}`);
  }
  if (info.lambda) {
    lines.push('', 'layer  λ_init    λ');
    for (const l of info.lambda)
      lines.push(`${String(l.layer).padStart(5)}  ${l.lambda_init.toFixed(4)}  ${l.lambda.toFixed(4)}`);
  }
  return `${lines.join('\n')}\n`;
}
