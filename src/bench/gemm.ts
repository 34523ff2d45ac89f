/**
 * GEMM benchmark: GFLOP/s of the native addon's own GEMM and of the run-time CBLAS (OpenBLAS) on every
 * matmul shape a training step of the bench sizes and a decoding step issue. The shapes are recorded,
 * not derived: one step runs on the native backend with the addon's linear entry points wrapped.
 * Both GEMMs are timed interleaved in one process, in alternating order, over several rounds, so the
 * ranges share whatever else the machine runs.
 */

import { type Addon, loadNativeAddon } from '../backends/native/addon.ts';
import { createNativeBackend } from '../backends/native/index.ts';
import { Rng } from '../core/rng.ts';
import { generateTokens } from '../generate/generate.ts';
import { VARIANTS } from '../model/config.ts';
import { LanguageModel } from '../model/lm.ts';
import { initParameters } from '../model/parameters.ts';
import { benchConfig } from './measure.ts';

/** C [m, n] = op(A)·op(B) (+ C when accumulate), in the layout a linear layer's step uses. */
export interface GemmShape {
  /** forward Y = X·Wᵀ (NT), input gradient dX = dY·W (NN), weight gradient dW += dYᵀ·X (TN) */
  op: 'Y=X·Wᵀ' | 'dX=dY·W' | 'dW+=dYᵀ·X';
  m: number;
  n: number;
  k: number;
}

const LAYOUT = {
  'Y=X·Wᵀ': { transA: false, transB: true, beta: 0 },
  'dX=dY·W': { transA: false, transB: false, beta: 0 },
  'dW+=dYᵀ·X': { transA: true, transB: false, beta: 1 },
} as const;

export interface BenchSize {
  d_model: number;
  n_layers: number;
  seq: number;
  batch: number;
  vocab: number;
}

/** Every distinct GEMM of one training step (mode 'train') or one decoding step ('decode') at `size`, all variants. */
export function recordGemmShapes(addon: Addon, size: BenchSize, mode: 'train' | 'decode'): GemmShape[] {
  const seen = new Map<string, GemmShape>();
  const add = (s: GemmShape) => seen.set(`${s.op} ${s.m} ${s.n} ${s.k}`, s);
  // the addon's exports are read-only: shadow the two linear entry points on an object inheriting the rest
  const recording: Addon = Object.create(addon);
  Object.defineProperties(recording, {
    linearForward: {
      value: (...args: Parameters<Addon['linearForward']>) => {
        const [, , rows, inDim, outDim] = args;
        add({ op: 'Y=X·Wᵀ', m: rows, n: outDim, k: inDim });
        addon.linearForward(...args);
      },
    },
    linearBackward: {
      value: (...args: Parameters<Addon['linearBackward']>) => {
        const [, , , rows, inDim, outDim, , dx] = args;
        if (dx) add({ op: 'dX=dY·W', m: rows, n: inDim, k: outDim });
        add({ op: 'dW+=dYᵀ·X', m: outDim, n: inDim, k: rows });
        addon.linearBackward(...args);
      },
    },
  });
  const backend = createNativeBackend({ addon: recording });
  for (const variant of VARIANTS) {
    const config = benchConfig(variant, size.d_model, size.n_layers, size.vocab);
    const rng = new Rng(0);
    const model = new LanguageModel(config, initParameters(config, backend, rng), backend);
    if (mode === 'train') {
      const tokens = Int32Array.from({ length: size.batch * size.seq }, () => rng.int(size.vocab));
      model.lossAndGradients(tokens, tokens, size.batch, size.seq);
    } else {
      // the prompt runs as a training forward does; record only the one-token steps after it
      const gen = generateTokens(model, [1, 2, 3], { maxTokens: 3, temperature: 0 });
      gen.next();
      seen.clear();
      gen.next();
    }
  }
  return [...seen.values()].sort((a, b) => a.op.localeCompare(b.op) || b.m * b.n * b.k - a.m * a.n * a.k);
}

export interface GemmTiming {
  shape: GemmShape;
  /** GFLOP/s per round, in round order */
  own: number[];
  blas: number[];
}

