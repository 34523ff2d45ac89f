/**
 * The native addon's own GEMM (native/src/gemm.cc) against a float64 reference: every kernel this CPU
 * can run (AVX-512, AVX2+FMA, portable) and the process default, on odd shapes (single elements,
 * decoding rows, sizes that are no multiple of any tile or block), in all four layouts of
 * C = op(A)·op(B) + β·C, overwriting (β = 0, C poisoned with NaN), accumulating (β = 1) and scaling,
 * with padded leading dimensions. A run-time CBLAS (OpenBLAS), when one loads, is checked the same way.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Addon, loadNativeAddon } from '../src/backends/native/addon.ts';
import { type GemmShape, gemmTable, recordGemmShapes, timeGemms } from '../src/bench/gemm.ts';

const addon = loadNativeAddon();

/** Shapes m×k×n: C is m×n, the shared dimension k. */
const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [1, 64, 200], // a decoding row (the unpacked path when B is a weight matrix read transposed)
  [1, 300, 37],
  [3, 129, 6], // a few rows, fewer columns than a row block
  [7, 13, 5],
  [1000, 3, 17],
  [13, 300, 37], // k beyond one packed slice (256)
  [33, 257, 65],
  [200, 1, 40],
  [5, 40, 1],
  [600, 256, 8], // few columns: the narrow λ projections (unpacked when B is read transposed)
  [400, 40, 50], // m beyond one row block (192), split over threads
  [130, 70, 2100], // n beyond one column block (2048)
  [97, 513, 111],
  [4, 1024, 128], // few rows against a long B (a λ projection's weight gradient: the few-rows path)
  [8, 600, 77], // the most rows of that path, columns no multiple of a vector
  [9, 300, 40], // one row more: the packed path again
];

/** xorshift32 in [−1, 1) */
function generator(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 31 - 1;
  };
}

/** rows×cols logical matrix stored row-major with leading dimension ld (transposed: cols×rows storage). */
function store(values: Float32Array, rows: number, cols: number, trans: boolean, pad: number) {
  const ld = (trans ? rows : cols) + pad;
  const outer = trans ? cols : rows;
  const data = new Float32Array(Math.max(1, (outer - 1) * ld + (trans ? rows : cols))).fill(Number.NaN);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) data[trans ? c * ld + r : r * ld + c] = values[r * cols + c];
  return { data, ld };
}

interface Case {
  m: number;
  k: number;
  n: number;
  a: Float32Array; // m×k logical
  b: Float32Array; // k×n logical
  c0: Float32Array; // m×n initial C for β ≠ 0
  product: Float64Array; // Σ_p a·b in float64
  magnitude: Float64Array; // Σ_p |a·b|
}

function makeCase(m: number, k: number, n: number, seed: number): Case {
  const next = generator(seed);
  const a = Float32Array.from({ length: m * k }, next);
  const b = Float32Array.from({ length: k * n }, next);
  const c0 = Float32Array.from({ length: m * n }, next);
  const product = new Float64Array(m * n);
  const magnitude = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      for (let j = 0; j < n; j++) {
        const t = x * b[p * n + j];
        product[i * n + j] += t;
        magnitude[i * n + j] += Math.abs(t);
      }
    }
  return { m, k, n, a, b, c0, product, magnitude };
}

/**
 * Runs one GEMM and returns the worst error as a multiple of its bound, (k + 2)·2⁻²³·(Σ|a·b| + |β·c|):
 * float32 summation of k products in any order stays within about k units of rounding of Σ|a·b|,
 * while a product lost or counted twice is off by about Σ|a·b|/k. null: the kernel cannot run here.
 */
function worstError(
  native: Addon,
  kernel: string,
  cs: Case,
  transA: boolean,
  transB: boolean,
  beta: number,
): number | null {
  const { m, k, n } = cs;
  const A = store(cs.a, m, k, transA, 3);
  const B = store(cs.b, k, n, transB, 1);
  const ldc = n + 2;
  const c = new Float32Array((m - 1) * ldc + n).fill(Number.NaN);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) c[i * ldc + j] = beta === 0 ? Number.NaN : cs.c0[i * n + j];
  if (!native.gemm(kernel, transA, transB, m, n, k, A.data, A.ld, B.data, B.ld, beta, c, ldc)) return null;
  let worst = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const before = beta === 0 ? 0 : beta * cs.c0[i * n + j];
      const want = cs.product[i * n + j] + before;
      const bound = (k + 2) * 2 ** -23 * (cs.magnitude[i * n + j] + Math.abs(before)) + 1e-30;
      const got = c[i * ldc + j];
      worst = Math.max(worst, Number.isFinite(got) ? Math.abs(got - want) / bound : Number.POSITIVE_INFINITY);
    }
    for (let j = n; j < ldc && i < m - 1; j++) {
      assert.ok(Number.isNaN(c[i * ldc + j]), `${kernel}: wrote outside C (row ${i}, column ${j})`);
    }
  }
  return worst;
}

