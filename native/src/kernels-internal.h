// Shared by the kernel files of the `native` backend (not part of kernels.h's contract): the thread
// count, the size below which loops stay on one thread, a vectorisable exp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dt::detail {

/** Thread count of the hand-written kernels (set by initThreads). */
extern int gKernelThreads;

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

}  // namespace dt::detail
