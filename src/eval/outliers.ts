/**
 * Experiment 4, activation outliers (paper §3.8, Table 5): over validation windows of Moby Dick, the
 * k-th largest (k = 1, 2, 3, 10, 100) and the median of
 *   |attention logits|: |q·kᵀ/√d| of every causal (query, key) entry of every query head of every
 *     layer (DIFF V1: both maps' logits; V2: all 2H query heads), computed by the probe;
 *   |hidden states|: every channel of the residual stream after every layer, at every position.
 * Models: the main-size language models (shared with scaling, quantisation, ablations).
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { writeChart } from '../report/plot.ts';
import {
  allRuns,
  type Claim,
  compareSamples,
  type EvalContext,
  type ExperimentResult,
  fmt,
  LABELS,
  mean,
  pm,
  type RunRecord,
  table,
  VARIANT_ORDER,
  writeJson,
  writeRuns,
} from './common.ts';
import { lmData, lmValidation } from './data.ts';
import { probeForward } from './probe.ts';

export const RANKS = [1, 2, 3, 10, 100] as const;

export interface OutlierStats {
  /** k-th largest value for each k of RANKS */
  top: number[];
  median: number;
  count: number;
}

/** The k-th largest values and the median of a set of non-negative values. */
export function outlierStats(chunks: readonly Float32Array[]): OutlierStats {
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  all.sort();
  const kth = (k: number) => (k <= total ? all[total - k] : Number.NaN);
  const median = total % 2 ? all[(total - 1) / 2] : (all[total / 2 - 1] + all[total / 2]) / 2;
  return { top: RANKS.map(kth), median, count: total };
}

/** "2.1× smaller" / "1.3× larger" from baseline / DIFF. */
function relative(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'no ratio';
  return ratio >= 1 ? `${fmt(ratio, 2)}× smaller` : `${fmt(1 / ratio, 2)}× larger`;
}

export async function lmModels(ctx: EvalContext): Promise<Map<Variant, RunRecord[]>> {
  const plan = ctx.plan.lm;
  const size = plan.sizes.find((s) => s.name === plan.main)!;
  return ctx.runAll({ task: 'lm', size, training: plan.training }, lmData(ctx));
}

export async function runOutliers(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('outliers');
  ctx.log(' outliers: main-size language models');
  const models = await lmModels(ctx);
  writeRuns(dir, allRuns(models.values()));
  const o = ctx.plan.outliers;
  const batches = lmValidation(ctx, o.seq, Math.ceil(o.sequences / 8), Math.min(8, o.sequences));
  const stats = new Map<Variant, Array<{ logits: OutlierStats; hidden: OutlierStats }>>();
  for (const v of VARIANT_ORDER) {
    stats.set(
      v,
      models.get(v)!.map((run) => {
        const model = ctx.load(run);
        const logits: Float32Array[] = [];
        const hidden: Float32Array[] = [];
        for (const b of batches) {
          const n = b.count * o.seq;
          const r = probeForward(model, b.inputs.subarray(0, n), b.count, o.seq, {
            collectLogits: true,
            collectHidden: true,
          });
          logits.push(...r.attentionLogits!);
          hidden.push(...r.hidden!.map((h) => h.map(Math.abs)));
        }
        return { logits: outlierStats(logits), hidden: outlierStats(hidden) };
      }),
    );
  }
  const statRows = (key: 'logits' | 'hidden') =>
    VARIANT_ORDER.map((v) => {
      const s = stats.get(v)!;
      return [
        LABELS[v],
        ...RANKS.map((_, i) =>
          pm(
            s.map((x) => x[key].top[i]),
            2,
          ),
        ),
        pm(
          s.map((x) => x[key].median),
          3,
        ),
      ];
    });
  const header = (what: string) => [what, ...RANKS.map((k) => `top-${k}`), 'median'];
  const logitTable = table(header('attention logits'), statRows('logits'));
  const hiddenTable = table(header('hidden states'), statRows('hidden'));

  for (const [key, file, what] of [
    ['logits', 'attention-logits', '|attention logit|'],
    ['hidden', 'hidden-states', '|hidden state|'],
  ] as const) {
    await writeChart(
      join(dir, file),
      VARIANT_ORDER.map((v) => ({
        name: LABELS[v],
        points: RANKS.map((k, i) => ({ x: k, y: mean(stats.get(v)!.map((x) => x[key].top[i])) })),
      })),
      { title: `k-th largest ${what} (mean over seeds)`, xLabel: 'k', yLabel: what, logX: true, logY: true },
    );
  }
  const top1 = (v: Variant, key: 'logits' | 'hidden') => stats.get(v)!.map((x) => x[key].top[0]);
  const cL = compareSamples(top1('diff', 'logits'), top1('baseline', 'logits'), true);
  const cH = compareSamples(top1('diff', 'hidden'), top1('baseline', 'hidden'), true);
  const ratio = (key: 'logits' | 'hidden') => mean(top1('baseline', key)) / mean(top1('diff', key));
  const claims: Claim[] = [
    {
      claim: 'DIFF has smaller activation outliers (top attention logit)',
      paper: 'top-1 attention logit 38.8 vs 318.0 (8.2× smaller)',
      ours: `top-1 |attention logit| DIFF V1 ${fmt(mean(top1('diff', 'logits')), 2)} vs baseline ${fmt(mean(top1('baseline', 'logits')), 2)} (${relative(ratio('logits'))}); V2 ${fmt(mean(top1('diffv2', 'logits')), 2)}`,
      verdict:
        ctx.seeds.length < 2
          ? 'inconclusive'
          : cL.better
            ? 'matches'
            : cL.worse
              ? 'does not match'
              : 'inconclusive',
    },
    {
      claim: 'DIFF has smaller activation outliers (top hidden state)',
      paper: 'top-1 hidden state 1688 vs 3609 (2.1× smaller)',
      ours: `top-1 |hidden state| DIFF V1 ${fmt(mean(top1('diff', 'hidden')), 2)} vs baseline ${fmt(mean(top1('baseline', 'hidden')), 2)} (${relative(ratio('hidden'))}); V2 ${fmt(mean(top1('diffv2', 'hidden')), 2)}`,
      verdict:
        ctx.seeds.length < 2
          ? 'inconclusive'
          : cH.better
            ? 'matches'
            : cH.worse
              ? 'does not match'
              : 'inconclusive',
    },
  ];
  const summary = Object.fromEntries([...stats.entries()].map(([v, s]) => [v, s]));
  writeJson(join(dir, 'results.json'), { ranks: RANKS, perSeed: summary });
  const tokens = batches.reduce((s, b) => s + b.count, 0) * o.seq;
  const markdown = [
    `Main-size language models (${ctx.plan.lm.main}), ${tokens.toLocaleString('en-US')} validation tokens in windows of ${o.seq}. "top-k" is the k-th largest absolute value; mean ± std over ${ctx.seeds.length} seed(s). Attention logits are q·kᵀ/√d over the causal entries of every query head (DIFF V1: of both softmax maps); hidden states are the residual stream after each layer.`,
    '',
    logitTable,
    '',
    hiddenTable,
    '',
    '![attention logits](outliers/attention-logits.png)',
    '',
    '![hidden states](outliers/hidden-states.png)',
  ].join('\n');
  return { name: 'outliers', title: 'Activation outliers', markdown, claims, data: summary };
}
