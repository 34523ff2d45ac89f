/**
 * Many-shot in-context classification (paper §3.5, Fig. 6): models of every variant × seed trained on
 * the in-context task (icl-task.ts) at the plan's fixed rate, then scored by constrained
 * classification of the query after k demonstrations, for every k of the plan that fits the
 * context, over seeded episodes, each in several demonstration orders (the icl-accuracy probe,
 * icl-runs.ts). Chance is 1/K (K
 * categories). DIFF V1 − baseline at the most shots as a Welch 95% interval (paper: DIFF higher).
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { writeChart } from '../report/plot.ts';
import type { EvalContext } from './context.ts';
import type { Claim, ExperimentResult } from './experiment.ts';
import { band, ci, diffCi, table } from './format.ts';
import { type IclProbe, iclRuns } from './icl-runs.ts';
import { CATEGORIES } from './icl-task.ts';
import { writeJson, writeRuns } from './results-files.ts';
import type { RunRecord } from './run-record.ts';
import { sectionRuns } from './section-runs.ts';
import { welch } from './stats.ts';
import { LABELS, VARIANT_ORDER } from './variant-labels.ts';
import { directionalClaim } from './verdicts.ts';

const CLAIMS = [{ claim: 'DIFF is better at many-shot in-context learning', paper: '+5.2 to +21.6 points' }];

/** Accuracy of each run at `k` shots. */
export function accuracyAt(runs: readonly RunRecord[], k: number): number[] {
  return runs.map((r) => {
    const q = r.probes['icl-accuracy'] as IclProbe;
    return q.accuracy[q.shots.indexOf(k)];
  });
}

export function iclClaim(diff: readonly RunRecord[], base: readonly RunRecord[], k: number): Claim {
  const a = accuracyAt(diff, k);
  const b = accuracyAt(base, k);
  const w = welch(a, b);
  return directionalClaim(
    CLAIMS[0],
    `${k} shots: DIFF V1 ${ci(a, 3)} vs baseline ${ci(b, 3)}; difference ${diffCi(a, b, 3)}`,
    w,
    1,
  );
}

export async function runIcl(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('icl');
  const title = 'Many-shot in-context learning';
  const { all, planned, pending } = sectionRuns(await iclRuns(ctx), { name: 'icl', title, claims: CLAIMS });
  if (pending) return pending;
  const rs = (v: Variant) => all.get(v)!;
  writeRuns(dir, VARIANT_ORDER.flatMap(rs));
  const shots = (rs('diff')[0].probes['icl-accuracy'] as IclProbe).shots;
  const K = Object.keys(CATEGORIES).length;
  const rows = shots.map((k) => [
    String(k),
    ...VARIANT_ORDER.map((v) => ci(accuracyAt(rs(v), k), 3)),
    diffCi(accuracyAt(rs('diff'), k), accuracyAt(rs('baseline'), k), 3),
    diffCi(accuracyAt(rs('diffv2'), k), accuracyAt(rs('baseline'), k), 3),
  ]);
  await writeChart(
    join(dir, 'accuracy-vs-shots'),
    [
      ...VARIANT_ORDER.map((v) => ({
        name: LABELS[v],
        points: shots.map((k) => band(k, accuracyAt(rs(v), k))),
      })),
      { name: `chance 1/${K}`, points: shots.map((k) => ({ x: k, y: 1 / K })) },
    ],
    {
      title: 'In-context classification accuracy vs demonstrations (95% intervals over seeds)',
      xLabel: 'demonstrations',
      yLabel: 'accuracy',
    },
  );
  const summary = Object.fromEntries(
    VARIANT_ORDER.map((v) => [v, rs(v).map((r) => r.probes['icl-accuracy'])]),
  );
  writeJson(join(dir, 'results.json'), summary);
  const p = ctx.plan.icl;
  const t = p.training;
  const markdown = [
    `Models of size ${p.size.name} trained ${t.steps} steps × ${t.batch} × ${t.seq} on in-context episodes (peak rate ${t.lr} for every variant, ${rs('diff').length} seeds each); scored on ${p.episodes} fresh seeded episodes (labels drawn anew, so nothing can be memorised) × ${p.orderings} demonstration orders per shot count, by constrained classification among the episode's ${K} labels (chance 1/${K}). Accuracy mean [95% t interval]; differences: Welch 95% intervals.`,
    '',
    table(['shots', ...VARIANT_ORDER.map((v) => LABELS[v]), 'V1 − baseline', 'V2 − baseline'], rows),
    '',
    '![accuracy vs shots](icl/accuracy-vs-shots.png)',
  ].join('\n');
  const claims = [iclClaim(rs('diff'), rs('baseline'), shots[shots.length - 1])];
  return { name: 'icl', title, markdown, claims, data: summary, cached: planned, planned };
}
