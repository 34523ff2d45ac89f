// Node-API glue of the `native` backend: every export takes typed arrays (outputs allocated and
// zero-filled by the TypeScript wrapper) and plain numbers, and calls one kernel (kernels.h, gemm.h).
#define NAPI_VERSION 8
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "decode-threads.h"
#include "gemm.h"
#include "kernels.h"

namespace {

struct ArgError {
  std::string message;
};

class Args {
 public:
  Args(napi_env env, napi_callback_info info) : env_(env) {
    argc_ = kMax;
    napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr);
  }

  napi_value raw(size_t i) const { return i < argc_ ? argv_[i] : nullptr; }

  bool isNull(size_t i) const {
    if (i >= argc_) return true;
    napi_valuetype type;
    napi_typeof(env_, argv_[i], &type);
    return type == napi_null || type == napi_undefined;
  }

  template <typename T>
  T* array(size_t i, napi_typedarray_type want, size_t* length = nullptr) const {
    bool is = false;
    if (i < argc_) napi_is_typedarray(env_, argv_[i], &is);
    if (!is) throw ArgError{"argument " + std::to_string(i) + ": expected a typed array"};
    napi_typedarray_type type;
    size_t len;
    void* data;
    napi_get_typedarray_info(env_, argv_[i], &type, &len, &data, nullptr, nullptr);
    if (type != want) throw ArgError{"argument " + std::to_string(i) + ": wrong typed array type"};
    if (length) *length = len;
    return static_cast<T*>(data);
  }

  float* f32(size_t i, size_t* length = nullptr) const { return array<float>(i, napi_float32_array, length); }
  float* f32OrNull(size_t i, size_t* length = nullptr) const { return isNull(i) ? nullptr : f32(i, length); }
  int32_t* i32(size_t i, size_t* length = nullptr) const { return array<int32_t>(i, napi_int32_array, length); }

  double num(size_t i) const {
    double value;
    if (i >= argc_ || napi_get_value_double(env_, argv_[i], &value) != napi_ok) {
      throw ArgError{"argument " + std::to_string(i) + ": expected a number"};
    }
    return value;
  }
  int integer(size_t i) const { return static_cast<int>(num(i)); }
  std::string str(size_t i) const {
    char buf[64];
    size_t len = 0;
    if (i >= argc_ || napi_get_value_string_utf8(env_, argv_[i], buf, sizeof buf, &len) != napi_ok) {
      throw ArgError{"argument " + std::to_string(i) + ": expected a string"};
    }
    return std::string(buf, len);
  }
  bool flag(size_t i) const {
    bool value = false;
    if (i >= argc_ || napi_get_value_bool(env_, argv_[i], &value) != napi_ok) {
      throw ArgError{"argument " + std::to_string(i) + ": expected a boolean"};
    }
    return value;
  }

 private:
  static constexpr size_t kMax = 20;
  napi_env env_;
  size_t argc_;
  napi_value argv_[kMax];
};

