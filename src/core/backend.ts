/**
 * The compute contract every backend implements: a small set of coarse, fused ops, each with a
 * hand-written forward and backward (as llm.c does), over flat row-major typed arrays.
 *
 * Conventions
 * - Tensors are flat `Floats` in row-major order; shapes are given in comments and by the size args.
 * - A linear weight is stored PyTorch-style as [out, in]; `linearForward` computes y = x · Wᵀ.
 * - Backward ops *accumulate* into parameter gradients (`dw`, `dTable`) and *return* fresh input
 *   gradients, so shared parameters (tied embeddings) and residual branches compose naturally.
 * - Everything a backward needs beyond its inputs lives in an opaque context returned by the forward,
 *   so a flash-style backend may keep only O(T) statistics where the `js` backend keeps full maps.
 */
export type Floats = Float32Array | Float64Array;
export type Precision = 'f32' | 'f64';

/** Geometry of one causal attention call. Query row t sits at absolute position t + (seqK − seqQ). */
export interface AttentionGeometry {
  batch: number;
  /** Query rows per sequence (T); during cached decoding usually 1. */
  seqQ: number;
  /** Key/value rows per sequence (S ≥ T): cached keys followed by the new ones. */
  seqK: number;
  /** Query heads (for DIFF V1: 2·n_heads sub-heads, for V2: 2·n_heads heads). */
  qHeads: number;
  /** Heads in the key tensor and in the value tensor. */
  kHeads: number;
  vHeads: number;
  /** Width of a query/key head (d) and of a value head (d, or 2d for DIFF V1). */
  qkDim: number;
  vDim: number;
  /** For each query head, the key head and the value head it reads (length qHeads). */
  kHeadOf: Int32Array;
  vHeadOf: Int32Array;
}

/**
 * How query heads are combined after attention:
 * - `none`: plain attention, output [B, T, qHeads, vDim];
 * - `scalar`: DIFF V1, head i = O_{2i} − λ·O_{2i+1} with one λ, output [B, T, qHeads/2, vDim];
 * - `token`: DIFF V2, head i = O_{2i} − λ[b,t,i]·O_{2i+1} with λ [B, T, qHeads/2].
 */
export type DifferentialCombine =
  | { kind: 'none' }
  | { kind: 'scalar'; lambda: number }
  | { kind: 'token'; lambda: Floats };

export interface AttentionForward {
  /** [B, T, heads', vDim] where heads' = qHeads (none) or qHeads/2 (scalar, token). */
  out: Floats;
  /** Softmax maps [B, qHeads, T, S] when requested (0 above the causal diagonal). */
  probs?: Floats;
  /** Opaque state for attentionBackward. */
  context: unknown;
}

export interface AttentionBackward {
  dq: Floats;
  dk: Floats;
  dv: Floats;
  /** d loss / d λ: a single number for `scalar`, [B, T, qHeads/2] for `token`, absent for `none`. */
  dLambda?: number | Floats;
}

export interface RmsNormForward {
  y: Floats;
  /** 1/sqrt(mean(x²)+eps) per row, for the backward. */
  rstd: Floats;
}

