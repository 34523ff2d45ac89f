/**
 * The `native` backend (float32): a Node-API addon in C++ (native/src) with the matmuls on its own
 * packed SIMD GEMM (native/src/gemm.cc; OpenBLAS only when DIFF_TRANSFORMER_BLAS=openblas asks for it)
 * and hand-written, multi-threaded fused kernels for everything else. Attention is
 * flash-style: the forward keeps the per-row log-sum-exp, the backward recomputes the softmax, so
 * the context holds O(T) statistics besides q, k, v and the head outputs. The two query heads of a
 * DIFF pair run together: out = (P₁ − λP₂)·V in one product, and the backward shares dP and dV.
 *
 * Outputs are allocated here and filled by the addon. Outputs that a kernel overwrites in full are
 * allocated without zero-filling (zeroing them was 5–8% of a small model's training step); outputs
 * that a kernel accumulates into are zero-filled. `poisonOutputs` fills the unzeroed ones with NaN
 * instead, which the parity tests use to prove that every such output is written in full. Inputs that are not
 * Float32Array (a Float64Array from elsewhere) are converted; in-place targets of another type are
 * handled by the `js` kernels, so the semantics stay those of the `js` oracle.
 */

import { checkGeometry, pairsShareValues } from '../../core/attention-checks.ts';
import type {
  AttentionBackward,
  AttentionForward,
  AttentionGeometry,
  Backend,
  Floats,
} from '../../core/backend.ts';
import { countScoredTargets } from '../../core/backend.ts';
import { heldBf16Bits } from '../../core/bf16.ts';
import { createJsBackend } from '../js/index.ts';
import { ScratchArena, scratchEnabled } from '../scratch.ts';
import { type Addon, loadNativeAddon } from './addon.ts';

export { type Addon, loadNativeAddon } from './addon.ts';

interface NativeAttentionContext {
  readonly kind: 'native-attention';
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dims: Int32Array;
  kHeadOf: Int32Array;
  vHeadOf: Int32Array;
  combineKind: number;
  lambda: number;
  lambdaTok: Float32Array | null;
  /** [B, T, qHeads, vDim] before the combine; null when the pairs ran fused (nothing per head kept) */
  heads: Float32Array | null;
  /** [B, qHeads, T] log-sum-exp of each softmax row */
  lse: Float32Array;
  geometry: AttentionGeometry;
}

const f32 = (x: Floats): Float32Array => (x instanceof Float32Array ? x : Float32Array.from(x));
const isF32 = (x: Floats): x is Float32Array => x instanceof Float32Array;

function checkTokens(tokens: Int32Array, vocab: number, what: string, where: string): void {
  for (let n = 0; n < tokens.length; n++) {
    const id = tokens[n];
    if (!(id >= 0 && id < vocab))
      throw new RangeError(`${what} id ${id} at ${where} ${n} is outside the vocabulary [0, ${vocab})`);
  }
}

const COMBINE_KIND = { none: 0, scalar: 1, token: 2 } as const;

export interface NativeBackendOptions {
  /** Fill the outputs that kernels must overwrite in full with NaN (a test of exactly that). */
  poisonOutputs?: boolean;
  /** The addon to call (default: the loaded one); the GEMM bench passes one that records matmul shapes. */
  addon?: Addon;
}

/**
 * Which GEMM the linear layers run on, e.g. "own GEMM avx512 12x32, 2 threads (decoding timed: 1 or 2)"
 * or "openblas sgemm, 2 threads (decoding 1)"; decoding: the threads of the one-row products.
 */
export function gemmDescription(addon: Addon): string {
  const i = addon.info();
  const gemm = i.gemm === 'blas' ? `${i.blas} sgemm` : `own GEMM ${i.gemm} ${i.gemmTile}`;
  const decoding =
    i.decodeThreads > 0
      ? String(Math.min(i.decodeThreads, i.threads))
      : i.gemm === 'blas' || i.threads === 1
        ? '1'
        : `timed: 1 or ${i.threads}`;
  return `${gemm}, ${i.threads} threads (decoding ${decoding})`;
}

/** A Float32Array of n elements whose contents are whatever the allocator had there. */
function uninitialised(n: number): Float32Array {
  return new Float32Array(Buffer.allocUnsafeSlow(n * 4).buffer, 0, n);
}

