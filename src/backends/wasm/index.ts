/**
 * The `wasm` backend: WebAssembly SIMD kernels (assembly/kernels.ts, compiled into kernels.wasm, and
 * into kernels-relaxed.wasm with fused multiply-adds where the engine has relaxed SIMD),
 * multi-threaded over one shared memory. Each op copies its operands into the memory's arena, runs
 * the kernel (matrix products, attention and the larger elementwise kernels split across worker
 * threads, the rest on the calling thread) and copies the results out into ordinary Float32Arrays —
 * except during a training step (withScratch), when outputs stay in wasm memory as views and the next
 * op reads them in place. Same semantics as the `js` oracle.
 *
 * The Backend interface is synchronous, so the calling thread blocks (Atomics.wait) while the workers
 * finish their chunks: fine in Node; in a browser the backend itself has to live in a Web Worker, and
 * threads need cross-origin isolation (SharedArrayBuffer). Without it, `shared: false` runs the same
 * kernels on one thread over an ordinary memory.
 */

import { checkGeometry, pairsShareValues } from '../../core/attention-checks.ts';
import type {
  AdamWHyper,
  AttentionBackward,
  AttentionForward,
  AttentionGeometry,
  Backend,
  DifferentialCombine,
  Floats,
} from '../../core/backend.ts';
import { countScoredTargets } from '../../core/backend.ts';
import { adamwUpdate as adamwReference, sumOfSquares as sumOfSquaresReference } from '../js/optimizer.ts';
import { ScratchArena, scratchEnabled } from '../scratch.ts';
import { type JobArg, jobArgs } from './job-args.ts';
import {
  ADAMW_ARG_COUNT,
  ADAMW_G,
  ADAMW_HYPER,
  ADAMW_M,
  ADAMW_P,
  ADAMW_V,
  ATTN_BATCH,
  ATTN_BWD_ARG_COUNT,
  ATTN_D_LAMBDAS,
  ATTN_D_OUT,
  ATTN_DK,
  ATTN_DK_HEADS,
  ATTN_DQ,
  ATTN_DV,
  ATTN_DV_HEADS,
  ATTN_FWD_ARG_COUNT,
  ATTN_GROUP,
  ATTN_HEADS,
  ATTN_K,
  ATTN_K_HEAD_OF,
  ATTN_K_HEADS,
  ATTN_LAMBDA,
  ATTN_LAMBDAS,
  ATTN_LSE,
  ATTN_OUT,
  ATTN_PROBS,
  ATTN_Q,
  ATTN_Q_HEADS,
  ATTN_QK_DIM,
  ATTN_SCALE,
  ATTN_SCRATCH,
  ATTN_SCRATCH_STRIDE,
  ATTN_SEQ_K,
  ATTN_SEQ_Q,
  ATTN_V,
  ATTN_V_DIM,
  ATTN_V_HEAD_OF,
  ATTN_V_HEADS,
  ELEMENTWISE_N,
  ELEMENTWISE_PER_CHUNK,
  OP_ADAMW,
  OP_ATTN_BWD,
  OP_ATTN_FWD,
  OP_ATTN_REDUCE,
  OP_SUM_SQUARES,
  OP_SWIGLU_BWD,
  OP_SWIGLU_FWD,
  SUM_SQUARES_ARG_COUNT,
  SUM_SQUARES_PARTIALS,
  SUM_SQUARES_X,
  SWIGLU_BWD_ARG_COUNT,
  SWIGLU_BWD_D_GATE,
  SWIGLU_BWD_D_UP,
  SWIGLU_BWD_DH,
  SWIGLU_BWD_GATE,
  SWIGLU_BWD_UP,
  SWIGLU_FWD_ARG_COUNT,
  SWIGLU_FWD_GATE,
  SWIGLU_FWD_H,
  SWIGLU_FWD_UP,
} from './kernel-layout.ts';
import { unsharedModuleBytes, WasmRuntime } from './runtime.ts';
import { hardwareThreads, workersSupported } from './threads.ts';