/** One AdamW update's numbers: c1, c2 are the bias corrections 1 − β^step; decay = 1 − lr·wd or 1. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  decay: number;
  c1: number;
  c2: number;
}

export interface Backend {
  readonly name: string;
  /** What computes its matmuls, when that varies (native: "own GEMM avx512 12x32" or "openblas"). */
  readonly detail?: string;
  readonly precision: Precision;
  /** A zero-filled array of this backend's float type. */
  zeros(length: number): Floats;
  /** Copy any numbers into this backend's float type. */
  fromArray(values: ArrayLike<number>): Floats;

  /** table [V, D], tokens [N] → [N, D] */
  embeddingForward(table: Floats, tokens: Int32Array, dim: number): Floats;
  /** dTable[tokens[n]] += dOut[n] */
  embeddingBackward(dOut: Floats, tokens: Int32Array, dim: number, dTable: Floats): void;

  /** x [rows, dim], w [dim] → y = x / sqrt(mean(x²) + eps) · w */
  rmsNormForward(x: Floats, w: Floats, rows: number, dim: number, eps: number): RmsNormForward;
  /** returns dx; dw += Σ_rows dy · x̂ */
  rmsNormBackward(
    dy: Floats,
    x: Floats,
    w: Floats,
    rstd: Floats,
    rows: number,
    dim: number,
    dw: Floats,
  ): Floats;

  /** x [rows, inDim], w [outDim, inDim] → y = x · wᵀ [rows, outDim] */
  linearForward(x: Floats, w: Floats, rows: number, inDim: number, outDim: number): Floats;
  /** returns dx = dy · w (or null when not wanted); dw += dyᵀ · x */
  linearBackward(
    dy: Floats,
    x: Floats,
    w: Floats,
    rows: number,
    inDim: number,
    outDim: number,
    dw: Floats,
    wantDx: boolean,
  ): Floats | null;

  /**
   * Interleaved (GPT-J) rotary embedding, in place: x [B, T, heads, dim], pairs (2j, 2j+1) of the row
   * at position pos0 + t rotated by (pos0 + t)·θ^(−2j/dim). `inverse` rotates back (the backward).
   */
  rope(
    x: Floats,
    batch: number,
    seq: number,
    heads: number,
    dim: number,
    pos0: number,
    theta: number,
    inverse: boolean,
  ): void;

  /**
   * Causal softmax attention with scale 1/√qkDim, optionally differential:
   * q [B, T, qHeads, qkDim], k [B, S, kHeads, qkDim], v [B, S, vHeads, vDim].
   */
  attentionForward(
    q: Floats,
    k: Floats,
    v: Floats,
    geometry: AttentionGeometry,
    combine: DifferentialCombine,
    wantProbs: boolean,
  ): AttentionForward;
  attentionBackward(context: unknown, dOut: Floats): AttentionBackward;

  /** silu(gate) ⊙ up, elementwise */
  swigluForward(gate: Floats, up: Floats): Floats;
  swigluBackward(dh: Floats, gate: Floats, up: Floats): { dGate: Floats; dUp: Floats };

  /**
   * Mean cross-entropy over the scored rows of logits [rows, V]; also d loss / d logits. A row whose
   * target is IGNORE_TARGET (−1) is not scored: it adds nothing to the loss and its gradient is zero
   * (answer-only losses, padding). With no scored row the loss is 0.
   */
  crossEntropy(
    logits: Floats,
    targets: Int32Array,
    rows: number,
    vocab: number,
  ): { loss: number; dLogits: Floats };

  /**
   * Optional: keep `arrays` (a model's weights) where the kernels read them until the returned
   * release is called, instead of copying them in for every op; the caller promises not to change
   * them meanwhile (inference, e.g. generation). Backends that read arrays in place do without it.
   * `dtype: 'bf16'`: the linear layers may read the held weights as bfloat16 (rounded to nearest
   * even, products summed in float32; the native backend does), which halves the bytes per token.
   */
  holdWeights?(arrays: Iterable<Floats>, options?: { dtype?: 'f32' | 'bf16' }): () => void;

  /**
   * Optional: run `fn` with the outputs of ops taken from scratch memory that the next call reuses
   * (no allocation per op). Nothing an op returned inside may be used after fn returns: copy out
   * what must survive. Calls nest (an inner call is part of the outer one).
   */
  withScratch?<T>(fn: () => T): T;

  /** Optional fused Σ x² (gradient clipping); absent: the trainer loops in JavaScript. */
  sumOfSquares?(x: Floats): number;
  /**
   * Optional fused AdamW update of one parameter, in place, with exactly the arithmetic of
   * train/adamw.ts (double arithmetic, float storage); absent: the trainer loops in JavaScript.
   */
  adamwUpdate?(p: Floats, g: Floats, m: Floats, v: Floats, h: AdamWHyper): void;

  /** a += b */
  addInPlace(a: Floats, b: Floats): void;
  /** x *= c */
  scaleInPlace(x: Floats, c: number): void;
}

/** The target id of a row that is not scored by crossEntropy (padding, prompt tokens). */
export const IGNORE_TARGET = -1;

/**
 * Validates the first `rows` targets (an id in [0, vocab) or IGNORE_TARGET) and returns how many are
 * scored. Every backend's crossEntropy calls it before its kernel.
 */
export function countScoredTargets(targets: Int32Array, rows: number, vocab: number): number {
  if (targets.length < rows) throw new RangeError(`expected ${rows} targets, found ${targets.length}`);
  let scored = 0;
  for (let r = 0; r < rows; r++) {
    const target = targets[r];
    if (target === IGNORE_TARGET) continue;
    if (!(target >= 0 && target < vocab))
      throw new RangeError(
        `target id ${target} at row ${r} is outside the vocabulary [0, ${vocab}) (and is not the ignored target ${IGNORE_TARGET})`,
      );
    scored++;
  }
  return scored;
}
