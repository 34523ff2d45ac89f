// Kernels of the `native` backend: the own GEMM (gemm.cc) for the matmuls, hand-written loops
// (auto-vectorised for AVX2/FMA, threaded with OpenMP) for everything else.
#include "kernels.h"

#include "gemm.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dt {

namespace {

int gKernelThreads = 1;

/** Work below this many elements runs on one thread (thread wake-up costs more than it saves). */
constexpr size_t kParallelMin = 1 << 15;

/**
 * exp(x) for float, vectorisable (Cephes-style: 2^n · p(r), |r| ≤ ln2/2), relative error ~1e-7.
 * Inputs are clamped to [−87.3, 88.7]; callers never pass −inf.
 */
inline float expf_fast(float x) {
  x = x < 88.7f ? x : 88.7f;
  x = x > -87.3f ? x : -87.3f;
  const float t = x * 1.44269504088896341f + 128.5f;  // ≥ 0 after clamping, so truncation = floor
  const int ni = static_cast<int>(t) - 128;
  const float n = static_cast<float>(ni);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union {
    int32_t i;
    float f;
  } bits;
  bits.i = (ni + 127) << 23;
  return p * bits.f;
}

}  // namespace

void initThreads() {
#ifdef _OPENMP
  gKernelThreads = omp_get_max_threads();
#endif
#ifdef __GLIBC__
  // glibc serves blocks from 128 KiB up with fresh mmap()s (rising only as such blocks are freed), so
  // the kernels' per-call scratch and Node's array buffers came as new pages every time, each a page
  // fault to fill: serving them from the heap up to 32 MiB is 10% faster training at the small size.
  // MALLOC_MMAP_THRESHOLD_ in the environment (read by glibc itself) takes precedence.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 32 << 20);
#endif
  initBlas(gKernelThreads);
}

int kernelThreads() { return gKernelThreads; }

// ---- linear -------------------------------------------------------------------------------------

void linearForward(const float* x, const float* w, int rows, int inDim, int outDim, float* y) {
  if (rows == 0 || outDim == 0) return;
  if (inDim == 0) {
    std::memset(y, 0, sizeof(float) * static_cast<size_t>(rows) * outDim);
    return;
  }
  gemm(GemmKernel::kAuto, false, true, rows, outDim, inDim, x, inDim, w, inDim, 0.0f, y, outDim, gKernelThreads);
}

void linearBackward(const float* dy, const float* x, const float* w, int rows, int inDim, int outDim, float* dw,
                    float* dx) {
  if (rows == 0 || inDim == 0) return;
  if (outDim == 0) {
    if (dx) std::memset(dx, 0, sizeof(float) * static_cast<size_t>(rows) * inDim);
    return;
  }
  if (dx) gemm(GemmKernel::kAuto, false, false, rows, inDim, outDim, dy, outDim, w, inDim, 0.0f, dx, inDim, gKernelThreads);
  gemm(GemmKernel::kAuto, true, false, outDim, inDim, rows, dy, outDim, x, inDim, 1.0f, dw, inDim, gKernelThreads);
}

// ---- embedding ----------------------------------------------------------------------------------

void embeddingForward(const float* table, const int32_t* tokens, int n, int dim, float* out) {
#pragma omp parallel for schedule(static) if (static_cast<size_t>(n) * dim > kParallelMin)
  for (int i = 0; i < n; i++) {
    std::memcpy(out + static_cast<size_t>(i) * dim, table + static_cast<size_t>(tokens[i]) * dim, sizeof(float) * dim);
  }
}

void embeddingBackward(const float* dOut, const int32_t* tokens, int n, int dim, float* dTable) {
  // Parallel over columns: every thread owns a slice of each table row, so repeated tokens cannot race.
  const int threads = static_cast<size_t>(n) * dim > kParallelMin && dim >= 64 ? gKernelThreads : 1;
#pragma omp parallel num_threads(threads)
  {
    int tid = 0, nt = 1;
#ifdef _OPENMP
    tid = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    const int c0 = static_cast<int>(static_cast<long>(dim) * tid / nt);
    const int c1 = static_cast<int>(static_cast<long>(dim) * (tid + 1) / nt);
    for (int i = 0; i < n; i++) {
      float* dst = dTable + static_cast<size_t>(tokens[i]) * dim;
      const float* src = dOut + static_cast<size_t>(i) * dim;
      for (int c = c0; c < c1; c++) dst[c] += src[c];
    }
  }
}

// ---- RMSNorm ------------------------------------------------------------------------------------

void rmsNormForward(const float* x, const float* w, int rows, int dim, float eps, float* y, float* rstd) {
#pragma omp parallel for schedule(static) if (static_cast<size_t>(rows) * dim > kParallelMin)
  for (int r = 0; r < rows; r++) {
    const float* xr = x + static_cast<size_t>(r) * dim;
    float* yr = y + static_cast<size_t>(r) * dim;
    double sumSq = 0;
#pragma omp simd reduction(+ : sumSq)
    for (int i = 0; i < dim; i++) sumSq += static_cast<double>(xr[i]) * xr[i];
    const double s = 1.0 / std::sqrt(sumSq / dim + eps);
    rstd[r] = static_cast<float>(s);
    const float sf = static_cast<float>(s);
    for (int i = 0; i < dim; i++) yr[i] = xr[i] * sf * w[i];
  }
}

void rmsNormBackward(const float* dy, const float* x, const float* w, const float* rstd, int rows, int dim,
                     float* dw, float* dx) {
  const int threads = static_cast<size_t>(rows) * dim > kParallelMin ? gKernelThreads : 1;
  std::vector<float> partial(static_cast<size_t>(threads) * dim, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    int tid = 0, nt = 1;
#ifdef _OPENMP
    tid = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    float* dwLocal = partial.data() + static_cast<size_t>(tid) * dim;
    const int r0 = static_cast<int>(static_cast<long>(rows) * tid / nt);
    const int r1 = static_cast<int>(static_cast<long>(rows) * (tid + 1) / nt);
    for (int r = r0; r < r1; r++) {
      const size_t off = static_cast<size_t>(r) * dim;
      const float s = rstd[r];
      float dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int i = 0; i < dim; i++) {
        const float xHat = x[off + i] * s;
        dot += dy[off + i] * w[i] * xHat;
        dwLocal[i] += dy[off + i] * xHat;
      }
      const float mean = dot / dim;
      for (int i = 0; i < dim; i++) dx[off + i] = s * (dy[off + i] * w[i] - x[off + i] * s * mean);
    }
  }
  for (int t = 0; t < threads; t++) {
    const float* src = partial.data() + static_cast<size_t>(t) * dim;
    for (int i = 0; i < dim; i++) dw[i] += src[i];
  }
}

