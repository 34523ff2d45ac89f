/**
 * The inspectable attention: the attention op of the Backend contract (causal softmax attention with
 * the variant's combine) written out in float64 with the logits in reach, so that an inspection hook
 * can read or change them before the softmax (the experiments quantise them and collect their
 * magnitudes). LanguageModel.forward runs it instead of the backend's op when a `logits` hook is
 * given; the tests check that it equals the model's ordinary forward.
 *
 * Per sequence and query head: logits q·kᵀ/√d over the causal prefix → hook → softmax → ·V, then
 * the combine (none; O₂ᵢ − λ·O₂ᵢ₊₁ with one λ; O₂ᵢ − λₜ,ᵢ·O₂ᵢ₊₁ per token and head).
 */
import type { AttentionGeometry, Backend, DifferentialCombine, Floats } from '../core/backend.ts';

/**
 * q [B, T, qHeads, d], k [B, T, kHeads, d], v [B, T, vHeads, vDim] (no cache: S = T) →
 * out [B, T, heads', vDim] in the backend's float type, heads' = qHeads (none) or qHeads/2.
 */
export function inspectedAttention(
  backend: Backend,
  q: Floats,
  k: Floats,
  v: Floats,
  g: AttentionGeometry,
  combine: DifferentialCombine,
  onLogits: (logits: Float64Array) => void,
): Floats {
  const { batch, seqQ: seq, qkDim: d, vDim: dv } = g;
  if (g.seqK !== seq) throw new RangeError('the inspected attention runs without a KV cache');
  const rows = batch * seq;
  // Per query head: O_j [B, T, qHeads, dv].
  const o = new Float64Array(rows * g.qHeads * dv);
  const causal = (seq * (seq + 1)) / 2;
  const s = new Float64Array(causal); // the causal logits of one head, row-major by query
  const scale = 1 / Math.sqrt(d);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < g.qHeads; j++) {
      const kh = g.kHeadOf[j];
      const vh = g.vHeadOf[j];
      let at = 0;
      for (let t = 0; t < seq; t++) {
        const qo = ((b * seq + t) * g.qHeads + j) * d;
        for (let u = 0; u <= t; u++) {
          const ko = ((b * seq + u) * g.kHeads + kh) * d;
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[qo + i] * k[ko + i];
          s[at++] = dot * scale;
        }
      }
      onLogits(s);
      at = 0;
      for (let t = 0; t < seq; t++) {
        let max = Number.NEGATIVE_INFINITY;
        for (let u = 0; u <= t; u++) max = Math.max(max, s[at + u]);
        let sum = 0;
        for (let u = 0; u <= t; u++) {
          const e = Math.exp(s[at + u] - max);
          s[at + u] = e;
          sum += e;
        }
        const oo = ((b * seq + t) * g.qHeads + j) * dv;
        for (let u = 0; u <= t; u++) {
          const pr = s[at + u] / sum;
          const vo = ((b * seq + u) * g.vHeads + vh) * dv;
          for (let i = 0; i < dv; i++) o[oo + i] += pr * v[vo + i];
        }
        at += t + 1;
      }
    }
  }
  if (combine.kind === 'none') return backend.fromArray(o);
  // Combine head pairs.
  const H = g.qHeads / 2;
  const merged = backend.zeros(rows * H * dv);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < H; i++) {
      const lam = combine.kind === 'scalar' ? combine.lambda : combine.lambda[r * H + i];
      const o1 = (r * g.qHeads + 2 * i) * dv;
      const o2 = o1 + dv;
      const m = (r * H + i) * dv;
      for (let e = 0; e < dv; e++) merged[m + e] = o[o1 + e] - lam * o[o2 + e];
    }
  }
  return merged;
}
