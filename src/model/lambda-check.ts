/**
 * DIFF V1's λ per layer is derived from four weight vectors (λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init):
 * finite weights can still give λ = ±Infinity or NaN (the exponentials overflow). A model whose λ is
 * not finite is unusable, so the trainer and the model loader check it besides the weights themselves.
 */
import type { ModelConfig } from './config.ts';
import { attentionPrefix } from './names.ts';
import { variantModule } from './variants/index.ts';

/** "λ of layer l is NaN (from model.layers.l.self_attn.lambda_*)" for the first such layer, or undefined. */
export function nonFiniteLambda(
  config: ModelConfig,
  params: { get(name: string): ArrayLike<number> | undefined },
): string | undefined {
  const { weightLambda } = variantModule(config);
  if (!weightLambda) return undefined;
  for (let l = 0; l < config.n_layers; l++) {
    const lambda = weightLambda(config, params, l);
    if (!Number.isFinite(lambda))
      return `λ of layer ${l} is ${lambda} (from ${attentionPrefix(l)}lambda_q1, k1, q2, k2)`;
  }
  return undefined;
}
