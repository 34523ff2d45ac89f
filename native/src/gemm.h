// The `native` backend's own single-precision GEMM (BLIS-style: packed panels, register-blocked
// micro-kernels for AVX-512, AVX2+FMA and portable C++, chosen at run time), and the optional CBLAS
// (OpenBLAS) loaded at run time to compare against. Independent of Node-API.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dt {

/** Which code computes a GEMM. kAuto: the default of this process (see gemmDefault). */
enum class GemmKernel { kAuto = 0, kAvx512, kAvx2, kPortable, kBlas };

/**
 * C[m, n] = op(A)·op(B) + β·C, row-major, on up to `threads` OpenMP threads. op(A)[i, p] is
 * a[p·lda + i] when transA, else a[i·lda + p]; op(B)[p, j] is b[j·ldb + p] when transB, else
 * b[p·ldb + j]. β = 0 never reads C (it may hold NaN). Returns false (and computes nothing) when
 * `kernel` cannot run here: a CPU without its instructions, or kBlas with no BLAS loaded.
 */
bool gemm(GemmKernel kernel, bool transA, bool transB, int m, int n, int k, const float* a, size_t lda,
          const float* b, size_t ldb, float beta, float* c, size_t ldc, int threads);

/**
 * y[m, n] = x[m, k]·wᵀ with w [n, k] in bfloat16 (the upper halves of float32s), summed in float32:
 * the decoding product on weights of half the bytes (rows of w, no packing; any m, made for few).
 * Threads as for decoding rows (decode-threads.h: timed, or DIFF_TRANSFORMER_DECODE_THREADS) when m ≤ 4,
 * else up to `threads`.
 */
void linearBf16(const float* x, int m, const uint16_t* w, int k, int n, float* y, int threads);


/** Whether `kernel` can run in this process. */
bool gemmAvailable(GemmKernel kernel);
/**
 * The kernel kAuto stands for: DIFF_TRANSFORMER_GEMM=avx512|avx2|portable forces an own kernel;
 * DIFF_TRANSFORMER_BLAS=openblas (or another CBLAS's name or path) picks that BLAS; else the widest
 * own kernel this CPU runs.
 */
GemmKernel gemmDefault();
/** "avx512", "avx2", "portable", "blas", "auto"; kernelFromName returns false for other names. */
const char* gemmKernelName(GemmKernel kernel);
bool gemmKernelFromName(const char* name, GemmKernel* kernel);
/** Register tile of an own kernel, e.g. "12x32" (empty for kBlas). */
const char* gemmTile(GemmKernel kernel);

/** The CBLAS loaded at run time ("none" when there is none), and its thread setting (0: unknown). */
const char* blasName();
int blasThreads();
/** Loads the BLAS DIFF_TRANSFORMER_BLAS names (default: try libopenblas), sets its threads; once. */
void initBlas(int kernelThreads);

}  // namespace dt
