/**
 * Scaling (paper §3.2, Fig. 3a): final validation loss vs non-embedding parameters at every planned
 * size, for every headline arm, a power law L(N) = a·N^(−b) fitted per arm to its mean loss per size.
 * "DIFF needs X% of the baseline's parameters": at each size's baseline loss (from the baseline's
 * fit), the parameters DIFF V1's fit needs for it, over the baseline's, as a geometric mean over the
 * sizes; its 95% interval from a percentile bootstrap over seeds (resampled within every arm and
 * size, both fits redone). The paper's direction: below 100%.
 */
import { join } from 'node:path';
import { writeChart } from '../report/plot.ts';
import type { EvalContext } from './context.ts';
import type { Claim, ExperimentResult } from './experiment.ts';
import { band, ci, diffCi, fmt, table } from './format.ts';
import { lmArmRuns } from './lm-runs.ts';
import { ARMS, HEADLINE_ARMS } from './plan.ts';
import { writeJson, writeRuns } from './results-files.ts';
import type { RunRecord } from './run-record.ts';
import { fitPowerLaw, sizeForLoss } from './scaling.ts';
import { allCached, countCached, pendingResult } from './section-runs.ts';
import { bootstrap, mean } from './stats.ts';

const CLAIMS = [
  {
    claim:
      'DIFF needs fewer parameters than a Transformer for the same loss (bootstrap interval of the ratio)',
    paper: '~62% of the parameters',
  },
];

/** Losses of one arm at each size (sizes in the order given), with the sizes' parameter counts. */
export interface ArmSizes {
  params: number[];
  losses: number[][];
}

/**
 * Parameters the `other` fit needs for the `base` fit's loss at each base size, over that size,
 * geometric mean over the sizes (from mean losses per size).
 */
export function parameterRatio(base: ArmSizes, other: ArmSizes): number {
  const fit = (a: ArmSizes, losses: number[][]) =>
    fitPowerLaw(a.params.map((x, i) => ({ x, y: mean(losses[i]) })));
  const lb = fit(base, base.losses);
  const lo = fit(other, other.losses);
  const logs = base.params.map((n) => Math.log(sizeForLoss(lo, lb.a * n ** -lb.b) / n));
  return Math.exp(mean(logs));
}

/** The ratio with its percentile bootstrap interval over seeds (deterministic; unbounded below 2 seeds). */
export function parameterRatioInterval(base: ArmSizes, other: ArmSizes, resamples = 2000) {
  const k = base.losses.length;
  if ([...base.losses, ...other.losses].some((g) => g.length < 2))
    return {
      estimate: parameterRatio(base, other),
      lo: Number.NEGATIVE_INFINITY,
      hi: Number.POSITIVE_INFINITY,
      failed: 0,
      resamples: 0,
    };
  return bootstrap(
    [...base.losses, ...other.losses],
    (g) =>
      parameterRatio(
        { params: base.params, losses: g.slice(0, k) },
        { params: other.params, losses: g.slice(k) },
      ),
    { resamples, seed: 13 },
  );
}

/** Verdict of a parameter ratio: below 1 is the paper's direction. */
export function ratioVerdict(i: { lo: number; hi: number }): Claim['verdict'] {
  if (!Number.isFinite(i.lo) || !Number.isFinite(i.hi)) return 'inconclusive';
  if (i.hi < 1) return 'matches';
  if (i.lo > 1) return 'does not match';
  return 'inconclusive';
}

