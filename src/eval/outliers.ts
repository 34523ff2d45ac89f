/**
 * Activation outliers (paper §3.7, Table 5): the top-1 |attention logit| and the top-1 |hidden state|
 * of each main-size language model over validation windows (the lm-outliers probe). Outliers are
 * compared as ratios: Welch 95% interval of log(DIFF) − log(baseline) over seeds, shown as a ratio
 * with its interval. The paper's direction: DIFF smaller (ratio < 1).
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import type { EvalContext } from './context.ts';
import type { Claim, ExperimentResult } from './experiment.ts';
import { ci, table } from './format.ts';
import type { LmOutlierProbe } from './lm-probes.ts';
import { mainLmRuns } from './lm-runs.ts';
import { RANKS } from './outlier-stats.ts';
import { writeJson, writeRuns } from './results-files.ts';
import type { RunRecord } from './run-record.ts';
import { sectionRuns } from './section-runs.ts';
import { type Interval, welch } from './stats.ts';
import { LABELS, VARIANT_ORDER } from './variant-labels.ts';
import { directionalClaim } from './verdicts.ts';

const CLAIMS = [
  { claim: 'DIFF has smaller top attention logits', paper: 'top-1 attention logit 38.8 vs 318.0' },
  { claim: 'DIFF has smaller top hidden-state activations', paper: 'top-1 hidden 1688 vs 3609' },
];

export type OutlierKind = 'logits' | 'hidden';

/** The k-th largest |value| (k ∈ RANKS) of each run. */
export function topValues(runs: readonly RunRecord[], kind: OutlierKind, k = 1): number[] {
  const at = RANKS.indexOf(k as (typeof RANKS)[number]);
  return runs.map((r) => (r.probes['lm-outliers'] as LmOutlierProbe)[kind].top[at]);
}

/** Welch interval of log a − log b, exponentiated: the ratio of geometric means. */
export function ratioInterval(a: readonly number[], b: readonly number[]): Interval {
  const w = welch(a.map(Math.log), b.map(Math.log));
  return { ...w, estimate: Math.exp(w.estimate), lo: Math.exp(w.lo), hi: Math.exp(w.hi) };
}

const fmtRatio = (i: Interval) => `×${i.estimate.toFixed(2)} [${i.lo.toFixed(2)}, ${i.hi.toFixed(2)}]`;

export function outlierClaim(i: 0 | 1, diff: readonly RunRecord[], base: readonly RunRecord[]): Claim {
  const kind: OutlierKind = i === 0 ? 'logits' : 'hidden';
  const a = topValues(diff, kind);
  const b = topValues(base, kind);
  const r = ratioInterval(a, b);
  // the verdict of a ratio is that of its log difference: below 1 is the paper's direction
  const logLo = Math.log(r.lo);
  const logHi = Math.log(r.hi);
  return directionalClaim(
    CLAIMS[i],
    `top-1: DIFF V1 ${ci(a, 2)} vs baseline ${ci(b, 2)}; ratio ${fmtRatio(r)}`,
    { ...r, estimate: Math.log(r.estimate), lo: logLo, hi: logHi },
    -1,
  );
}

export async function runOutliers(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('outliers');
  const title = 'Activation outliers';
  const { all, planned, pending } = sectionRuns(await mainLmRuns(ctx), {
    name: 'outliers',
    title,
    claims: CLAIMS,
  });
  if (pending) return pending;
  const rs = (v: Variant) => all.get(v)!;
  writeRuns(dir, VARIANT_ORDER.flatMap(rs));
  const rows = (['logits', 'hidden'] as const).flatMap((kind) =>
    [1, 10].map((k) => [
      `${kind === 'logits' ? 'attention logit' : 'hidden state'}, top-${k}`,
      ...VARIANT_ORDER.map((v) => ci(topValues(rs(v), kind, k), 2)),
      fmtRatio(ratioInterval(topValues(rs('diff'), kind, k), topValues(rs('baseline'), kind, k))),
      fmtRatio(ratioInterval(topValues(rs('diffv2'), kind, k), topValues(rs('baseline'), kind, k))),
    ]),
  );
  const median = (v: Variant, kind: OutlierKind) =>
    rs(v).map((r) => (r.probes['lm-outliers'] as LmOutlierProbe)[kind].median);
  for (const kind of ['logits', 'hidden'] as const)
    rows.push([
      `${kind === 'logits' ? 'attention logit' : 'hidden state'}, median`,
      ...VARIANT_ORDER.map((v) => ci(median(v, kind), 3)),
      fmtRatio(ratioInterval(median('diff', kind), median('baseline', kind))),
      fmtRatio(ratioInterval(median('diffv2', kind), median('baseline', kind))),
    ]);
  const summary = Object.fromEntries(
    VARIANT_ORDER.map((v) => [v, rs(v).map((r) => r.probes['lm-outliers'] as LmOutlierProbe)]),
  );
  writeJson(join(dir, 'results.json'), summary);
  const o = rs('diff')[0].probes['lm-outliers'] as LmOutlierProbe;
  const markdown = [
    `Main-size language models (${rs('diff').length} seeds per variant) over ${o.tokens.toLocaleString('en-US')} validation tokens: the k-th largest |attention logit| (pre-softmax, every layer and head; DIFF: both maps) and |hidden state| (every layer's output). Values: mean [95% t interval] over seeds; ratios: geometric-mean ratio with the Welch 95% interval of the log difference.`,
    '',
    table(['statistic', ...VARIANT_ORDER.map((v) => LABELS[v]), 'V1 / baseline', 'V2 / baseline'], rows),
  ].join('\n');
  const claims = [outlierClaim(0, rs('diff'), rs('baseline')), outlierClaim(1, rs('diff'), rs('baseline'))];
  return { name: 'outliers', title, markdown, claims, data: summary, cached: planned, planned };
}
