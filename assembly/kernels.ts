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
 * so a thread lagging behind a finished job can never claim a chunk of the next one.
 */

// ---------------------------------------------------------------------------------------------
// Control block (byte addresses; the wrapper mirrors these)
// ---------------------------------------------------------------------------------------------
const CTRL: usize = 256;
const CLAIM: usize = CTRL; // (tag << 20) | next chunk index
const DONE: usize = CTRL + 4; // chunks finished
const NCHUNK: usize = CTRL + 12; // chunks in the current job
const OP: usize = CTRL + 16; // op code of the current job
const ARGS: usize = CTRL + 32; // 48 argument words (i32 or f32 bits)

const OP_PACK_B: i32 = 2;
const OP_GEMM: i32 = 3;
const OP_ATTN_FWD: i32 = 4;
const OP_ATTN_BWD: i32 = 5;
const OP_ATTN_REDUCE: i32 = 6;

/** This instance's thread index (0: the caller's thread); selects its scratch region. */
let tid: i32 = 0;

export function setThread(t: i32): void {
  tid = t;
}

export function heapBase(): usize {
  return __heap_base;
}

@inline function argI(i: i32): i32 {
  return load<i32>(ARGS + (<usize>i << 2));
}
@inline function argP(i: i32): usize {
  return <usize>load<u32>(ARGS + (<usize>i << 2));
}
@inline function argF(i: i32): f32 {
  return load<f32>(ARGS + (<usize>i << 2));
}
@inline function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}
@inline function f4(x: f32): v128 {
  return f32x4.splat(x);
}
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** Claim and run chunks of the current job until none are left. */
export function work(): void {
  while (true) {
    const w = atomic.load<i32>(CLAIM);
    const idx = w & 0xfffff;
    const n = atomic.load<i32>(NCHUNK);
    if (idx >= n) return;
    if (atomic.cmpxchg<i32>(CLAIM, w, w + 1) != w) continue;
    runChunk(load<i32>(OP), idx);
    if (atomic.add<i32>(DONE, 1) + 1 == n) atomic.notify(DONE);
  }
}