// ---- RoPE ---------------------------------------------------------------------------------------

void rope(float* x, int batch, int seq, int heads, int dim, int pos0, double theta, bool inverse) {
  const int half = dim / 2;
  std::vector<float> cs(static_cast<size_t>(seq) * half), sn(static_cast<size_t>(seq) * half);
  std::vector<double> invFreq(half);
  for (int j = 0; j < half; j++) invFreq[j] = 1.0 / std::pow(theta, (2.0 * j) / dim);
  for (int t = 0; t < seq; t++) {
    for (int j = 0; j < half; j++) {
      const double angle = (pos0 + t) * invFreq[j];
      cs[static_cast<size_t>(t) * half + j] = static_cast<float>(std::cos(angle));
      sn[static_cast<size_t>(t) * half + j] = static_cast<float>(inverse ? -std::sin(angle) : std::sin(angle));
    }
  }
  const long total = static_cast<long>(batch) * seq;
#pragma omp parallel for schedule(static) if (static_cast<size_t>(total) * heads * dim > kParallelMin)
  for (long bt = 0; bt < total; bt++) {
    const int t = static_cast<int>(bt % seq);
    const float* c = cs.data() + static_cast<size_t>(t) * half;
    const float* s = sn.data() + static_cast<size_t>(t) * half;
    for (int h = 0; h < heads; h++) {
      float* row = x + (static_cast<size_t>(bt) * heads + h) * dim;
      for (int j = 0; j < half; j++) {
        const float x0 = row[2 * j];
        const float x1 = row[2 * j + 1];
        row[2 * j] = x0 * c[j] - x1 * s[j];
        row[2 * j + 1] = x0 * s[j] + x1 * c[j];
      }
    }
  }
}

// ---- SwiGLU -------------------------------------------------------------------------------------

void swigluForward(const float* gate, const float* up, size_t n, float* h) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (size_t i = 0; i < n; i++) {
    const float g = gate[i];
    h[i] = g / (1.0f + expf_fast(-g)) * up[i];
  }
}

void swigluBackward(const float* dh, const float* gate, const float* up, size_t n, float* dGate, float* dUp) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (size_t i = 0; i < n; i++) {
    const float g = gate[i];
    const float sig = 1.0f / (1.0f + expf_fast(-g));
    dUp[i] = dh[i] * g * sig;
    dGate[i] = dh[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
  }
}

// ---- cross-entropy ------------------------------------------------------------------------------

// Rows whose target is −1 are not scored (zero gradient); `scored` counts the others (> 0).
double crossEntropy(const float* logits, const int32_t* targets, int rows, int vocab, int scored, float* dLogits) {
  double total = 0;
  const float invRows = 1.0f / scored;
#pragma omp parallel for schedule(static) reduction(+ : total) if (static_cast<size_t>(rows) * vocab > kParallelMin)
  for (int r = 0; r < rows; r++) {
    const float* lr = logits + static_cast<size_t>(r) * vocab;
    float* dr = dLogits + static_cast<size_t>(r) * vocab;
    if (targets[r] < 0) {
      std::fill(dr, dr + vocab, 0.0f);
      continue;
    }
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int v = 0; v < vocab; v++) mx = lr[v] > mx ? lr[v] : mx;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < vocab; v++) {
      const float e = expf_fast(lr[v] - mx);
      dr[v] = e;
      sum += e;
    }
    const double logSum = std::log(static_cast<double>(sum)) + mx;
    total += logSum - lr[targets[r]];
    const float scale = invRows / sum;
#pragma omp simd
    for (int v = 0; v < vocab; v++) dr[v] *= scale;
    dr[targets[r]] -= invRows;
  }
  return total / scored;
}

void addInPlace(float* a, const float* b, size_t n) {
#pragma omp parallel for schedule(static) if (n > 4 * kParallelMin)
  for (size_t i = 0; i < n; i++) a[i] += b[i];
}

void scaleInPlace(float* x, size_t n, float c) {
#pragma omp parallel for schedule(static) if (n > 4 * kParallelMin)
  for (size_t i = 0; i < n; i++) x[i] *= c;
}

namespace {

// FLOP/s of W-float fused multiply-adds on every kernel thread, timed for about `seconds`.
#define DT_FMA_PEAK_LOOP(W)                                                                   \
  typedef float vec __attribute__((vector_size(4 * (W))));                                    \
  constexpr int kChains = 16; /* enough independent FMAs in flight to cover the latency */    \
  constexpr long kInner = 1 << 16;                                                            \
  double flops = 0, elapsed = 0;                                                              \
  float sink = 0;                                                                             \
  for (long rounds = 1; elapsed < seconds; rounds *= 2) {                                     \
    const double t0 = wallSeconds();                                                          \
    double total = 0;                                                                         \
    _Pragma("omp parallel reduction(+ : total, sink)") {                                     \
      vec acc[kChains];                                                                       \
      for (int i = 0; i < kChains; i++) acc[i] = vec{} + 1.0f + 0.001f * i;                  \
      const vec mul = vec{} + 0.999999f, add = vec{} + 1e-7f;                                 \
      for (long r = 0; r < rounds * kInner; r++)                                              \
        for (int i = 0; i < kChains; i++) acc[i] = acc[i] * mul + add;                        \
      for (int i = 0; i < kChains; i++)                                                       \
        for (int j = 0; j < (W); j++) sink += acc[i][j];                                      \
      total += 2.0 * (W) * kChains * rounds * kInner;                                         \
    }                                                                                         \
    elapsed = wallSeconds() - t0;                                                             \
    flops = total;                                                                            \
  }                                                                                           \
  volatile float keep = sink;                                                                 \
  (void)keep;                                                                                 \
  return flops / elapsed / 1e9;

double wallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double fmaPeak8(double seconds) { DT_FMA_PEAK_LOOP(8) }

#if defined(__x86_64__)
__attribute__((target("avx512f"))) double fmaPeak16(double seconds) { DT_FMA_PEAK_LOOP(16) }
#endif

#undef DT_FMA_PEAK_LOOP

}  // namespace

int fmaWidth() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return 16;
#endif
  return 8;
}

