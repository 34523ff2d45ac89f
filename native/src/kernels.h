// Compute kernels of the `native` backend (float32, row-major), independent of Node-API.
// Semantics follow the `js` backend (src/backends/js/*.ts), which is the oracle.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dt {

// ---- threads and linear layers (the GEMM itself: gemm.h) ---------------------------------------
/** Thread count of the hand-written kernels (OpenMP). */
int kernelThreads();
void initThreads();

/** y [rows, out] = x [rows, in] · wᵀ, w [out, in] */
void linearForward(const float* x, const float* w, int rows, int inDim, int outDim, float* y);
/** dx [rows, in] = dy · w (when dx != nullptr); dw [out, in] += dyᵀ · x */
void linearBackward(const float* dy, const float* x, const float* w, int rows, int inDim, int outDim, float* dw,
                    float* dx);

// ---- elementwise and row-wise ops ---------------------------------------------------------------
void embeddingForward(const float* table, const int32_t* tokens, int n, int dim, float* out);
void embeddingBackward(const float* dOut, const int32_t* tokens, int n, int dim, float* dTable);
void rmsNormForward(const float* x, const float* w, int rows, int dim, float eps, float* y, float* rstd);
void rmsNormBackward(const float* dy, const float* x, const float* w, const float* rstd, int rows, int dim,
                     float* dw, float* dx);
void rope(float* x, int batch, int seq, int heads, int dim, int pos0, double theta, bool inverse);
void swigluForward(const float* gate, const float* up, size_t n, float* h);
void swigluBackward(const float* dh, const float* gate, const float* up, size_t n, float* dGate, float* dUp);
/** returns the mean loss; fills dLogits */
double crossEntropy(const float* logits, const int32_t* targets, int rows, int vocab, int scored, float* dLogits);
void addInPlace(float* a, const float* b, size_t n);
void scaleInPlace(float* x, size_t n, float c);
/**
 * This machine's fp32 peak as our kernels can reach it: every OpenMP thread runs independent chains
 * of 8-wide fused multiply-adds (the vector width the build targets) for about `seconds`; GFLOP/s.
 */
/// Floats per fused multiply-add this CPU can do at once: 16 with AVX-512, else 8.
int fmaWidth();
/// GFLOP/s of fmaWidth()-wide fused multiply-adds on every kernel thread (the fp32 peak for MFU).
double fmaPeakGflops(double seconds);

/**
 * GB/s of reading a buffer of `bytes` (make it larger than the caches) once per pass on `threads`
 * OpenMP threads (at most kernelThreads()), passes for about `seconds`, the fastest counting: the
 * bandwidth that bounds decoding, which reads every weight once per token.
 */
double streamReadGBps(size_t bytes, int threads, double seconds);

/** Σ x², accumulated in double */
double sumOfSquares(const float* x, size_t n);

/** Hyper-parameters of one AdamW update; c1, c2 are the bias corrections 1 − β^step. */
struct AdamW {
  double lr, beta1, beta2, eps, decay, c1, c2;
};
/**
 * In place, in double arithmetic with float storage (exactly the `js` trainer's arithmetic):
 * m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p = p·decay − lr·(m/c1) / (√(v/c2) + eps).
 */
void adamwUpdate(float* p, const float* g, float* m, float* v, size_t n, const AdamW& h);

// ---- attention ----------------------------------------------------------------------------------
struct AttnGeometry {
  int batch, seqQ, seqK, qHeads, kHeads, vHeads, qkDim, vDim;
  const int32_t* kHeadOf;
  const int32_t* vHeadOf;
};

enum CombineKind { kNone = 0, kScalar = 1, kToken = 2 };

/**
 * heads [B, T, qHeads, vDim] (zeroed by the caller) receives the per-head outputs, lse [B, qHeads, T]
 * the log-sum-exp of every softmax row; probs [B, qHeads, T, S] (zeroed, optional) the maps;
 * out [B, T, qHeads/2, vDim] the differential combine (ignored for kNone).
 */
void attentionForward(const float* q, const float* k, const float* v, const AttnGeometry& g, int kind,
                      float lambda, const float* lambdaTok, float* heads, float* lse, float* probs, float* out);

/**
 * dq, dk, dv zeroed by the caller. dLambdaTok [B, T, qHeads/2] for kToken. Returns dλ for kScalar.
 */
double attentionBackward(const float* q, const float* k, const float* v, const AttnGeometry& g, int kind,
                         float lambda, const float* lambdaTok, const float* heads, const float* lse,
                         const float* dOut, float* dq, float* dk, float* dv, float* dLambdaTok);

/** Whether the two query heads of every pair (2i, 2i+1) read one value head (the fused pair path). */
bool pairsShareValues(const AttnGeometry& g);

/**
 * Differential attention with each pair of query heads fused (requires pairsShareValues):
 * out [B, T, qHeads/2, vDim] = (P₂ᵢ − λ·P₂ᵢ₊₁)·V directly, lse [B, qHeads, T], probs optional (zeroed).
 */
void attentionForwardPairs(const float* q, const float* k, const float* v, const AttnGeometry& g, int kind,
                           float lambda, const float* lambdaTok, float* lse, float* probs, float* out);

/** Backward of attentionForwardPairs; dq, dk, dv zeroed by the caller. Returns dλ for kScalar. */
double attentionBackwardPairs(const float* q, const float* k, const float* v, const AttnGeometry& g, int kind,
                              float lambda, const float* lambdaTok, const float* lse, const float* dOut, float* dq,
                              float* dk, float* dv, float* dLambdaTok);

}  // namespace dt
