/**
 * Loading of the compiled Node-API addon (build/Release/diff_transformer_native.node, built by
 * `npm run build:native`). Loading never throws: a missing or broken addon yields null, and the
 * backend list simply goes without `native`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

/** The OpenMP spin count the addon runs with unless the environment sets one (see loadNativeAddon). */
export const ADDON_GOMP_SPINCOUNT = '20000';
/** The functions the C++ addon exports (see native/src/addon.cc). Outputs are zero-filled by the caller. */
export interface Addon {
  /**
   * fmaWidth: floats per fused multiply-add the CPU does at once (16 with AVX-512, else 8); gemm: the
   * GEMM the linear layers run on ("avx512", "avx2", "portable": the own kernels of native/src/gemm.cc,
   * or "blas"), gemmTile its register tile; gemmKernels: the own kernels this CPU runs; blas: the CBLAS
   * loaded at run time so far ("none" until one is asked for).
   */
  info(): {
    blas: string;
    blasThreads: number;
    threads: number;
    fmaWidth: number;
    gemm: string;
    gemmTile: string;
    gemmKernels: string[];
    /**
     * threads of the decoding products (at most 4 rows against a weight matrix) as
     * DIFF_TRANSFORMER_DECODE_THREADS sets them; 0 when unset: the own GEMM times one thread against all
     */
    decodeThreads: number;
  };
  /**
   * C [m, n] = op(A)·op(B) + β·C on `kernel` ("auto", "avx512", "avx2", "portable", "blas"), row-major
   * with leading dimensions; op(A)[i, p] = a[p·lda + i] when transA, else a[i·lda + p], likewise B.
   * β = 0 never reads C. Returns false, computing nothing, when the kernel cannot run here.
   */
  gemm(
    kernel: string,
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): boolean;
  linearForward(
    x: Float32Array,
    w: Float32Array,
    rows: number,
    inDim: number,
    outDim: number,
    y: Float32Array,
  ): void;
  /** y = x·wᵀ with w [outDim, inDim] given as bfloat16 bits, summed in float32. */
  linearForwardBf16(
    x: Float32Array,
    w: Uint16Array,
    rows: number,
    inDim: number,
    outDim: number,
    y: Float32Array,
  ): void;
  /** GB/s of a streaming read of a `megabytes` buffer on `threads` threads, the fastest pass in about `seconds`. */
  streamReadGBps(megabytes: number, threads: number, seconds: number): number;
  linearBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rows: number,
    inDim: number,
    outDim: number,
    dw: Float32Array,
    dx: Float32Array | null,
  ): void;
  embeddingForward(table: Float32Array, tokens: Int32Array, dim: number, out: Float32Array): void;
  embeddingBackward(dOut: Float32Array, tokens: Int32Array, dim: number, dTable: Float32Array): void;
  rmsNormForward(
    x: Float32Array,
    w: Float32Array,
    rows: number,
    dim: number,
    eps: number,
    y: Float32Array,
    rstd: Float32Array,
  ): void;
  rmsNormBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rstd: Float32Array,
    rows: number,
    dim: number,
    dw: Float32Array,
    dx: Float32Array,
  ): void;
  rope(
    x: Float32Array,
    batch: number,
    seq: number,
    heads: number,
    dim: number,
    pos0: number,
    theta: number,
    inverse: boolean,
  ): void;
  swigluForward(gate: Float32Array, up: Float32Array, h: Float32Array): void;
  swigluBackward(
    dh: Float32Array,
    gate: Float32Array,
    up: Float32Array,
    dGate: Float32Array,
    dUp: Float32Array,
  ): void;
  crossEntropy(
    logits: Float32Array,
    targets: Int32Array,
    rows: number,
    vocab: number,
    dLogits: Float32Array,
  ): number;
  addInPlace(a: Float32Array, b: Float32Array): void;
  scaleInPlace(x: Float32Array, c: number): void;
  sumOfSquares(x: Float32Array): number;
  fmaPeakGflops(seconds: number): number;
  adamwUpdate(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    decay: number,
    c1: number,
    c2: number,
  ): void;
  /**
   * dims = [B, T, S, qHeads, kHeads, vHeads, qkDim, vDim]; kind 0 none, 1 scalar, 2 token. `heads` null
   * (only for a combine whose pairs share their value head): each pair runs fused, straight into `out`.
   */
  attentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    dims: Int32Array,
    kHeadOf: Int32Array,
    vHeadOf: Int32Array,
    kind: number,
    lambda: number,
    lambdaTok: Float32Array | null,
    heads: Float32Array | null,
    lse: Float32Array,
    probs: Float32Array | null,
    out: Float32Array | null,
  ): void;
  /** returns dλ for the scalar kind; `heads` null when the forward ran fused */
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    dims: Int32Array,
    kHeadOf: Int32Array,
    vHeadOf: Int32Array,
    kind: number,
    lambda: number,
    lambdaTok: Float32Array | null,
    heads: Float32Array | null,
    lse: Float32Array,
    dOut: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dLambdaTok: Float32Array | null,
  ): number;
}

/** Where `npm run build:native` leaves the addon. */
export const ADDON_PATH = resolve(import.meta.dirname, '../../../build/Release/diff_transformer_native.node');

let cached: Addon | null | undefined;

/**
 * The compiled addon, or null when it is missing, fails to load (e.g. no BLAS library at run time)
 * or is disabled with DIFF_TRANSFORMER_NATIVE=0. Never throws, prints nothing.
 */
export function loadNativeAddon(): Addon | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.env.DIFF_TRANSFORMER_NATIVE === '0') return cached;
  try {
    if (!existsSync(ADDON_PATH)) return cached;
    // The addon's OpenMP threads and OpenBLAS's threads share the cores: OpenMP threads that spin long
    // between parallel regions starve OpenBLAS (and everything else on a busy machine; measured 2-6×
    // slower steps), so they spin only briefly (~tens of µs) and then sleep, unless the user chose
    // otherwise. libgomp reads this when the addon loads it.
    if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
      process.env.GOMP_SPINCOUNT = ADDON_GOMP_SPINCOUNT;
    }
    const addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    // an addon built from older sources (missing exports) counts as absent until rebuilt
    if (
      typeof addon?.info !== 'function' ||
      typeof addon.gemm !== 'function' ||
      typeof addon.linearForwardBf16 !== 'function'
    )
      return cached;
    addon.info();
    cached = addon;
  } catch {
    cached = null;
  }
  return cached;
}
