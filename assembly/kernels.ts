/**
 * WebAssembly SIMD (simd128) kernels of the `wasm` backend, compiled by AssemblyScript
 * (scripts/build-wasm.mjs) into src/backends/wasm/kernels.wasm.
 *
 * Everything works on raw pointers into one shared, imported memory: the TypeScript wrapper copies
 * operands in, calls a kernel (directly, or as a threaded job), and copies results out. No static
 * data and no allocator: the module owns nothing but the per-instance globals below, so every worker
 * instantiates it over the same memory without clobbering anything.
 *
 * Threaded jobs: the wrapper writes an op code, its arguments and a chunk count into the control
 * block, then opens the claim word; every thread (the caller and the workers) runs `work`, which
 * claims chunk indices with compare-and-swap until none are left. The claim word carries a job tag,
 * so a thread lagging behind a finished job can never claim a chunk of the next one. The control
 * block, the op codes and each op's argument words are defined once, in
 * src/backends/wasm/kernel-layout.ts, which this file and the wrapper both import.
 */

// ---------------------------------------------------------------------------------------------
// Control block, op codes and argument words: one definition, shared with the TypeScript wrapper
// ---------------------------------------------------------------------------------------------
import {
  ADAMW_G, ADAMW_HYPER, ADAMW_M, ADAMW_P, ADAMW_V, ARGS,
  ATTN_D_LAMBDAS, ATTN_D_OUT, ATTN_DK, ATTN_DK_HEADS, ATTN_DQ, ATTN_DV, ATTN_DV_HEADS, ATTN_GROUP,
  ATTN_HEADS, ATTN_K, ATTN_K_HEAD_OF, ATTN_K_HEADS, ATTN_LAMBDA, ATTN_LAMBDAS, ATTN_LSE, ATTN_OUT,
  ATTN_PROBS, ATTN_Q, ATTN_Q_HEADS, ATTN_QK_DIM, ATTN_SCALE, ATTN_SCRATCH, ATTN_SCRATCH_STRIDE,
  ATTN_SEQ_K, ATTN_SEQ_Q, ATTN_V, ATTN_V_DIM, ATTN_V_HEAD_OF, ATTN_V_HEADS,
  CLAIM, CTRL, DONE, ELEMENTWISE_N, ELEMENTWISE_PER_CHUNK,
  GEMM_A, GEMM_ACC, GEMM_AP, GEMM_BLOCKS_PER_CHUNK, GEMM_BP, GEMM_C, GEMM_K, GEMM_LDA, GEMM_LDC, GEMM_M,
  GEMM_N, GEMM_TRANS_A,
  GEMV_A, GEMV_ACC, GEMV_B, GEMV_C, GEMV_COLUMNS_PER_CHUNK, GEMV_K, GEMV_LDA, GEMV_LDB, GEMV_LDC, GEMV_M,
  GEMV_N,
  NCHUNK, OP, OP_ADAMW, OP_ATTN_BWD, OP_ATTN_FWD, OP_ATTN_REDUCE, OP_GEMM, OP_GEMV, OP_PACK_B,
  OP_SUM_SQUARES, OP_SWIGLU_BWD, OP_SWIGLU_FWD,
  PACK_B_B, PACK_B_BP, PACK_B_K, PACK_B_LDB, PACK_B_N, PACK_B_NN, PACK_B_PANELS_PER_CHUNK,
  SUM_SQUARES_PARTIALS, SUM_SQUARES_X,
  SWIGLU_BWD_D_GATE, SWIGLU_BWD_D_UP, SWIGLU_BWD_DH, SWIGLU_BWD_GATE, SWIGLU_BWD_UP,
  SWIGLU_FWD_GATE, SWIGLU_FWD_H, SWIGLU_FWD_UP,
} from '../src/backends/wasm/kernel-layout';

// byte addresses of the control block words
const CLAIM_AT: usize = <usize>CTRL + (<usize>CLAIM << 2);
const DONE_AT: usize = <usize>CTRL + (<usize>DONE << 2);
const NCHUNK_AT: usize = <usize>CTRL + (<usize>NCHUNK << 2);
const OP_AT: usize = <usize>CTRL + (<usize>OP << 2);
const ARGS_AT: usize = <usize>CTRL + (<usize>ARGS << 2);

/** This instance's thread index (0: the caller's thread); selects its scratch region. */
let tid: i32 = 0;

export function setThread(t: i32): void {
  tid = t;
}

export function heapBase(): usize {
  return __heap_base;
}

@inline function argI(i: i32): i32 {
  return load<i32>(ARGS_AT + (<usize>i << 2));
}
@inline function argP(i: i32): usize {
  return <usize>load<u32>(ARGS_AT + (<usize>i << 2));
}
@inline function argF(i: i32): f32 {
  return load<f32>(ARGS_AT + (<usize>i << 2));
}
@inline function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}
@inline function f4(x: f32): v128 {
  return f32x4.splat(x);
}
/**
 * c + a·b. In kernels-relaxed.wasm (built with relaxed SIMD) one fused multiply-add where the CPU has
 * FMA, in kernels.wasm a multiply and an add: the same within float32 rounding.
 */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** Claim and run chunks of the current job until none are left. */
export function work(): void {
  while (true) {
    const w = atomic.load<i32>(CLAIM_AT);
    const idx = w & 0xfffff;
    const n = atomic.load<i32>(NCHUNK_AT);
    if (idx >= n) return;
    if (atomic.cmpxchg<i32>(CLAIM_AT, w, w + 1) != w) continue;
    runChunk(load<i32>(OP_AT), idx);
    if (atomic.add<i32>(DONE_AT, 1) + 1 == n) atomic.notify(DONE_AT);
  }
}

function runChunk(op: i32, c: i32): void {
  if (op == OP_GEMM) {
    const per = argI(GEMM_BLOCKS_PER_CHUNK);
    const m = argI(GEMM_M);
    const k = argI(GEMM_K);
    const ib0 = c * per;
    const ib1 = imin((m + 3) >> 2, ib0 + per);
    packA(argP(GEMM_A), argI(GEMM_LDA), argI(GEMM_TRANS_A) != 0, m, k, argP(GEMM_AP), ib0, ib1);
    gemmBlocks(m, argI(GEMM_N), k, argP(GEMM_AP), argP(GEMM_BP), argP(GEMM_C), argI(GEMM_LDC), argI(GEMM_ACC) != 0, ib0, ib1);
  } else if (op == OP_PACK_B) {
    const per = argI(PACK_B_PANELS_PER_CHUNK);
    const np = (argI(PACK_B_N) + 7) >> 3;
    packB(argP(PACK_B_B), argI(PACK_B_LDB), argI(PACK_B_NN) != 0, argI(PACK_B_N), argI(PACK_B_K), argP(PACK_B_BP), c * per, imin(np, (c + 1) * per));
  } else if (op == OP_GEMV) {
    const per = argI(GEMV_COLUMNS_PER_CHUNK);
    const j0 = c * per;
    gemvRows(argI(GEMV_M), argI(GEMV_K), argP(GEMV_A), argI(GEMV_LDA), argP(GEMV_B), argI(GEMV_LDB), argP(GEMV_C), argI(GEMV_LDC), argI(GEMV_ACC) != 0, j0, imin(argI(GEMV_N), j0 + per));
  } else if (op == OP_ATTN_FWD) {
    attentionForwardChunk(c);
  } else if (op == OP_ATTN_BWD) {
    attentionBackwardChunk(c);
  } else if (op == OP_ATTN_REDUCE) {
    attentionReduceChunk(c);
  } else if (op == OP_ADAMW) {
    const i0 = c * argI(ELEMENTWISE_PER_CHUNK);
    const len = imin(argI(ELEMENTWISE_N) - i0, argI(ELEMENTWISE_PER_CHUNK));
    adamwRange(at(argP(ADAMW_P), i0), at(argP(ADAMW_G), i0), at(argP(ADAMW_M), i0), at(argP(ADAMW_V), i0), len, argP(ADAMW_HYPER));
  } else if (op == OP_SUM_SQUARES) {
    const i0 = c * argI(ELEMENTWISE_PER_CHUNK);
    const len = imin(argI(ELEMENTWISE_N) - i0, argI(ELEMENTWISE_PER_CHUNK));
    store<f64>(argP(SUM_SQUARES_PARTIALS) + (<usize>c << 3), sumSquares(at(argP(SUM_SQUARES_X), i0), len));
  } else if (op == OP_SWIGLU_FWD || op == OP_SWIGLU_BWD) {
    const i0 = c * argI(ELEMENTWISE_PER_CHUNK);
    const len = imin(argI(ELEMENTWISE_N) - i0, argI(ELEMENTWISE_PER_CHUNK));
    if (op == OP_SWIGLU_FWD) swigluForward(at(argP(SWIGLU_FWD_GATE), i0), at(argP(SWIGLU_FWD_UP), i0), at(argP(SWIGLU_FWD_H), i0), len);
    else swigluBackward(at(argP(SWIGLU_BWD_DH), i0), at(argP(SWIGLU_BWD_GATE), i0), at(argP(SWIGLU_BWD_UP), i0), at(argP(SWIGLU_BWD_D_GATE), i0), at(argP(SWIGLU_BWD_D_UP), i0), len);
  }
}

