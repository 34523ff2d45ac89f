// The `native` backend's threads and its linear layers on the GEMM of gemm.cc (own kernels, or a
// BLAS loaded at run time).
#include "gemm.h"
#include "kernels-internal.h"
#include "kernels.h"

#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace dt {

namespace detail {
int gKernelThreads = 1;
}  // namespace detail

using detail::gKernelThreads;

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
}  // namespace dt
