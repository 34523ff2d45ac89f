/**
 * Causal (optionally differential) attention of the `js` backend, with the softmax maps materialised.
 *
 * Step 1 is ordinary attention per query head j: P_j = softmax(q_j k_{kHeadOf(j)}ᵀ/√d + causal),
 * O_j = P_j v_{vHeadOf(j)}. Step 2 combines pairs of query heads: DIFF V1 head i = O_{2i} − λ·O_{2i+1},
 * DIFF V2 head i = O_{2i} − λ_{t,i}·O_{2i+1}; plain attention keeps O. The backward walks the same
 * two steps in reverse and keeps P, so it is exact and simple — the oracle for the fast backends.
 */
import { checkGeometry } from '../../core/attention-checks.ts';
import type {
  AttentionBackward,
  AttentionForward,
  AttentionGeometry,
  DifferentialCombine,
  Floats,
} from '../../core/backend.ts';

type Alloc = (length: number) => Floats;

interface JsAttentionContext {
  q: Floats;
  k: Floats;
  v: Floats;
  geometry: AttentionGeometry;
  combine: DifferentialCombine;
  /** [B, qHeads, T, S] */
  probs: Floats;
  /** [B, T, qHeads, vDim], before the differential combine */
  heads: Floats;
}

export function attentionForward(
  alloc: Alloc,
  q: Floats,
  k: Floats,
  v: Floats,
  g: AttentionGeometry,
  combine: DifferentialCombine,
): AttentionForward {
  checkGeometry(g, q, k, v, combine);
  const { batch: B, seqQ: T, seqK: S, qHeads: H, kHeads: Hk, vHeads: Hv, qkDim: d, vDim: dv } = g;
  const offset = S - T;
  const scale = 1 / Math.sqrt(d);
  const probs = alloc(B * H * T * S);
  const heads = alloc(B * T * H * dv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kh = g.kHeadOf[h];
      const vh = g.vHeadOf[h];
      for (let t = 0; t < T; t++) {
        const qOff = ((b * T + t) * H + h) * d;
        const pOff = ((b * H + h) * T + t) * S;
        const last = t + offset; // causal: keys 0..last
        let max = Number.NEGATIVE_INFINITY;
        for (let s = 0; s <= last; s++) {
          const kOff = ((b * S + s) * Hk + kh) * d;
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q[qOff + c] * k[kOff + c];
          const score = dot * scale;
          probs[pOff + s] = score;
          if (score > max) max = score;
        }
        let sum = 0;
        for (let s = 0; s <= last; s++) {
          const e = Math.exp(probs[pOff + s] - max);
          probs[pOff + s] = e;
          sum += e;
        }
        const oOff = ((b * T + t) * H + h) * dv;
        for (let s = 0; s <= last; s++) {
          const p = probs[pOff + s] / sum;
          probs[pOff + s] = p;
          const vOff = ((b * S + s) * Hv + vh) * dv;
          for (let c = 0; c < dv; c++) heads[oOff + c] += p * v[vOff + c];
        }
      }
    }
  }
  const out = combineForward(alloc, heads, g, combine);
  const context: JsAttentionContext = { q, k, v, geometry: g, combine, probs, heads };
  return { out, probs, context };
}

/** heads [B, T, H, dv] → [B, T, H/2, dv] (or heads itself for `none`) */
function combineForward(
  alloc: Alloc,
  heads: Floats,
  g: AttentionGeometry,
  combine: DifferentialCombine,
): Floats {
  if (combine.kind === 'none') return heads;
  const { batch: B, seqQ: T, qHeads: H, vDim: dv } = g;
  const pairs = H / 2;
  const out = alloc(B * T * pairs * dv);
  for (let row = 0; row < B * T; row++) {
    for (let i = 0; i < pairs; i++) {
      const lambda = combine.kind === 'scalar' ? combine.lambda : combine.lambda[row * pairs + i];
      const first = (row * H + 2 * i) * dv;
      const second = first + dv;
      const o = (row * pairs + i) * dv;
      for (let c = 0; c < dv; c++) out[o + c] = heads[first + c] - lambda * heads[second + c];
    }
  }
  return out;
}

export function attentionBackward(alloc: Alloc, context: unknown, dOut: Floats): AttentionBackward {
  const { q, k, v, geometry: g, combine, probs, heads } = context as JsAttentionContext;
  const { batch: B, seqQ: T, seqK: S, qHeads: H, kHeads: Hk, vHeads: Hv, qkDim: d, vDim: dv } = g;
  const offset = S - T;
  const scale = 1 / Math.sqrt(d);

  // Step 2 reversed: d heads and d λ.
  let dHeads: Floats;
  let dLambda: number | Floats | undefined;
  if (combine.kind === 'none') {
    dHeads = dOut;
  } else {
    const pairs = H / 2;
    dHeads = alloc(heads.length);
    const dTok = combine.kind === 'token' ? alloc(B * T * pairs) : null;
    let dScalar = 0;
    for (let row = 0; row < B * T; row++) {
      for (let i = 0; i < pairs; i++) {
        const lambda = combine.kind === 'scalar' ? combine.lambda : combine.lambda[row * pairs + i];
        const first = (row * H + 2 * i) * dv;
        const second = first + dv;
        const o = (row * pairs + i) * dv;
        let dl = 0;
        for (let c = 0; c < dv; c++) {
          dHeads[first + c] = dOut[o + c];
          dHeads[second + c] = -lambda * dOut[o + c];
          dl -= dOut[o + c] * heads[second + c];
        }
        if (dTok) dTok[row * pairs + i] = dl;
        else dScalar += dl;
      }
    }
    dLambda = dTok ?? dScalar;
  }

  // Step 1 reversed: through O = P·V and the softmax.
  const dq = alloc(q.length);
  const dk = alloc(k.length);
  const dv_ = alloc(v.length);
  const dScores = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kh = g.kHeadOf[h];
      const vh = g.vHeadOf[h];
      for (let t = 0; t < T; t++) {
        const pOff = ((b * H + h) * T + t) * S;
        const oOff = ((b * T + t) * H + h) * dv;
        const qOff = ((b * T + t) * H + h) * d;
        const last = t + offset;
        let rowDot = 0; // Σ_s P·dP
        for (let s = 0; s <= last; s++) {
          const vOff = ((b * S + s) * Hv + vh) * dv;
          const p = probs[pOff + s];
          let dp = 0;
          for (let c = 0; c < dv; c++) {
            dp += dHeads[oOff + c] * v[vOff + c];
            dv_[vOff + c] += p * dHeads[oOff + c];
          }
          dScores[s] = dp;
          rowDot += p * dp;
        }
        for (let s = 0; s <= last; s++) {
          const ds = probs[pOff + s] * (dScores[s] - rowDot) * scale;
          if (ds === 0) continue;
          const kOff = ((b * S + s) * Hk + kh) * d;
          for (let c = 0; c < d; c++) {
            dq[qOff + c] += ds * k[kOff + c];
            dk[kOff + c] += ds * q[qOff + c];
          }
        }
      }
    }
  }
  return { dq, dk, dv: dv_, dLambda };
}
