/**
 * Dense kernels of the `js` backend. Everything is expressed as c = a·bᵀ over rows that are
 * contiguous in memory (dot products, which V8 keeps in registers), transposing operands first
 * where needed: y = x·Wᵀ, dx = dy·(Wᵀ)ᵀ, dW += (dyᵀ)·(xᵀ)ᵀ.
 */
import type { Floats } from '../../core/backend.ts';

type Alloc = (length: number) => Floats;

/** a [m, k] → aᵀ [k, m] */
function transpose(alloc: Alloc, a: Floats, m: number, k: number): Floats {
  const t = alloc(m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) t[j * m + i] = a[i * k + j];
  return t;
}

/** c [m, n] (+)= a [m, k] · b [n, k]ᵀ, in 2×2 register tiles (two rows of a against two rows of b). */
function matmulNT(
  a: Floats,
  b: Floats,
  c: Floats,
  m: number,
  n: number,
  k: number,
  accumulate: boolean,
): void {
  const store = (idx: number, v: number) => {
    c[idx] = accumulate ? c[idx] + v : v;
  };
  let i = 0;
  for (; i + 1 < m; i += 2) {
    const a0 = i * k;
    const a1 = a0 + k;
    let j = 0;
    for (; j + 1 < n; j += 2) {
      const b0 = j * k;
      const b1 = b0 + k;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p];
        const x1 = a[a1 + p];
        const y0 = b[b0 + p];
        const y1 = b[b1 + p];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      store(i * n + j, s00);
      store(i * n + j + 1, s01);
      store((i + 1) * n + j, s10);
      store((i + 1) * n + j + 1, s11);
    }
    for (; j < n; j++) {
      let s0 = 0;
      let s1 = 0;
      for (let p = 0; p < k; p++) {
        s0 += a[a0 + p] * b[j * k + p];
        s1 += a[a1 + p] * b[j * k + p];
      }
      store(i * n + j, s0);
      store((i + 1) * n + j, s1);
    }
  }
  for (; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[j * k + p];
      store(i * n + j, s);
    }
  }
}

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
  matmulNT(x, w, y, rows, outDim, inDim, false);
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
  const dyT = transpose(alloc, dy, rows, outDim); // [outDim, rows]
  const xT = transpose(alloc, x, rows, inDim); // [inDim, rows]
  matmulNT(dyT, xT, dw, outDim, inDim, rows, true);
  if (!wantDx) return null;
  const dx = alloc(rows * inDim);
  matmulNT(dy, transpose(alloc, w, outDim, inDim), dx, rows, inDim, outDim, false);
  return dx;
}
