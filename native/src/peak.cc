// Machine limits the benchmark reads MFU and decoding against: the fp32 FMA peak on every kernel
// thread, and the streaming-read bandwidth of a buffer larger than the caches.
#include "kernels-internal.h"
#include "kernels.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dt {

using detail::gKernelThreads;

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

}  // namespace dt
