// The native backend's own SGEMM, BLIS-style (Goto's algorithm): for each NC-wide block of op(B)'s
// columns and KC-deep slice of the shared dimension, op(B) is packed into NR-wide micro-panels
// (L3/L2), then each MC-tall block of op(A) into MR-tall micro-panels (L2), and a register-blocked
// micro-kernel multiplies one MR×KC panel by one KC×NR panel into an MR×NR tile of C. Packing reads
// any layout (plain or transposed), so no transpose is ever materialised. The micro-kernel is one
// template on GCC/Clang vector types, instantiated inside functions compiled for AVX-512, for
// AVX2+FMA and for the build's baseline; the widest one the CPU supports runs (checked at run time).
// Rows of one or a few tokens against a weight matrix (decoding) skip packing: dot products straight
// over the weight rows. Threads: C is split into one slice of rows (or of columns when there are
// few rows) per OpenMP thread.
#include "gemm.h"

#include "decode-threads.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#define DT_INLINE __attribute__((always_inline)) inline

namespace dt {

namespace {

using V16 = float __attribute__((vector_size(64)));
using V8 = float __attribute__((vector_size(32)));
using V4 = float __attribute__((vector_size(16)));

/** Depth of one packed slice: a KC×NR panel of B (32 KiB for NR = 32) stays in the 48 KiB L1. */
constexpr int KC = 256;
/**
 * A·Bᵀ with at most this many rows of A (decoding) or of B (the narrow λ projections) takes the
 * unpacked path of dot products: packing would cost more than it saves.
 */
constexpr int kRowsPathMax = 4, kRowsPathMaxN = 8;
/**
 * op(A)·B (B not transposed) with at most this many rows of A — the weight gradients of the narrow
 * λ projections, dW [H, d] += dYᵀ [H, T]·X [T, d] — takes the few-rows path: packing B and the
 * padded A tile (12 rows for H = 4) cost more than the product itself.
 */
constexpr int kFewRowsMax = 8;
/** Work (m·n·k) below which a GEMM runs on one thread: waking the others costs more. */
constexpr double kParallelWork = 1 << 18;

}  // namespace

namespace {

/** A matrix operand: element (r, c) at p[r·rs + c·cs]; one of rs, cs is 1. */
struct Operand {
  const float* p;
  size_t rs, cs;
};

/** A 64-byte aligned per-thread buffer that only grows. */
float* scratch(size_t floats, int slot) {
  thread_local float* buf[2] = {nullptr, nullptr};
  thread_local size_t cap[2] = {0, 0};
  if (floats > cap[slot]) {
    std::free(buf[slot]);
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    buf[slot] = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!buf[slot]) {
      cap[slot] = 0;
      throw std::bad_alloc();
    }
    cap[slot] = bytes / sizeof(float);
  }
  return buf[slot];
}

/** op(A)[i0 .. i0+mc) × [p0 .. p0+kc) → ⌈mc/MR⌉ panels, each kc steps of MR floats (zero-padded rows). */
template <int MR>
DT_INLINE void packA(const Operand& A, int i0, int mc, int p0, int kc, float* dst) {
  for (int ir = 0; ir < mc; ir += MR, dst += static_cast<size_t>(MR) * kc) {
    const int mr = std::min(MR, mc - ir);
    if (A.cs == 1) {  // rows contiguous: read each row once
      for (int i = 0; i < mr; i++) {
        const float* row = A.p + static_cast<size_t>(i0 + ir + i) * A.rs + p0;
        for (int p = 0; p < kc; p++) dst[p * MR + i] = row[p];
      }
      for (int i = mr; i < MR; i++)
        for (int p = 0; p < kc; p++) dst[p * MR + i] = 0.0f;
    } else {  // transposed: MR consecutive floats per step
      for (int p = 0; p < kc; p++) {
        const float* col = A.p + static_cast<size_t>(p0 + p) * A.cs + i0 + ir;
        for (int i = 0; i < mr; i++) dst[p * MR + i] = col[i];
        for (int i = mr; i < MR; i++) dst[p * MR + i] = 0.0f;
      }
    }
  }
}

/** op(B)[p0 .. p0+kc) × [j0 .. j0+nc) → ⌈nc/NR⌉ panels, each kc steps of NR floats (zero-padded columns). */
template <int NR>
DT_INLINE void packB(const Operand& B, int p0, int kc, int j0, int nc, float* dst) {
  for (int jr = 0; jr < nc; jr += NR, dst += static_cast<size_t>(NR) * kc) {
    const int nr = std::min(NR, nc - jr);
    if (B.cs == 1) {  // rows contiguous: NR consecutive floats per step
      for (int p = 0; p < kc; p++) {
        const float* row = B.p + static_cast<size_t>(p0 + p) * B.rs + j0 + jr;
        for (int j = 0; j < nr; j++) dst[p * NR + j] = row[j];
        for (int j = nr; j < NR; j++) dst[p * NR + j] = 0.0f;
      }
    } else {  // transposed (a weight matrix W [n, k] read as Wᵀ): read each of its rows once
      for (int j = 0; j < nr; j++) {
        const float* col = B.p + static_cast<size_t>(j0 + jr + j) * B.cs + p0;
        for (int p = 0; p < kc; p++) dst[p * NR + j] = col[p];
      }
      for (int j = nr; j < NR; j++)
        for (int p = 0; p < kc; p++) dst[p * NR + j] = 0.0f;
    }
  }
}

/**
 * C[0..mr) × [0..nr) = a·b + β·C for packed panels a (kc × MR) and b (kc × NR = kc × NV vectors),
 * accumulated in MR·NV vector registers; tiles cut by C's edge go through a local buffer.
 */
template <class V, int MR, int NV>
DT_INLINE void microKernel(int kc, const float* __restrict a, const float* __restrict b, float beta, float* c,
                           size_t ldc, int mr, int nr) {
  constexpr int W = sizeof(V) / sizeof(float), NR = W * NV;
  V acc[MR][NV];
#pragma GCC unroll 64
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[i][j] = V{};
#pragma GCC unroll 2
  for (int p = 0; p < kc; p++, a += MR, b += NR) {
    V bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) bv[j] = *reinterpret_cast<const V*>(b + j * W);  // panels are 64-byte aligned
#pragma GCC unroll 64
    for (int i = 0; i < MR; i++) {
      const V ai = a[i] - V{};  // broadcast
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) acc[i][j] += ai * bv[j];
    }
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 64
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        float* cp = c + i * ldc + j * W;
        V r = acc[i][j];
        if (beta != 0.0f) {
          V old;
          std::memcpy(&old, cp, sizeof old);
          r += beta * old;
        }
        std::memcpy(cp, &r, sizeof r);
      }
    return;
  }
  alignas(64) float t[MR * NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++) std::memcpy(t + i * NR + j * W, &acc[i][j], sizeof(V));
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = t[i * NR + j] + (beta != 0.0f ? beta * c[i * ldc + j] : 0.0f);
}

