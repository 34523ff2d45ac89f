/** Interleaved (GPT-J style) rotary position embedding of the `js` backend, in place. */
import type { Floats } from '../../core/backend.ts';

/**
 * x [B, T, heads, dim]: pair (2j, 2j+1) of the row at position p = pos0 + t is rotated by angle
 * p·θ^(−2j/dim); `inverse` rotates by the negative angle, which is the exact backward.
 */
export function rope(
  x: Floats,
  batch: number,
  seq: number,
  heads: number,
  dim: number,
  pos0: number,
  theta: number,
  inverse: boolean,
): void {
  const half = dim / 2;
  const cos = new Float64Array(seq * half);
  const sin = new Float64Array(seq * half);
  for (let t = 0; t < seq; t++) {
    for (let j = 0; j < half; j++) {
      const angle = (pos0 + t) / theta ** ((2 * j) / dim);
      cos[t * half + j] = Math.cos(angle);
      sin[t * half + j] = inverse ? -Math.sin(angle) : Math.sin(angle);
    }
  }
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      const tab = t * half;
      for (let h = 0; h < heads; h++) {
        const off = ((b * seq + t) * heads + h) * dim;
        for (let j = 0; j < half; j++) {
          const c = cos[tab + j];
          const s = sin[tab + j];
          const x0 = x[off + 2 * j];
          const x1 = x[off + 2 * j + 1];
          x[off + 2 * j] = x0 * c - x1 * s;
          x[off + 2 * j + 1] = x0 * s + x1 * c;
        }
      }
    }
  }
}