double fmaPeakGflops(double seconds) {
#if defined(__x86_64__)
  if (fmaWidth() == 16) return fmaPeak16(seconds);
#endif
  return fmaPeak8(seconds);
}

double streamReadGBps(size_t bytes, int threads, double seconds) {
  const size_t n = std::max<size_t>(bytes / sizeof(float), 64) / 64 * 64;
  float* buf = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  if (!buf) throw std::bad_alloc();
  const int nt = std::max(1, std::min(threads, gKernelThreads));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (size_t i = 0; i < n; i++) buf[i] = 1.0f;  // each thread's pages on its own node
  typedef float vec __attribute__((vector_size(64)));
  float sink = 0;
  double best = 0, elapsed = 0;
  while (elapsed < seconds || best == 0) {  // passes until `seconds`; the fastest pass counts
    const double t0 = wallSeconds();
#pragma omp parallel num_threads(nt) reduction(+ : sink)
    {
      int tid = 0, count = 1;
#ifdef _OPENMP
      tid = omp_get_thread_num();
      count = omp_get_num_threads();
#endif
      const size_t lo = n / 64 * tid / count * 64, hi = n / 64 * (tid + 1) / count * 64;
      vec a0{}, a1{}, a2{}, a3{};  // four independent sums keep enough loads in flight
      for (size_t i = lo; i < hi; i += 64) {
        a0 += *reinterpret_cast<const vec*>(buf + i);
        a1 += *reinterpret_cast<const vec*>(buf + i + 16);
        a2 += *reinterpret_cast<const vec*>(buf + i + 32);
        a3 += *reinterpret_cast<const vec*>(buf + i + 48);
      }
      const vec s = a0 + a1 + a2 + a3;
      for (int j = 0; j < 16; j++) sink += s[j];
    }
    const double t = wallSeconds() - t0;
    elapsed += t;
    best = std::max(best, static_cast<double>(n) * sizeof(float) / t / 1e9);
  }
  std::free(buf);
  volatile float keep = sink;
  (void)keep;
  return best;
}

double sumOfSquares(const float* x, size_t n) {
  double total = 0;
#pragma omp parallel reduction(+ : total) if (n > kParallelMin / 2)
  {
    int tid = 0, nt = 1;
#ifdef _OPENMP
    tid = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    const size_t lo = n * tid / nt, hi = n * (tid + 1) / nt;
    double acc[8] = {};  // eight independent sums: the adds pipeline (and vectorize) instead of chaining
    size_t i = lo;
    for (; i + 8 <= hi; i += 8)
      for (int j = 0; j < 8; j++) acc[j] += static_cast<double>(x[i + j]) * x[i + j];
    for (; i < hi; i++) acc[0] += static_cast<double>(x[i]) * x[i];
    for (int j = 0; j < 8; j++) total += acc[j];
  }
  return total;
}

// No FMA contraction here: the result must equal the JavaScript reference to the bit.
__attribute__((optimize("fp-contract=off"))) void adamwUpdate(float* p, const float* g, float* m, float* v,
                                                               size_t n, const AdamW& h) {
  const double a1 = 1 - h.beta1, a2 = 1 - h.beta2;
  const double stepSize = h.lr / h.c1, invSqrtC2 = 1 / std::sqrt(h.c2);
  // a square root and a division per element: worth a second thread from a few thousand elements
#pragma omp parallel for simd schedule(static) if (n > kParallelMin / 4)
  for (size_t i = 0; i < n; i++) {
    const double gi = g[i];
    const float mi = static_cast<float>(h.beta1 * m[i] + a1 * gi);
    const float vi = static_cast<float>(h.beta2 * v[i] + a2 * gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = static_cast<float>(p[i] * h.decay - (stepSize * mi) / (std::sqrt(static_cast<double>(vi)) * invSqrtC2 + h.eps));
  }
}

// ---- attention ----------------------------------------------------------------------------------
//
// Flash-style: per (batch, head) the keys (and, in the backward, values) are transposed into a
// zero-padded panel, then blocks of QB query rows are processed against the causal prefix of keys;
// the softmax of a block lives only in per-thread scratch. The forward keeps the log-sum-exp of
// every row, the backward recomputes P from it, so nothing of size T×S outlives a call (except the
// maps, when asked for).

namespace {

constexpr int QB = 32;  // query rows per block
constexpr int SB = 16;  // key columns per register tile (two AVX2 vectors)

inline int roundUp(int n, int m) { return (n + m - 1) / m * m; }

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__AVX2__) && defined(__FMA__)
#define DT_AVX2 1
#endif

/**
 * C[m][n] (+)= Σ_k A[m·lda + k] · B[k·ldb + n] for m < M, n < N, k < K: a small row-major GEMM with
 * arbitrary row strides, register-tiled 4 rows × 16 columns (AVX2). `accumulate` false overwrites C.
 */
void smallGemm256(int M, int N, int K, const float* a, size_t lda, const float* b, size_t ldb, float* c,
                  size_t ldc, bool accumulate) {
  int n0 = 0;
#ifdef DT_AVX2
  for (; n0 + 16 <= N; n0 += 16) {
    int m = 0;
    for (; m + 4 <= M; m += 4) {
      const float* a0 = a + m * lda;
      const float* a1 = a0 + lda;
      const float* a2 = a1 + lda;
      const float* a3 = a2 + lda;
      float* cp = c + m * ldc + n0;
      __m256 c00, c01, c10, c11, c20, c21, c30, c31;
      if (accumulate) {
        c00 = _mm256_loadu_ps(cp);
        c01 = _mm256_loadu_ps(cp + 8);
        c10 = _mm256_loadu_ps(cp + ldc);
        c11 = _mm256_loadu_ps(cp + ldc + 8);
        c20 = _mm256_loadu_ps(cp + 2 * ldc);
        c21 = _mm256_loadu_ps(cp + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(cp + 3 * ldc);
        c31 = _mm256_loadu_ps(cp + 3 * ldc + 8);
      } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = _mm256_setzero_ps();
      }
      const float* bp = b + n0;
      for (int k = 0; k < K; k++, bp += ldb) {
        const __m256 b0 = _mm256_loadu_ps(bp);
        const __m256 b1 = _mm256_loadu_ps(bp + 8);
        __m256 x = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(x, b0, c00);
        c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(x, b0, c10);
        c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(x, b0, c20);
        c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(x, b0, c30);
        c31 = _mm256_fmadd_ps(x, b1, c31);
      }
      _mm256_storeu_ps(cp, c00);
      _mm256_storeu_ps(cp + 8, c01);
      _mm256_storeu_ps(cp + ldc, c10);
      _mm256_storeu_ps(cp + ldc + 8, c11);
      _mm256_storeu_ps(cp + 2 * ldc, c20);
      _mm256_storeu_ps(cp + 2 * ldc + 8, c21);
      _mm256_storeu_ps(cp + 3 * ldc, c30);
      _mm256_storeu_ps(cp + 3 * ldc + 8, c31);
    }
    for (; m < M; m++) {
      const float* a0 = a + m * lda;
      float* cp = c + m * ldc + n0;
      __m256 c00 = accumulate ? _mm256_loadu_ps(cp) : _mm256_setzero_ps();
      __m256 c01 = accumulate ? _mm256_loadu_ps(cp + 8) : _mm256_setzero_ps();
      const float* bp = b + n0;
      for (int k = 0; k < K; k++, bp += ldb) {
        const __m256 x = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(x, _mm256_loadu_ps(bp), c00);
        c01 = _mm256_fmadd_ps(x, _mm256_loadu_ps(bp + 8), c01);
      }
      _mm256_storeu_ps(cp, c00);
      _mm256_storeu_ps(cp + 8, c01);
    }
  }
  for (; n0 + 8 <= N; n0 += 8) {
    for (int m = 0; m < M; m++) {
      const float* a0 = a + m * lda;
      float* cp = c + m * ldc + n0;
      __m256 c00 = accumulate ? _mm256_loadu_ps(cp) : _mm256_setzero_ps();
      const float* bp = b + n0;
      for (int k = 0; k < K; k++, bp += ldb) c00 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + k), _mm256_loadu_ps(bp), c00);
      _mm256_storeu_ps(cp, c00);
    }
  }