/** One thread's C[m, n] = op(A)·op(B) + β·C, blocked and packed (k ≥ 1). */
template <class V, int MR, int NV, int MC, int NC>
DT_INLINE void gemmBlocked(const Operand& A, const Operand& B, int m, int n, int k, float beta, float* c,
                           size_t ldc) {
  constexpr int NR = static_cast<int>(sizeof(V) / sizeof(float)) * NV;
  static_assert(MC % MR == 0 && NC % NR == 0, "blocks are whole panels");
  const int ncMax = std::min(NC, (n + NR - 1) / NR * NR), mcMax = std::min(MC, (m + MR - 1) / MR * MR);
  float* bp = scratch(static_cast<size_t>(KC) * ncMax, 0);
  float* ap = scratch(static_cast<size_t>(KC) * mcMax, 1);
  for (int jc = 0; jc < n; jc += NC) {
    const int nc = std::min(NC, n - jc);
    for (int pc = 0; pc < k; pc += KC) {
      const int kc = std::min(KC, k - pc);
      const float betaHere = pc == 0 ? beta : 1.0f;
      packB<NR>(B, pc, kc, jc, nc, bp);
      for (int ic = 0; ic < m; ic += MC) {
        const int mc = std::min(MC, m - ic);
        packA<MR>(A, ic, mc, pc, kc, ap);
        for (int jr = 0; jr < nc; jr += NR) {
          const float* bPanel = bp + static_cast<size_t>(jr) * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            microKernel<V, MR, NV>(kc, ap + static_cast<size_t>(ir) * kc, bPanel, betaHere,
                                   c + static_cast<size_t>(ic + ir) * ldc + jc + jr, ldc, std::min(MR, mc - ir),
                                   std::min(NR, nc - jr));
          }
        }
      }
    }
  }
}

