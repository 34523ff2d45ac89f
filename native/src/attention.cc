// Flash-style attention of the `native` backend, one query head per task (the pairs of a DIFF
// layer fused: attention-pairs.cc).
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

// ---- attention ----------------------------------------------------------------------------------
//
// Flash-style: per (batch, head) the keys (and, in the backward, values) are transposed into a
// zero-padded panel, then blocks of QB query rows are processed against the causal prefix of keys;
// the softmax of a block lives only in per-thread scratch. The forward keeps the log-sum-exp of
// every row, the backward recomputes P from it, so nothing of size T×S outlives a call (except the
// maps, when asked for).

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
}  // namespace dt