// ---------------------------------------------------------------------------------------------
// Matrix multiply C[m, n] (+)= A[m, k] · B[k, n] on packed operands, 4×8 register tiles.
// A is read as a(i, p) = A[i·lda + p] or, transposed, A[p·lda + i];
// B as b(p, j) = B[j·ldb + p] ("NT", the c = a·bᵀ form) or, with nn, B[p·ldb + j].
// Packed A: blocks of 4 rows, [block][p][4]; packed B: panels of 8 columns, [panel][p][8]; both
// zero-padded, so the micro-kernel never branches and edges only mask the stores.
// ---------------------------------------------------------------------------------------------

function packA(A: usize, lda: i32, trans: bool, m: i32, k: i32, AP: usize, ib0: i32, ib1: i32): void {
  for (let ib = ib0; ib < ib1; ib++) {
    let out = AP + (<usize>(ib * k) << 4);
    const i = ib << 2;
    if (trans) {
      if (i + 4 <= m) {
        for (let p = 0; p < k; p++) {
          v128.store(out, v128.load(at(A, p * lda + i)));
          out += 16;
        }
      } else {
        for (let p = 0; p < k; p++) {
          for (let r = 0; r < 4; r++)
            store<f32>(out + (<usize>r << 2), i + r < m ? load<f32>(at(A, p * lda + i + r)) : 0);
          out += 16;
        }
      }
    } else if (i + 4 <= m) {
      const r0 = at(A, i * lda);
      const r1 = at(A, (i + 1) * lda);
      const r2 = at(A, (i + 2) * lda);
      const r3 = at(A, (i + 3) * lda);
      let p = 0;
      for (; p + 4 <= k; p += 4) {
        const off = <usize>p << 2;
        const a = v128.load(r0 + off);
        const b = v128.load(r1 + off);
        const c = v128.load(r2 + off);
        const d = v128.load(r3 + off);
        const t0 = f32x4.shuffle(a, b, 0, 4, 1, 5);
        const t1 = f32x4.shuffle(a, b, 2, 6, 3, 7);
        const t2 = f32x4.shuffle(c, d, 0, 4, 1, 5);
        const t3 = f32x4.shuffle(c, d, 2, 6, 3, 7);
        v128.store(out, f32x4.shuffle(t0, t2, 0, 1, 4, 5));
        v128.store(out, f32x4.shuffle(t0, t2, 2, 3, 6, 7), 16);
        v128.store(out, f32x4.shuffle(t1, t3, 0, 1, 4, 5), 32);
        v128.store(out, f32x4.shuffle(t1, t3, 2, 3, 6, 7), 48);
        out += 64;
      }
      for (; p < k; p++) {
        const off = <usize>p << 2;
        store<f32>(out, load<f32>(r0 + off));
        store<f32>(out + 4, load<f32>(r1 + off));
        store<f32>(out + 8, load<f32>(r2 + off));
        store<f32>(out + 12, load<f32>(r3 + off));
        out += 16;
      }
    } else {
      for (let p = 0; p < k; p++) {
        for (let r = 0; r < 4; r++)
          store<f32>(out + (<usize>r << 2), i + r < m ? load<f32>(at(A, (i + r) * lda + p)) : 0);
        out += 16;
      }
    }
  }
}

function packB(B: usize, ldb: i32, nn: bool, n: i32, k: i32, BP: usize, jb0: i32, jb1: i32): void {
  for (let jb = jb0; jb < jb1; jb++) {
    const j = jb << 3;
    const base = BP + (<usize>(jb * k) << 5);
    if (nn) {
      let out = base;
      if (j + 8 <= n) {
        for (let p = 0; p < k; p++) {
          const src = at(B, p * ldb + j);
          v128.store(out, v128.load(src));
          v128.store(out, v128.load(src, 16), 16);
          out += 32;
        }
      } else {
        for (let p = 0; p < k; p++) {
          for (let c = 0; c < 8; c++)
            store<f32>(out + (<usize>c << 2), j + c < n ? load<f32>(at(B, p * ldb + j + c)) : 0);
          out += 32;
        }
      }
    } else {
      for (let c = 0; c < 8; c++) {
        let out = base + (<usize>c << 2);
        if (j + c < n) {
          const src = at(B, (j + c) * ldb);
          for (let p = 0; p < k; p++) {
            store<f32>(out, load<f32>(at(src, p)));
            out += 32;
          }
        } else {
          for (let p = 0; p < k; p++) {
            store<f32>(out, 0);
            out += 32;
          }
        }
      }
    }
  }
}

@inline function lane8(v0: v128, v1: v128, c: i32): f32 {
  switch (c) {
    case 0:
      return f32x4.extract_lane(v0, 0);
    case 1:
      return f32x4.extract_lane(v0, 1);
    case 2:
      return f32x4.extract_lane(v0, 2);
    case 3:
      return f32x4.extract_lane(v0, 3);
    case 4:
      return f32x4.extract_lane(v1, 0);
    case 5:
      return f32x4.extract_lane(v1, 1);
    case 6:
      return f32x4.extract_lane(v1, 2);
    default:
      return f32x4.extract_lane(v1, 3);
  }
}

@inline function storeRow(c: usize, v0: v128, v1: v128, cols: i32, acc: bool): void {
  if (cols == 8) {
    if (acc) {
      v128.store(c, f32x4.add(v128.load(c), v0));
      v128.store(c, f32x4.add(v128.load(c, 16), v1), 16);
    } else {
      v128.store(c, v0);
      v128.store(c, v1, 16);
    }
  } else {
    for (let j = 0; j < cols; j++) {
      const ptr = c + (<usize>j << 2);
      const x = lane8(v0, v1, j);
      store<f32>(ptr, acc ? load<f32>(ptr) + x : x);
    }
  }
}