template <class V>
DT_INLINE float horizontalSum(const V& v) {
  float s = 0.0f;
  for (int l = 0; l < static_cast<int>(sizeof(V) / sizeof(float)); l++) s += v[l];
  return s;
}

/** R dot products of one row x (length k) with the rows w, w + ldw, …: out[r] (R ≤ 4). */
template <class V, int R>
DT_INLINE void dotRowsOf(const float* __restrict x, const float* __restrict w, size_t ldw, int k, float* out) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[R][2];
  for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = V{};
  int p = 0;
  for (; p + 2 * W <= k; p += 2 * W) {
    V x0, x1;
    std::memcpy(&x0, x + p, sizeof x0);
    std::memcpy(&x1, x + p + W, sizeof x1);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      V w0, w1;
      std::memcpy(&w0, w + r * ldw + p, sizeof w0);
      std::memcpy(&w1, w + r * ldw + p + W, sizeof w1);
      acc[r][0] += x0 * w0;
      acc[r][1] += x1 * w1;
    }
  }
  for (int r = 0; r < R; r++) {
    float s = horizontalSum(acc[r][0] + acc[r][1]);
    for (int q = p; q < k; q++) s += x[q] * w[r * ldw + q];
    out[r] = s;
  }
}

/**
 * C[i, j] = Σ_p A[i, p]·B[j, p] + β·C[i, j] for i in [i0, i1), j in [j0, j1): rows of A against rows
 * of B, no packing. Blocks of 4 rows of B stay in L1 while the rows of A pass (or, for many rows of A
 * against few of B, each row of A while the rows of B pass).
 */
template <class V>
DT_INLINE void gemmRows(const float* a, size_t lda, int i0, int i1, const float* b, size_t ldb, int j0, int j1,
                        int k, float beta, float* c, size_t ldc) {
  auto block = [&](int i, int j) {
    const int r = std::min(4, j1 - j);
    float out[4];
    const float* x = a + static_cast<size_t>(i) * lda;
    const float* w = b + static_cast<size_t>(j) * ldb;
    if (r == 4) {
      dotRowsOf<V, 4>(x, w, ldb, k, out);
    } else {
      for (int q = 0; q < r; q++) dotRowsOf<V, 1>(x, w + q * ldb, ldb, k, out + q);
    }
    float* cp = c + static_cast<size_t>(i) * ldc + j;
    for (int q = 0; q < r; q++) cp[q] = out[q] + (beta != 0.0f ? beta * cp[q] : 0.0f);
  };
  if (i1 - i0 <= kRowsPathMax) {
    for (int j = j0; j < j1; j += 4)
      for (int i = i0; i < i1; i++) block(i, j);
  } else {
    for (int i = i0; i < i1; i++)
      for (int j = j0; j < j1; j += 4) block(i, j);
  }
}

/**
 * C[0..R) × [j0, j0 + cols) = op(A)·B + β·C for R ≤ kFewRowsMax rows of op(A) and cols ≤ 2 vectors of
 * B's row-major columns: each step p broadcasts R values of A against 2 vectors of B's row p, so B
 * streams through once and C's block stays in 2R registers. `cols` below 2 vectors reads B's row
 * through a zero-padded buffer.
 */
template <class V, int R>
DT_INLINE void fewRowsBlock(const Operand& A, const float* b, size_t ldb, int j0, int cols, int k, float beta,
                            float* c, size_t ldc) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = V{};
  auto step = [&](int p, const V& b0, const V& b1) {
    const float* ap = A.p + static_cast<size_t>(p) * A.cs;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const V ar = ap[r * A.rs] - V{};  // broadcast
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
    }
  };
  if (cols == 2 * W) {
    for (int p = 0; p < k; p++) {
      const float* bp = b + static_cast<size_t>(p) * ldb + j0;
      V b0, b1;
      std::memcpy(&b0, bp, sizeof b0);
      std::memcpy(&b1, bp + W, sizeof b1);
      step(p, b0, b1);
    }
  } else {
    alignas(64) float t[2 * W] = {};
    for (int p = 0; p < k; p++) {
      std::memcpy(t, b + static_cast<size_t>(p) * ldb + j0, sizeof(float) * cols);
      V b0, b1;
      std::memcpy(&b0, t, sizeof b0);
      std::memcpy(&b1, t + W, sizeof b1);
      step(p, b0, b1);
    }
  }
  alignas(64) float out[2 * W];
  for (int r = 0; r < R; r++) {
    std::memcpy(out, &acc[r][0], sizeof(V));
    std::memcpy(out + W, &acc[r][1], sizeof(V));
    float* cp = c + static_cast<size_t>(r) * ldc + j0;
    for (int q = 0; q < cols; q++) cp[q] = out[q] + (beta != 0.0f ? beta * cp[q] : 0.0f);
  }
}

