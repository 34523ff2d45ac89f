// Elementwise and row-wise kernels of the `native` backend (embedding, RMSNorm, RoPE, SwiGLU,
// cross-entropy, add/scale, Σx², AdamW): loops auto-vectorised for AVX2/FMA, threaded with OpenMP
// above detail::kParallelMin elements.
#include "kernels-internal.h"
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dt {

using detail::expf_fast;
using detail::gKernelThreads;
using detail::kParallelMin;

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

}  // namespace dt