#endif
  if (n0 < N) {
    for (int m = 0; m < M; m++) {
      const float* a0 = a + m * lda;
      float* cp = c + m * ldc;
      for (int n = n0; n < N; n++) {
        float acc = accumulate ? cp[n] : 0.0f;
        for (int k = 0; k < K; k++) acc += a0[k] * b[k * ldb + n];
        cp[n] = acc;
      }
    }
  }
}

#if defined(__x86_64__)
#define DT_AVX512 __attribute__((target("avx512f")))

/**
 * One MR-row × 16·NV-column tile of smallGemm in AVX-512 registers (MR·NV accumulators); with TA the
 * A operand is read transposed: element (i, k) at a[k·lda + i] instead of a[i·lda + k].
 */
template <int MR, int NV, bool TA = false>
DT_AVX512 inline void tile512(int K, const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc,
                              bool accumulate) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++) acc[i][j] = accumulate ? _mm512_loadu_ps(c + i * ldc + 16 * j) : _mm512_setzero_ps();
  for (int k = 0; k < K; k++, b += ldb) {
    __m512 bv[NV];
    for (int j = 0; j < NV; j++) bv[j] = _mm512_loadu_ps(b + 16 * j);
    for (int i = 0; i < MR; i++) {
      const __m512 x = _mm512_set1_ps(TA ? a[k * lda + i] : a[i * lda + k]);
      for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(x, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++) _mm512_storeu_ps(c + i * ldc + 16 * j, acc[i][j]);
}

/** smallGemm with AVX-512 tiles of 8 rows × 32 or 16 columns; with TA, A read transposed. */
template <bool TA>
DT_AVX512 void smallGemm512(int M, int N, int K, const float* a, size_t lda, const float* b, size_t ldb, float* c,
                            size_t ldc, bool accumulate) {
  auto rowOf = [&](int m) { return TA ? a + m : a + m * lda; };  // A's row m (its column m when TA)
  int n0 = 0;
  for (; n0 + 32 <= N; n0 += 32) {
    int m = 0;
    for (; m + 8 <= M; m += 8)
      tile512<8, 2, TA>(K, rowOf(m), lda, b + n0, ldb, c + m * ldc + n0, ldc, accumulate);
    for (; m < M; m++) tile512<1, 2, TA>(K, rowOf(m), lda, b + n0, ldb, c + m * ldc + n0, ldc, accumulate);
  }
  for (; n0 + 16 <= N; n0 += 16) {
    int m = 0;
    for (; m + 8 <= M; m += 8)
      tile512<8, 1, TA>(K, rowOf(m), lda, b + n0, ldb, c + m * ldc + n0, ldc, accumulate);
    for (; m < M; m++) tile512<1, 1, TA>(K, rowOf(m), lda, b + n0, ldb, c + m * ldc + n0, ldc, accumulate);
  }
  for (int m = 0; m < M && n0 < N; m++) {  // columns left over (N not a multiple of 16)
    for (int n = n0; n < N; n++) {
      float acc = accumulate ? c[m * ldc + n] : 0.0f;
      for (int k = 0; k < K; k++) acc += (TA ? a[k * lda + m] : a[m * lda + k]) * b[k * ldb + n];
      c[m * ldc + n] = acc;
    }
  }
}

// AVX-512 when the CPU has it, unless DIFF_TRANSFORMER_AVX512=0 (to compare).
const bool kUseAvx512 = fmaWidth() == 16 && !(std::getenv("DIFF_TRANSFORMER_AVX512") &&
                                              std::strcmp(std::getenv("DIFF_TRANSFORMER_AVX512"), "0") == 0);
#endif

/** smallGemm256's contract, on the widest vectors this CPU has. */
void smallGemm(int M, int N, int K, const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc,
               bool accumulate) {
#if defined(__x86_64__)
  if (kUseAvx512) return smallGemm512<false>(M, N, K, a, lda, b, ldb, c, ldc, accumulate);
#endif
  smallGemm256(M, N, K, a, lda, b, ldb, c, ldc, accumulate);
}

/**
 * C[m][n] (+)= Σ_k A[k·lda + m] · B[k·ldb + n]: smallGemm with A given transposed (K rows of M). AVX-512
 * reads it in place; the AVX2 path transposes it into per-thread scratch first.
 */
void smallGemmTA(int M, int N, int K, const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc,
                 bool accumulate) {
#if defined(__x86_64__)
  if (kUseAvx512) return smallGemm512<true>(M, N, K, a, lda, b, ldb, c, ldc, accumulate);
#endif
  thread_local std::vector<float> at;
  at.resize(static_cast<size_t>(M) * K);
  for (int k = 0; k < K; k++)
    for (int m = 0; m < M; m++) at[static_cast<size_t>(m) * K + k] = a[static_cast<size_t>(k) * lda + m];
  smallGemm256(M, N, K, at.data(), K, b, ldb, c, ldc, accumulate);
}

/** dst[c·ld + s] = src[s·stride + c] for s < n, c < width; columns n..ld zero. */
void transposePanel(const float* src, size_t stride, int n, int width, float* dst, int ld) {
  for (int s = 0; s < n; s++) {
    const float* row = src + s * stride;  // read each source row once, contiguously
    for (int c = 0; c < width; c++) dst[static_cast<size_t>(c) * ld + s] = row[c];
  }
  for (int c = 0; c < width; c++) {
    for (int s = n; s < ld; s++) dst[static_cast<size_t>(c) * ld + s] = 0.0f;
  }
}

/** row[s] *= scale for s < n; returns the maximum (n ≥ 1). */
inline float scaleAndMax(float* row, int n, float scale) {
  int s = 0;
  float mx = -INFINITY;
#ifdef DT_AVX2
  if (n >= 8) {
    const __m256 sc = _mm256_set1_ps(scale);
    __m256 m = _mm256_set1_ps(-INFINITY);
    for (; s + 8 <= n; s += 8) {
      const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(row + s), sc);
      _mm256_storeu_ps(row + s, x);
      m = _mm256_max_ps(m, x);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, m);
    for (int i = 0; i < 8; i++) mx = lanes[i] > mx ? lanes[i] : mx;
  }
#endif
  for (; s < n; s++) {
    row[s] *= scale;
    mx = row[s] > mx ? row[s] : mx;
  }
  return mx;
}

}  // namespace