/** C[m, j0 .. j1) = op(A)·B + β·C for m ≤ kFewRowsMax, B row-major: blocks of 2 vectors of columns. */
template <class V>
DT_INLINE void gemmFewRows(const Operand& A, int m, const float* b, size_t ldb, int j0, int j1, int k, float beta,
                           float* c, size_t ldc) {
  constexpr int NB = 2 * static_cast<int>(sizeof(V) / sizeof(float));
  for (int j = j0; j < j1; j += NB) {
    const int cols = std::min(NB, j1 - j);
    switch (m) {
#define DT_FEW_ROWS(R) \
  case R:              \
    fewRowsBlock<V, R>(A, b, ldb, j, cols, k, beta, c, ldc); \
    break;
      DT_FEW_ROWS(1)
      DT_FEW_ROWS(2)
      DT_FEW_ROWS(3)
      DT_FEW_ROWS(4)
      DT_FEW_ROWS(5)
      DT_FEW_ROWS(6)
      DT_FEW_ROWS(7)
      DT_FEW_ROWS(8)
#undef DT_FEW_ROWS
      default:
        break;
    }
  }
}

using BlockedFn = void (*)(const Operand&, const Operand&, int, int, int, float, float*, size_t);
using FewRowsFn = void (*)(const Operand&, int, const float*, size_t, int, int, int, float, float*, size_t);
using RowsFn = void (*)(const float*, size_t, int, int, const float*, size_t, int, int, int, float, float*, size_t);

struct OwnKernel {
  BlockedFn blocked;
  RowsFn rows;
  FewRowsFn fewRows;
  int mr, nr;
  const char* tile;
};

#define DT_OWN_KERNEL(NAME, TARGET, V, MR, NV, MC, NC, TILE)                                                        \
  TARGET void NAME##Blocked(const Operand& A, const Operand& B, int m, int n, int k, float beta, float* c,    \
                            size_t ldc) {                                                                      \
    gemmBlocked<V, MR, NV, MC, NC>(A, B, m, n, k, beta, c, ldc);                                               \
  }                                                                                                            \
  TARGET void NAME##Rows(const float* a, size_t lda, int i0, int i1, const float* b, size_t ldb, int j0, int j1, \
                         int k, float beta, float* c, size_t ldc) {                                                 \
    gemmRows<V>(a, lda, i0, i1, b, ldb, j0, j1, k, beta, c, ldc);                                                   \
  }                                                                                                            \
  TARGET void NAME##FewRows(const Operand& A, int m, const float* b, size_t ldb, int j0, int j1, int k,         \
                            float beta, float* c, size_t ldc) {                                                 \
    gemmFewRows<V>(A, m, b, ldb, j0, j1, k, beta, c, ldc);                                                       \
  }                                                                                                            \
  const OwnKernel NAME = {NAME##Blocked, NAME##Rows, NAME##FewRows, MR,                                        \
                          static_cast<int>(sizeof(V) / sizeof(float)) * NV, TILE};

// Register tiles: AVX-512 12×32 (24 of 32 zmm accumulate), AVX2 6×16 (12 of 16 ymm), portable
// 4×16 in 128-bit vectors (SSE, NEON).
#if defined(__x86_64__) || defined(__i386__)
DT_OWN_KERNEL(kAvx512Kernel, __attribute__((target("avx512f,avx2,fma"))), V16, 12, 2, 192, 2048, "12x32")
DT_OWN_KERNEL(kAvx2Kernel, __attribute__((target("avx2,fma"))), V8, 6, 2, 144, 2048, "6x16")
#endif
DT_OWN_KERNEL(kPortableKernel, , V4, 4, 4, 128, 2048, "4x16")
#undef DT_OWN_KERNEL