/** 4×8 tile over kc steps of packed A (4 floats a step) and packed B (8 floats a step). */
function tile(ap: usize, bp: usize, kc: i32, c: usize, ldc: i32, rows: i32, cols: i32, acc: bool): void {
  let c00 = f4(0);
  let c01 = f4(0);
  let c10 = f4(0);
  let c11 = f4(0);
  let c20 = f4(0);
  let c21 = f4(0);
  let c30 = f4(0);
  let c31 = f4(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  const stride = <usize>ldc << 2;
  storeRow(c, c00, c01, cols, acc);
  if (rows > 1) storeRow(c + stride, c10, c11, cols, acc);
  if (rows > 2) storeRow(c + 2 * stride, c20, c21, cols, acc);
  if (rows > 3) storeRow(c + 3 * stride, c30, c31, cols, acc);
}

const KC: i32 = 256;

/**
 * Causal modes of a product (attention only; `off` = seqK − seqQ): query row t sees keys s ≤ t + off.
 * CAUSAL_COLS: C[t, s] is wanted only for s ≤ t + off (the rest is left unwritten, the caller masks it);
 * CAUSAL_K_UPPER: A[t, p] is zero for p > t + off; CAUSAL_K_LOWER: A[s, p] is zero for p < s − off.
 */
const CAUSAL_NONE: i32 = 0;
const CAUSAL_COLS: i32 = 1;
const CAUSAL_K_UPPER: i32 = 2;
const CAUSAL_K_LOWER: i32 = 3;

/** Row blocks [ib0, ib1) of C from packed A and B. */
function gemmBlocks(m: i32, n: i32, k: i32, AP: usize, BP: usize, C: usize, ldc: i32, acc: bool, ib0: i32, ib1: i32, causal: i32 = CAUSAL_NONE, off: i32 = 0): void {
  const panels = (n + 7) >> 3;
  if (causal != CAUSAL_NONE) {
    // one row block at a time, over the part of k (or of the columns) the mask leaves
    for (let ib = ib0; ib < ib1; ib++) {
      const i = ib << 2;
      let kLo = 0;
      let kHi = k;
      let nHi = n;
      if (causal == CAUSAL_COLS) nHi = imin(n, i + 4 + off);
      else if (causal == CAUSAL_K_UPPER) kHi = imin(k, i + 4 + off);
      else {
        kLo = i - off;
        if (kLo < 0) kLo = 0;
        if (kLo > k) kLo = k;
      }
      const rows = imin(4, m - i);
      const np = (nHi + 7) >> 3;
      for (let jb = 0; jb < np; jb++) {
        const cols = imin(8, n - (jb << 3));
        const c = at(C, i * ldc + (jb << 3));
        if (kHi <= kLo) {
          if (!acc) for (let r = 0; r < rows; r++) memory.fill(at(c, r * ldc), 0, <usize>cols << 2);
          continue;
        }
        tile(AP + (<usize>(ib * k + kLo) << 4), BP + (<usize>(jb * k + kLo) << 5), kHi - kLo, c, ldc, rows, cols, acc);
      }
    }
    return;
  }
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = imin(KC, k - p0);
    const accumulate = acc || p0 > 0;
    for (let jb = 0; jb < panels; jb++) {
      const bp = BP + (<usize>(jb * k + p0) << 5);
      const cols = imin(8, n - (jb << 3));
      for (let ib = ib0; ib < ib1; ib++) {
        const i = ib << 2;
        tile(AP + (<usize>(ib * k + p0) << 4), bp, kc, at(C, i * ldc + (jb << 3)), ldc, imin(4, m - i), cols, accumulate);
      }
    }
  }
  if (k == 0 && !acc) {
    for (let i = ib0 << 2; i < imin(m, ib1 << 2); i++) memory.fill(at(C, i * ldc), 0, <usize>n << 2);
  }
}

/** Whole matrix multiply on the calling thread (used inside attention chunks). */
function gemm(m: i32, n: i32, k: i32, A: usize, lda: i32, transA: bool, B: usize, ldb: i32, nn: bool, C: usize, ldc: i32, acc: bool, AP: usize, BP: usize, causal: i32 = CAUSAL_NONE, off: i32 = 0): void {
  const nb = (m + 3) >> 2;
  packA(A, lda, transA, m, k, AP, 0, nb);
  packB(B, ldb, nn, n, k, BP, 0, (n + 7) >> 3);
  gemmBlocks(m, n, k, AP, BP, C, ldc, acc, 0, nb, causal, off);
}

/**
 * A few rows times a weight matrix, unpacked: C[i, j] (+)= Σ_p A[i·lda + p]·B[j·ldb + p] for i < m and
 * j in [j0, j1) (the NT form). Each output is one contiguous dot product over a row of B, so nothing
 * is packed: for m = 1 (decoding one token) packing B would cost as much as the product itself.
 */
function gemvRows(m: i32, k: i32, A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, acc: bool, j0: i32, j1: i32): void {
  for (let i = 0; i < m; i++) {
    const a = at(A, i * lda);
    const c = at(C, i * ldc);
    let j = j0;
    for (; j + 4 <= j1; j += 4) {
      const b0 = at(B, j * ldb);
      const b1 = at(B, (j + 1) * ldb);
      const b2 = at(B, (j + 2) * ldb);
      const b3 = at(B, (j + 3) * ldb);
      let s0 = f4(0);
      let s1 = f4(0);
      let s2 = f4(0);
      let s3 = f4(0);
      let p = 0;
      for (; p + 4 <= k; p += 4) {
        const off = <usize>p << 2;
        const x = v128.load(a + off);
        s0 = madd(x, v128.load(b0 + off), s0);
        s1 = madd(x, v128.load(b1 + off), s1);
        s2 = madd(x, v128.load(b2 + off), s2);
        s3 = madd(x, v128.load(b3 + off), s3);
      }
      // horizontal sums of the four accumulators into one vector [Σs0, Σs1, Σs2, Σs3]
      const t01 = f32x4.add(f32x4.shuffle(s0, s1, 0, 4, 1, 5), f32x4.shuffle(s0, s1, 2, 6, 3, 7));
      const t23 = f32x4.add(f32x4.shuffle(s2, s3, 0, 4, 1, 5), f32x4.shuffle(s2, s3, 2, 6, 3, 7));
      let sums = f32x4.add(f32x4.shuffle(t01, t23, 0, 1, 4, 5), f32x4.shuffle(t01, t23, 2, 3, 6, 7));
      for (; p < k; p++) {
        const x = f4(load<f32>(at(a, p)));
        const off = <usize>p << 2;
        const col = f32x4.replace_lane(
          f32x4.replace_lane(
            f32x4.replace_lane(f32x4.splat(load<f32>(b0 + off)), 1, load<f32>(b1 + off)),
            2,
            load<f32>(b2 + off),
          ),
          3,
          load<f32>(b3 + off),
        );
        sums = madd(x, col, sums);
      }
      const out = at(c, j);
      v128.store(out, acc ? f32x4.add(v128.load(out), sums) : sums);
    }
    for (; j < j1; j++) {
      const t = dot(a, at(B, j * ldb), k);
      store<f32>(at(c, j), acc ? load<f32>(at(c, j)) + t : t);
    }
  }
}

/** gemvRows over every column on the calling thread. */
export function gemvDirect(m: i32, n: i32, k: i32, A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, acc: i32): void {
  gemvRows(m, k, A, lda, B, ldb, C, ldc, acc != 0, 0, n);
}

/** The whole multiply on the calling thread, for small problems. */
export function gemmDirect(m: i32, n: i32, k: i32, A: usize, lda: i32, transA: i32, B: usize, ldb: i32, nn: i32, C: usize, ldc: i32, acc: i32, AP: usize, BP: usize): void {
  gemm(m, n, k, A, lda, transA != 0, B, ldb, nn != 0, C, ldc, acc != 0, AP, BP);
}