export interface WasmBackendOptions {
  /** Threads computing together (the caller's plus workers); default: the logical processors, ≤ 8. */
  threads?: number;
  /** The module bytes (default: kernels.wasm next to this file, read with fs under Node). */
  bytes?: ArrayBuffer | ArrayBufferView<ArrayBuffer>;
  /**
   * false: an ordinary (unshared) memory and one thread, for browsers without cross-origin isolation
   * (no SharedArrayBuffer). Default true.
   */
  shared?: boolean;
}

let cachedModule: WebAssembly.Module | null | undefined;

/**
 * Node 20's V8 has relaxed SIMD behind a flag (on by default from Node 22): turn it on before the
 * first module is compiled, unless DIFF_TRANSFORMER_WASM_RELAXED=0 asks for the plain kernels.
 */
function relaxedSimdWanted(proc: NodeJS.Process): boolean {
  if (proc.env?.DIFF_TRANSFORMER_WASM_RELAXED === '0') return false;
  try {
    const v8 = proc.getBuiltinModule?.('node:v8') as typeof import('node:v8') | undefined;
    v8?.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // an engine without the flag: validation below decides
  }
  return true;
}

/**
 * The kernels under Node: kernels-relaxed.wasm (fused multiply-adds) where this engine validates it,
 * else kernels.wasm (SIMD128 only).
 */
function readKernelBytes(): Uint8Array<ArrayBuffer> {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  const fs = proc?.getBuiltinModule?.('node:fs') as typeof import('node:fs') | undefined;
  if (!proc || !fs) throw new Error('wasm backend: pass the bytes of kernels.wasm outside Node');
  const read = (name: string) => new Uint8Array(fs.readFileSync(new URL(name, import.meta.url)));
  if (relaxedSimdWanted(proc)) {
    const relaxed = read('./kernels-relaxed.wasm');
    if (WebAssembly.validate(relaxed)) return relaxed;
  }
  return read('./kernels.wasm');
}

function kernelModule(
  bytes: ArrayBuffer | ArrayBufferView<ArrayBuffer> | undefined,
  shared: boolean,
): WebAssembly.Module {
  if (!shared) return new WebAssembly.Module(unsharedModuleBytes(bytes ?? readKernelBytes()));
  if (bytes) return new WebAssembly.Module(bytes);
  if (!cachedModule) cachedModule = new WebAssembly.Module(readKernelBytes());
  return cachedModule;
}

/**
 * Whether the backend can run here (SIMD, the module file and, unless `shared: false`, threads and
 * shared memory); never throws.
 */
export function wasmAvailable(
  bytes?: ArrayBuffer | ArrayBufferView<ArrayBuffer>,
  options: { shared?: boolean } = {},
): boolean {
  try {
    const shared = options.shared ?? true;
    if (typeof WebAssembly !== 'object') return false;
    if (shared && typeof SharedArrayBuffer !== 'function') return false;
    bytes ??= readKernelBytes();
    if (!WebAssembly.validate(shared ? bytes : unsharedModuleBytes(bytes))) return false;
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared });
    return true;
  } catch {
    return false;
  }
}