const OwnKernel* ownKernel(GemmKernel kernel) {
  switch (kernel) {
#if defined(__x86_64__) || defined(__i386__)
    case GemmKernel::kAvx512:
      return __builtin_cpu_supports("avx512f") ? &kAvx512Kernel : nullptr;
    case GemmKernel::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &kAvx2Kernel : nullptr;
#endif
    case GemmKernel::kPortable:
      return &kPortableKernel;
    default:
      return nullptr;
  }
}

/** This thread's index in the enclosing OpenMP team (0 outside one, or without OpenMP). */
static inline int threadIndex() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

void ownGemm(const OwnKernel& kr, bool transA, bool transB, int m, int n, int k, const float* a, size_t lda,
             const float* b, size_t ldb, float beta, float* c, size_t ldc, int threads) {
  const double work = static_cast<double>(m) * n * k;
  int nt = work < kParallelWork ? 1 : std::max(1, threads);
  if (!transA && transB && (m <= kRowsPathMax || n <= kRowsPathMaxN)) {
    // Each C element a dot product of two contiguous rows; threads split the longer side.
    const bool splitN = m <= kRowsPathMax;
    // decoding rows: one thread or all, timed (decode-threads.h); the column split keeps the numbers
    static thread_local DecodeThreadChooser chooser;
    const auto product = [&](int team) {
      const int total = splitN ? n : m, per = ((total + team - 1) / team + 3) / 4 * 4;
      team = std::min(team, (total + per - 1) / per);
#pragma omp parallel num_threads(team) if (team > 1)
      {
        const int t = threadIndex();
        const int s0 = std::min(total, t * per), s1 = std::min(total, s0 + per);
        if (s1 > s0 && splitN) kr.rows(a, lda, 0, m, b, ldb, s0, s1, k, beta, c, ldc);
        if (s1 > s0 && !splitN) kr.rows(a, lda, s0, s1, b, ldb, 0, n, k, beta, c, ldc);
      }
    };
    if (splitN && nt > 1)
      runTimed(chooser, nt, work, product);
    else
      product(nt);
    return;
  }
  const Operand A{a, transA ? 1 : lda, transA ? lda : 1}, B{b, transB ? 1 : ldb, transB ? ldb : 1};
  if (!transB && m <= kFewRowsMax) {
    // Streams B once at a few FMAs per float, bound by memory as decoding is: decodeThreads (default 1;
    // a second one measured 30–60× slower here when the other core was busy; training calls these
    // rarely, so they are not timed). Threads split C's
    // columns in blocks of 32 (the widest kernel's two vectors).
    nt = std::min(nt, decodeThreads(threads));
    const int per = ((n + nt - 1) / nt + 31) / 32 * 32;
    nt = std::min(nt, (n + per - 1) / per);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const int t = threadIndex();
      const int j0 = std::min(n, t * per), j1 = std::min(n, j0 + per);
      if (j1 > j0) kr.fewRows(A, m, b, ldb, j0, j1, k, beta, c, ldc);
    }
    return;
  }
  const int mPanels = (m + kr.mr - 1) / kr.mr, nPanels = (n + kr.nr - 1) / kr.nr;
  const bool byRows = mPanels >= 2 * nt || mPanels >= nPanels;
  nt = std::min(nt, byRows ? mPanels : nPanels);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = threadIndex();
    const int panels = byRows ? mPanels : nPanels, step = byRows ? kr.mr : kr.nr, total = byRows ? m : n;
    const int i0 = std::min(total, static_cast<int>(static_cast<long>(panels) * t / nt) * step);
    const int i1 = std::min(total, static_cast<int>(static_cast<long>(panels) * (t + 1) / nt) * step);
    if (i1 > i0 && byRows) {
      const Operand Ai{A.p + static_cast<size_t>(i0) * A.rs, A.rs, A.cs};
      kr.blocked(Ai, B, i1 - i0, n, k, beta, c + static_cast<size_t>(i0) * ldc, ldc);
    } else if (i1 > i0) {
      const Operand Bj{B.p + static_cast<size_t>(i0) * B.cs, B.rs, B.cs};
      kr.blocked(A, Bj, m, i1 - i0, k, beta, c + i0, ldc);
    }
  }
}

// ---- bfloat16 weights (generation) -----------------------------------------------------------------

/** float32 of a bfloat16 (its upper 16 bits). */
DT_INLINE float bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/**
 * y[i, j] = Σ_p x[i, p]·w[j, p] for i in [0, m), j in [j0, j1), w bfloat16 [n, k], float32 sums:
 * blocks of 4 rows of w, each widened to float32 16 (or 8) at a time as it streams past.
 */
