/**
 * DIFF V1's λ per layer is derived from four weight vectors (λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init):
 * finite weights can still give λ = ±Infinity or NaN (the exponentials overflow). A model whose λ is
 * not finite is unusable, so the trainer and the model loader check it besides the weights themselves.
 */
import type { Floats } from '../core/backend.ts';
import { layerLambdaInit, type ModelConfig } from './config.ts';
import { reparameterisedLambda } from './lambda.ts';
import { layerPrefix } from './parameters.ts';

/** "λ of layer l is NaN (from model.layers.l.self_attn.lambda_*)" for the first such layer, or undefined. */
export function nonFiniteLambda(
  config: ModelConfig,
  params: { get(name: string): ArrayLike<number> | undefined },
): string | undefined {
  if (config.variant !== 'diff') return undefined;
  for (let l = 0; l < config.n_layers; l++) {
    const a = `${layerPrefix(l)}self_attn.lambda_`;
    const get = (n: string) => params.get(a + n) as Floats;
    const lambda = reparameterisedLambda(
      { q1: get('q1'), k1: get('k1'), q2: get('q2'), k2: get('k2') },
      layerLambdaInit(config, l),
    );
    if (!Number.isFinite(lambda)) return `λ of layer ${l} is ${lambda} (from ${a}q1, k1, q2, k2)`;
  }
  return undefined;
}
