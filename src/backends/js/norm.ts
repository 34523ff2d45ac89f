/** RMSNorm kernels of the `js` backend: y = x / sqrt(mean(x²) + eps) · w, per row. */
import type { Floats, RmsNormForward } from '../../core/backend.ts';

type Alloc = (length: number) => Floats;

/** x [rows, dim], w [dim] → y [rows, dim], rstd [rows] */
export function rmsNormForward(
  alloc: Alloc,
  x: Floats,
  w: Floats,
  rows: number,
  dim: number,
  eps: number,
): RmsNormForward {
  const y = alloc(rows * dim);
  const rstd = alloc(rows);
  for (let r = 0; r < rows; r++) {
    const off = r * dim;
    let sumSq = 0;
    for (let i = 0; i < dim; i++) sumSq += x[off + i] * x[off + i];
    const s = 1 / Math.sqrt(sumSq / dim + eps);
    rstd[r] = s;
    for (let i = 0; i < dim; i++) y[off + i] = x[off + i] * s * w[i];
  }
  return { y, rstd };
}

/**
 * With x̂ = x·s: dx = s·(dy⊙w − x̂·mean(dy⊙w⊙x̂)); dw += Σ_rows dy⊙x̂.
 */
export function rmsNormBackward(
  alloc: Alloc,
  dy: Floats,
  x: Floats,
  w: Floats,
  rstd: Floats,
  rows: number,
  dim: number,
  dw: Floats,
): Floats {
  const dx = alloc(rows * dim);
  for (let r = 0; r < rows; r++) {
    const off = r * dim;
    const s = rstd[r];
    let dot = 0; // Σ dy·w·x̂
    for (let i = 0; i < dim; i++) {
      const xHat = x[off + i] * s;
      dot += dy[off + i] * w[i] * xHat;
      dw[i] += dy[off + i] * xHat;
    }
    const mean = dot / dim;
    for (let i = 0; i < dim; i++) dx[off + i] = s * (dy[off + i] * w[i] - x[off + i] * s * mean);
  }
  return dx;
}