/** Vectors of W floats, of W uint32 and of W bfloat16 bits (spelled out: GCC drops a vector_size that depends on a template parameter). */
template <int W>
struct Bf16Vectors;
template <>
struct Bf16Vectors<16> {
  using V = V16;
  using U = uint32_t __attribute__((vector_size(64)));
  using H = uint16_t __attribute__((vector_size(32)));
};
template <>
struct Bf16Vectors<8> {
  using V = V8;
  using U = uint32_t __attribute__((vector_size(32)));
  using H = uint16_t __attribute__((vector_size(16)));
};
template <>
struct Bf16Vectors<4> {
  using V = V4;
  using U = uint32_t __attribute__((vector_size(16)));
  using H = uint16_t __attribute__((vector_size(8)));
};

template <int W>
DT_INLINE void bf16Rows(const float* __restrict x, int m, const uint16_t* __restrict w, int k, int j0, int j1,
                        float* __restrict y, size_t ldy) {
  using V = typename Bf16Vectors<W>::V;
  using U = typename Bf16Vectors<W>::U;
  using H = typename Bf16Vectors<W>::H;
  for (int j = j0; j < j1; j += 4) {
    const int r = std::min(4, j1 - j);
    for (int i = 0; i < m; i++) {
      const float* xi = x + static_cast<size_t>(i) * k;
      V acc[4] = {};
      int p = 0;
      for (; p + W <= k; p += W) {
        V xv;
        std::memcpy(&xv, xi + p, sizeof xv);
        for (int q = 0; q < r; q++) {
          H h;
          std::memcpy(&h, w + static_cast<size_t>(j + q) * k + p, sizeof h);
          const U bits = __builtin_convertvector(h, U) << 16;
          V wv;
          std::memcpy(&wv, &bits, sizeof wv);
          acc[q] += xv * wv;
        }
      }
      for (int q = 0; q < r; q++) {
        float sum = horizontalSum(acc[q]);
        for (int t = p; t < k; t++) sum += xi[t] * bf16ToFloat(w[static_cast<size_t>(j + q) * k + t]);
        y[static_cast<size_t>(i) * ldy + j + q] = sum;
      }
    }
  }
}

using Bf16RowsFn = void (*)(const float*, int, const uint16_t*, int, int, int, float*, size_t);
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f,avx512bw,avx2,fma"))) void bf16Rows512(const float* x, int m, const uint16_t* w, int k,
                                                                   int j0, int j1, float* y, size_t ldy) {
  bf16Rows<16>(x, m, w, k, j0, j1, y, ldy);
}
__attribute__((target("avx2,fma"))) void bf16Rows256(const float* x, int m, const uint16_t* w, int k, int j0, int j1,
                                                     float* y, size_t ldy) {
  bf16Rows<8>(x, m, w, k, j0, j1, y, ldy);
}
#endif
void bf16RowsPortable(const float* x, int m, const uint16_t* w, int k, int j0, int j1, float* y, size_t ldy) {
  bf16Rows<4>(x, m, w, k, j0, j1, y, ldy);
}

Bf16RowsFn bf16RowsKernel() {
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return bf16Rows512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return bf16Rows256;
#endif
  return bf16RowsPortable;
}

// ---- the CBLAS loaded at run time ------------------------------------------------------------------

using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                            float*, int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

struct Blas {
  CblasSgemm sgemm = nullptr;
  void (*setThreads)(int) = nullptr;  // OpenBLAS only
  int (*getThreads)() = nullptr;
  std::string name = "none";
  int threads = 0;
  /** one block per OpenMP thread, each a single-threaded BLAS call (needs setThreads) */
  bool split = false;
  bool preferred = false;  // named in DIFF_TRANSFORMER_BLAS
};

Blas gBlas;
std::once_flag gBlasOnce;
int gKernelThreads = 1;

const char* envString(const char* name) {
  const char* s = std::getenv(name);
  return s && *s ? s : nullptr;
}

