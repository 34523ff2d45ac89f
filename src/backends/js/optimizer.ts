/**
 * The reference optimiser arithmetic, the oracle of the fused kernels (Backend.adamwUpdate and
 * Backend.sumOfSquares of the wasm and native backends match it; the backend suite checks).
 */
import type { AdamWHyper, Floats } from '../../core/backend.ts';

/** The reference AdamW update of one parameter, in place (double arithmetic, float storage). */
export function adamwUpdate(p: Floats, g: Floats, m: Floats, v: Floats, h: AdamWHyper): void {
  // PyTorch's arrangement: p ← p·decay − (lr/c1)·m / (√v/√c2 + ε), one division per element
  const stepSize = h.lr / h.c1;
  const invSqrtC2 = 1 / Math.sqrt(h.c2);
  for (let i = 0; i < p.length; i++) {
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g[i];
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g[i] * g[i];
    p[i] = p[i] * h.decay - (stepSize * m[i]) / (Math.sqrt(v[i]) * invSqrtC2 + h.eps);
  }
}

/** The reference Σ x², added in order onto `start` (a running sum over several arrays). */
export function sumOfSquares(x: Floats, start = 0): number {
  let total = start;
  for (let i = 0; i < x.length; i++) total += x[i] * x[i];
  return total;
}
