// Differential attention with the two query heads of each pair fused (the `native` backend's DIFF path).
#include "attention-tiles.h"
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

using namespace detail;

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