const LAYOUTS: Array<[boolean, boolean]> = [
  [false, true], // forward:  Y = X·Wᵀ
  [false, false], // dX = dY·W
  [true, false], // dW += dYᵀ·X
  [true, true],
];

function checkKernel(native: Addon, kernel: string, cases: Case[]): number {
  let runs = 0;
  for (const cs of cases) {
    for (const [transA, transB] of LAYOUTS) {
      for (const beta of [0, 1, -0.5]) {
        const worst = worstError(native, kernel, cs, transA, transB, beta);
        if (worst === null) return runs;
        const what = `${kernel} ${cs.m}×${cs.k}×${cs.n} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} β=${beta}`;
        assert.ok(worst <= 1, `${what}: error ${worst.toFixed(2)}× its bound`);
        runs++;
      }
    }
  }
  return runs;
}

test('the native addon is built (set DIFF_TRANSFORMER_NATIVE=0 where it cannot be)', () => {
  if (process.env.DIFF_TRANSFORMER_NATIVE === '0') return;
  assert.ok(addon, 'build/Release/diff_transformer_native.node did not load: npm run build:native');
});

if (addon) {
  const native = addon;
  const cases = SHAPES.map(([m, k, n], i) => makeCase(m, k, n, 1234 + i));
  const info = native.info();

  test('own GEMM kernels: the default and every kernel this CPU runs match float64', (t) => {
    assert.ok(info.gemmKernels.includes('portable'));
    for (const kernel of ['auto', ...info.gemmKernels]) {
      const runs = checkKernel(native, kernel, cases);
      assert.equal(runs, cases.length * LAYOUTS.length * 3, `${kernel} ran`);
      t.diagnostic(`${kernel}: ${runs} products`);
    }
  });

  test('the run-time BLAS, when one loads, matches float64 too', (t) => {
    const runs = checkKernel(native, 'blas', cases);
    if (process.env.DIFF_TRANSFORMER_BLAS === 'none')
      assert.equal(runs, 0, 'DIFF_TRANSFORMER_BLAS=none loads no BLAS');
    t.diagnostic(runs > 0 ? `${native.info().blas}: ${runs} products` : 'no CBLAS loads here');
  });

  test('without a BLAS the default GEMM is an own kernel, and linear layers run on it', () => {
    if (process.env.DIFF_TRANSFORMER_BLAS === undefined || process.env.DIFF_TRANSFORMER_BLAS === 'none') {
      assert.notEqual(info.gemm, 'blas');
      assert.ok(info.gemmKernels.includes(info.gemm), `default ${info.gemm}`);
    }
    // y = x·wᵀ through linearForward equals the default GEMM's NT product bit for bit
    const cs = cases[8];
    const y = new Float32Array(cs.m * cs.n);
    const w = store(cs.b, cs.k, cs.n, true, 0);
    native.linearForward(cs.a, w.data, cs.m, cs.k, cs.n, y);
    const c = new Float32Array(cs.m * cs.n);
    assert.ok(native.gemm('auto', false, true, cs.m, cs.n, cs.k, cs.a, cs.k, w.data, cs.k, 0, c, cs.n));
    assert.deepEqual(y, c);
  });

  test('gemm rejects bad arguments with one clear message', () => {
    const x = new Float32Array(4);
    assert.throws(
      () => native.gemm('sse9', false, false, 1, 1, 1, x, 1, x, 1, 0, x, 1),
      /unknown kernel "sse9"/,
    );
    assert.throws(() => native.gemm('auto', false, false, 3, 3, 3, x, 3, x, 3, 0, x, 3), /array too short/);
    assert.throws(() => native.gemm('auto', false, false, 2, 2, 2, x, 1, x, 2, 0, x, 2), /leading dimension/);
  });
}

test('the GEMM bench records the shapes a step really issues, and times both GEMMs', () => {
  if (!addon) return;
  const size = { d_model: 64, n_layers: 1, seq: 8, batch: 2, vocab: 48 };
  const train = recordGemmShapes(addon, size, 'train');
  const has = (op: GemmShape['op'], m: number, k: number, n: number) =>
    train.some((s) => s.op === op && s.m === m && s.k === k && s.n === n);
  // the output head [vocab, d] on 16 rows, in its three layouts
  assert.ok(has('Y=X·Wᵀ', 16, 64, 48) && has('dX=dY·W', 16, 48, 64) && has('dW+=dYᵀ·X', 48, 16, 64));
  assert.ok(train.every((s) => (s.op === 'dW+=dYᵀ·X' ? s.k : s.m) === 16));
  const decode = recordGemmShapes(addon, size, 'decode');
  assert.ok(decode.length > 0 && decode.every((s) => s.op === 'Y=X·Wᵀ' && s.m === 1));
  const [timing] = timeGemms(addon, [{ op: 'Y=X·Wᵀ', m: 1, k: 64, n: 48 }], 2, 1);
  assert.equal(timing.own.length, 2);
  assert.ok(timing.own.every((g) => g > 0));
  const table = gemmTable([{ size: 'decode', timing }], 'avx512', 'openblas');
  assert.match(table, /\| decode \| Y=X·Wᵀ \| 1×64×48 \|/);
});
