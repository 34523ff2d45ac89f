// Small register-tiled GEMMs and row helpers of the flash-style attention kernels (attention.cc,
// attention-pairs.cc): AVX2 4×16 tiles, AVX-512 tiles when the CPU has them.
#include "attention-tiles.h"

#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dt::detail {

namespace {

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

}  // namespace

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

}  // namespace dt::detail