/** Default thread count: $WASM_THREADS, else the logical processors (at most 8). */
function defaultThreads(): number {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  const fromEnv = Number(proc?.env?.WASM_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return fromEnv;
  return Math.min(8, Math.max(1, hardwareThreads()));
}

interface WasmAttentionContext {
  q: Floats;
  k: Floats;
  v: Floats;
  geometry: AttentionGeometry;
  combine: DifferentialCombine;
  /** log-sum-exp of each softmax row [B, qHeads, T] (the scaled scores' max plus log of the sum) */
  lse: Float32Array;
  /** [B, T, qHeads, vDim], before the differential combine */
  heads: Float32Array;
}

/** The last few rope tables, by their arguments: training asks for the same ones every layer and step. */
const ropeCache = new Map<string, { cos: Float32Array; sin: Float32Array }>();
const ROPE_CACHE_SIZE = 8;

function cachedRopeTables(seq: number, dim: number, pos0: number, theta: number, inverse: boolean) {
  const key = `${seq},${dim},${pos0},${theta},${inverse}`;
  let tables = ropeCache.get(key);
  if (!tables) {
    tables = ropeTables(seq, dim, pos0, theta, inverse);
    if (ropeCache.size >= ROPE_CACHE_SIZE) ropeCache.delete(ropeCache.keys().next().value as string);
    ropeCache.set(key, tables);
  }
  return tables;
}

/** rope tables for positions pos0 … pos0+seq−1: cos twice per pair, sin as (∓sin, ±sin), f64 math */
function ropeTables(seq: number, dim: number, pos0: number, theta: number, inverse: boolean) {
  const half = dim / 2;
  const cos = new Float32Array(seq * dim);
  const sin = new Float32Array(seq * dim);
  for (let t = 0; t < seq; t++) {
    for (let j = 0; j < half; j++) {
      const angle = (pos0 + t) / theta ** ((2 * j) / dim);
      const c = Math.cos(angle);
      const s = inverse ? -Math.sin(angle) : Math.sin(angle);
      const o = t * dim + 2 * j;
      cos[o] = c;
      cos[o + 1] = c;
      sin[o] = -s;
      sin[o + 1] = s;
    }
  }
  return { cos, sin };
}

/** Below this length addInPlace, scaleInPlace, Σx² and AdamW stay in JavaScript (copying costs more). */
const IN_PLACE_WASM_MIN = 4096;
/** Elementwise kernels below this length run on the calling thread only. */
const ELEMENTWISE_PARALLEL_MIN = 32768;

const sharedRuntimes = new Map<number, WasmRuntime>();

export function createWasmBackend(options: WasmBackendOptions = {}): Backend & {
  readonly threads: number;
  /** false: unshared memory, one thread (see WasmBackendOptions.shared) */
  readonly shared: boolean;
  dispose(): void;
} {
  const sharedMemory = options.shared ?? true;
  const threads =
    sharedMemory && workersSupported() ? Math.max(1, Math.floor(options.threads ?? defaultThreads())) : 1;
  // Backends with the same thread count share one runtime (memory and workers): every op runs to
  // completion synchronously and keeps nothing in the arena, so sharing is safe on one thread.
  const reuse = !options.bytes && sharedMemory;
  let runtime = reuse ? sharedRuntimes.get(threads) : undefined;
  if (!runtime) {
    runtime = new WasmRuntime(kernelModule(options.bytes, sharedMemory), threads, undefined, sharedMemory);
    if (reuse) sharedRuntimes.set(threads, runtime);
  }
  const rt: WasmRuntime = runtime;
  const k = rt.kernels;
  // During a step (Backend.withScratch) outputs stay in the runtime's resident region as views; those
  // that do not fit there are copied into this scratch memory. Outside a step: fresh arrays.
  const scratch = new ScratchArena((n) => new Float32Array(n));
  /** Elements per chunk of an elementwise job: all of them below ELEMENTWISE_PARALLEL_MIN, else a share per thread. */
  const chunkLength = (n: number) => (n < ELEMENTWISE_PARALLEL_MIN ? n : Math.ceil(n / rt.threads / 4) * 4);
  /** An elementwise job over n floats in chunks of chunkLength(n); `arrays`: the op's other slots. */
  const elementwise = (op: number, argCount: number, n: number, arrays: JobArg[]) => {
    const words = jobArgs(argCount, [[ELEMENTWISE_N, n], [ELEMENTWISE_PER_CHUNK, chunkLength(n)], ...arrays]);
    rt.job(op, words, Math.ceil(n / chunkLength(n)), rt.threads > 1);
  };
  const output = (ptr: number, n: number): Float32Array => {
    const resident = rt.residentView(ptr, n);
    if (resident) return resident;
    const out = scratch.alloc(n);
    rt.getInto(ptr, out);
    return out;
  };

  /** the geometry and scratch words shared by the attention jobs (G: query heads per group, 1 or 2) */
  const geometryArgs = (g: AttentionGeometry, kMap: number, vMap: number, G: number): JobArg[] => {
    // O(S·d) scratch per thread: the packed K/V of one head and a few query-block × key-tile tiles
    const stride = Math.ceil(k.attentionScratchBytes(g.seqK, g.qkDim, g.vDim) / 64) * 64;
    const base = rt.alloc((stride / 4) * rt.threads);
    return [
      [ATTN_BATCH, g.batch],
      [ATTN_SEQ_Q, g.seqQ],
      [ATTN_SEQ_K, g.seqK],
      [ATTN_Q_HEADS, g.qHeads],
      [ATTN_K_HEADS, g.kHeads],
      [ATTN_V_HEADS, g.vHeads],
      [ATTN_QK_DIM, g.qkDim],
      [ATTN_V_DIM, g.vDim],
      [ATTN_K_HEAD_OF, kMap],
      [ATTN_V_HEAD_OF, vMap],
      [ATTN_SCALE, 1 / Math.sqrt(g.qkDim)],
      [ATTN_SCRATCH, base],
      [ATTN_SCRATCH_STRIDE, stride],
      [ATTN_GROUP, G],
    ];
  };
  /** the attention words that hold float32 */
  const attentionFloats = [ATTN_SCALE, ATTN_LAMBDA];

  const backend = {
    name: 'wasm',
    precision: 'f32' as const,
    threads: rt.threads,
    shared: rt.shared,
    /** Stop the workers of this backend's runtime (shared with backends of the same thread count). */
    dispose: () => {
      if (sharedRuntimes.get(threads) === rt) sharedRuntimes.delete(threads);
      rt.dispose();
    },
    holdWeights: (arrays: Iterable<Floats>) => rt.hold(arrays),
    withScratch: scratchEnabled()
      ? <T>(fn: () => T): T => rt.runResident(scratch, () => scratch.run(fn))
      : undefined,
    zeros: (length: number): Floats => new Float32Array(length),
    fromArray: (values: ArrayLike<number>): Floats => Float32Array.from(values),

    embeddingForward(table: Floats, tokens: Int32Array, dim: number): Floats {
      // a gather: copying the table into wasm memory would cost more than the lookup itself
      const vocab = table.length / dim;
      const out = new Float32Array(tokens.length * dim);
      for (let n = 0; n < tokens.length; n++) {
        const id = tokens[n];
        if (!(id >= 0 && id < vocab))
          throw new RangeError(`token id ${id} at position ${n} is outside the vocabulary [0, ${vocab})`);
        out.set(table.subarray(id * dim, (id + 1) * dim), n * dim);
      }
      return out;
    },

    embeddingBackward(dOut: Floats, tokens: Int32Array, dim: number, dTable: Floats): void {
      for (let n = 0; n < tokens.length; n++) {
        const rowOff = tokens[n] * dim;
        const off = n * dim;
        for (let i = 0; i < dim; i++) dTable[rowOff + i] += dOut[off + i];
      }
    },

    rmsNormForward(x: Floats, w: Floats, rows: number, dim: number, eps: number) {
      rt.reset();
      const px = rt.put(x);
      const pw = rt.put(w);
      const py = rt.allocOut(rows * dim, scratch);
      const pr = rt.allocOut(rows, scratch);
      k.rmsNormForward(px, pw, py, pr, rows, dim, eps);
      return { y: output(py, rows * dim), rstd: output(pr, rows) };
    },

    rmsNormBackward(dy: Floats, x: Floats, w: Floats, rstd: Floats, rows: number, dim: number, dw: Floats) {
      rt.reset();
      const pdy = rt.put(dy);
      const px = rt.put(x);
      const pw = rt.put(w);
      const pr = rt.put(rstd);
      const pdx = rt.allocOut(rows * dim, scratch);
      const pdw = rt.alloc(dim);
      new Float32Array(rt.memory.buffer, pdw, dim).fill(0);
      k.rmsNormBackward(pdy, px, pw, pr, pdx, pdw, rows, dim);
      const partial = output(pdw, dim);
      for (let i = 0; i < dim; i++) dw[i] += partial[i];
      return output(pdx, rows * dim);
    },

    linearForward(x: Floats, w: Floats, rows: number, inDim: number, outDim: number): Floats {
      rt.reset();
      const px = rt.put(x);
      const pw = rt.put(w);
      const py = rt.allocOut(rows * outDim, scratch);
      rt.gemm(rows, outDim, inDim, px, inDim, false, pw, inDim, false, py, outDim, false);
      return output(py, rows * outDim);
    },

    linearBackward(
      dy: Floats,
      x: Floats,
      w: Floats,
      rows: number,
      inDim: number,
      outDim: number,
      dw: Floats,
      wantDx: boolean,
    ): Floats | null {
      rt.reset();
      const pdy = rt.put(dy);
      const px = rt.put(x);
      // dW [outDim, inDim] += dyᵀ · x: accumulate in place when dw is float32, else add afterwards
      const inPlace = dw instanceof Float32Array;
      const pdw = inPlace ? rt.put(dw) : rt.alloc(outDim * inDim);
      rt.gemm(outDim, inDim, rows, pdy, outDim, true, px, inDim, true, pdw, inDim, inPlace);
      let dx: Floats | null = null;
      if (wantDx) {
        const pw = rt.put(w);
        const pdx = rt.allocOut(rows * inDim, scratch);
        rt.gemm(rows, inDim, outDim, pdy, outDim, false, pw, inDim, true, pdx, inDim, false);
        dx = output(pdx, rows * inDim);
      }
      if (inPlace) rt.getInto(pdw, dw);
      else {
        const g = output(pdw, outDim * inDim);
        for (let i = 0; i < g.length; i++) dw[i] += g[i];
      }
      return dx;
    },

    rope(
      x: Floats,
      batch: number,
      seq: number,
      heads: number,
      dim: number,
      pos0: number,
      theta: number,
      inverse: boolean,
    ): void {
      rt.reset();
      const { cos, sin } = cachedRopeTables(seq, dim, pos0, theta, inverse);
      const px = rt.put(x);
      const pc = rt.put(cos);
      const ps = rt.put(sin);
      k.rope(px, pc, ps, batch, seq, heads, dim);
      rt.getInto(px, x);
    },

    attentionForward(
      q: Floats,
      kk: Floats,
      v: Floats,
      g: AttentionGeometry,
      combine: DifferentialCombine,
      wantProbs: boolean,
    ): AttentionForward {
      checkGeometry(g, q, kk, v, combine);
      rt.reset();
      const { batch: B, seqQ: T, seqK: S, qHeads: H, vDim: dv } = g;
      const fused = combine.kind !== 'none' && pairsShareValues(g);
      const G = fused ? 2 : 1;
      const pq = rt.put(q);
      const pk = rt.put(kk);
      const pv = rt.put(v);
      const pP = wantProbs ? rt.alloc(B * H * T * S) : 0;
      const pLse = rt.allocOut(B * H * T, scratch);
      const pHeads = rt.allocOut(B * T * H * dv, scratch);
      const pOut = combine.kind === 'none' ? 0 : rt.allocOut(B * T * (H / 2) * dv, scratch);
      const pLambdas = combine.kind === 'token' ? rt.put(combine.lambda) : 0;
      const lambda = combine.kind === 'scalar' ? combine.lambda : 0;
      const kMap = rt.putInt(g.kHeadOf);
      const vMap = rt.putInt(g.vHeadOf);
      const words = jobArgs(ATTN_FWD_ARG_COUNT, [
        [ATTN_Q, pq],
        [ATTN_K, pk],
        [ATTN_V, pv],
        [ATTN_PROBS, pP],
        [ATTN_LSE, pLse],
        [ATTN_HEADS, pHeads],
        ...geometryArgs(g, kMap, vMap, G),
        [ATTN_OUT, pOut],
        [ATTN_LAMBDA, lambda],
        [ATTN_LAMBDAS, pLambdas],
      ]);
      rt.job(OP_ATTN_FWD, words, B * (H / G), true, attentionFloats);
      const heads = output(pHeads, B * T * H * dv);
      let out: Float32Array = heads;
      if (combine.kind !== 'none') {
        const rows = B * T;
        // a pair whose heads read different value heads: combine here
        if (!fused) k.combineForward(pHeads, pOut, rows, H, dv, lambda, pLambdas);
        out = output(pOut, rows * (H / 2) * dv);
      }
      const context: WasmAttentionContext = {
        q,
        k: kk,
        v,
        geometry: g,
        combine,
        lse: output(pLse, B * H * T),
        heads,
      };
      return { out, probs: wantProbs ? output(pP, B * H * T * S) : undefined, context };
    },

    attentionBackward(context: unknown, dOut: Floats): AttentionBackward {
      const { q, k: kk, v, geometry: g, combine, lse, heads } = context as WasmAttentionContext;
      rt.reset();
      const { batch: B, seqQ: T, seqK: S, qHeads: H, kHeads: Hk, vHeads: Hv, qkDim: d, vDim: dv } = g;
      const fused = combine.kind !== 'none' && pairsShareValues(g);
      const G = fused ? 2 : 1;
      const rows = B * T;
      const pairs = H / 2;
      const pq = rt.put(q);
      const pk = rt.put(kk);
      const pv = rt.put(v);
      const pLse = rt.put(lse);
      const pHeads = rt.put(heads);
      const lambda = combine.kind === 'scalar' ? combine.lambda : 0;
      const pLambdas = combine.kind === 'token' ? rt.put(combine.lambda) : 0;
      const pdl = combine.kind === 'none' ? 0 : rt.alloc(rows * pairs);
      let pdO = rt.put(dOut);
      if (combine.kind !== 'none' && !fused) {
        // unfused pair: d heads and d λ first, then plain attention backward
        const pdHeads = rt.alloc(heads.length);
        k.combineBackward(pdO, pHeads, pdHeads, pdl, rows, H, dv, lambda, pLambdas);
        pdO = pdHeads;
      }
      const pdq = rt.allocOut(q.length, scratch);
      const pdkH = rt.alloc(B * H * S * d);
      const pdvH = rt.alloc(B * (H / G) * S * dv);
      const pdk = rt.allocOut(B * S * Hk * d, scratch);
      const pdv = rt.allocOut(B * S * Hv * dv, scratch);
      const kMap = rt.putInt(g.kHeadOf);
      const vMap = rt.putInt(g.vHeadOf);
      const words = jobArgs(ATTN_BWD_ARG_COUNT, [
        [ATTN_Q, pq],
        [ATTN_K, pk],
        [ATTN_V, pv],
        [ATTN_PROBS, 0],
        [ATTN_LSE, pLse],
        [ATTN_HEADS, pHeads],
        ...geometryArgs(g, kMap, vMap, G),
        [ATTN_D_OUT, pdO],
        [ATTN_LAMBDA, lambda],
        [ATTN_LAMBDAS, pLambdas],
        [ATTN_D_LAMBDAS, pdl],
        [ATTN_DQ, pdq],
        [ATTN_DK_HEADS, pdkH],
        [ATTN_DV_HEADS, pdvH],
        [ATTN_DK, pdk],
        [ATTN_DV, pdv],
      ]);
      rt.job(OP_ATTN_BWD, words, B * (H / G), true, attentionFloats);
      rt.job(OP_ATTN_REDUCE, words, B, true, attentionFloats);
      let dLambda: number | Floats | undefined;
      if (combine.kind !== 'none') {
        const perRow = output(pdl, rows * pairs);
        if (combine.kind === 'token') dLambda = perRow;
        else {
          let sum = 0;
          for (const x of perRow) sum += x;
          dLambda = sum;
        }
      }
      return {
        dq: output(pdq, q.length),
        dk: output(pdk, kk.length),
        dv: output(pdv, v.length),
        dLambda,
      };
    },

    swigluForward(gate: Floats, up: Floats): Floats {
      rt.reset();
      const n = gate.length;
      const pg = rt.put(gate);
      const pu = rt.put(up);
      const ph = rt.allocOut(n, scratch);
      elementwise(OP_SWIGLU_FWD, SWIGLU_FWD_ARG_COUNT, n, [
        [SWIGLU_FWD_GATE, pg],
        [SWIGLU_FWD_UP, pu],
        [SWIGLU_FWD_H, ph],
      ]);
      return output(ph, n);
    },

    swigluBackward(dh: Floats, gate: Floats, up: Floats): { dGate: Floats; dUp: Floats } {
      rt.reset();
      const n = gate.length;
      const pdh = rt.put(dh);
      const pg = rt.put(gate);
      const pu = rt.put(up);
      const pdg = rt.allocOut(n, scratch);
      const pdu = rt.allocOut(n, scratch);
      elementwise(OP_SWIGLU_BWD, SWIGLU_BWD_ARG_COUNT, n, [
        [SWIGLU_BWD_DH, pdh],
        [SWIGLU_BWD_GATE, pg],
        [SWIGLU_BWD_UP, pu],
        [SWIGLU_BWD_D_GATE, pdg],
        [SWIGLU_BWD_D_UP, pdu],
      ]);
      return { dGate: output(pdg, n), dUp: output(pdu, n) };
    },

    crossEntropy(logits: Floats, targets: Int32Array, rows: number, vocab: number) {
      const scored = countScoredTargets(targets, rows, vocab);
      if (scored === 0) return { loss: 0, dLogits: new Float32Array(rows * vocab) };
      rt.reset();
      const pl = rt.put(logits);
      const pt = rt.putInt(targets.subarray(0, rows));
      const pd = rt.allocOut(rows * vocab, scratch);
      const pLoss = rt.alloc(rows * 2);
      k.crossEntropy(pl, pt, pd, pLoss, rows, scored, vocab);
      let total = 0;
      for (const x of rt.getF64(pLoss, rows)) total += x;
      return { loss: total / scored, dLogits: output(pd, rows * vocab) };
    },

    sumOfSquares(x: Floats): number {
      let total = 0;
      if (!(x instanceof Float32Array) || x.length < IN_PLACE_WASM_MIN) return sumOfSquaresReference(x);
      rt.reset();
      const n = x.length;
      const px = rt.put(x);
      const chunks = Math.ceil(n / chunkLength(n));
      const partial = rt.alloc(chunks * 2); // one f64 per chunk
      elementwise(OP_SUM_SQUARES, SUM_SQUARES_ARG_COUNT, n, [
        [SUM_SQUARES_X, px],
        [SUM_SQUARES_PARTIALS, partial],
      ]);
      for (const s of rt.getF64(partial, chunks)) total += s;
      return total;
    },

    // The arithmetic of js/optimizer.ts to the bit (float64 SIMD lanes, no fused multiply-adds).
    adamwUpdate(p: Floats, g: Floats, m: Floats, v: Floats, h: AdamWHyper): void {
      const f32 = [p, g, m, v].every((x) => x instanceof Float32Array);
      if (!f32 || p.length < IN_PLACE_WASM_MIN) {
        adamwReference(p, g, m, v, h);
        return;
      }
      rt.reset();
      const n = p.length;
      const [pp, pg, pm, pv] = [rt.put(p), rt.put(g), rt.put(m), rt.put(v)];
      const hyper = rt.alloc(14); // seven f64
      rt.getF64(hyper, 7).set([h.lr, h.beta1, h.beta2, h.eps, h.decay, h.c1, h.c2]);
      elementwise(OP_ADAMW, ADAMW_ARG_COUNT, n, [
        [ADAMW_P, pp],
        [ADAMW_G, pg],
        [ADAMW_M, pm],
        [ADAMW_V, pv],
        [ADAMW_HYPER, hyper],
      ]);
      rt.getInto(pp, p);
      rt.getInto(pm, m);
      rt.getInto(pv, v);
    },

    // In wasm (copies included) from a few thousand floats: 2–3× faster than a JavaScript loop.
    addInPlace(a: Floats, b: Floats): void {
      if (!(a instanceof Float32Array) || a.length < IN_PLACE_WASM_MIN) {
        for (let i = 0; i < a.length; i++) a[i] += b[i];
        return;
      }
      rt.reset();
      const pa = rt.put(a);
      k.addInPlace(pa, rt.put(b), a.length);
      rt.getInto(pa, a);
    },

    scaleInPlace(x: Floats, c: number): void {
      if (!(x instanceof Float32Array) || x.length < IN_PLACE_WASM_MIN) {
        for (let i = 0; i < x.length; i++) x[i] *= c;
        return;
      }
      rt.reset();
      const px = rt.put(x);
      k.scaleInPlace(px, c, x.length);
      rt.getInto(px, x);
    },
  };
  return backend;
}