void attentionForward(const float* q, const float* k, const float* v, const AttnGeometry& g, int kind,
                      float lambda, const float* lambdaTok, float* heads, float* lse, float* probs, float* out) {
  const int B = g.batch, T = g.seqQ, S = g.seqK, H = g.qHeads, Hk = g.kHeads, Hv = g.vHeads, d = g.qkDim,
            dv = g.vDim;
  const int offset = S - T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int Spad = roundUp(std::max(S, 1), SB);
  const long tasks = static_cast<long>(B) * H;
  const double work = static_cast<double>(tasks) * T * S * (d + dv);
  const int threads = work > 2e5 ? gKernelThreads : 1;

  if (T > 0 && S > 0) {
#pragma omp parallel num_threads(threads)
    {
      std::vector<float> kt(static_cast<size_t>(d) * Spad);
      std::vector<float> sc(static_cast<size_t>(QB) * Spad);
#pragma omp for schedule(dynamic, 1)
      for (long task = 0; task < tasks; task++) {
        const int b = static_cast<int>(task / H), h = static_cast<int>(task % H);
        const int kh = g.kHeadOf[h], vh = g.vHeadOf[h];
        const float* kBase = k + (static_cast<size_t>(b) * S * Hk + kh) * d;
        const float* vBase = v + (static_cast<size_t>(b) * S * Hv + vh) * dv;
        const size_t kStride = static_cast<size_t>(Hk) * d, vStride = static_cast<size_t>(Hv) * dv;
        transposePanel(kBase, kStride, S, d, kt.data(), Spad);
        for (int t0 = 0; t0 < T; t0 += QB) {
          const int rows = std::min(QB, T - t0);
          const int nMax = std::min(S, t0 + rows + offset);  // keys visible to the last row of the block
          const float* qBlock = q + ((static_cast<size_t>(b) * T + t0) * H + h) * d;
          smallGemm(rows, nMax, d, qBlock, static_cast<size_t>(H) * d, kt.data(), Spad, sc.data(), Spad, false);
          for (int r = 0; r < rows; r++) {
            const int t = t0 + r;
            const int n = t + offset + 1;
            float* row = sc.data() + static_cast<size_t>(r) * Spad;
            const float mx = scaleAndMax(row, n, scale);
            float sum = 0;
#pragma omp simd reduction(+ : sum)
            for (int s = 0; s < n; s++) {
              const float e = expf_fast(row[s] - mx);
              row[s] = e;
              sum += e;
            }
            const float inv = 1.0f / sum;
#pragma omp simd
            for (int s = 0; s < n; s++) row[s] *= inv;
            for (int s = n; s < nMax; s++) row[s] = 0.0f;
            lse[(static_cast<size_t>(b) * H + h) * T + t] = mx + std::log(sum);
            if (probs) std::memcpy(probs + ((static_cast<size_t>(b) * H + h) * T + t) * S, row, sizeof(float) * n);
          }
          // O = P · V for the block
          float* oBlock = heads + ((static_cast<size_t>(b) * T + t0) * H + h) * dv;
          smallGemm(rows, dv, nMax, sc.data(), Spad, vBase, vStride, oBlock, static_cast<size_t>(H) * dv, false);
        }
      }
    }
  }

  if (kind == kNone) return;
  const int pairs = H / 2;
  const long rowsBT = static_cast<long>(B) * T;
#pragma omp parallel for schedule(static) if (static_cast<size_t>(rowsBT) * H * dv > kParallelMin)
  for (long row = 0; row < rowsBT; row++) {
    for (int i = 0; i < pairs; i++) {
      const float lam = kind == kScalar ? lambda : lambdaTok[row * pairs + i];
      const float* first = heads + (static_cast<size_t>(row) * H + 2 * i) * dv;
      const float* second = first + dv;
      float* o = out + (static_cast<size_t>(row) * pairs + i) * dv;
      for (int c = 0; c < dv; c++) o[c] = first[c] - lam * second[c];
    }
  }
}