// ---------------------------------------------------------------------------------------------
// exp, vectorised: Cody–Waite range reduction and a degree-6 polynomial (as in Cephes expf),
// about 2 ulp; below −87.3 it returns ~1e-38 rather than 0, above 88.37 +∞.
// ---------------------------------------------------------------------------------------------
@inline function exp4(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f4(-87.33654)), f4(88.37626));
  const fx = f32x4.nearest(f32x4.mul(x, f4(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(fx, f4(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f4(-2.12194440e-4)));
  let y = f4(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f4(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f4(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f4(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f4(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f4(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, r), r), r), f4(1));
  const n = i32x4.trunc_sat_f32x4_s(fx);
  const scale = i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

/**
 * Natural logarithm of a positive, finite f64, without the lookup tables of the standard library
 * (which would put static data into the shared memory): x = m·2^e with m in [√½, √2), then
 * log m = 2·atanh(z), z = (m − 1)/(m + 1), |z| < 0.172, by its odd series to z^19.
 */
function logd(x: f64): f64 {
  let bits = reinterpret<i64>(x);
  let e = <i32>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffff) | 0x3ff0000000000000;
  let m = reinterpret<f64>(bits);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const z = (m - 1) / (m + 1);
  const z2 = z * z;
  let series = 1.0 / 19;
  series = series * z2 + 1.0 / 17;
  series = series * z2 + 1.0 / 15;
  series = series * z2 + 1.0 / 13;
  series = series * z2 + 1.0 / 11;
  series = series * z2 + 1.0 / 9;
  series = series * z2 + 1.0 / 7;
  series = series * z2 + 1.0 / 5;
  series = series * z2 + 1.0 / 3;
  series = series * z2 + 1;
  return 2 * z * series + <f64>e * 0.6931471805599453;
}

@inline function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}
@inline function hmax(v: v128): f32 {
  return Mathf.max(Mathf.max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), Mathf.max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** Σ x[i]·y[i] over n floats */
function dot(x: usize, y: usize, n: i32): f32 {
  let s = f4(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) s = madd(v128.load(at(x, i)), v128.load(at(y, i)), s);
  let t = hsum(s);
  for (; i < n; i++) t += load<f32>(at(x, i)) * load<f32>(at(y, i));
  return t;
}

// ---------------------------------------------------------------------------------------------
// Attention, flash-style. One chunk is one batch element and one group of G query heads that read
// the same value head: G = 1 (plain attention, or a differential pair whose heads read different
// value heads), G = 2 (the two query heads of a DIFF pair, processed together). Query rows go in
// blocks of BQ, keys in tiles of BK with an online softmax, so per thread nothing larger than the
// packed K/V of one head (O(S·d)) and a few BQ×BK tiles is ever held; the forward saves the
// log-sum-exp of each row and the head outputs, the backward recomputes P tile by tile.
//
// Arguments: the ATTN_* words of src/backends/wasm/kernel-layout.ts.
// ---------------------------------------------------------------------------------------------

const BQ: i32 = 32; // query rows per block
const BK: i32 = 64; // keys per tile (a multiple of 8: tiles start on packed panels)

@inline function r8(x: i32): i32 {
  return (x + 7) & ~7;
}

// Scratch layout of one thread (byte offsets from its base), set by layout().
let oKP0: usize = 0; // K of head 0, packed as the B of Q·Kᵀ   [r8(S)·d]
let oKP1: usize = 0; // K of head 1
let oKN0: usize = 0; // K of head 0, packed as the B of dS·K   [r8(d)·S]
let oKN1: usize = 0;
let oVP: usize = 0; // V packed as the B of P·V (forward) or of dO·Vᵀ (backward)
let oAQ0: usize = 0; // query block of head 0 packed as an A    [BQ·d]
let oAQ1: usize = 0;
let oBQ0: usize = 0; // query block of head 0 packed as a B     [r8(d)·BQ]
let oBQ1: usize = 0;
let oAdO: usize = 0; // dO block packed as an A                 [BQ·dv]
let oBdO: usize = 0; // dO block packed as a B                  [r8(dv)·BQ]
let oSB0: usize = 0; // score / probability tiles               [BQ·BK]
let oSB1: usize = 0;
let oDPB: usize = 0;
let oAT: usize = 0; // a tile packed as an A                    [BQ·BK]
let oOACC: usize = 0; // output accumulators of both heads       [2·BQ·dv]
let oROWS: usize = 0; // per-row statistics                      [8·BQ]
let cursor: usize = 0;

function region(floats: i32): usize {
  const p = cursor;
  cursor += <usize>((floats + 15) & ~15) << 2;
  return p;
}

function layout(S: i32, d: i32, dv: i32): usize {
  cursor = 0;
  oKP0 = region(r8(S) * d);
  oKP1 = region(r8(S) * d);
  oKN0 = region(r8(d) * S);
  oKN1 = region(r8(d) * S);
  oVP = region(r8(S) * r8(dv));
  oAQ0 = region(BQ * d);
  oAQ1 = region(BQ * d);
  oBQ0 = region(r8(d) * BQ);
  oBQ1 = region(r8(d) * BQ);
  oAdO = region(BQ * dv);
  oBdO = region(r8(dv) * BQ);
  oSB0 = region(BQ * BK);
  oSB1 = region(BQ * BK);
  oDPB = region(BQ * BK);
  oAT = region(BQ * BK);
  oOACC = region(2 * BQ * dv);
  oROWS = region(8 * BQ);
  return cursor;
}

/** Bytes of attention scratch one thread needs (the wrapper allocates this per thread). */
export function attentionScratchBytes(S: i32, d: i32, dv: i32): usize {
  return layout(S, d, dv);
}

/**
 * C[m, n] (+)= A·B over kc steps from packed operands whose blocks/panels hold apK / bpK steps (the
 * pointers already advanced to the first step), with the causal modes of gemmBlocks.
 */
function mm(m: i32, n: i32, kc: i32, AP: usize, apK: i32, BP: usize, bpK: i32, C: usize, ldc: i32, acc: bool, causal: i32, off: i32): void {
  for (let ib = 0; ib < (m + 3) >> 2; ib++) {
    const i = ib << 2;
    let kLo = 0;
    let kHi = kc;
    let nHi = n;
    if (causal == CAUSAL_COLS) nHi = imin(n, i + 4 + off);
    else if (causal == CAUSAL_K_UPPER) kHi = imin(kc, i + 4 + off);
    else if (causal == CAUSAL_K_LOWER) {
      kLo = i - off;
      if (kLo < 0) kLo = 0;
      if (kLo > kc) kLo = kc;
    }
    const rows = imin(4, m - i);
    for (let jb = 0; jb < (nHi + 7) >> 3; jb++) {
      const cols = imin(8, n - (jb << 3));
      const c = at(C, i * ldc + (jb << 3));
      if (kHi <= kLo) {
        if (!acc) for (let r = 0; r < rows; r++) memory.fill(at(c, r * ldc), 0, <usize>cols << 2);
        continue;
      }
      tile(AP + (<usize>(ib * apK + kLo) << 4), BP + (<usize>(jb * bpK + kLo) << 5), kHi - kLo, c, ldc, rows, cols, acc);
    }
  }
}

/** max over n ≥ 1 floats */
function rowMax(row: usize, n: i32): f32 {
  let mv = f4(-Infinity);
  let s = 0;
  for (; s + 4 <= n; s += 4) mv = f32x4.max(mv, v128.load(at(row, s)));
  let mx = hmax(mv);
  for (; s < n; s++) mx = Mathf.max(mx, load<f32>(at(row, s)));
  return mx;
}

/** row[s] = exp(row[s]·scale − shift) for s < n; returns the sum */
function expRow(row: usize, n: i32, scale: f32, shift: f32): f32 {
  const vs = f4(scale);
  const vm = f4(shift);
  let sv = f4(0);
  let s = 0;
  for (; s + 4 <= n; s += 4) {
    const e = exp4(f32x4.sub(f32x4.mul(v128.load(at(row, s)), vs), vm));
    v128.store(at(row, s), e);
    sv = f32x4.add(sv, e);
  }
  let sum = hsum(sv);
  for (; s < n; s++) {
    const e = exp1(load<f32>(at(row, s)) * scale - shift);
    store<f32>(at(row, s), e);
    sum += e;
  }
  return sum;
}

@inline function scaleRow(row: usize, n: i32, c: f32): void {
  const vc = f4(c);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(row, i), f32x4.mul(v128.load(at(row, i)), vc));
  for (; i < n; i++) store<f32>(at(row, i), load<f32>(at(row, i)) * c);
}

/** Pack the K of query head h (as the B of Q·Kᵀ, and with `nn` also as the B of dS·K). */
function packKeys(b: i32, h: i32, S: i32, Hk: i32, d: i32, KP: usize, KN: usize, nn: bool): void {
  const kh = load<i32>(at(argP(ATTN_K_HEAD_OF), h));
  const kbase = at(argP(ATTN_K), (b * S * Hk + kh) * d);
  packB(kbase, Hk * d, false, S, d, KP, 0, (S + 7) >> 3);
  if (nn) packB(kbase, Hk * d, true, d, S, KN, 0, (d + 7) >> 3);
}

function attentionForwardChunk(c: i32): void {
  const T = argI(ATTN_SEQ_Q);
  const S = argI(ATTN_SEQ_K);
  const H = argI(ATTN_Q_HEADS);
  const Hk = argI(ATTN_K_HEADS);
  const Hv = argI(ATTN_V_HEADS);
  const d = argI(ATTN_QK_DIM);
  const dv = argI(ATTN_V_DIM);
  const scale = argF(ATTN_SCALE);
  const G = argI(ATTN_GROUP);
  const groups = H / G;
  const b = c / groups;
  const gi = c % groups;
  const h0 = gi * G;
  const base = argP(ATTN_SCRATCH) + <usize>tid * argP(ATTN_SCRATCH_STRIDE);
  layout(S, d, dv);
  const offset = S - T;
  const qStride = H * d;
  const pairs = H >> 1;

  const KP0 = base + oKP0;
  let KP1 = base + oKP1;
  packKeys(b, h0, S, Hk, d, KP0, 0, false);
  if (G == 2) {
    if (load<i32>(at(argP(ATTN_K_HEAD_OF), h0 + 1)) == load<i32>(at(argP(ATTN_K_HEAD_OF), h0))) KP1 = KP0;
    else packKeys(b, h0 + 1, S, Hk, d, KP1, 0, false);
  }
  const vh = load<i32>(at(argP(ATTN_V_HEAD_OF), h0));
  const VP = base + oVP;
  packB(at(argP(ATTN_V), (b * S * Hv + vh) * dv), Hv * dv, true, dv, S, VP, 0, (dv + 7) >> 3);
  const AT = base + oAT;
  const OACC = base + oOACC;
  const MROW = base + oROWS;
  const LROW = MROW + (<usize>(2 * BQ) << 2);
  const probs = argP(ATTN_PROBS);

  for (let t0 = 0; t0 < T; t0 += BQ) {
    const rows = imin(BQ, T - t0);
    const last = t0 + rows - 1 + offset; // the last key any row of the block sees
    for (let j = 0; j < G; j++)
      packA(at(argP(ATTN_Q), ((b * T + t0) * H + h0 + j) * d), qStride, false, rows, d, base + (j ? oAQ1 : oAQ0), 0, (rows + 3) >> 2);
    for (let i = 0; i < 2 * BQ; i++) {
      store<f32>(at(MROW, i), -Infinity);
      store<f32>(at(LROW, i), 0);
    }
    memory.fill(OACC, 0, <usize>(2 * BQ * dv) << 2);
    for (let s0 = 0; s0 <= last; s0 += BK) {
      const bk = imin(BK, last + 1 - s0);
      const offT = t0 + offset - s0; // row r sees tile columns ≤ r + offT
      for (let j = 0; j < G; j++) {
        const SB = base + (j ? oSB1 : oSB0);
        const AQ = base + (j ? oAQ1 : oAQ0);
        const KP = j ? KP1 : KP0;
        mm(rows, bk, d, AQ, d, KP + (<usize>((s0 >> 3) * d) << 5), d, SB, BK, false, CAUSAL_COLS, offT);
        const oj = at(OACC, j * BQ * dv);
        for (let r = 0; r < rows; r++) {
          const row = at(SB, r * BK);
          const cnt = imin(bk, r + offT + 1);
          if (cnt <= 0) {
            memory.fill(row, 0, <usize>bk << 2);
            continue;
          }
          const mp = at(MROW, j * BQ + r);
          const lp = at(LROW, j * BQ + r);
          const mOld = load<f32>(mp);
          const mNew = Mathf.max(mOld, rowMax(row, cnt) * scale);
          const sum = expRow(row, cnt, scale, mNew);
          if (cnt < bk) memory.fill(at(row, cnt), 0, <usize>(bk - cnt) << 2);
          if (mNew > mOld) {
            const alpha = exp1(mOld - mNew);
            store<f32>(lp, load<f32>(lp) * alpha + sum);
            scaleRow(at(oj, r * dv), dv, alpha);
          } else store<f32>(lp, load<f32>(lp) + sum);
          store<f32>(mp, mNew);
        }
        // O_j += P_j · V[s0 : s0 + bk]
        packA(SB, BK, false, rows, bk, AT, 0, (rows + 3) >> 2);
        mm(rows, dv, bk, AT, bk, VP + (<usize>s0 << 5), S, oj, dv, true, CAUSAL_K_UPPER, offT);
      }
    }
    // normalise, save the log-sum-exp, the head outputs and (pairs) the combined output
    for (let j = 0; j < G; j++) {
      const lse = at(argP(ATTN_LSE), ((b * H + h0 + j) * T + t0));
      for (let r = 0; r < rows; r++) {
        const l = load<f32>(at(LROW, j * BQ + r));
        const o = at(OACC, (j * BQ + r) * dv);
        scaleRow(o, dv, 1 / l);
        store<f32>(at(lse, r), load<f32>(at(MROW, j * BQ + r)) + <f32>logd(<f64>l));
        memory.copy(at(argP(ATTN_HEADS), ((b * T + t0 + r) * H + h0 + j) * dv), o, <usize>dv << 2);
      }
    }
    if (G == 2) {
      const lambdas = argP(ATTN_LAMBDAS);
      for (let r = 0; r < rows; r++) {
        const row = (b * T + t0 + r) * pairs + gi;
        const l = lambdas ? load<f32>(at(lambdas, row)) : argF(ATTN_LAMBDA);
        const vl = f4(l);
        const o1 = at(OACC, r * dv);
        const o2 = at(OACC, (BQ + r) * dv);
        const out = at(argP(ATTN_OUT), row * dv);
        let i = 0;
        for (; i + 4 <= dv; i += 4)
          v128.store(at(out, i), f32x4.sub(v128.load(at(o1, i)), f32x4.mul(vl, v128.load(at(o2, i)))));
        for (; i < dv; i++) store<f32>(at(out, i), load<f32>(at(o1, i)) - l * load<f32>(at(o2, i)));
      }
    }
    if (probs) {
      // the maps, only when asked for: P = exp(score·scale − lse) tile by tile into [B,H,T,S]
      for (let j = 0; j < G; j++) {
        const SB = base + oSB0;
        const AQ = base + (j ? oAQ1 : oAQ0);
        const KP = j ? KP1 : KP0;
        const lse = at(argP(ATTN_LSE), ((b * H + h0 + j) * T + t0));
        const pbase = at(probs, ((b * H + h0 + j) * T + t0) * S);
        for (let s0 = 0; s0 <= last; s0 += BK) {
          const bk = imin(BK, last + 1 - s0);
          const offT = t0 + offset - s0;
          mm(rows, bk, d, AQ, d, KP + (<usize>((s0 >> 3) * d) << 5), d, SB, BK, false, CAUSAL_COLS, offT);
          for (let r = 0; r < rows; r++) {
            const cnt = imin(bk, r + offT + 1);
            if (cnt <= 0) continue;
            const row = at(SB, r * BK);
            expRow(row, cnt, scale, load<f32>(at(lse, r)));
            memory.copy(at(pbase, r * S + s0), row, <usize>cnt << 2);
          }
        }
        for (let r = 0; r < rows; r++) {
          const n = t0 + r + offset + 1;
          if (n < S) memory.fill(at(pbase, r * S + n), 0, <usize>(S - n) << 2);
        }
      }
    }
  }
}

function attentionBackwardChunk(c: i32): void {
  const T = argI(ATTN_SEQ_Q);
  const S = argI(ATTN_SEQ_K);
  const H = argI(ATTN_Q_HEADS);
  const Hk = argI(ATTN_K_HEADS);
  const Hv = argI(ATTN_V_HEADS);
  const d = argI(ATTN_QK_DIM);
  const dv = argI(ATTN_V_DIM);
  const scale = argF(ATTN_SCALE);
  const G = argI(ATTN_GROUP);
  const groups = H / G;
  const b = c / groups;
  const gi = c % groups;
  const h0 = gi * G;
  const base = argP(ATTN_SCRATCH) + <usize>tid * argP(ATTN_SCRATCH_STRIDE);
  layout(S, d, dv);
  const offset = S - T;
  const qStride = H * d;
  const oStride = groups * dv; // rows of dOut
  const pairs = H >> 1;
  const vscale = f4(scale);

  const KP0 = base + oKP0;
  const KN0 = base + oKN0;
  let KP1 = base + oKP1;
  let KN1 = base + oKN1;
  packKeys(b, h0, S, Hk, d, KP0, KN0, true);
  if (G == 2) {
    if (load<i32>(at(argP(ATTN_K_HEAD_OF), h0 + 1)) == load<i32>(at(argP(ATTN_K_HEAD_OF), h0))) {
      KP1 = KP0;
      KN1 = KN0;
    } else packKeys(b, h0 + 1, S, Hk, d, KP1, KN1, true);
  }
  const vh = load<i32>(at(argP(ATTN_V_HEAD_OF), h0));
  const VP = base + oVP;
  packB(at(argP(ATTN_V), (b * S * Hv + vh) * dv), Hv * dv, false, S, dv, VP, 0, (S + 7) >> 3);
  const AT = base + oAT;
  const AdO = base + oAdO;
  const BdO = base + oBdO;
  const SB0 = base + oSB0;
  const SB1 = base + oSB1;
  const DPB = base + oDPB;
  const D0 = base + oROWS; // D of head 0 (rowdot(dO, O))
  const D1 = D0 + (<usize>BQ << 2); // D of head 1
  const LAM = D1 + (<usize>BQ << 2); // λ of each row
  const dvH = at(argP(ATTN_DV_HEADS), (b * groups + gi) * S * dv);
  memory.fill(dvH, 0, <usize>(S * dv) << 2);
  for (let j = 0; j < G; j++) memory.fill(at(argP(ATTN_DK_HEADS), (b * H + h0 + j) * S * d), 0, <usize>(S * d) << 2);

  for (let t0 = 0; t0 < T; t0 += BQ) {
    const rows = imin(BQ, T - t0);
    const last = t0 + rows - 1 + offset;
    for (let j = 0; j < G; j++) {
      const qb = at(argP(ATTN_Q), ((b * T + t0) * H + h0 + j) * d);
      packA(qb, qStride, false, rows, d, base + (j ? oAQ1 : oAQ0), 0, (rows + 3) >> 2);
      packB(qb, qStride, true, d, rows, base + (j ? oBQ1 : oBQ0), 0, (d + 7) >> 3);
      for (let r = 0; r < rows; r++) memory.fill(at(argP(ATTN_DQ), ((b * T + t0 + r) * H + h0 + j) * d), 0, <usize>d << 2);
    }
    const dOb = at(argP(ATTN_D_OUT), ((b * T + t0) * groups + gi) * dv);
    packA(dOb, oStride, false, rows, dv, AdO, 0, (rows + 3) >> 2);
    packB(dOb, oStride, true, dv, rows, BdO, 0, (dv + 7) >> 3);
    for (let r = 0; r < rows; r++) {
      const bt = b * T + t0 + r;
      const dOr = at(dOb, r * oStride);
      const o1 = at(argP(ATTN_HEADS), (bt * H + h0) * dv);
      if (G == 1) store<f32>(at(D0, r), dot(dOr, o1, dv));
      else {
        // dO₁ = dOut, dO₂ = −λ·dOut; dλ = −dOut·O₂
        const lambdas = argP(ATTN_LAMBDAS);
        const l = lambdas ? load<f32>(at(lambdas, bt * pairs + gi)) : argF(ATTN_LAMBDA);
        const dl = -dot(dOr, at(o1, dv), dv);
        store<f32>(at(argP(ATTN_D_LAMBDAS), bt * pairs + gi), dl);
        store<f32>(at(D0, r), dot(dOr, o1, dv));
        store<f32>(at(D1, r), l * dl);
        store<f32>(at(LAM, r), l);
      }
    }
    for (let s0 = 0; s0 <= last; s0 += BK) {
      const bk = imin(BK, last + 1 - s0);
      const offT = t0 + offset - s0;
      const kOff = <usize>((s0 >> 3) * d) << 5;
      mm(rows, bk, d, base + oAQ0, d, KP0 + kOff, d, SB0, BK, false, CAUSAL_COLS, offT);
      if (G == 2) mm(rows, bk, d, base + oAQ1, d, KP1 + kOff, d, SB1, BK, false, CAUSAL_COLS, offT);
      // dP (shared by both heads of a pair up to the factor −λ) = dO · V[s0 : s0 + bk]ᵀ
      mm(rows, bk, dv, AdO, dv, VP + (<usize>((s0 >> 3) * dv) << 5), dv, DPB, BK, false, CAUSAL_COLS, offT);
      for (let r = 0; r < rows; r++) {
        const cnt = imin(bk, r + offT + 1);
        const p0 = at(SB0, r * BK);
        const dp = at(DPB, r * BK);
        if (cnt <= 0) {
          memory.fill(p0, 0, <usize>bk << 2);
          memory.fill(dp, 0, <usize>bk << 2);
          if (G == 2) memory.fill(at(SB1, r * BK), 0, <usize>bk << 2);
          continue;
        }
        const bt = b * T + t0 + r;
        expRow(p0, cnt, scale, load<f32>(at(argP(ATTN_LSE), (b * H + h0) * T + t0 + r)));
        const vD0 = f4(load<f32>(at(D0, r)));
        if (G == 1) {
          // dS = P ∘ (dP − D)·scale, into dp
          let s = 0;
          for (; s + 4 <= cnt; s += 4)
            v128.store(at(dp, s), f32x4.mul(f32x4.mul(v128.load(at(p0, s)), f32x4.sub(v128.load(at(dp, s)), vD0)), vscale));
          for (; s < cnt; s++) store<f32>(at(dp, s), load<f32>(at(p0, s)) * (load<f32>(at(dp, s)) - f32x4.extract_lane(vD0, 0)) * scale);
        } else {
          const p1 = at(SB1, r * BK);
          expRow(p1, cnt, scale, load<f32>(at(argP(ATTN_LSE), (b * H + h0 + 1) * T + t0 + r)));
          const l = load<f32>(at(LAM, r));
          const vl = f4(l);
          const vD1 = f4(load<f32>(at(D1, r)));
          // dS₁ = P₁(dP − D₁)·scale → dp;  dS₂ = P₂(−λ·dP − D₂)·scale → p1;  P₁ − λ·P₂ → p0
          let s = 0;
          for (; s + 4 <= cnt; s += 4) {
            const a = v128.load(at(p0, s));
            const bb = v128.load(at(p1, s));
            const g = v128.load(at(dp, s));
            v128.store(at(dp, s), f32x4.mul(f32x4.mul(a, f32x4.sub(g, vD0)), vscale));
            v128.store(at(p1, s), f32x4.mul(f32x4.mul(bb, f32x4.sub(f32x4.neg(f32x4.mul(vl, g)), vD1)), vscale));
            v128.store(at(p0, s), f32x4.sub(a, f32x4.mul(vl, bb)));
          }
          const d0 = f32x4.extract_lane(vD0, 0);
          const d1 = f32x4.extract_lane(vD1, 0);
          for (; s < cnt; s++) {
            const a = load<f32>(at(p0, s));
            const bb = load<f32>(at(p1, s));
            const g = load<f32>(at(dp, s));
            store<f32>(at(dp, s), a * (g - d0) * scale);
            store<f32>(at(p1, s), bb * (-l * g - d1) * scale);
            store<f32>(at(p0, s), a - l * bb);
          }
          if (cnt < bk) memory.fill(at(p1, cnt), 0, <usize>(bk - cnt) << 2);
        }
        if (cnt < bk) {
          memory.fill(at(p0, cnt), 0, <usize>(bk - cnt) << 2);
          memory.fill(at(dp, cnt), 0, <usize>(bk - cnt) << 2);
        }
      }
      for (let j = 0; j < G; j++) {
        const dS = j ? SB1 : DPB;
        // dq_j += dS_j · K_j[s0 : s0 + bk]
        packA(dS, BK, false, rows, bk, AT, 0, (rows + 3) >> 2);
        mm(rows, d, bk, AT, bk, (j ? KN1 : KN0) + (<usize>s0 << 5), S, at(argP(ATTN_DQ), ((b * T + t0) * H + h0 + j) * d), qStride, true, CAUSAL_K_UPPER, offT);
        // dk_j[s0 : s0 + bk] += dS_jᵀ · Q_j
        packA(dS, BK, true, bk, rows, AT, 0, (bk + 3) >> 2);
        mm(bk, d, rows, AT, rows, base + (j ? oBQ1 : oBQ0), rows, at(argP(ATTN_DK_HEADS), ((b * H + h0 + j) * S + s0) * d), d, true, CAUSAL_K_LOWER, offT);
      }
      // dv[s0 : s0 + bk] += (P₁ − λP₂)ᵀ · dOut  (plain: Pᵀ · dO)
      packA(SB0, BK, true, bk, rows, AT, 0, (bk + 3) >> 2);
      mm(bk, dv, rows, AT, rows, BdO, rows, at(dvH, s0 * dv), dv, true, CAUSAL_K_LOWER, offT);
    }
  }
}

/** dk[b] = Σ over query heads of dkH (by kHeadOf), dv[b] = Σ over groups of dvH (by vHeadOf). */
function attentionReduceChunk(b: i32): void {
  const S = argI(ATTN_SEQ_K);
  const H = argI(ATTN_Q_HEADS);
  const Hk = argI(ATTN_K_HEADS);
  const Hv = argI(ATTN_V_HEADS);
  const d = argI(ATTN_QK_DIM);
  const dv = argI(ATTN_V_DIM);
  const G = argI(ATTN_GROUP);
  const groups = H / G;
  const dk = at(argP(ATTN_DK), b * S * Hk * d);
  const dvv = at(argP(ATTN_DV), b * S * Hv * dv);
  memory.fill(dk, 0, <usize>(S * Hk * d) << 2);
  memory.fill(dvv, 0, <usize>(S * Hv * dv) << 2);
  for (let h = 0; h < H; h++) {
    const kh = load<i32>(at(argP(ATTN_K_HEAD_OF), h));
    const dkh = at(argP(ATTN_DK_HEADS), (b * H + h) * S * d);
    for (let s = 0; s < S; s++) addInto(at(dk, (s * Hk + kh) * d), at(dkh, s * d), d);
  }
  for (let g = 0; g < groups; g++) {
    const vh = load<i32>(at(argP(ATTN_V_HEAD_OF), g * G));
    const dvh = at(argP(ATTN_DV_HEADS), (b * groups + g) * S * dv);
    for (let s = 0; s < S; s++) addInto(at(dvv, (s * Hv + vh) * dv), at(dvh, s * dv), dv);
  }
}

@inline function addInto(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(dst, i), f32x4.add(v128.load(at(dst, i)), v128.load(at(src, i))));
  for (; i < n; i++) store<f32>(at(dst, i), load<f32>(at(dst, i)) + load<f32>(at(src, i)));
}

/**
 * heads [rows, H, dv] → out [rows, H/2, dv]: out_i = O_{2i} − λ·O_{2i+1}, λ the scalar or
 * lambdas[row·H/2 + i] when lambdas ≠ 0.
 */
export function combineForward(heads: usize, out: usize, rows: i32, H: i32, dv: i32, lambda: f32, lambdas: usize): void {
  const pairs = H >> 1;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < pairs; i++) {
      const l = lambdas ? load<f32>(at(lambdas, r * pairs + i)) : lambda;
      const vl = f4(l);
      const first = at(heads, (r * H + 2 * i) * dv);
      const second = at(first, dv);
      const o = at(out, (r * pairs + i) * dv);
      let c = 0;
      for (; c + 4 <= dv; c += 4)
        v128.store(at(o, c), f32x4.sub(v128.load(at(first, c)), f32x4.mul(vl, v128.load(at(second, c)))));
      for (; c < dv; c++) store<f32>(at(o, c), load<f32>(at(first, c)) - l * load<f32>(at(second, c)));
    }
  }
}

