/**
 * The needle task's evaluation set and the needle-task models of every variant and seed (at the
 * plan's fixed needle rate) with their probes, computed once after training and cached in the run
 * records (scoring: needle-score.ts):
 *   needle-scores     per evaluation item, whether each asked number is reproduced ("1"/"0" per answer);
 *   needle-attention  attention shares per layer, positive and negative parts (attention-probe.ts);
 *   needle-figure1    one example's attention rows per layer (the paper's Figure 1);
 *   needle-quant      retrieval accuracy with quantised attention logits / weights, by bit width.
 */
import { Rng } from '../core/rng.ts';
import type { Variant } from '../model/config.ts';
import { armRuns } from './arm-runs.ts';
import { attentionShares, figureRows } from './attention-probe.ts';
import type { EvalContext } from './context.ts';
import { needleData, taskBase } from './data.ts';
import { accuracy, itemOf, type NeedleItem, scoreNeedles } from './needle-score.ts';
import { makeNeedleExample } from './needle-task.ts';
import { probeForward } from './probe.ts';
import { withQuantisedWeights } from './quantize.ts';
import type { Probe, RunRecord } from './run-record.ts';
import type { ProducedRuns } from './section-runs.ts';
import { VARIANT_ORDER } from './variant-labels.ts';

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
export function needleRuns(ctx: EvalContext): Promise<ProducedRuns<Variant>> {
  const p = ctx.plan.needle;
  return armRuns(ctx, {
    task: 'needle',
    size: p.size,
    arms: VARIANT_ORDER,
    data: needleData(ctx),
    training: () => p.training,
    probes: () => needleProbes(ctx),
  });
}