void require(bool ok, const char* what) {
  if (!ok) throw ArgError{what};
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value number(napi_env env, double value) {
  napi_value out;
  napi_create_double(env, value, &out);
  return out;
}

template <napi_value (*Body)(napi_env, const Args&)>
napi_value wrap(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info);
    return Body(env, args);
  } catch (const ArgError& e) {
    napi_throw_type_error(env, nullptr, e.message.c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// linearForward(x, w, rows, inDim, outDim, y)
napi_value LinearForward(napi_env env, const Args& a) {
  const int rows = a.integer(2), in = a.integer(3), out = a.integer(4);
  size_t nx, nw, ny;
  const float* x = a.f32(0, &nx);
  const float* w = a.f32(1, &nw);
  float* y = a.f32(5, &ny);
  require(nx >= static_cast<size_t>(rows) * in && nw >= static_cast<size_t>(out) * in &&
              ny >= static_cast<size_t>(rows) * out,
          "linearForward: array too short");
  dt::linearForward(x, w, rows, in, out, y);
  return undefinedValue(env);
}

// linearForwardBf16(x, wBits, rows, inDim, outDim, y): y = x·wᵀ, w [out, in] as bfloat16 bits (Uint16Array)
napi_value LinearForwardBf16(napi_env env, const Args& a) {
  const int rows = a.integer(2), in = a.integer(3), out = a.integer(4);
  size_t nx, nw, ny;
  const float* x = a.f32(0, &nx);
  const uint16_t* w = a.array<uint16_t>(1, napi_uint16_array, &nw);
  float* y = a.f32(5, &ny);
  require(nx >= static_cast<size_t>(rows) * in && nw >= static_cast<size_t>(out) * in &&
              ny >= static_cast<size_t>(rows) * out,
          "linearForwardBf16: array too short");
  dt::linearBf16(x, rows, w, in, out, y, dt::kernelThreads());
  return undefinedValue(env);
}

// streamReadGBps(megabytes, threads, seconds) → GB/s of a streaming read (see kernels.h)
napi_value StreamReadGBps(napi_env env, const Args& a) {
  require(a.num(0) > 0 && a.num(1) >= 1, "streamReadGBps: expected megabytes > 0 and threads ≥ 1");
  return number(env, dt::streamReadGBps(static_cast<size_t>(a.num(0) * (1 << 20)), a.integer(1), a.num(2)));
}

// linearBackward(dy, x, w, rows, inDim, outDim, dw, dx | null)
napi_value LinearBackward(napi_env env, const Args& a) {
  const int rows = a.integer(3), in = a.integer(4), out = a.integer(5);
  size_t ndy, nx, nw, ndw, ndx = 0;
  const float* dy = a.f32(0, &ndy);
  const float* x = a.f32(1, &nx);
  const float* w = a.f32(2, &nw);
  float* dw = a.f32(6, &ndw);
  float* dx = a.f32OrNull(7, &ndx);
  require(ndy >= static_cast<size_t>(rows) * out && nx >= static_cast<size_t>(rows) * in &&
              nw >= static_cast<size_t>(out) * in && ndw >= static_cast<size_t>(out) * in &&
              (!dx || ndx >= static_cast<size_t>(rows) * in),
          "linearBackward: array too short");
  dt::linearBackward(dy, x, w, rows, in, out, dw, dx);
  return undefinedValue(env);
}

// embeddingForward(table, tokens, dim, out) — token ids validated by the caller
napi_value EmbeddingForward(napi_env env, const Args& a) {
  size_t nTable, nTok, nOut;
  const float* table = a.f32(0, &nTable);
  const int32_t* tokens = a.i32(1, &nTok);
  const int dim = a.integer(2);
  float* out = a.f32(3, &nOut);
  require(nOut >= nTok * dim, "embeddingForward: array too short");
  const size_t vocab = dim > 0 ? nTable / dim : 0;
  for (size_t i = 0; i < nTok; i++) require(tokens[i] >= 0 && static_cast<size_t>(tokens[i]) < vocab, "embeddingForward: token out of range");
  dt::embeddingForward(table, tokens, static_cast<int>(nTok), dim, out);
  return undefinedValue(env);
}

// embeddingBackward(dOut, tokens, dim, dTable)
napi_value EmbeddingBackward(napi_env env, const Args& a) {
  size_t nOut, nTok, nTable;
  const float* dOut = a.f32(0, &nOut);
  const int32_t* tokens = a.i32(1, &nTok);
  const int dim = a.integer(2);
  float* dTable = a.f32(3, &nTable);
  require(nOut >= nTok * dim, "embeddingBackward: array too short");
  const size_t vocab = dim > 0 ? nTable / dim : 0;
  for (size_t i = 0; i < nTok; i++) require(tokens[i] >= 0 && static_cast<size_t>(tokens[i]) < vocab, "embeddingBackward: token out of range");
  dt::embeddingBackward(dOut, tokens, static_cast<int>(nTok), dim, dTable);
  return undefinedValue(env);
}

// rmsNormForward(x, w, rows, dim, eps, y, rstd)
napi_value RmsNormForward(napi_env env, const Args& a) {
  const int rows = a.integer(2), dim = a.integer(3);
  size_t nx, nw, ny, nr;
  const float* x = a.f32(0, &nx);
  const float* w = a.f32(1, &nw);
  float* y = a.f32(5, &ny);
  float* rstd = a.f32(6, &nr);
  const size_t n = static_cast<size_t>(rows) * dim;
  require(nx >= n && ny >= n && nw >= static_cast<size_t>(dim) && nr >= static_cast<size_t>(rows), "rmsNormForward: array too short");
  dt::rmsNormForward(x, w, rows, dim, static_cast<float>(a.num(4)), y, rstd);
  return undefinedValue(env);
}

// rmsNormBackward(dy, x, w, rstd, rows, dim, dw, dx)
napi_value RmsNormBackward(napi_env env, const Args& a) {
  const int rows = a.integer(4), dim = a.integer(5);
  size_t ndy, nx, nw, nr, ndw, ndx;
  const float* dy = a.f32(0, &ndy);
  const float* x = a.f32(1, &nx);
  const float* w = a.f32(2, &nw);
  const float* rstd = a.f32(3, &nr);
  float* dw = a.f32(6, &ndw);
  float* dx = a.f32(7, &ndx);
  const size_t n = static_cast<size_t>(rows) * dim;
  require(ndy >= n && nx >= n && ndx >= n && nw >= static_cast<size_t>(dim) && ndw >= static_cast<size_t>(dim) &&
              nr >= static_cast<size_t>(rows),
          "rmsNormBackward: array too short");
  dt::rmsNormBackward(dy, x, w, rstd, rows, dim, dw, dx);
  return undefinedValue(env);
}

// rope(x, batch, seq, heads, dim, pos0, theta, inverse)
napi_value Rope(napi_env env, const Args& a) {
  size_t nx;
  float* x = a.f32(0, &nx);
  const int batch = a.integer(1), seq = a.integer(2), heads = a.integer(3), dim = a.integer(4);
  require(nx >= static_cast<size_t>(batch) * seq * heads * dim, "rope: array too short");
  dt::rope(x, batch, seq, heads, dim, a.integer(5), a.num(6), a.flag(7));
  return undefinedValue(env);
}

// swigluForward(gate, up, h)
napi_value SwigluForward(napi_env env, const Args& a) {
  size_t ng, nu, nh;
  const float* gate = a.f32(0, &ng);
  const float* up = a.f32(1, &nu);
  float* h = a.f32(2, &nh);
  require(nu >= ng && nh >= ng, "swigluForward: array too short");
  dt::swigluForward(gate, up, ng, h);
  return undefinedValue(env);
}

// swigluBackward(dh, gate, up, dGate, dUp)
napi_value SwigluBackward(napi_env env, const Args& a) {
  size_t ndh, ng, nu, ndg, ndu;
  const float* dh = a.f32(0, &ndh);
  const float* gate = a.f32(1, &ng);
  const float* up = a.f32(2, &nu);
  float* dGate = a.f32(3, &ndg);
  float* dUp = a.f32(4, &ndu);
  require(ndh >= ng && nu >= ng && ndg >= ng && ndu >= ng, "swigluBackward: array too short");
  dt::swigluBackward(dh, gate, up, ng, dGate, dUp);
  return undefinedValue(env);
}

// crossEntropy(logits, targets, rows, vocab, dLogits) → mean loss over the scored rows (target ≠ −1)
napi_value CrossEntropy(napi_env env, const Args& a) {
  const int rows = a.integer(2), vocab = a.integer(3);
  size_t nl, nt, nd;
  const float* logits = a.f32(0, &nl);
  const int32_t* targets = a.i32(1, &nt);
  float* dLogits = a.f32(4, &nd);
  const size_t n = static_cast<size_t>(rows) * vocab;
  require(nl >= n && nd >= n && nt >= static_cast<size_t>(rows), "crossEntropy: array too short");
  int scored = 0;
  for (int r = 0; r < rows; r++) {
    require(targets[r] == -1 || (targets[r] >= 0 && targets[r] < vocab), "crossEntropy: target out of range");
    scored += targets[r] >= 0;
  }
  if (scored == 0) {
    std::fill(dLogits, dLogits + n, 0.0f);
    return number(env, 0);
  }
  return number(env, dt::crossEntropy(logits, targets, rows, vocab, scored, dLogits));
}

// addInPlace(a, b)
napi_value AddInPlace(napi_env env, const Args& a) {
  size_t na, nb;
  float* x = a.f32(0, &na);
  const float* y = a.f32(1, &nb);
  require(nb >= na, "addInPlace: array too short");
  dt::addInPlace(x, y, na);
  return undefinedValue(env);
}

// scaleInPlace(x, c)
napi_value ScaleInPlace(napi_env env, const Args& a) {
  size_t n;
  float* x = a.f32(0, &n);
  dt::scaleInPlace(x, n, static_cast<float>(a.num(1)));
  return undefinedValue(env);
}

// fmaPeakGflops(seconds) → GFLOP/s of fused multiply-adds on every kernel thread
napi_value FmaPeakGflops(napi_env env, const Args& a) { return number(env, dt::fmaPeakGflops(a.num(0))); }

// sumOfSquares(x) → Σ x²
napi_value SumOfSquares(napi_env env, const Args& a) {
  size_t n;
  const float* x = a.f32(0, &n);
  return number(env, dt::sumOfSquares(x, n));
}

// adamwUpdate(p, g, m, v, lr, beta1, beta2, eps, decay, c1, c2)
napi_value AdamwUpdate(napi_env env, const Args& a) {
  size_t np, ng, nm, nv;
  float* p = a.f32(0, &np);
  const float* g = a.f32(1, &ng);
  float* m = a.f32(2, &nm);
  float* v = a.f32(3, &nv);
  require(ng == np && nm == np && nv == np, "adamwUpdate: arrays of different lengths");
  const dt::AdamW h{a.num(4), a.num(5), a.num(6), a.num(7), a.num(8), a.num(9), a.num(10)};
  dt::adamwUpdate(p, g, m, v, np, h);
  return undefinedValue(env);
}

/** dims Int32Array [B, T, S, qHeads, kHeads, vHeads, qkDim, vDim] + head maps → geometry */
dt::AttnGeometry geometry(const Args& a, size_t dimsArg, size_t kMapArg, size_t vMapArg) {
  size_t nd, nk, nv;
  const int32_t* dims = a.i32(dimsArg, &nd);
  require(nd == 8, "attention: dims must have 8 entries");
  dt::AttnGeometry g{dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], dims[7], nullptr, nullptr};
  g.kHeadOf = a.i32(kMapArg, &nk);
  g.vHeadOf = a.i32(vMapArg, &nv);
  require(nk >= static_cast<size_t>(g.qHeads) && nv >= static_cast<size_t>(g.qHeads), "attention: head maps too short");
  for (int h = 0; h < g.qHeads; h++) {
    require(g.kHeadOf[h] >= 0 && g.kHeadOf[h] < g.kHeads && g.vHeadOf[h] >= 0 && g.vHeadOf[h] < g.vHeads,
            "attention: head map entry out of range");
  }
  require(g.batch >= 0 && g.seqQ >= 0 && g.seqK >= g.seqQ && g.qkDim >= 0 && g.vDim >= 0, "attention: bad geometry");
  return g;
}

void checkQkv(const dt::AttnGeometry& g, size_t nq, size_t nk, size_t nv) {
  require(nq >= static_cast<size_t>(g.batch) * g.seqQ * g.qHeads * g.qkDim &&
              nk >= static_cast<size_t>(g.batch) * g.seqK * g.kHeads * g.qkDim &&
              nv >= static_cast<size_t>(g.batch) * g.seqK * g.vHeads * g.vDim,
          "attention: q, k or v too short");
}

// attentionForward(q, k, v, dims, kHeadOf, vHeadOf, kind, lambda, lambdaTok|null, heads|null, lse, probs|null, out|null)
napi_value AttentionForward(napi_env env, const Args& a) {
  size_t nq, nk, nv, nh = 0, nl, np = 0, no = 0, nlt = 0;
  const float* q = a.f32(0, &nq);
  const float* k = a.f32(1, &nk);
  const float* v = a.f32(2, &nv);
  const dt::AttnGeometry g = geometry(a, 3, 4, 5);
  checkQkv(g, nq, nk, nv);
  const int kind = a.integer(6);
  const float lambda = static_cast<float>(a.num(7));
  const float* lambdaTok = a.f32OrNull(8, &nlt);
  // heads null: a differential combine whose pairs share their value head, run fused (no per-head output)
  float* heads = a.f32OrNull(9, &nh);
  float* lse = a.f32(10, &nl);
  float* probs = a.f32OrNull(11, &np);
  float* out = a.f32OrNull(12, &no);
  const size_t rows = static_cast<size_t>(g.batch) * g.seqQ;
  require((heads ? nh >= rows * g.qHeads * g.vDim : kind != dt::kNone && dt::pairsShareValues(g)) &&
              nl >= rows * g.qHeads,
          "attentionForward: output too short");
  require(!probs || np >= rows * g.qHeads * g.seqK, "attentionForward: probs too short");
  if (kind != dt::kNone) {
    require(g.qHeads % 2 == 0 && out && no >= rows * (g.qHeads / 2) * g.vDim, "attentionForward: combine output missing");
    require(kind != dt::kToken || (lambdaTok && nlt >= rows * (g.qHeads / 2)), "attentionForward: token λ missing");
  }
  if (heads) dt::attentionForward(q, k, v, g, kind, lambda, lambdaTok, heads, lse, probs, out);
  else dt::attentionForwardPairs(q, k, v, g, kind, lambda, lambdaTok, lse, probs, out);
  return undefinedValue(env);
}

// attentionBackward(q, k, v, dims, kHeadOf, vHeadOf, kind, lambda, lambdaTok|null, heads|null, lse, dOut,
//                   dq, dk, dv, dLambdaTok|null) → dλ (scalar kind; 0 otherwise)
napi_value AttentionBackward(napi_env env, const Args& a) {
  size_t nq, nk, nv, nh = 0, nl, ndo, ndq, ndk, ndv, nlt = 0, ndl = 0;
  const float* q = a.f32(0, &nq);
  const float* k = a.f32(1, &nk);
  const float* v = a.f32(2, &nv);
  const dt::AttnGeometry g = geometry(a, 3, 4, 5);
  checkQkv(g, nq, nk, nv);
  const int kind = a.integer(6);
  const float lambda = static_cast<float>(a.num(7));
  const float* lambdaTok = a.f32OrNull(8, &nlt);
  const float* heads = a.f32OrNull(9, &nh);  // null: the fused pair path (see AttentionForward)
  const float* lse = a.f32(10, &nl);
  const float* dOut = a.f32(11, &ndo);
  float* dq = a.f32(12, &ndq);
  float* dk = a.f32(13, &ndk);
  float* dv = a.f32(14, &ndv);
  float* dLambdaTok = a.f32OrNull(15, &ndl);
  const size_t rows = static_cast<size_t>(g.batch) * g.seqQ;
  const size_t heads2 = kind == dt::kNone ? g.qHeads : g.qHeads / 2;
  require((heads ? nh >= rows * g.qHeads * g.vDim : kind != dt::kNone && dt::pairsShareValues(g)) &&
              nl >= rows * g.qHeads && ndo >= rows * heads2 * g.vDim && ndq >= nq &&
              ndk >= nk && ndv >= nv,
          "attentionBackward: array too short");
  if (kind == dt::kToken) {
    require(lambdaTok && nlt >= rows * heads2 && dLambdaTok && ndl >= rows * heads2, "attentionBackward: token λ missing");
  }
  if (!heads) {
    return number(env, dt::attentionBackwardPairs(q, k, v, g, kind, lambda, lambdaTok, lse, dOut, dq, dk, dv, dLambdaTok));
  }
  return number(env, dt::attentionBackward(q, k, v, g, kind, lambda, lambdaTok, heads, lse, dOut, dq, dk, dv, dLambdaTok));
}

// gemm(kernel, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc): dt::gemm on the kernel
// named ("auto", "avx512", "avx2", "portable", "blas"); returns false when it cannot run here.
napi_value Gemm(napi_env env, const Args& a) {
  dt::GemmKernel kernel;
  const std::string name = a.str(0);
  if (!dt::gemmKernelFromName(name.c_str(), &kernel)) throw ArgError{"gemm: unknown kernel \"" + name + "\""};
  const bool ta = a.flag(1), tb = a.flag(2);
  const int m = a.integer(3), n = a.integer(4), k = a.integer(5), lda = a.integer(7), ldb = a.integer(9),
            ldc = a.integer(12);
  size_t na, nb, nc;
  const float* A = a.f32(6, &na);
  const float* B = a.f32(8, &nb);
  float* C = a.f32(11, &nc);
  require(m >= 0 && n >= 0 && k >= 0, "gemm: negative size");
  require(lda >= (ta ? m : k) && ldb >= (tb ? k : n) && ldc >= n && lda > 0 && ldb > 0 && ldc > 0,
          "gemm: leading dimension shorter than a row");
  auto need = [](int rows, int ld, int cols) { return rows == 0 || cols == 0 ? 0 : static_cast<size_t>(rows - 1) * ld + cols; };
  require(na >= (ta ? need(k, lda, m) : need(m, lda, k)) && nb >= (tb ? need(n, ldb, k) : need(k, ldb, n)) &&
              nc >= need(m, ldc, n),
          "gemm: array too short");
  napi_value ok;
  napi_get_boolean(env, dt::gemm(kernel, ta, tb, m, n, k, A, lda, B, ldb, static_cast<float>(a.num(10)), C, ldc,
                                 dt::kernelThreads()),
                   &ok);
  return ok;
}

napi_value string(napi_env env, const char* s) {
  napi_value out;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

// info() → { blas, blasThreads, threads, fmaWidth, gemm, gemmTile, gemmKernels, decodeThreads }
napi_value Info(napi_env env, const Args&) {
  napi_value obj, blas, bt, kt;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, dt::blasName(), NAPI_AUTO_LENGTH, &blas);
  napi_create_int32(env, dt::blasThreads(), &bt);
  napi_create_int32(env, dt::kernelThreads(), &kt);
  napi_set_named_property(env, obj, "blas", blas);
  napi_set_named_property(env, obj, "blasThreads", bt);
  napi_set_named_property(env, obj, "threads", kt);
  napi_value fw;
  napi_create_int32(env, dt::fmaWidth(), &fw);
  napi_set_named_property(env, obj, "fmaWidth", fw);
  const dt::GemmKernel chosen = dt::gemmDefault();
  napi_set_named_property(env, obj, "gemm", string(env, dt::gemmKernelName(chosen)));
  napi_set_named_property(env, obj, "gemmTile", string(env, dt::gemmTile(chosen)));
  napi_value kernels;
  napi_create_array(env, &kernels);
  uint32_t count = 0;
  for (dt::GemmKernel k : {dt::GemmKernel::kAvx512, dt::GemmKernel::kAvx2, dt::GemmKernel::kPortable}) {
    if (dt::gemmAvailable(k)) napi_set_element(env, kernels, count++, string(env, dt::gemmKernelName(k)));
  }
  napi_set_named_property(env, obj, "gemmKernels", kernels);
  napi_value dth;
  napi_create_int32(env, dt::decodeThreadsSetting(), &dth);  // 0: timed at run time
  napi_set_named_property(env, obj, "decodeThreads", dth);
  return obj;
}

}  // namespace

