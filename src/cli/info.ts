/** `info`: what a model folder holds — config, parameters by group, λ_init and λ per layer (V1). */
import type { Backend } from '../core/backend.ts';
import { loadModelFolder } from '../io/model-folder.ts';
import type { ModelConfig } from '../model/config.ts';
import { countParameters, type ParameterGroup } from '../model/parameters.ts';
import { variantModule } from '../model/variants/index.ts';

export interface ModelInfo {
  folder: string;
  config: ModelConfig;
  parameters: { total: number; byGroup: Record<ParameterGroup, number> };
  /** Variants with a λ per layer from the weights (V1): λ_init and the current λ of every layer. */
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
  const { weightLambda, lambdaInit } = variantModule(c);
  if (weightLambda && lambdaInit) {
    info.lambda = [];
    for (let l = 0; l < c.n_layers; l++)
      info.lambda.push({ layer: l, lambda_init: lambdaInit(c, l), lambda: weightLambda(c, model.params, l) });
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