/** The native backend; throws when the addon is not built (use loadNativeAddon() to check first). */
export function createNativeBackend(options: NativeBackendOptions = {}): Backend {
  const addon: Addon | null = options.addon ?? loadNativeAddon();
  if (!addon)
    throw new Error('native backend unavailable: run `npm run build:native` (needs a C++ compiler)');
  const js = createJsBackend('f32');
  const zeros = (n: number) => new Float32Array(n);
  const fresh = options.poisonOutputs ? (n: number) => uninitialised(n).fill(Number.NaN) : uninitialised;
  const scratch = new ScratchArena(fresh, options.poisonOutputs);
  /** Outputs the kernels overwrite in full: unzeroed, from scratch memory inside a step. */
  const alloc = (n: number) => scratch.alloc(n);
  /** Outputs the kernels accumulate into: the same, zero-filled. */
  const cleared = (n: number) => alloc(n).fill(0);
  /** bfloat16 copies of the weights held with dtype 'bf16' (holdWeights), which linearForward reads instead. */
  const bf16Held = new Map<Floats, Uint16Array>();

  return {
    name: 'native',
    detail: gemmDescription(addon),
    precision: 'f32',
    zeros,
    fromArray: (values) => Float32Array.from(values),
    withScratch: scratchEnabled() ? (fn) => scratch.run(fn) : undefined,
    holdWeights(arrays, options) {
      if (options?.dtype !== 'bf16') return () => {};
      const added: Floats[] = [];
      for (const a of arrays)
        if (!bf16Held.has(a)) {
          bf16Held.set(a, heldBf16Bits(a));
          added.push(a);
        }
      return () => {
        for (const a of added) bf16Held.delete(a);
      };
    },

    embeddingForward(table, tokens, dim) {
      checkTokens(tokens, table.length / dim, 'token', 'position');
      const out = alloc(tokens.length * dim);
      addon.embeddingForward(f32(table), tokens, dim, out);
      return out;
    },
    embeddingBackward(dOut, tokens, dim, dTable) {
      if (!isF32(dTable)) return js.embeddingBackward(dOut, tokens, dim, dTable);
      addon.embeddingBackward(f32(dOut), tokens, dim, dTable);
    },

    rmsNormForward(x, w, rows, dim, eps) {
      const y = alloc(rows * dim);
      const rstd = alloc(rows);
      addon.rmsNormForward(f32(x), f32(w), rows, dim, eps, y, rstd);
      return { y, rstd };
    },
    rmsNormBackward(dy, x, w, rstd, rows, dim, dw) {
      if (!isF32(dw)) return js.rmsNormBackward(dy, x, w, rstd, rows, dim, dw);
      const dx = alloc(rows * dim);
      addon.rmsNormBackward(f32(dy), f32(x), f32(w), f32(rstd), rows, dim, dw, dx);
      return dx;
    },

    linearForward(x, w, rows, inDim, outDim) {
      const y = alloc(rows * outDim);
      const bits = bf16Held.get(w);
      if (bits) addon.linearForwardBf16(f32(x), bits, rows, inDim, outDim, y);
      else addon.linearForward(f32(x), f32(w), rows, inDim, outDim, y);
      return y;
    },
    linearBackward(dy, x, w, rows, inDim, outDim, dw, wantDx) {
      if (!isF32(dw)) return js.linearBackward(dy, x, w, rows, inDim, outDim, dw, wantDx);
      const dx = wantDx ? alloc(rows * inDim) : null;
      addon.linearBackward(f32(dy), f32(x), f32(w), rows, inDim, outDim, dw, dx);
      return dx;
    },

    rope(x, batch, seq, heads, dim, pos0, theta, inverse) {
      if (!isF32(x)) return js.rope(x, batch, seq, heads, dim, pos0, theta, inverse);
      addon.rope(x, batch, seq, heads, dim, pos0, theta, inverse);
    },

    attentionForward(q, k, v, g, combine, wantProbs): AttentionForward {
      checkGeometry(g, q, k, v, combine);
      const { batch: B, seqQ: T, seqK: S, qHeads: H, vDim: dv } = g;
      const dims = Int32Array.of(B, T, S, H, g.kHeads, g.vHeads, g.qkDim, dv);
      const kHeadOf = Int32Array.from(g.kHeadOf);
      const vHeadOf = Int32Array.from(g.vHeadOf);
      const combineKind = COMBINE_KIND[combine.kind];
      const lambda = combine.kind === 'scalar' ? combine.lambda : 0;
      const lambdaTok = combine.kind === 'token' ? f32(combine.lambda) : null;
      // A differential combine whose pairs share their value head runs fused, without per-head outputs.
      const fused = combine.kind !== 'none' && pairsShareValues(g);
      const heads = fused ? null : alloc(B * T * H * dv);
      const lse = alloc(B * H * T);
      const probs = wantProbs ? zeros(B * H * T * S) : null; // the masked entries stay 0
      const out = combine.kind === 'none' ? null : alloc(B * T * (H / 2) * dv);
      const [qf, kf, vf] = [f32(q), f32(k), f32(v)];
      addon.attentionForward(
        qf,
        kf,
        vf,
        dims,
        kHeadOf,
        vHeadOf,
        combineKind,
        lambda,
        lambdaTok,
        heads,
        lse,
        probs,
        out,
      );
      const context: NativeAttentionContext = {
        kind: 'native-attention',
        q: qf,
        k: kf,
        v: vf,
        dims,
        kHeadOf,
        vHeadOf,
        combineKind,
        lambda,
        lambdaTok,
        heads,
        lse,
        geometry: g,
      };
      return { out: (out ?? heads)!, probs: probs ?? undefined, context };
    },
    attentionBackward(context, dOut): AttentionBackward {
      const c = context as NativeAttentionContext;
      if (c?.kind !== 'native-attention')
        throw new TypeError('attentionBackward: not a context of the native backend');
      // dk and dv gather from every query block, dq and dλ from every key block
      const dq = cleared(c.q.length);
      const dk = cleared(c.k.length);
      const dv = cleared(c.v.length);
      const dLambdaTok = c.combineKind === COMBINE_KIND.token ? cleared(c.lambdaTok!.length) : null;
      const dScalar = addon.attentionBackward(
        c.q,
        c.k,
        c.v,
        c.dims,
        c.kHeadOf,
        c.vHeadOf,
        c.combineKind,
        c.lambda,
        c.lambdaTok,
        c.heads,
        c.lse,
        f32(dOut),
        dq,
        dk,
        dv,
        dLambdaTok,
      );
      const dLambda = c.combineKind === COMBINE_KIND.none ? undefined : (dLambdaTok ?? dScalar);
      return { dq, dk, dv, dLambda };
    },

    swigluForward(gate, up) {
      const h = alloc(gate.length);
      addon.swigluForward(f32(gate), f32(up), h);
      return h;
    },
    swigluBackward(dh, gate, up) {
      const dGate = alloc(gate.length);
      const dUp = alloc(gate.length);
      addon.swigluBackward(f32(dh), f32(gate), f32(up), dGate, dUp);
      return { dGate, dUp };
    },

    crossEntropy(logits, targets, rows, vocab) {
      countScoredTargets(targets, rows, vocab);
      const dLogits = alloc(rows * vocab);
      const loss = addon.crossEntropy(f32(logits), targets, rows, vocab, dLogits);
      return { loss, dLogits };
    },

    sumOfSquares(x) {
      if (!isF32(x)) {
        let sum = 0;
        for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
        return sum;
      }
      return addon.sumOfSquares(x);
    },
    adamwUpdate(p, g, m, v, h) {
      if (!(isF32(p) && isF32(g) && isF32(m) && isF32(v)))
        throw new TypeError('native adamwUpdate: parameters and moments must be Float32Arrays');
      addon.adamwUpdate(p, g, m, v, h.lr, h.beta1, h.beta2, h.eps, h.decay, h.c1, h.c2);
    },

    addInPlace(a, b) {
      if (!isF32(a)) return js.addInPlace(a, b);
      addon.addInPlace(a, f32(b));
    },
    scaleInPlace(x, c) {
      if (!isF32(x)) return js.scaleInPlace(x, c);
      addon.scaleInPlace(x, c);
    },
  };
}