NAPI_MODULE_INIT() {
  dt::initThreads();
  const napi_property_descriptor props[] = {
      {"info", nullptr, wrap<Info>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gemm", nullptr, wrap<Gemm>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"linearForward", nullptr, wrap<LinearForward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"linearBackward", nullptr, wrap<LinearBackward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"embeddingForward", nullptr, wrap<EmbeddingForward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"embeddingBackward", nullptr, wrap<EmbeddingBackward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsNormForward", nullptr, wrap<RmsNormForward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsNormBackward", nullptr, wrap<RmsNormBackward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rope", nullptr, wrap<Rope>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"swigluForward", nullptr, wrap<SwigluForward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"swigluBackward", nullptr, wrap<SwigluBackward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"crossEntropy", nullptr, wrap<CrossEntropy>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addInPlace", nullptr, wrap<AddInPlace>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scaleInPlace", nullptr, wrap<ScaleInPlace>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"linearForwardBf16", nullptr, wrap<LinearForwardBf16>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"streamReadGBps", nullptr, wrap<StreamReadGBps>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fmaPeakGflops", nullptr, wrap<FmaPeakGflops>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumOfSquares", nullptr, wrap<SumOfSquares>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamwUpdate", nullptr, wrap<AdamwUpdate>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionForward", nullptr, wrap<AttentionForward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionBackward", nullptr, wrap<AttentionBackward>, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