double attentionBackward(const float* q, const float* k, const float* v, const AttnGeometry& g, int kind,
                         float lambda, const float* lambdaTok, const float* heads, const float* lse,
                         const float* dOut, float* dq, float* dk, float* dvOut, float* dLambdaTok) {
  const int B = g.batch, T = g.seqQ, S = g.seqK, H = g.qHeads, Hk = g.kHeads, Hv = g.vHeads, d = g.qkDim,
            dv = g.vDim;
  const int offset = S - T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  // Step 2 reversed: d heads and d λ.
  double dScalar = 0;
  std::vector<float> dHeadsStore;
  const float* dHeads = dOut;
  if (kind != kNone) {
    const int pairs = H / 2;
    dHeadsStore.resize(static_cast<size_t>(B) * T * H * dv);
    float* dh = dHeadsStore.data();
    const long rowsBT = static_cast<long>(B) * T;
#pragma omp parallel for schedule(static) reduction(+ : dScalar) if (static_cast<size_t>(rowsBT) * H * dv > kParallelMin)
    for (long row = 0; row < rowsBT; row++) {
      for (int i = 0; i < pairs; i++) {
        const float lam = kind == kScalar ? lambda : lambdaTok[row * pairs + i];
        const size_t first = (static_cast<size_t>(row) * H + 2 * i) * dv;
        const size_t second = first + dv;
        const float* o = dOut + (static_cast<size_t>(row) * pairs + i) * dv;
        double dl = 0;  // d λ sums products that largely cancel: accumulate in double
#pragma omp simd reduction(+ : dl)
        for (int c = 0; c < dv; c++) {
          dh[first + c] = o[c];
          dh[second + c] = -lam * o[c];
          dl -= static_cast<double>(o[c]) * heads[second + c];
        }
        if (kind == kToken) dLambdaTok[row * pairs + i] = static_cast<float>(dl);
        else dScalar += dl;
      }
    }
    dHeads = dh;
  }
  if (T == 0 || S == 0) return dScalar;

  // Step 1 reversed. Heads that share a key or a value head accumulate into the same dk / dv rows, so
  // they form one task (per batch element): group heads by connected components.
  std::vector<int> comp(H);
  for (int h = 0; h < H; h++) comp[h] = h;
  auto find = [&](int x) {
    while (comp[x] != x) x = comp[x] = comp[comp[x]];
    return x;
  };
  for (int a = 0; a < H; a++) {
    for (int b2 = a + 1; b2 < H; b2++) {
      if (g.kHeadOf[a] == g.kHeadOf[b2] || g.vHeadOf[a] == g.vHeadOf[b2]) comp[find(b2)] = find(a);
    }
  }
  std::vector<std::vector<int>> groups;
  {
    std::vector<int> index(H, -1);
    for (int h = 0; h < H; h++) {
      const int root = find(h);
      if (index[root] < 0) {
        index[root] = static_cast<int>(groups.size());
        groups.emplace_back();
      }
      groups[index[root]].push_back(h);
    }
  }
  const long nGroups = static_cast<long>(groups.size());
  const long tasks = static_cast<long>(B) * nGroups;
  const int Spad = roundUp(S, SB);
  const double work = static_cast<double>(B) * H * T * S * (d + dv);
  const int threads = work > 1e5 ? gKernelThreads : 1;

#pragma omp parallel num_threads(threads)
  {
    std::vector<float> kt(static_cast<size_t>(d) * Spad), vt(static_cast<size_t>(dv) * Spad);
    std::vector<float> pb(static_cast<size_t>(QB) * Spad), dsb(static_cast<size_t>(QB) * Spad);
#pragma omp for schedule(dynamic, 1)
    for (long task = 0; task < tasks; task++) {
      const int b = static_cast<int>(task / nGroups);
      for (const int h : groups[task % nGroups]) {
        const int kh = g.kHeadOf[h], vh = g.vHeadOf[h];
        const size_t kStride = static_cast<size_t>(Hk) * d, vStride = static_cast<size_t>(Hv) * dv;
        const size_t qStride = static_cast<size_t>(H) * d, oStride = static_cast<size_t>(H) * dv;
        const float* kBase = k + (static_cast<size_t>(b) * S * Hk + kh) * d;
        const float* vBase = v + (static_cast<size_t>(b) * S * Hv + vh) * dv;
        float* dkBase = dk + (static_cast<size_t>(b) * S * Hk + kh) * d;
        float* dvBase = dvOut + (static_cast<size_t>(b) * S * Hv + vh) * dv;
        transposePanel(kBase, kStride, S, d, kt.data(), Spad);
        transposePanel(vBase, vStride, S, dv, vt.data(), Spad);
        for (int t0 = 0; t0 < T; t0 += QB) {
          const int rows = std::min(QB, T - t0);
          const int nMax = std::min(S, t0 + rows + offset);
          const float* qBlock = q + ((static_cast<size_t>(b) * T + t0) * H + h) * d;
          const float* doBlock = dHeads + ((static_cast<size_t>(b) * T + t0) * H + h) * dv;
          float* dqBlock = dq + ((static_cast<size_t>(b) * T + t0) * H + h) * d;
          smallGemm(rows, nMax, d, qBlock, qStride, kt.data(), Spad, pb.data(), Spad, false);     // scores
          smallGemm(rows, nMax, dv, doBlock, oStride, vt.data(), Spad, dsb.data(), Spad, false);  // dP
          for (int r = 0; r < rows; r++) {
            const int t = t0 + r;
            const int n = t + offset + 1;
            float* p = pb.data() + static_cast<size_t>(r) * Spad;
            float* ds = dsb.data() + static_cast<size_t>(r) * Spad;  // holds dP on entry
            const float l = lse[(static_cast<size_t>(b) * H + h) * T + t];
            float rowDot = 0;
#pragma omp simd reduction(+ : rowDot)
            for (int s = 0; s < n; s++) {
              p[s] = expf_fast(p[s] * scale - l);
              rowDot += p[s] * ds[s];
            }
#pragma omp simd
            for (int s = 0; s < n; s++) ds[s] = p[s] * (ds[s] - rowDot) * scale;
            for (int s = n; s < nMax; s++) p[s] = ds[s] = 0.0f;
          }
          // dQ += dS · K
          smallGemm(rows, d, nMax, dsb.data(), Spad, kBase, kStride, dqBlock, qStride, true);
          // dV += Pᵀ · dO and dK += dSᵀ · Q
          smallGemmTA(nMax, dv, rows, pb.data(), Spad, doBlock, oStride, dvBase, vStride, true);
          smallGemmTA(nMax, d, rows, dsb.data(), Spad, qBlock, qStride, dkBase, kStride, true);
        }
      }
    }
  }
  return dScalar;
}

// ---- differential pairs, fused ------------------------------------------------------------------
//
// When the two query heads of every pair read one value head (DIFF V1: key sub-heads 2g, 2g+1 and
// value head g; DIFF V2: one key/value head), a task is one pair: both softmax maps of a row block
// are computed against the (transposed) key panels, then combined per row into P₁ − λ·P₂, so the
// combined output is one product with V: out = (P₁ − λP₂)·V. The backward shares dP as well:
// dP₁ = dOut·Vᵀ, dP₂ = −λ·dP₁, dλ = −Σ P₂·dP₁, dV = (P₁ − λP₂)ᵀ·dOut; nothing per head is saved.

