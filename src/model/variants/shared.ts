/** Pieces that more than one variant uses: grouped-query head layout, splitting head-pair maps. */
import type { AttentionGeometry, Backend, Floats } from '../../core/backend.ts';

/** qHeads query heads of width d over Hkv key/value heads of width d (grouped-query attention). */
export function groupedGeometry(
  qHeads: number,
  Hkv: number,
  d: number,
  batch: number,
  seqQ: number,
  seqK: number,
): AttentionGeometry {
  const rep = qHeads / Hkv;
  const kHeadOf = new Int32Array(qHeads);
  for (let j = 0; j < qHeads; j++) kHeadOf[j] = Math.floor(j / rep);
  return {
    batch,
    seqQ,
    seqK,
    qHeads,
    kHeads: Hkv,
    vHeads: Hkv,
    qkDim: d,
    vDim: d,
    kHeadOf,
    vHeadOf: kHeadOf,
  };
}

/**
 * De-interleave head pairs: maps [B, 2H, T, S] → a1, a2 [B, H, T, S] and the effective signed map
 * diff = a1 − λ(b, i, t)·a2 [B, H, T, S].
 */
export function splitPairMaps(
  backend: Backend,
  g: AttentionGeometry,
  probs: Floats,
  lambdaAt: (b: number, head: number, t: number) => number,
): { a1: Floats; a2: Floats; diff: Floats } {
  const { batch: B, seqQ: T, seqK: S } = g;
  const H = g.qHeads / 2;
  const block = T * S;
  const a1 = backend.zeros(B * H * block);
  const a2 = backend.zeros(B * H * block);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < H; i++) {
      const dst = (b * H + i) * block;
      a1.set(probs.subarray((b * 2 * H + 2 * i) * block, (b * 2 * H + 2 * i + 1) * block), dst);
      a2.set(probs.subarray((b * 2 * H + 2 * i + 1) * block, (b * 2 * H + 2 * i + 2) * block), dst);
    }
  }
  const diff = backend.zeros(a1.length);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < H; i++)
      for (let t = 0; t < T; t++) {
        const lambda = lambdaAt(b, i, t);
        const o = (b * H + i) * block + t * S;
        for (let s = 0; s < S; s++) diff[o + s] = a1[o + s] - lambda * a2[o + s];
      }
  return { a1, a2, diff };
}

/** The maps a differential variant shows beside its signed map. */
export const PAIR_PARTS = [
  { key: 'a1', name: 'a1', title: 'A1 = softmax(Q1K1ᵀ/√d)' },
  { key: 'a2', name: 'a2', title: 'A2 = softmax(Q2K2ᵀ/√d)' },
] as const;