/** dOut [rows, H/2, dv] → dHeads [rows, H, dv]; dLambda[row·H/2 + i] = −dOut_i · O_{2i+1}. */
export function combineBackward(dOut: usize, heads: usize, dHeads: usize, dLambda: usize, rows: i32, H: i32, dv: i32, lambda: f32, lambdas: usize): void {
  const pairs = H >> 1;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < pairs; i++) {
      const l = lambdas ? load<f32>(at(lambdas, r * pairs + i)) : lambda;
      const vl = f4(-l);
      const first = at(dHeads, (r * H + 2 * i) * dv);
      const second = at(first, dv);
      const o = at(dOut, (r * pairs + i) * dv);
      const hs = at(heads, (r * H + 2 * i + 1) * dv);
      let c = 0;
      for (; c + 4 <= dv; c += 4) {
        const g = v128.load(at(o, c));
        v128.store(at(first, c), g);
        v128.store(at(second, c), f32x4.mul(vl, g));
      }
      for (; c < dv; c++) {
        const g = load<f32>(at(o, c));
        store<f32>(at(first, c), g);
        store<f32>(at(second, c), -l * g);
      }
      store<f32>(at(dLambda, r * pairs + i), -dot(o, hs, dv));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm, SwiGLU, cross-entropy, RoPE
// ---------------------------------------------------------------------------------------------

export function rmsNormForward(x: usize, w: usize, y: usize, rstd: usize, rows: i32, dim: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * dim);
    const yr = at(y, r * dim);
    const s: f32 = 1 / Mathf.sqrt(dot(xr, xr, dim) / <f32>dim + eps);
    store<f32>(at(rstd, r), s);
    const vs = f4(s);
    let i = 0;
    for (; i + 4 <= dim; i += 4)
      v128.store(at(yr, i), f32x4.mul(f32x4.mul(v128.load(at(xr, i)), vs), v128.load(at(w, i))));
    for (; i < dim; i++) store<f32>(at(yr, i), load<f32>(at(xr, i)) * s * load<f32>(at(w, i)));
  }
}