export async function runScaling(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('scaling');
  const title = 'Scaling: loss vs parameters';
  const sizes = ctx.plan.lm.sizes;
  let cached = 0;
  let planned = 0;
  const bySize: Array<Map<string, RunRecord[]> | undefined> = [];
  for (const s of sizes) {
    const r = await lmArmRuns(ctx, HEADLINE_ARMS, s);
    cached += countCached(r.runs);
    planned += r.planned;
    bySize.push(r.lrsKnown ? allCached(r.runs) : undefined);
  }
  if (bySize.some((m) => !m)) return pendingResult('scaling', title, CLAIMS, cached, planned);
  const arm = (k: string): ArmSizes => ({
    params: bySize.map((m) => m!.get(k)![0].nonEmbeddingParameters),
    losses: bySize.map((m) => m!.get(k)!.map((r) => r.finalValLoss)),
  });
  writeRuns(
    dir,
    bySize.flatMap((m) => [...m!.values()].flat()),
  );
  const base = arm('baseline');
  const rows = sizes.map((s, i) => [
    s.name,
    ...HEADLINE_ARMS.map((k) => `${ci(arm(k).losses[i], 4)} (${(arm(k).params[i] / 1000).toFixed(1)}k)`),
  ]);
  const others = HEADLINE_ARMS.filter((k) => k !== 'baseline');
  const differenceRows = sizes.map((s, i) => [
    s.name,
    ...others.map((k) => diffCi(arm(k).losses[i], base.losses[i], 4)),
  ]);
  const laws = HEADLINE_ARMS.map((k) => {
    const a = arm(k);
    return { k, law: fitPowerLaw(a.params.map((x, i) => ({ x, y: mean(a.losses[i]) }))) };
  });
  const ratios = others.map((k) => ({
    k,
    r: parameterRatioInterval(base, arm(k)),
  }));
  await writeChart(
    join(dir, 'loss-vs-params'),
    HEADLINE_ARMS.map((k) => {
      const a = arm(k);
      return { name: ARMS[k].label, points: a.params.map((x, i) => band(x, a.losses[i])) };
    }),
    {
      title: 'Final validation loss vs non-embedding parameters (95% intervals over seeds)',
      xLabel: 'non-embedding parameters',
      yLabel: 'validation loss (nats/token)',
      logX: true,
    },
  );
  const summary = {
    sizes: sizes.map((s) => s.name),
    arms: Object.fromEntries(HEADLINE_ARMS.map((k) => [k, arm(k)])),
    laws: Object.fromEntries(laws.map((l) => [l.k, l.law])),
    ratios: Object.fromEntries(ratios.map((r) => [r.k, r.r])),
  };
  writeJson(join(dir, 'results.json'), summary);
  const pct = (x: number) => (Number.isFinite(x) ? `${fmt(100 * x, 0)}%` : '–');
  const d = ratios.find((r) => r.k === 'diff')!.r;
  const markdown = [
    `${sizes.length} sizes, ${ctx.plan.lm.tokensPerParam} training tokens per non-embedding parameter of each size's baseline, ${ctx.seeds.length} seeds per arm and size, each arm at its variant's best rate. Cells: final validation loss mean [95% t interval] (non-embedding parameters).`,
    '',
    table(['size', ...HEADLINE_ARMS.map((k) => ARMS[k].label)], rows),
    '',
    'Per size, each arm − the baseline (Welch 95% interval; negative: lower loss than the baseline):',
    '',
    table(['size', ...others.map((k) => `${ARMS[k].label} − baseline`)], differenceRows),
    '',
    table(
      ['arm', 'fit L = a·N^(−b)', 'R²', 'parameters for the baseline’s loss (vs baseline), 95% bootstrap'],
      laws.map(({ k, law }) => [
        ARMS[k].label,
        `a ${fmt(law.a, 3)}, b ${fmt(law.b, 4)}`,
        fmt(law.r2, 3),
        k === 'baseline'
          ? '–'
          : (() => {
              const r = ratios.find((x) => x.k === k)!.r;
              return `${pct(r.estimate)} [${pct(r.lo)}, ${pct(r.hi)}]`;
            })(),
      ]),
    ),
    '',
    'The ratio is the geometric mean over the sizes of (parameters the arm’s fit needs for the baseline fit’s loss at that size) / (that size); a pure power law has no irreducible-loss term, so the ratio is a summary of this size range only.',
    '',
    '![loss vs parameters](scaling/loss-vs-params.png)',
  ].join('\n');
  const claims: Claim[] = [
    {
      ...CLAIMS[0],
      ours: `DIFF V1 needs ${pct(d.estimate)} [${pct(d.lo)}, ${pct(d.hi)}] of the baseline's parameters for the same loss (${sizes.length} sizes, bootstrap over seeds; ${d.failed} of ${d.resamples} resamples without a fit)`,
      verdict: ratioVerdict(d),
    },
  ];
  return { name: 'scaling', title, markdown, claims, data: summary, cached: planned, planned };
}