namespace {

/** Softmax of row[0, n) scaled by `scale` in place; zero [n, nMax); returns the log-sum-exp. */
inline float softmaxRow(float* row, int n, int nMax, float scale) {
  const float mx = scaleAndMax(row, n, scale);
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int s = 0; s < n; s++) {
    const float e = expf_fast(row[s] - mx);
    row[s] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int s = 0; s < n; s++) row[s] *= inv;
  for (int s = n; s < nMax; s++) row[s] = 0.0f;
  return mx + std::log(sum);
}

}  // namespace

bool pairsShareValues(const AttnGeometry& g) {
  if (g.qHeads % 2 != 0) return false;
  for (int h = 0; h < g.qHeads; h += 2) {
    if (g.vHeadOf[h] != g.vHeadOf[h + 1]) return false;
  }
  return true;
}

void attentionForwardPairs(const float* q, const float* k, const float* v, const AttnGeometry& g, int kind,
                           float lambda, const float* lambdaTok, float* lse, float* probs, float* out) {
  const int B = g.batch, T = g.seqQ, S = g.seqK, H = g.qHeads, Hk = g.kHeads, Hv = g.vHeads, d = g.qkDim,
            dv = g.vDim;
  const int pairs = H / 2;
  const int offset = S - T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int Spad = roundUp(std::max(S, 1), SB);
  const long tasks = static_cast<long>(B) * pairs;
  const double work = static_cast<double>(B) * H * T * S * (d + dv);
  const int threads = work > 2e5 ? gKernelThreads : 1;
  if (T == 0 || S == 0 || tasks == 0) return;
  const size_t kStride = static_cast<size_t>(Hk) * d, vStride = static_cast<size_t>(Hv) * dv;
  const size_t qStride = static_cast<size_t>(H) * d, oStride = static_cast<size_t>(pairs) * dv;

#pragma omp parallel num_threads(threads)
  {
    std::vector<float> kt0(static_cast<size_t>(d) * Spad), kt1(static_cast<size_t>(d) * Spad);
    std::vector<float> sc0(static_cast<size_t>(QB) * Spad), sc1(static_cast<size_t>(QB) * Spad);
#pragma omp for schedule(dynamic, 1)
    for (long task = 0; task < tasks; task++) {
      const int b = static_cast<int>(task / pairs), i = static_cast<int>(task % pairs);
      const int h0 = 2 * i, h1 = h0 + 1;
      const int kh0 = g.kHeadOf[h0], kh1 = g.kHeadOf[h1], vh = g.vHeadOf[h0];
      transposePanel(k + (static_cast<size_t>(b) * S * Hk + kh0) * d, kStride, S, d, kt0.data(), Spad);
      const float* k1 = kt0.data();
      if (kh1 != kh0) {
        transposePanel(k + (static_cast<size_t>(b) * S * Hk + kh1) * d, kStride, S, d, kt1.data(), Spad);
        k1 = kt1.data();
      }
      const float* vBase = v + (static_cast<size_t>(b) * S * Hv + vh) * dv;
      for (int t0 = 0; t0 < T; t0 += QB) {
        const int rows = std::min(QB, T - t0);
        const int nMax = std::min(S, t0 + rows + offset);
        const float* q0 = q + ((static_cast<size_t>(b) * T + t0) * H + h0) * d;
        smallGemm(rows, nMax, d, q0, qStride, kt0.data(), Spad, sc0.data(), Spad, false);
        smallGemm(rows, nMax, d, q0 + d, qStride, k1, Spad, sc1.data(), Spad, false);
        for (int r = 0; r < rows; r++) {
          const int t = t0 + r;
          const int n = t + offset + 1;
          float* p0 = sc0.data() + static_cast<size_t>(r) * Spad;
          float* p1 = sc1.data() + static_cast<size_t>(r) * Spad;
          lse[(static_cast<size_t>(b) * H + h0) * T + t] = softmaxRow(p0, n, nMax, scale);
          lse[(static_cast<size_t>(b) * H + h1) * T + t] = softmaxRow(p1, n, nMax, scale);
          if (probs) {
            std::memcpy(probs + ((static_cast<size_t>(b) * H + h0) * T + t) * S, p0, sizeof(float) * n);
            std::memcpy(probs + ((static_cast<size_t>(b) * H + h1) * T + t) * S, p1, sizeof(float) * n);
          }
          const float lam = kind == kScalar ? lambda : lambdaTok[(static_cast<size_t>(b) * T + t) * pairs + i];
#pragma omp simd
          for (int s = 0; s < n; s++) p0[s] -= lam * p1[s];
        }
        // out = (P₁ − λP₂) · V for the block
        float* oBlock = out + ((static_cast<size_t>(b) * T + t0) * pairs + i) * dv;
        smallGemm(rows, dv, nMax, sc0.data(), Spad, vBase, vStride, oBlock, oStride, false);
      }
    }
  }
}