/** dx = s·(dy⊙w − x̂·mean(dy⊙w⊙x̂)); dw += Σ_rows dy⊙x̂ */
export function rmsNormBackward(dy: usize, x: usize, w: usize, rstd: usize, dx: usize, dw: usize, rows: i32, dim: i32): void {
  for (let r = 0; r < rows; r++) {
    const off = r * dim;
    const s = load<f32>(at(rstd, r));
    const vs = f4(s);
    let acc = f4(0);
    let i = 0;
    for (; i + 4 <= dim; i += 4) {
      const xh = f32x4.mul(v128.load(at(x, off + i)), vs);
      const g = v128.load(at(dy, off + i));
      acc = madd(f32x4.mul(g, v128.load(at(w, i))), xh, acc);
      v128.store(at(dw, i), madd(g, xh, v128.load(at(dw, i))));
    }
    let dotv = hsum(acc);
    for (; i < dim; i++) {
      const xh = load<f32>(at(x, off + i)) * s;
      const g = load<f32>(at(dy, off + i));
      dotv += g * load<f32>(at(w, i)) * xh;
      store<f32>(at(dw, i), load<f32>(at(dw, i)) + g * xh);
    }
    const mean = dotv / <f32>dim;
    i = 0;
    for (; i + 4 <= dim; i += 4) {
      const g = f32x4.mul(v128.load(at(dy, off + i)), v128.load(at(w, i)));
      const xv = f32x4.mul(v128.load(at(x, off + i)), vs);
      v128.store(at(dx, off + i), f32x4.mul(vs, f32x4.sub(g, f32x4.mul(xv, f4(mean)))));
    }
    for (; i < dim; i++)
      store<f32>(at(dx, off + i), s * (load<f32>(at(dy, off + i)) * load<f32>(at(w, i)) - load<f32>(at(x, off + i)) * s * mean));
  }
}