/** dlopen()s the CBLAS `want` names: a library path, or a name such as openblas (lib<name>.so.0, lib<name>.so). */
bool loadBlas(const std::string& want) {
  void* handle = nullptr;
  if (want.find('/') != std::string::npos || want.find(".so") != std::string::npos) {
    handle = dlopen(want.c_str(), RTLD_NOW | RTLD_LOCAL);
  } else {
    for (const char* suffix : {".so.0", ".so", ".so.3", ".dylib"}) {
      handle = dlopen(("lib" + want + suffix).c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle) break;
    }
  }
  if (!handle) return false;
  gBlas.sgemm = reinterpret_cast<CblasSgemm>(dlsym(handle, "cblas_sgemm"));
  if (!gBlas.sgemm) return false;
  gBlas.setThreads = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
  gBlas.getThreads = reinterpret_cast<int (*)()>(dlsym(handle, "openblas_get_num_threads"));
  gBlas.name = want;
  return true;
}

void loadBlasOnce() {
  std::call_once(gBlasOnce, [] {
    const char* env = envString("DIFF_TRANSFORMER_BLAS");
    const std::string want = env ? env : "openblas";
    if (want == "none" || want == "own") return;
    gBlas.preferred = env != nullptr;
    if (!loadBlas(want)) {
      gBlas = Blas{};
      if (env)
        std::fprintf(stderr,
                     "diff-transformer: DIFF_TRANSFORMER_BLAS=%s: no loadable CBLAS library of that name (expected "
                     "e.g. libopenblas.so.0); using the own GEMM\n",
                     env);
      return;
    }
    // One thread pool (OpenMP) for everything, the BLAS single-threaded inside it, rather than
    // OpenBLAS's own pthreads alternating with OpenMP's: up to 20% faster training at the small size.
    // DIFF_TRANSFORMER_SPLIT_GEMM=0 hands threading back to the BLAS.
    const char* splitEnv = envString("DIFF_TRANSFORMER_SPLIT_GEMM");
    gBlas.split = !(splitEnv && std::strcmp(splitEnv, "0") == 0) && gBlas.setThreads && gKernelThreads > 1;
    if (gBlas.split) {
      gBlas.setThreads(1);
      gBlas.threads = 1;
    } else if (gBlas.setThreads) {
      int want = envString("OPENBLAS_NUM_THREADS") ? std::atoi(envString("OPENBLAS_NUM_THREADS")) : 0;
      if (want <= 0 && envString("OMP_NUM_THREADS")) want = std::atoi(envString("OMP_NUM_THREADS"));
      if (want <= 0) want = gKernelThreads;
      gBlas.setThreads(want);
      gBlas.threads = gBlas.getThreads ? gBlas.getThreads() : want;
    }
  });
}

/** The BLAS path: blocks of C's rows (or columns, for few rows) per OpenMP thread when gBlas.split. */
void blasGemm(bool transA, bool transB, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
              float beta, float* c, int ldc) {
  const int ta = transA ? kTrans : kNoTrans, tb = transB ? kTrans : kNoTrans;
  const double work = static_cast<double>(m) * n * k;
  const bool byRows = m >= 2 * gKernelThreads;
  // decoding rows: one sgemm call unless DIFF_TRANSFORMER_DECODE_THREADS asks for more (not timed here)
  const bool decoding = m <= kRowsPathMax && decodeThreads(gKernelThreads) == 1;
  if (!gBlas.split || work < kParallelWork || decoding || (!byRows && n < 64 * gKernelThreads)) {
    gBlas.sgemm(kRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#pragma omp parallel
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int t = 0, nt = 1;
#endif
    const int total = byRows ? m : n;
    const int per = byRows ? (total + nt - 1) / nt : ((total + nt - 1) / nt + 15) / 16 * 16;
    const int i0 = std::min(total, t * per), i1 = std::min(total, i0 + per);
    if (i1 > i0 && byRows) {
      const float* ai = transA ? a + i0 : a + static_cast<size_t>(i0) * lda;
      gBlas.sgemm(kRowMajor, ta, tb, i1 - i0, n, k, 1.0f, ai, lda, b, ldb, beta, c + static_cast<size_t>(i0) * ldc,
                  ldc);
    } else if (i1 > i0) {
      const float* bj = transB ? b + static_cast<size_t>(i0) * ldb : b + i0;
      gBlas.sgemm(kRowMajor, ta, tb, m, i1 - i0, k, 1.0f, a, lda, bj, ldb, beta, c + i0, ldc);
    }
  }
}

}  // namespace