double attentionBackwardPairs(const float* q, const float* k, const float* v, const AttnGeometry& g, int kind,
                              float lambda, const float* lambdaTok, const float* lse, const float* dOut, float* dq,
                              float* dk, float* dvOut, float* dLambdaTok) {
  const int B = g.batch, T = g.seqQ, S = g.seqK, H = g.qHeads, Hk = g.kHeads, Hv = g.vHeads, d = g.qkDim,
            dv = g.vDim;
  const int pairs = H / 2;
  const int offset = S - T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  if (T == 0 || S == 0 || pairs == 0) return 0;
  std::vector<float> dlStore;
  float* dl = dLambdaTok;
  if (kind != kToken) {
    dlStore.assign(static_cast<size_t>(B) * T * pairs, 0.0f);
    dl = dlStore.data();
  }

  // Pairs that share a key or value head accumulate into the same dk / dv rows: one task per group.
  std::vector<int> comp(pairs);
  for (int a = 0; a < pairs; a++) comp[a] = a;
  auto find = [&](int x) {
    while (comp[x] != x) x = comp[x] = comp[comp[x]];
    return x;
  };
  auto shares = [&](int a, int b2) {
    for (int x = 2 * a; x < 2 * a + 2; x++) {
      for (int y = 2 * b2; y < 2 * b2 + 2; y++) {
        if (g.kHeadOf[x] == g.kHeadOf[y] || g.vHeadOf[x] == g.vHeadOf[y]) return true;
      }
    }
    return false;
  };
  for (int a = 0; a < pairs; a++) {
    for (int b2 = a + 1; b2 < pairs; b2++) {
      if (shares(a, b2)) comp[find(b2)] = find(a);
    }
  }
  std::vector<std::vector<int>> groups;
  {
    std::vector<int> index(pairs, -1);
    for (int a = 0; a < pairs; a++) {
      const int root = find(a);
      if (index[root] < 0) {
        index[root] = static_cast<int>(groups.size());
        groups.emplace_back();
      }
      groups[index[root]].push_back(a);
    }
  }
  const long nGroups = static_cast<long>(groups.size());
  const long tasks = static_cast<long>(B) * nGroups;
  const int Spad = roundUp(S, SB);
  const double work = static_cast<double>(B) * H * T * S * (d + dv);
  const int threads = work > 1e5 ? gKernelThreads : 1;
  const size_t kStride = static_cast<size_t>(Hk) * d, vStride = static_cast<size_t>(Hv) * dv;
  const size_t qStride = static_cast<size_t>(H) * d, oStride = static_cast<size_t>(pairs) * dv;

#pragma omp parallel num_threads(threads)
  {
    std::vector<float> kt0(static_cast<size_t>(d) * Spad), kt1(static_cast<size_t>(d) * Spad);
    std::vector<float> vt(static_cast<size_t>(dv) * Spad);
    std::vector<float> pb0(static_cast<size_t>(QB) * Spad), pb1(static_cast<size_t>(QB) * Spad);
    std::vector<float> dpb(static_cast<size_t>(QB) * Spad);
#pragma omp for schedule(dynamic, 1)
    for (long task = 0; task < tasks; task++) {
      const int b = static_cast<int>(task / nGroups);
      for (const int i : groups[task % nGroups]) {
        const int h0 = 2 * i, h1 = h0 + 1;
        const int kh0 = g.kHeadOf[h0], kh1 = g.kHeadOf[h1], vh = g.vHeadOf[h0];
        const float* k0Base = k + (static_cast<size_t>(b) * S * Hk + kh0) * d;
        const float* k1Base = k + (static_cast<size_t>(b) * S * Hk + kh1) * d;
        const float* vBase = v + (static_cast<size_t>(b) * S * Hv + vh) * dv;
        float* dk0Base = dk + (static_cast<size_t>(b) * S * Hk + kh0) * d;
        float* dk1Base = dk + (static_cast<size_t>(b) * S * Hk + kh1) * d;
        float* dvBase = dvOut + (static_cast<size_t>(b) * S * Hv + vh) * dv;
        transposePanel(k0Base, kStride, S, d, kt0.data(), Spad);
        const float* kt1p = kt0.data();
        if (kh1 != kh0) {
          transposePanel(k1Base, kStride, S, d, kt1.data(), Spad);
          kt1p = kt1.data();
        }
        transposePanel(vBase, vStride, S, dv, vt.data(), Spad);
        for (int t0 = 0; t0 < T; t0 += QB) {
          const int rows = std::min(QB, T - t0);
          const int nMax = std::min(S, t0 + rows + offset);
          const float* q0 = q + ((static_cast<size_t>(b) * T + t0) * H + h0) * d;
          const float* q1 = q0 + d;
          const float* doBlock = dOut + ((static_cast<size_t>(b) * T + t0) * pairs + i) * dv;
          float* dq0 = dq + ((static_cast<size_t>(b) * T + t0) * H + h0) * d;
          float* dq1 = dq0 + d;
          smallGemm(rows, nMax, d, q0, qStride, kt0.data(), Spad, pb0.data(), Spad, false);
          smallGemm(rows, nMax, d, q1, qStride, kt1p, Spad, pb1.data(), Spad, false);
          smallGemm(rows, nMax, dv, doBlock, oStride, vt.data(), Spad, dpb.data(), Spad, false);  // dP₁
          for (int r = 0; r < rows; r++) {
            const int t = t0 + r;
            const int n = t + offset + 1;
            const size_t bt = static_cast<size_t>(b) * T + t;
            float* p0 = pb0.data() + static_cast<size_t>(r) * Spad;
            float* p1 = pb1.data() + static_cast<size_t>(r) * Spad;
            float* gp = dpb.data() + static_cast<size_t>(r) * Spad;
            const float l0 = lse[(static_cast<size_t>(b) * H + h0) * T + t];
            const float l1 = lse[(static_cast<size_t>(b) * H + h1) * T + t];
            float dot0 = 0, dot1 = 0;
#pragma omp simd reduction(+ : dot0, dot1)
            for (int s = 0; s < n; s++) {
              p0[s] = expf_fast(p0[s] * scale - l0);
              p1[s] = expf_fast(p1[s] * scale - l1);
              dot0 += p0[s] * gp[s];
              dot1 += p1[s] * gp[s];
            }
            const float lam = kind == kScalar ? lambda : lambdaTok[bt * pairs + i];
            const float dlam = -dot1;  // −dOut·O₂
            dl[bt * pairs + i] = dlam;
            const float D0 = dot0, D1 = lam * dlam;
            // dS₁ → gp, dS₂ → p1, P₁ − λP₂ → p0
#pragma omp simd
            for (int s = 0; s < n; s++) {
              const float a = p0[s], bb = p1[s], gg = gp[s];
              gp[s] = a * (gg - D0) * scale;
              p1[s] = bb * (-lam * gg - D1) * scale;
              p0[s] = a - lam * bb;
            }
            for (int s = n; s < nMax; s++) p0[s] = p1[s] = gp[s] = 0.0f;
          }
          smallGemm(rows, d, nMax, dpb.data(), Spad, k0Base, kStride, dq0, qStride, true);
          smallGemm(rows, d, nMax, pb1.data(), Spad, k1Base, kStride, dq1, qStride, true);
          smallGemmTA(nMax, dv, rows, pb0.data(), Spad, doBlock, oStride, dvBase, vStride, true);
          smallGemmTA(nMax, d, rows, dpb.data(), Spad, q0, qStride, dk0Base, kStride, true);
          smallGemmTA(nMax, d, rows, pb1.data(), Spad, q1, qStride, dk1Base, kStride, true);
        }
      }
    }
  }
  double dScalar = 0;
  if (kind == kScalar) {
    for (const float x : dlStore) dScalar += x;
  }
  return dScalar;
}

}  // namespace dt