@inline function sigmoid4(g: v128): v128 {
  return f32x4.div(f4(1), f32x4.add(f4(1), exp4(f32x4.neg(g))));
}

export function swigluForward(gate: usize, up: usize, h: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const g = v128.load(at(gate, i));
    v128.store(at(h, i), f32x4.mul(f32x4.mul(g, sigmoid4(g)), v128.load(at(up, i))));
  }
  for (; i < n; i++) {
    const g = load<f32>(at(gate, i));
    store<f32>(at(h, i), (g / (1 + exp1(-g))) * load<f32>(at(up, i)));
  }
}

export function swigluBackward(dh: usize, gate: usize, up: usize, dGate: usize, dUp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const g = v128.load(at(gate, i));
    const sig = sigmoid4(g);
    const d = v128.load(at(dh, i));
    v128.store(at(dUp, i), f32x4.mul(f32x4.mul(d, g), sig));
    const dsilu = f32x4.mul(sig, madd(g, f32x4.sub(f4(1), sig), f4(1)));
    v128.store(at(dGate, i), f32x4.mul(f32x4.mul(d, v128.load(at(up, i))), dsilu));
  }
  for (; i < n; i++) {
    const g = load<f32>(at(gate, i));
    const sig: f32 = 1 / (1 + exp1(-g));
    const d = load<f32>(at(dh, i));
    store<f32>(at(dUp, i), d * g * sig);
    store<f32>(at(dGate, i), d * load<f32>(at(up, i)) * sig * (1 + g * (1 - sig)));
  }
}