/** GFLOP/s of one GEMM kernel on one shape: repeated for about `ms` milliseconds. */
function timeOnce(
  addon: Addon,
  kernel: string,
  s: GemmShape,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  ms: number,
) {
  const { transA, transB, beta } = LAYOUT[s.op];
  const lda = transA ? s.m : s.k;
  const ldb = transB ? s.k : s.n;
  const call = () => addon.gemm(kernel, transA, transB, s.m, s.n, s.k, a, lda, b, ldb, beta, c, s.n);
  if (!call()) return Number.NaN;
  let runs = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    call();
    runs++;
    t = performance.now();
  } while (t - t0 < ms);
  return (2 * s.m * s.n * s.k * runs) / ((t - t0) / 1000) / 1e9;
}

/** Own GEMM ("auto" unless the default is the BLAS: then the widest own kernel) vs the BLAS, interleaved. */
export function timeGemms(addon: Addon, shapes: GemmShape[], rounds = 5, ms = 60): GemmTiming[] {
  const info = addon.info();
  const own = info.gemm === 'blas' ? info.gemmKernels[0] : info.gemm;
  return shapes.map((shape) => {
    const rng = new Rng(1);
    const a = Float32Array.from({ length: shape.m * shape.k }, () => rng.uniform() - 0.5);
    const b = Float32Array.from({ length: shape.k * shape.n }, () => rng.uniform() - 0.5);
    const c = new Float32Array(shape.m * shape.n);
    const timing: GemmTiming = { shape, own: [], blas: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['own', 'blas'] as const) : (['blas', 'own'] as const);
      for (const which of order) {
        c.fill(0); // accumulating shapes start from zero each time, so nothing grows without bound
        timing[which].push(timeOnce(addon, which === 'own' ? own : 'blas', shape, a, b, c, ms));
      }
    }
    return timing;
  });
}

const range = (xs: number[]) =>
  xs.some(Number.isNaN) ? '–' : `${Math.min(...xs).toPrecision(3)}–${Math.max(...xs).toPrecision(3)}`;
const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Markdown: per shape, GFLOP/s ranges of both and the range and median of their per-round ratio. */
export function gemmTable(
  rows: Array<{ size: string; timing: GemmTiming }>,
  ownName: string,
  blasName: string,
): string {
  const lines = rows.map(({ size, timing: t }) => {
    const ratios = t.own.map((o, i) => o / t.blas[i]);
    const ratio = ratios.some(Number.isNaN)
      ? '–'
      : `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} (median ${median(ratios).toFixed(2)})`;
    return `| ${size} | ${t.shape.op} | ${t.shape.m}×${t.shape.k}×${t.shape.n} | ${range(t.own)} | ${range(t.blas)} | ${ratio} |`;
  });
  return [
    `| step | GEMM | m×k×n | own ${ownName} GFLOP/s | ${blasName} GFLOP/s | own / ${blasName} per round |`,
    '|---|---|---|---:|---:|---:|',
    ...lines,
  ].join('\n');
}

/**
 * The bench's GEMM section: every training shape of `sizes` and the decoding shapes of the largest,
 * own GEMM against the BLAS. null without the native addon.
 */
export function gemmBench(sizes: Record<string, BenchSize>, rounds = 5): string | null {
  const addon = loadNativeAddon();
  if (!addon) return null;
  const rows: Array<{ size: string; timing: GemmTiming }> = [];
  const entries = Object.entries(sizes);
  for (const [name, size] of entries)
    for (const timing of timeGemms(addon, recordGemmShapes(addon, size, 'train'), rounds))
      rows.push({ size: `train ${name}`, timing });
  const [lastName, last] = entries.at(-1)!;
  for (const timing of timeGemms(addon, recordGemmShapes(addon, last, 'decode'), rounds, 30))
    rows.push({ size: `decode ${lastName}`, timing });
  const info = addon.info();
  const own = `${info.gemm === 'blas' ? info.gemmKernels[0] : info.gemm}`;
  const blas = info.blas === 'none' ? 'BLAS (none loaded)' : info.blas;
  return `GEMM: the linear layers run on ${info.gemm === 'blas' ? info.blas : `the own GEMM (${own} ${info.gemmTile})`}, ${info.threads} threads; ${rounds} interleaved rounds per shape\n\n${gemmTable(rows, own, blas)}`;
}
