/**
 * The needle task's evaluation set, greedy scoring, and the needle-task models of every variant and
 * seed (at each variant's best learning rate) with their probes, computed once after training and
 * cached in the run records:
 *   needle-scores     per evaluation item, whether each asked number is reproduced ("1"/"0" per answer);
 *   needle-attention  attention shares per layer, positive and negative parts (attention-probe.ts);
 *   needle-figure1    one example's attention rows per layer (the paper's Figure 1);
 *   needle-quant      retrieval accuracy with quantised attention logits / weights, by bit width.
 */
import type { Floats } from '../core/backend.ts';
import { Rng } from '../core/rng.ts';
import type { Variant } from '../model/config.ts';
import { attentionShares, figureRows } from './attention-probe.ts';
import { armSpec, type EvalContext, type Probe, type RunRecord, VARIANT_ORDER } from './common.ts';
import { needleData, taskBase } from './data.ts';
import { ARMS } from './plan.ts';
import { probeForward } from './probe.ts';
import { withQuantisedWeights } from './quantize.ts';
import {
  forwardPadded,
  greedyReproduces,
  makeNeedleExample,
  type NeedleExample,
  type Tokenised,
  tokenise,
  tokenRange,
} from './tasks.ts';

export interface NeedleItem {
  example: NeedleExample;
  tokens: Tokenised;
  /** Token ranges [first, last] of each asked answer " NUMBER." */
  answers: Array<[number, number]>;
  /** Token ranges of the needle sentences (in order of appearance). */
  needles: Array<[number, number]>;
  /** Token range of the question lines. */
  question: [number, number];
}

export type Forward = (tokens: Int32Array, batch: number, seq: number) => Floats;

const EVAL_SEED = 777;

/** The evaluation set: `perCell` examples for every configuration × length × depth (seeded). */
export function needleEvalSet(ctx: EvalContext, perCell = ctx.plan.needle.perCell): NeedleItem[] {
  return ctx.once(`needle-eval-${perCell}`, () => {
    const { tokenizer, pools } = taskBase(ctx);
    const p = ctx.plan.needle;
    const rng = new Rng(EVAL_SEED);
    const items: NeedleItem[] = [];
    for (const [n, r] of p.configs)
      for (const length of p.lengths)
        for (const depth of p.depths)
          for (let i = 0; i < perCell; i++) {
            const example = makeNeedleExample(rng, pools.held, tokenizer, {
              n,
              r,
              depth,
              tokens: length,
              digits: p.digits,
            });
            items.push(itemOf(tokenizer, example));
          }
    return items;
  });
}

export function itemOf(tokenizer: Parameters<typeof tokenise>[0], example: NeedleExample): NeedleItem {
  const tokens = tokenise(tokenizer, example.text);
  return {
    example,
    tokens,
    answers: example.answers.map((a) => tokenRange(tokens, a.start, a.end)),
    needles: example.needles.map((s) => tokenRange(tokens, s.start, s.end)),
    question: tokenRange(tokens, example.question.start, example.question.end),
  };
}

/** Per item, whether each asked answer is reproduced by greedy decoding. */
export function scoreNeedles(forward: Forward, vocab: number, items: readonly NeedleItem[]): boolean[][] {
  const out: boolean[][] = [];
  forwardPadded(
    forward,
    items.map((it) => it.tokens.ids),
    vocab,
    16,
    (i, logits, offset) => {
      const it = items[i];
      out[i] = it.answers.map(([first, last]) =>
        greedyReproduces(logits, offset, vocab, it.tokens.ids, first, last),
      );
    },
  );
  return out;
}

/** Mean accuracy over all answers of the items selected by `keep`. */
export function accuracy(
  items: readonly NeedleItem[],
  scores: boolean[][],
  keep = (_: NeedleItem) => true,
): number {
  let right = 0;
  let total = 0;
  items.forEach((it, i) => {
    if (!keep(it)) return;
    for (const ok of scores[i]) {
      right += ok ? 1 : 0;
      total++;
    }
  });
  return total ? right / total : Number.NaN;
}

/** The example of the Figure-1 picture: the shortest context, answer at 50% depth, N = 4 where planned. */
export function figureItem(ctx: EvalContext): NeedleItem {
  const items = needleEvalSet(ctx);
  const shortest = Math.min(...ctx.plan.needle.lengths);
  const n = ctx.plan.needle.configs.some(([k]) => k === 4)
    ? 4
    : ctx.plan.needle.configs[ctx.plan.needle.configs.length - 1][0];
  return (
    items.find(
      (it) => it.example.spec.tokens === shortest && it.example.spec.depth === 50 && it.example.spec.n === n,
    ) ?? items[0]
  );
}

export interface NeedleQuantProbe {
  bits: number[];
  logits: number[];
  weights: number[];
  items: number;
}

function needleProbes(ctx: EvalContext): Record<string, Probe> {
  return {
    'needle-scores': (model) => {
      const items = needleEvalSet(ctx);
      const s = scoreNeedles((t, b, T) => model.forward(t, b, T).logits, model.config.vocab_size, items);
      return s.map((row) => row.map((ok) => (ok ? '1' : '0')).join(''));
    },
    'needle-attention': (model) => attentionShares(model, needleEvalSet(ctx, ctx.plan.quant.needlePerCell)),
    'needle-figure1': (model) => figureRows(model, figureItem(ctx)),
    'needle-quant': (model): NeedleQuantProbe => {
      const items = needleEvalSet(ctx, ctx.plan.quant.needlePerCell);
      const V = model.config.vocab_size;
      const bits = [32, ...ctx.plan.quant.bits];
      const logits = bits.map((b) =>
        accuracy(
          items,
          scoreNeedles((t, B, T) => probeForward(model, t, B, T, { logitBits: b }).logits, V, items),
        ),
      );
      const weights = bits.map((b) => {
        const q = withQuantisedWeights(model, b);
        return accuracy(
          items,
          scoreNeedles((t, B, T) => q.forward(t, B, T).logits, V, items),
        );
      });
      return { bits, logits, weights, items: items.length };
    },
  };
}

/** Decoded needle-scores probe. */
export const scoresOf = (r: RunRecord): boolean[][] =>
  (r.probes['needle-scores'] as string[]).map((s) => [...s].map((c) => c === '1'));

/** The needle-task models of every variant × seed (the plan's fixed needle rate); undefined entries are not cached. */
export async function needleRuns(
  ctx: EvalContext,
): Promise<{ runs: Map<Variant, Array<RunRecord | undefined>>; planned: number; lrsKnown: boolean }> {
  const runs = new Map<Variant, Array<RunRecord | undefined>>();
  const planned = VARIANT_ORDER.length * ctx.seeds.length;
  const p = ctx.plan.needle;
  const data = needleData(ctx);
  for (const v of VARIANT_ORDER) {
    const specs = ctx.seeds.map((seed) =>
      armSpec(ARMS[v], 'needle', p.size, seed, p.training, ctx.plan.vocab),
    );
    runs.set(v, await ctx.runs(specs, data, needleProbes(ctx)));
  }
  return { runs, planned, lrsKnown: true };
}