function runChunk(op: i32, c: i32): void {
  if (op == OP_GEMM) {
    // 0 m, 1 n, 2 k, 3 AP, 4 BP, 5 C, 6 ldc, 7 acc, 8 row blocks per chunk, 9 A, 10 lda, 11 transA
    const per = argI(8);
    const m = argI(0);
    const k = argI(2);
    const ib0 = c * per;
    const ib1 = imin((m + 3) >> 2, ib0 + per);
    packA(argP(9), argI(10), argI(11) != 0, m, k, argP(3), ib0, ib1);
    gemmBlocks(m, argI(1), k, argP(3), argP(4), argP(5), argI(6), argI(7) != 0, ib0, ib1);
  } else if (op == OP_PACK_B) {
    // 0 B, 1 ldb, 2 nn, 3 n, 4 k, 5 BP, 6 panels per chunk
    const per = argI(6);
    const np = (argI(3) + 7) >> 3;
    packB(argP(0), argI(1), argI(2) != 0, argI(3), argI(4), argP(5), c * per, imin(np, (c + 1) * per));
  } else if (op == OP_ATTN_FWD) {
    attentionForwardChunk(c);
  } else if (op == OP_ATTN_BWD) {
    attentionBackwardChunk(c);
  } else if (op == OP_ATTN_REDUCE) {
    attentionReduceChunk(c);
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
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
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
  for (; i + 4 <= n; i += 4) s = f32x4.add(s, f32x4.mul(v128.load(at(x, i)), v128.load(at(y, i))));
  let t = hsum(s);
  for (; i < n; i++) t += load<f32>(at(x, i)) * load<f32>(at(y, i));
  return t;
}

// ---------------------------------------------------------------------------------------------
// Attention. Arguments (ARGS words):
//  0 q, 1 k, 2 v, 3 probs [B,H,T,S] (forward; 0: not wanted), 4 lse [B,H,T], 5 heads O [B,T,H,dv],
//  6 B, 7 T, 8 S, 9 H, 10 Hk, 11 Hv, 12 d, 13 dv, 14 kHeadOf, 15 vHeadOf, 16 scale (f32),
//  17 scratch base, 18 scratch stride (bytes), 19 AP size (bytes), 20 BP size (bytes),
//  backward: 21 dHeads [B,T,H,dv], 22 dq, 23 dkH [B,H,S,d], 24 dvH [B,H,S,dv], 25 dk, 26 dv
// ---------------------------------------------------------------------------------------------

function attentionForwardChunk(c: i32): void {
  const T = argI(7);
  const S = argI(8);
  const H = argI(9);
  const Hk = argI(10);
  const Hv = argI(11);
  const d = argI(12);
  const dv = argI(13);
  const scale = argF(16);
  const b = c / H;
  const h = c % H;
  const kh = load<i32>(at(argP(14), h));
  const vh = load<i32>(at(argP(15), h));
  const scratch = argP(17) + <usize>tid * argP(18);
  const AP = scratch;
  const BP = scratch + argP(19);
  const offset = S - T;

  const qh = at(argP(0), (b * T * H + h) * d);
  const kbase = at(argP(1), (b * S * Hk + kh) * d);
  const vbase = at(argP(2), (b * S * Hv + vh) * dv);
  // the maps go to the probs buffer when asked for, else into this thread's scratch
  const P = argP(3) ? at(argP(3), (b * H + h) * T * S) : BP + argP(20);
  const lse = at(argP(4), (b * H + h) * T);
  gemm(T, S, d, qh, H * d, false, kbase, Hk * d, false, P, S, false, AP, BP, CAUSAL_COLS, offset);
  const vscale = f4(scale);
  for (let t = 0; t < T; t++) {
    const row = at(P, t * S);
    const count = t + offset + 1;
    let mv = f4(-Infinity);
    let s = 0;
    for (; s + 4 <= count; s += 4) mv = f32x4.max(mv, v128.load(at(row, s)));
    let mx = hmax(mv);
    for (; s < count; s++) mx = Mathf.max(mx, load<f32>(at(row, s)));
    const shift = f4(mx * scale);
    let sv = f4(0);
    s = 0;
    for (; s + 4 <= count; s += 4) {
      const e = exp4(f32x4.sub(f32x4.mul(v128.load(at(row, s)), vscale), shift));
      v128.store(at(row, s), e);
      sv = f32x4.add(sv, e);
    }
    let sum = hsum(sv);
    for (; s < count; s++) {
      const e = exp1(load<f32>(at(row, s)) * scale - mx * scale);
      store<f32>(at(row, s), e);
      sum += e;
    }
    const inv = f4(1 / sum);
    s = 0;
    for (; s + 4 <= count; s += 4) v128.store(at(row, s), f32x4.mul(v128.load(at(row, s)), inv));
    for (; s < count; s++) store<f32>(at(row, s), load<f32>(at(row, s)) / sum);
    if (count < S) memory.fill(at(row, count), 0, <usize>(S - count) << 2);
    store<f32>(at(lse, t), mx * scale + <f32>logd(<f64>sum));
  }
  const oh = at(argP(5), (b * T * H + h) * dv);
  gemm(T, dv, S, P, S, false, vbase, Hv * dv, true, oh, H * dv, false, AP, BP, CAUSAL_K_UPPER, offset);
}

function attentionBackwardChunk(c: i32): void {
  const T = argI(7);
  const S = argI(8);
  const H = argI(9);
  const Hk = argI(10);
  const Hv = argI(11);
  const d = argI(12);
  const dv = argI(13);
  const scale = argF(16);
  const b = c / H;
  const h = c % H;
  const kh = load<i32>(at(argP(14), h));
  const vh = load<i32>(at(argP(15), h));
  const scratch = argP(17) + <usize>tid * argP(18);
  const AP = scratch;
  const BP = AP + argP(19);
  const P = BP + argP(20);
  const dP = at(P, T * S);
  const offset = S - T;

  const qh = at(argP(0), (b * T * H + h) * d);
  const kbase = at(argP(1), (b * S * Hk + kh) * d);
  const vbase = at(argP(2), (b * S * Hv + vh) * dv);
  const lse = at(argP(4), (b * H + h) * T);
  const oh = at(argP(5), (b * T * H + h) * dv);
  const doh = at(argP(21), (b * T * H + h) * dv);

  // P again, from the saved log-sum-exp
  gemm(T, S, d, qh, H * d, false, kbase, Hk * d, false, P, S, false, AP, BP, CAUSAL_COLS, offset);
  const vscale = f4(scale);
  for (let t = 0; t < T; t++) {
    const row = at(P, t * S);
    const count = t + offset + 1;
    const l = load<f32>(at(lse, t));
    const vl = f4(l);
    let s = 0;
    for (; s + 4 <= count; s += 4)
      v128.store(at(row, s), exp4(f32x4.sub(f32x4.mul(v128.load(at(row, s)), vscale), vl)));
    for (; s < count; s++) store<f32>(at(row, s), exp1(load<f32>(at(row, s)) * scale - l));
    if (count < S) memory.fill(at(row, count), 0, <usize>(S - count) << 2);
  }
  // dP = dO · Vᵀ, then dS = P ∘ (dP − rowdot(dO, O)) · scale
  gemm(T, S, dv, doh, H * dv, false, vbase, Hv * dv, false, dP, S, false, AP, BP, CAUSAL_COLS, offset);
  for (let t = 0; t < T; t++) {
    const row = at(dP, t * S);
    const prow = at(P, t * S);
    const count = t + offset + 1;
    const D = dot(at(doh, t * H * dv), at(oh, t * H * dv), dv);
    const vD = f4(D);
    let s = 0;
    for (; s + 4 <= count; s += 4)
      v128.store(at(row, s), f32x4.mul(f32x4.mul(v128.load(at(prow, s)), f32x4.sub(v128.load(at(row, s)), vD)), vscale));
    for (; s < count; s++) store<f32>(at(row, s), load<f32>(at(prow, s)) * (load<f32>(at(row, s)) - D) * scale);
    if (count < S) memory.fill(at(row, count), 0, <usize>(S - count) << 2);
  }
  // dq = dS · K ; dk_h = dSᵀ · Q ; dv_h = Pᵀ · dO
  gemm(T, d, S, dP, S, false, kbase, Hk * d, true, at(argP(22), (b * T * H + h) * d), H * d, false, AP, BP, CAUSAL_K_UPPER, offset);
  gemm(S, d, T, dP, S, true, qh, H * d, true, at(argP(23), (b * H + h) * S * d), d, false, AP, BP, CAUSAL_K_LOWER, offset);
  gemm(S, dv, T, P, S, true, doh, H * dv, true, at(argP(24), (b * H + h) * S * dv), dv, false, AP, BP, CAUSAL_K_LOWER, offset);
}

/** dk[b] = Σ over query heads of dkH (by kHeadOf), dv[b] likewise (by vHeadOf). */
function attentionReduceChunk(b: i32): void {
  const S = argI(8);
  const H = argI(9);
  const Hk = argI(10);
  const Hv = argI(11);
  const d = argI(12);
  const dv = argI(13);
  const dk = at(argP(25), b * S * Hk * d);
  const dvv = at(argP(26), b * S * Hv * dv);
  memory.fill(dk, 0, <usize>(S * Hk * d) << 2);
  memory.fill(dvv, 0, <usize>(S * Hv * dv) << 2);
  for (let h = 0; h < H; h++) {
    const kh = load<i32>(at(argP(14), h));
    const vh = load<i32>(at(argP(15), h));
    const dkh = at(argP(23), (b * H + h) * S * d);
    const dvh = at(argP(24), (b * H + h) * S * dv);
    for (let s = 0; s < S; s++) {
      addInto(at(dk, (s * Hk + kh) * d), at(dkh, s * d), d);
      addInto(at(dvv, (s * Hv + vh) * dv), at(dvh, s * dv), dv);
    }
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
      acc = f32x4.add(acc, f32x4.mul(f32x4.mul(g, v128.load(at(w, i))), xh));
      v128.store(at(dw, i), f32x4.add(v128.load(at(dw, i)), f32x4.mul(g, xh)));
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
    const dsilu = f32x4.mul(sig, f32x4.add(f4(1), f32x4.mul(g, f32x4.sub(f4(1), sig))));
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
 * dLogits = (softmax − onehot) / rows. Targets must be in range (checked by the wrapper).
 */
export function crossEntropy(logits: usize, targets: usize, dLogits: usize, lossRow: usize, rows: i32, V: i32): void {
  const invRows: f32 = 1 / <f32>rows;
  for (let r = 0; r < rows; r++) {
    const row = at(logits, r * V);
    const drow = at(dLogits, r * V);
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
    const target = load<i32>(at(targets, r));
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
