/**
 * AdamW (Loshchilov & Hutter: decoupled weight decay) with global-norm gradient clipping.
 *
 * Weight decay applies to matrices only (embedding, projections, lm_head, V2's lambda_proj).
 * Exempt, as is customary and for a reason each: RMSNorm weights and V1's per-head norm weight are
 * scales whose natural value is 1, not 0; V1's λ vectors re-parameterise one scalar per layer, and
 * decay would pull λ towards λ_init regardless of the data.
 */
import { adamwUpdate, sumOfSquares } from '../backends/js/optimizer.ts';
import type { Backend } from '../core/backend.ts';
import type { ParameterSet } from '../model/parameters.ts';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

/** True for parameters that weight decay applies to (matrices). */
export function isDecayed(name: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && !name.endsWith('norm.weight');
}

export interface AdamWState {
  step: number;
  m: ParameterSet;
  v: ParameterSet;
}

/** √(Σ g²) over all gradients (with the backend's fused kernel when it has one). */
export function globalNorm(grads: ParameterSet, backend?: Backend): number {
  let sum = 0;
  for (const g of grads.values()) {
    sum = backend?.sumOfSquares ? sum + backend.sumOfSquares(g) : sumOfSquares(g, sum);
  }
  return Math.sqrt(sum);
}

/** Scale gradients so that their global norm is at most maxNorm; returns the norm before clipping. */
export function clipGradients(grads: ParameterSet, maxNorm: number, backend?: Backend): number {
  const norm = globalNorm(grads, backend);
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const g of grads.values()) {
      if (backend) backend.scaleInPlace(g, scale);
      else for (let i = 0; i < g.length; i++) g[i] *= scale;
    }
  }
  return norm;
}

export { adamwUpdate } from '../backends/js/optimizer.ts';

/**
 * One AdamW update of every parameter, in place; `decayed` says which get weight decay. With a
 * backend that has a fused update, it does the arithmetic (the same, to the bit).
 */
export function adamwStep(
  params: ParameterSet,
  grads: ParameterSet,
  state: AdamWState,
  lr: number,
  decayed: ReadonlySet<string>,
  o: AdamWOptions = ADAMW_DEFAULTS,
  backend?: Backend,
): void {
  state.step += 1;
  const c1 = 1 - o.beta1 ** state.step;
  const c2 = 1 - o.beta2 ** state.step;
  const update = backend?.adamwUpdate?.bind(backend) ?? adamwUpdate;
  for (const [name, p] of params) {
    const decay = decayed.has(name) ? 1 - lr * o.weightDecay : 1;
    const h = { lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, decay, c1, c2 };
    update(p, grads.get(name)!, state.m.get(name)!, state.v.get(name)!, h);
  }
}
