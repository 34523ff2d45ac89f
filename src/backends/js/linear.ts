/** Dense kernels of the `js` backend: y = x·Wᵀ and its backward, as plain loops. */
import type { Floats } from '../../core/backend.ts';

type Alloc = (length: number) => Floats;

/** x [rows, inDim], w [outDim, inDim] → y [rows, outDim] */
export function linearForward(
  alloc: Alloc,
  x: Floats,
  w: Floats,
  rows: number,
  inDim: number,
  outDim: number,
): Floats {
  const y = alloc(rows * outDim);
  for (let r = 0; r < rows; r++) {
    const xOff = r * inDim;
    const yOff = r * outDim;
    for (let o = 0; o < outDim; o++) {
      const wOff = o * inDim;
      let acc = 0;
      for (let i = 0; i < inDim; i++) acc += x[xOff + i] * w[wOff + i];
      y[yOff + o] = acc;
    }
  }
  return y;
}

/** dx = dy · w [rows, inDim] (when wanted); dw [outDim, inDim] += dyᵀ · x */
export function linearBackward(
  alloc: Alloc,
  dy: Floats,
  x: Floats,
  w: Floats,
  rows: number,
  inDim: number,
  outDim: number,
  dw: Floats,
  wantDx: boolean,
): Floats | null {
  const dx = wantDx ? alloc(rows * inDim) : null;
  for (let r = 0; r < rows; r++) {
    const xOff = r * inDim;
    const dyOff = r * outDim;
    for (let o = 0; o < outDim; o++) {
      const g = dy[dyOff + o];
      if (g === 0) continue;
      const wOff = o * inDim;
      for (let i = 0; i < inDim; i++) dw[wOff + i] += g * x[xOff + i];
      if (dx) for (let i = 0; i < inDim; i++) dx[xOff + i] += g * w[wOff + i];
    }
  }
  return dx;
}