/**
 * Rows [r0, r1) of logits [rows, V]: lossRow[r] (f64) = logsumexp − logit[target],
 * dLogits = (softmax − onehot) / scored; rows with target −1 are not scored (zero loss and gradient).
 * Targets must be in range or −1 (checked by the wrapper).
 */
export function crossEntropy(
  logits: usize,
  targets: usize,
  dLogits: usize,
  lossRow: usize,
  rows: i32,
  scored: i32,
  V: i32,
): void {
  const invRows: f32 = 1 / <f32>scored;
  for (let r = 0; r < rows; r++) {
    const row = at(logits, r * V);
    const drow = at(dLogits, r * V);
    const target = load<i32>(at(targets, r));
    if (target < 0) {
      memory.fill(drow, 0, <usize>V << 2);
      store<f64>(lossRow + (<usize>r << 3), 0);
      continue;
    }
    let mv = f4(-Infinity);
    let i = 0;
    for (; i + 4 <= V; i += 4) mv = f32x4.max(mv, v128.load(at(row, i)));
    let mx = hmax(mv);
    for (; i < V; i++) mx = Mathf.max(mx, load<f32>(at(row, i)));
    const vmx = f4(mx);
    let sv = f4(0);
    i = 0;
    for (; i + 4 <= V; i += 4) {
      const e = exp4(f32x4.sub(v128.load(at(row, i)), vmx));
      v128.store(at(drow, i), e);
      sv = f32x4.add(sv, e);
    }
    let sum = hsum(sv);
    for (; i < V; i++) {
      const e = exp1(load<f32>(at(row, i)) - mx);
      store<f32>(at(drow, i), e);
      sum += e;
    }
    const logSum: f64 = logd(<f64>sum) + <f64>mx;
    store<f64>(lossRow + (<usize>r << 3), logSum - <f64>load<f32>(at(row, target)));
    const k: f32 = invRows / sum;
    const vk = f4(k);
    i = 0;
    for (; i + 4 <= V; i += 4) v128.store(at(drow, i), f32x4.mul(v128.load(at(drow, i)), vk));
    for (; i < V; i++) store<f32>(at(drow, i), load<f32>(at(drow, i)) * k);
    store<f32>(at(drow, target), load<f32>(at(drow, target)) - invRows);
  }
}

/**
 * x [B, T, heads, dim] in place; cosT/sinT [T, dim] hold per position the cosine of each pair's
 * angle twice and the sine as (−sin, +sin), so a row rotates as x·cos + swap(x)·sin.
 */
export function rope(x: usize, cosT: usize, sinT: usize, batch: i32, seq: i32, heads: i32, dim: i32): void {
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      const ct = at(cosT, t * dim);
      const st = at(sinT, t * dim);
      for (let h = 0; h < heads; h++) {
        const row = at(x, ((b * seq + t) * heads + h) * dim);
        let i = 0;
        for (; i + 4 <= dim; i += 4) {
          const v = v128.load(at(row, i));
          const sw = f32x4.shuffle(v, v, 1, 0, 3, 2);
          v128.store(at(row, i), f32x4.add(f32x4.mul(v, v128.load(at(ct, i))), f32x4.mul(sw, v128.load(at(st, i)))));
        }
        for (; i + 2 <= dim; i += 2) {
          const x0 = load<f32>(at(row, i));
          const x1 = load<f32>(at(row, i + 1));
          store<f32>(at(row, i), x0 * load<f32>(at(ct, i)) + x1 * load<f32>(at(st, i)));
          store<f32>(at(row, i + 1), x1 * load<f32>(at(ct, i + 1)) + x0 * load<f32>(at(st, i + 1)));
        }
      }
    }
  }
}

/** a[i] += b[i] for i < n. */
export function addInPlace(a: usize, b: usize, n: i32): void {
  addInto(a, b, n);
}

/** x[i] *= c for i < n. */
export function scaleInPlace(x: usize, c: f32, n: i32): void {
  const vc = f4(c);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(x, i), f32x4.mul(v128.load(at(x, i)), vc));
  for (; i < n; i++) store<f32>(at(x, i), load<f32>(at(x, i)) * c);
}

/**
 * AdamW on n floats in place, exactly the arithmetic of src/train/adamw.ts: float64 operations in its
 * order (no fused multiply-adds), float32 storage. hyper: lr, β1, β2, ε, decay, c1, c2 as f64.
 */
function adamwRange(p: usize, g: usize, m: usize, v: usize, n: i32, hyper: usize): void {
  const lr = load<f64>(hyper), beta1 = load<f64>(hyper, 8), beta2 = load<f64>(hyper, 16);
  const eps = load<f64>(hyper, 24), decay = load<f64>(hyper, 32), c1 = load<f64>(hyper, 40), c2 = load<f64>(hyper, 48);
  const stepSize = lr / c1;
  const invSqrtC2 = 1 / Math.sqrt(c2);
  const a1 = 1 - beta1, a2 = 1 - beta2;
  let i = 0;
  const vb1 = f64x2.splat(beta1), va1 = f64x2.splat(a1), vb2 = f64x2.splat(beta2), va2 = f64x2.splat(a2);
  const vdecay = f64x2.splat(decay), vstep = f64x2.splat(stepSize), vinv = f64x2.splat(invSqrtC2), veps = f64x2.splat(eps);
  for (; i + 2 <= n; i += 2) {
    const gi = f64x2.promote_low_f32x4(v128.load64_zero(at(g, i)));
    const mOld = f64x2.promote_low_f32x4(v128.load64_zero(at(m, i)));
    const vOld = f64x2.promote_low_f32x4(v128.load64_zero(at(v, i)));
    const pOld = f64x2.promote_low_f32x4(v128.load64_zero(at(p, i)));
    // rounded to float32 and back, as a Float32Array store and load would
    const mi = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(vb1, mOld), f64x2.mul(va1, gi))));
    const vi = f64x2.promote_low_f32x4(
      f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(vb2, vOld), f64x2.mul(f64x2.mul(va2, gi), gi))),
    );
    const denom = f64x2.add(f64x2.mul(f64x2.sqrt(vi), vinv), veps);
    const pi = f64x2.sub(f64x2.mul(pOld, vdecay), f64x2.div(f64x2.mul(vstep, mi), denom));
    v128.store64_lane(at(m, i), f32x4.demote_f64x2_zero(mi), 0);
    v128.store64_lane(at(v, i), f32x4.demote_f64x2_zero(vi), 0);
    v128.store64_lane(at(p, i), f32x4.demote_f64x2_zero(pi), 0);
  }
  for (; i < n; i++) {
    const gi = <f64>load<f32>(at(g, i));
    const mi = <f32>(beta1 * <f64>load<f32>(at(m, i)) + a1 * gi);
    const vi = <f32>(beta2 * <f64>load<f32>(at(v, i)) + a2 * gi * gi);
    store<f32>(at(m, i), mi);
    store<f32>(at(v, i), vi);
    store<f32>(at(p, i), <f32>(<f64>load<f32>(at(p, i)) * decay - (stepSize * <f64>mi) / (Math.sqrt(<f64>vi) * invSqrtC2 + eps)));
  }
}

/** Σ x² of n floats in float64, over two lanes. */
function sumSquares(x: usize, n: i32): f64 {
  let acc = f64x2.splat(0);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const xi = f64x2.promote_low_f32x4(v128.load64_zero(at(x, i)));
    acc = f64x2.add(acc, f64x2.mul(xi, xi));
  }
  let total = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < n; i++) {
    const xi = <f64>load<f32>(at(x, i));
    total += xi * xi;
  }
  return total;
}
