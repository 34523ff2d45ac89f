// Small register-tiled GEMMs and row helpers shared by the attention kernels (attention.cc,
// attention-pairs.cc); defined in attention-tiles.cc.
#pragma once

#include <cmath>
#include <cstddef>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace dt::detail {

constexpr int QB = 32;  // query rows per block
constexpr int SB = 16;  // key columns per register tile (two AVX2 vectors)

inline int roundUp(int n, int m) { return (n + m - 1) / m * m; }

#if defined(__AVX2__) && defined(__FMA__)
#define DT_AVX2 1
#endif

/**
 * C[m][n] (+)= Σ_k A[m·lda + k] · B[k·ldb + n] (M, N, K small; any row strides): register tiles of
 * the widest vectors this CPU has (AVX-512 unless DIFF_TRANSFORMER_AVX512=0, else AVX2).
 * `accumulate` false overwrites C.
 */
void smallGemm(int M, int N, int K, const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc,
               bool accumulate);
/** smallGemm with A given transposed: C[m][n] (+)= Σ_k A[k·lda + m] · B[k·ldb + n]. */
void smallGemmTA(int M, int N, int K, const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc,
                 bool accumulate);
/** dst[c·ld + s] = src[s·stride + c] for s < n, c < width; columns n..ld zero. */
void transposePanel(const float* src, size_t stride, int n, int width, float* dst, int ld);

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

}  // namespace dt::detail
