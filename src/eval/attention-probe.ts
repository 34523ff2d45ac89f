/**
 * Where the attention of the answer query goes (paper §3.4, Table 3, Fig. 1), without rescaling.
 * The query position is the last token before the first asked answer (the "is" of "Q: The magic
 * number of CITY is"). Per layer and head its attention row is split into
 *   positive part: baseline softmax(QKᵀ/√d); DIFF V1/V2 the first map A1 (each sums to 1);
 *   negative part: DIFF V1 λ·A2, DIFF V2 λₜ·A2 with the query token's λ of the head (sums to λ;
 *                  the baseline has none);
 *   net = positive − negative (the map the model uses before the per-head norm).
 * A part's share of a span is its sum over the span: the answer needle's sentence, the other needles,
 * the filler ("noise"). Shares are averaged over heads and items, per layer; nothing is divided by
 * 1 − λ (with λ < 0 that division would flip or inflate the picture).
 */
import type { Floats } from '../core/backend.ts';
import type { LayerMaps } from '../model/attention.ts';
import type { LanguageModel } from '../model/lm.ts';
import type { NeedleItem } from './needle-score.ts';

export interface SpanShares {
  answer: number;
  otherNeedles: number;
  noise: number;
}

export interface LayerShares {
  positive: SpanShares;
  negative: SpanShares;
  /** Mean λ of the layer at the query (0 for the baseline). */
  lambda: number;
}

/** [layer] shares, averaged over heads and items; also split by answer depth. */
export interface AttentionProbe {
  layers: LayerShares[];
  byDepth: Record<string, LayerShares[]>;
  items: number;
}

/** Positive and negative rows of head h at query t (length t+1) and the λ used. */
export function attentionParts(
  maps: LayerMaps,
  heads: number,
  seq: number,
  h: number,
  t: number,
): { positive: Float64Array; negative: Float64Array; lambda: number } {
  const positive = new Float64Array(t + 1);
  const negative = new Float64Array(t + 1);
  const at = (m: Floats, u: number) => m[(h * seq + t) * seq + u];
  if (maps.p) {
    for (let u = 0; u <= t; u++) positive[u] = at(maps.p, u);
    return { positive, negative, lambda: 0 };
  }
  const lambda = maps.lambda!.length === 1 ? maps.lambda![0] : maps.lambda![t * heads + h];
  for (let u = 0; u <= t; u++) {
    positive[u] = at(maps.a1!, u);
    negative[u] = lambda * at(maps.a2!, u);
  }
  return { positive, negative, lambda };
}

/** 0 noise, 1 answer needle, 2 other needle, 3 question, for the positions 0..t. */
export function spanKinds(item: NeedleItem, t: number): Uint8Array {
  const kind = new Uint8Array(t + 1);
  item.needles.forEach(([a, b], i) => {
    for (let u = a; u <= Math.min(b, t); u++) kind[u] = i === item.example.answers[0].needle ? 1 : 2;
  });
  for (let u = item.question[0]; u <= t; u++) kind[u] = 3;
  return kind;
}

const zero = (): SpanShares => ({ answer: 0, otherNeedles: 0, noise: 0 });
const zeroLayer = (): LayerShares => ({ positive: zero(), negative: zero(), lambda: 0 });

function addShares(into: SpanShares, row: Float64Array, kind: Uint8Array, w: number): void {
  for (let u = 0; u < row.length; u++) {
    if (kind[u] === 1) into.answer += w * row[u];
    else if (kind[u] === 2) into.otherNeedles += w * row[u];
    else if (kind[u] === 0) into.noise += w * row[u];
  }
}

const round = (x: number) => Number(x.toPrecision(6));
const roundLayer = (l: LayerShares): LayerShares => ({
  positive: {
    answer: round(l.positive.answer),
    otherNeedles: round(l.positive.otherNeedles),
    noise: round(l.positive.noise),
  },
  negative: {
    answer: round(l.negative.answer),
    otherNeedles: round(l.negative.otherNeedles),
    noise: round(l.negative.noise),
  },
  lambda: round(l.lambda),
});

export function attentionShares(model: LanguageModel, items: readonly NeedleItem[]): AttentionProbe {
  const L = model.config.n_layers;
  const H = model.config.n_heads;
  const total = Array.from({ length: L }, zeroLayer);
  const depth = new Map<number, { layers: LayerShares[]; count: number }>();
  for (const item of items) {
    const ids = item.tokens.ids;
    const T = ids.length;
    const { maps } = model.forward(ids, 1, T, { maps: true });
    const t = item.answers[0][0] - 1;
    const kind = spanKinds(item, t);
    const d = item.example.spec.depth;
    if (!depth.has(d)) depth.set(d, { layers: Array.from({ length: L }, zeroLayer), count: 0 });
    const cell = depth.get(d)!;
    cell.count++;
    maps!.forEach((m, l) => {
      for (let h = 0; h < H; h++) {
        const parts = attentionParts(m, H, T, h, t);
        for (const into of [total[l], cell.layers[l]]) {
          addShares(into.positive, parts.positive, kind, 1 / H);
          addShares(into.negative, parts.negative, kind, 1 / H);
          into.lambda += parts.lambda / H;
        }
      }
    });
  }
  const scale = (l: LayerShares, n: number): LayerShares =>
    roundLayer({
      positive: {
        answer: l.positive.answer / n,
        otherNeedles: l.positive.otherNeedles / n,
        noise: l.positive.noise / n,
      },
      negative: {
        answer: l.negative.answer / n,
        otherNeedles: l.negative.otherNeedles / n,
        noise: l.negative.noise / n,
      },
      lambda: l.lambda / n,
    });
  return {
    layers: total.map((l) => scale(l, items.length)),
    byDepth: Object.fromEntries(
      [...depth].map(([d, c]) => [String(d), c.layers.map((l) => scale(l, c.count))]),
    ),
    items: items.length,
  };
}

/** Figure 1: one example's positive and negative rows per layer (mean over heads) and its spans. */
export interface FigureRows {
  /** 0 noise, 1 answer needle, 2 other needle, 3 question, per key position. */
  kinds: number[];
  positive: number[][];
  negative: number[][];
}

export function figureRows(model: LanguageModel, item: NeedleItem): FigureRows {
  const ids = item.tokens.ids;
  const T = ids.length;
  const H = model.config.n_heads;
  const { maps } = model.forward(ids, 1, T, { maps: true });
  const t = item.answers[0][0] - 1;
  const positive: number[][] = [];
  const negative: number[][] = [];
  for (const m of maps!) {
    const pos = new Float64Array(t + 1);
    const neg = new Float64Array(t + 1);
    for (let h = 0; h < H; h++) {
      const parts = attentionParts(m, H, T, h, t);
      for (let u = 0; u <= t; u++) {
        pos[u] += parts.positive[u] / H;
        neg[u] += parts.negative[u] / H;
      }
    }
    positive.push(Array.from(pos, round));
    negative.push(Array.from(neg, round));
  }
  return { kinds: Array.from(spanKinds(item, t)), positive, negative };
}
