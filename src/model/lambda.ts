/**
 * The two ways DIFF attention gets its λ, forward and backward.
 *
 * V1 (per layer, SPEC §1): λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init(depth).
 * V2 (per token and head, SPEC §2): λ[t, i] = sigmoid(x_t · W_λᵀ)_i.
 */
import type { Backend, Floats } from '../core/backend.ts';
import type { ModelConfig } from './config.ts';

/** λ_init(depth) = 0.8 − 0.6·exp(−0.3·depth), depth = 0-based layer index. */
export function lambdaInit(depth: number): number {
  return 0.8 - 0.6 * Math.exp(-0.3 * depth);
}

/** The λ_init of a layer: the config's constant when set (ablation), else the depth schedule. */
export function layerLambdaInit(c: ModelConfig, depth: number): number {
  return c.lambda_init ?? lambdaInit(depth);
}

function dot(a: Floats, b: Floats): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export interface LambdaVectors {
  q1: Floats;
  k1: Floats;
  q2: Floats;
  k2: Floats;
}

/** λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init */
export function reparameterisedLambda(v: LambdaVectors, init: number): number {
  return Math.exp(dot(v.q1, v.k1)) - Math.exp(dot(v.q2, v.k2)) + init;
}

/** Accumulate d loss / d (λq1, λk1, λq2, λk2) given d loss / d λ. */
export function reparameterisedLambdaBackward(v: LambdaVectors, dLambda: number, grads: LambdaVectors): void {
  const e1 = Math.exp(dot(v.q1, v.k1)) * dLambda;
  const e2 = -Math.exp(dot(v.q2, v.k2)) * dLambda;
  for (let i = 0; i < v.q1.length; i++) {
    grads.q1[i] += e1 * v.k1[i];
    grads.k1[i] += e1 * v.q1[i];
    grads.q2[i] += e2 * v.k2[i];
    grads.k2[i] += e2 * v.q2[i];
  }
}

/** x [rows, D], w [H, D] → λ [rows, H] */
export function tokenLambda(
  backend: Backend,
  x: Floats,
  w: Floats,
  rows: number,
  dim: number,
  heads: number,
): Floats {
  const z = backend.linearForward(x, w, rows, dim, heads);
  for (let i = 0; i < z.length; i++) z[i] = 1 / (1 + Math.exp(-z[i]));
  return z;
}

/** Given λ = sigmoid(z) and d λ, accumulate dW and return dx. */
export function tokenLambdaBackward(
  backend: Backend,
  lambda: Floats,
  dLambda: Floats,
  x: Floats,
  w: Floats,
  rows: number,
  dim: number,
  heads: number,
  dw: Floats,
): Floats {
  const dz = backend.zeros(lambda.length);
  for (let i = 0; i < dz.length; i++) dz[i] = dLambda[i] * lambda[i] * (1 - lambda[i]);
  return backend.linearBackward(dz, x, w, rows, dim, heads, dw, true)!;
}