void initBlas(int kernelThreads) {
  gKernelThreads = std::max(1, kernelThreads);
  // Load now only when asked for by name (the GEMM of this process); otherwise on first use.
  if (envString("DIFF_TRANSFORMER_BLAS")) loadBlasOnce();
}

const char* blasName() { return gBlas.name.c_str(); }
int blasThreads() { return gBlas.threads; }

bool gemmAvailable(GemmKernel kernel) {
  if (kernel == GemmKernel::kAuto) return true;
  if (kernel == GemmKernel::kBlas) {
    loadBlasOnce();
    return gBlas.sgemm != nullptr;
  }
  return ownKernel(kernel) != nullptr;
}

GemmKernel gemmDefault() {
  static const GemmKernel chosen = [] {
    if (const char* forced = envString("DIFF_TRANSFORMER_GEMM")) {
      GemmKernel k;
      if (gemmKernelFromName(forced, &k) && k != GemmKernel::kAuto && k != GemmKernel::kBlas && ownKernel(k)) return k;
      std::fprintf(stderr,
                   "diff-transformer: DIFF_TRANSFORMER_GEMM=%s: expected avx512, avx2 or portable that this CPU "
                   "runs; using the default\n",
                   forced);
    }
    if (envString("DIFF_TRANSFORMER_BLAS")) loadBlasOnce();  // otherwise it loads on first use only
    if (gBlas.preferred && gBlas.sgemm) return GemmKernel::kBlas;
    for (GemmKernel k : {GemmKernel::kAvx512, GemmKernel::kAvx2})
      if (ownKernel(k)) return k;
    return GemmKernel::kPortable;
  }();
  return chosen;
}

const char* gemmKernelName(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::kAvx512:
      return "avx512";
    case GemmKernel::kAvx2:
      return "avx2";
    case GemmKernel::kPortable:
      return "portable";
    case GemmKernel::kBlas:
      return "blas";
    default:
      return "auto";
  }
}

bool gemmKernelFromName(const char* name, GemmKernel* kernel) {
  for (GemmKernel k : {GemmKernel::kAuto, GemmKernel::kAvx512, GemmKernel::kAvx2, GemmKernel::kPortable,
                       GemmKernel::kBlas}) {
    if (std::strcmp(name, gemmKernelName(k)) == 0) {
      *kernel = k;
      return true;
    }
  }
  return false;
}

const char* gemmTile(GemmKernel kernel) {
  const OwnKernel* kr = ownKernel(kernel == GemmKernel::kAuto ? gemmDefault() : kernel);
  return kr ? kr->tile : "";
}

void linearBf16(const float* x, int m, const uint16_t* w, int k, int n, float* y, int threads) {
  if (m <= 0 || n <= 0) return;
  static const Bf16RowsFn rows = bf16RowsKernel();
  const double work = static_cast<double>(m) * n * k;
  const int nt = work < kParallelWork ? 1 : std::max(1, threads);
  // decoding rows: one thread or all, timed (decode-threads.h); the column split keeps the numbers
  static thread_local DecodeThreadChooser chooser;
  const auto product = [&](int team) {
    const int per = ((n + team - 1) / team + 3) / 4 * 4;
    team = std::min(team, (n + per - 1) / per);
#pragma omp parallel num_threads(team) if (team > 1)
    {
      const int j0 = std::min(n, threadIndex() * per), j1 = std::min(n, j0 + per);
      if (j1 > j0) rows(x, m, w, k, j0, j1, y, n);
    }
  };
  if (m <= kRowsPathMax && nt > 1)
    runTimed(chooser, nt, work, product);
  else
    product(nt);
}

bool gemm(GemmKernel kernel, bool transA, bool transB, int m, int n, int k, const float* a, size_t lda,
          const float* b, size_t ldb, float beta, float* c, size_t ldc, int threads) {
  if (kernel == GemmKernel::kAuto) kernel = gemmDefault();
  if (!gemmAvailable(kernel)) return false;
  if (m <= 0 || n <= 0) return true;
  if (k <= 0) {  // C = β·C
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) c[i * ldc + j] = beta != 0.0f ? beta * c[i * ldc + j] : 0.0f;
    return true;
  }
  if (kernel == GemmKernel::kBlas) {
    blasGemm(transA, transB, m, n, k, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
             static_cast<int>(ldc));
  } else {
    ownGemm(*ownKernel(kernel), transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc, threads);
  }
  return true;
}

}  // namespace dt
