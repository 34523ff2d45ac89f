/**
 * Multi-needle retrieval (paper §3.4, Table 2): accuracy of the needle-task models per configuration
 * (N needles, R asked) against two references, the 1/N copy baseline (copying any one needle's number)
 * and chance 1/(9·10^(digits−1)); DIFF V1 − baseline and DIFF V2 − baseline as Welch 95% intervals.
 * The verdict is taken at the largest N (the paper's N = 6, R = 2), where copying a random needle is
 * not enough.
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { writeChart } from '../report/plot.ts';
import type { EvalContext } from './context.ts';
import type { Claim, ExperimentResult } from './experiment.ts';
import { band, ci, diffCi, table } from './format.ts';
import { type NeedleQuantProbe, needleEvalSet, needleRuns, scoresOf } from './needle-runs.ts';
import { accuracy, type NeedleItem } from './needle-score.ts';
import { writeJson, writeRuns } from './results-files.ts';
import type { RunRecord } from './run-record.ts';
import { sectionRuns } from './section-runs.ts';
import { formatInterval, meanInterval, welch } from './stats.ts';
import { LABELS, VARIANT_ORDER } from './variant-labels.ts';
import { directionalClaim } from './verdicts.ts';

const CLAIMS = [
  {
    claim: 'DIFF retrieves key information from a noisy context more accurately (vs the 1/N copy baseline)',
    paper: 'N=6, R=2 at 4K: 0.85 vs 0.55',
  },
];

/** Accuracy of each run on the items with N needles and R asked. */
export function configAccuracy(
  items: readonly NeedleItem[],
  runs: readonly RunRecord[],
  n: number,
  r: number,
) {
  return runs.map((run) =>
    accuracy(items, scoresOf(run), (it) => it.example.spec.n === n && it.example.spec.r === r),
  );
}

/** Accuracy drop from full precision of each run with `kind` quantised to `bits` (needle-quant probe). */
export function accuracyDrops(
  runs: readonly RunRecord[],
  kind: 'logits' | 'weights',
  bits: number,
): number[] {
  return runs.map((r) => {
    const q = r.probes['needle-quant'] as NeedleQuantProbe;
    return q[kind][q.bits.indexOf(32)] - q[kind][q.bits.indexOf(bits)];
  });
}

/** The claim at configuration (n, r): DIFF V1 − baseline accuracy, paper direction > 0. */
export function retrievalClaim(diff: number[], base: number[], n: number, r: number): Claim {
  const w = welch(diff, base);
  const above = meanInterval(diff.map((a) => a - 1 / n));
  return directionalClaim(
    CLAIMS[0],
    `N=${n}, R=${r}: DIFF V1 ${ci(diff, 2)} vs baseline ${ci(base, 2)} (copy baseline ${(1 / n).toFixed(2)}; DIFF V1 − 1/N = ${formatInterval(above, 2)}); DIFF V1 − baseline ${diffCi(diff, base, 2)}`,
    w,
    1,
  );
}

export async function runRetrieval(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('retrieval');
  const title = 'Multi-needle retrieval';
  const { all, planned, pending } = sectionRuns(await needleRuns(ctx), {
    name: 'retrieval',
    title,
    claims: CLAIMS,
  });
  if (pending) return pending;
  const rs = (v: Variant) => all.get(v)!;
  writeRuns(dir, VARIANT_ORDER.flatMap(rs));
  const items = needleEvalSet(ctx);
  const p = ctx.plan.needle;
  const chance = 1 / (9 * 10 ** (p.digits - 1));
  const acc = (v: Variant, n: number, r: number) => configAccuracy(items, rs(v), n, r);
  const rows = p.configs.map(([n, r]) => [
    `N=${n}, R=${r}`,
    (1 / n).toFixed(2),
    ...VARIANT_ORDER.map((v) => ci(acc(v, n, r), 2)),
    formatInterval(meanInterval(acc('diff', n, r).map((a) => a - 1 / n)), 2),
    formatInterval(meanInterval(acc('baseline', n, r).map((a) => a - 1 / n)), 2),
    diffCi(acc('diff', n, r), acc('baseline', n, r), 2),
    diffCi(acc('diffv2', n, r), acc('baseline', n, r), 2),
  ]);
  await writeChart(
    join(dir, 'accuracy-vs-needles'),
    [
      ...VARIANT_ORDER.map((v) => ({
        name: LABELS[v],
        points: p.configs.map(([n, r]) => band(n, acc(v, n, r))),
      })),
      { name: 'copy baseline 1/N', points: p.configs.map(([n]) => ({ x: n, y: 1 / n })) },
    ],
    {
      title: 'Needle retrieval accuracy vs needles in the context (95% intervals over seeds)',
      xLabel: 'needles N',
      yLabel: 'accuracy',
    },
  );
  const summary = Object.fromEntries(
    VARIANT_ORDER.map((v) => [
      v,
      Object.fromEntries(p.configs.map(([n, r]) => [`N${n}R${r}`, acc(v, n, r)])),
    ]),
  );
  writeJson(join(dir, 'results.json'), { chance, accuracy: summary });
  const quantRows = (['logits', 'weights'] as const).flatMap((kind) =>
    ctx.plan.quant.bits.map((b) => [
      `${kind === 'logits' ? 'attention logits' : 'weights'}, ${b} bits`,
      ...VARIANT_ORDER.map((v) => ci(accuracyDrops(rs(v), kind, b), 3)),
      diffCi(accuracyDrops(rs('diff'), kind, b), accuracyDrops(rs('baseline'), kind, b), 3),
      diffCi(accuracyDrops(rs('diffv2'), kind, b), accuracyDrops(rs('baseline'), kind, b), 3),
    ]),
  );
  const quantItems = (rs('diff')[0].probes['needle-quant'] as NeedleQuantProbe).items;
  const [n, r] = p.configs[p.configs.length - 1];
  const t = rs('diff')[0].spec.training;
  const markdown = [
    `Needle-task models (size ${p.size.name}, ${t.steps} steps × ${t.batch} × ${t.seq}, peak rate ${t.lr} for every variant, ${rs('diff').length} seeds each), scored on ${items.length} held-out examples (${p.perCell} per configuration × length × depth). An answer is right when greedy decoding reproduces its ${p.digits}-digit number: chance ${chance.toFixed(3)}; copying any one needle gives 1/N. Accuracy mean [95% t interval]; "− 1/N": interval of accuracy minus the copy baseline (above zero: more than copying a random needle); differences: Welch 95% intervals.`,
    '',
    table(
      [
        'config',
        '1/N',
        ...VARIANT_ORDER.map((v) => LABELS[v]),
        'V1 − 1/N',
        'baseline − 1/N',
        'V1 − baseline',
        'V2 − baseline',
      ],
      rows,
    ),
    '',
    '![accuracy vs needles](retrieval/accuracy-vs-needles.png)',
    '',
    `**Quantisation on the needle task**: accuracy drop from full precision (${quantItems} examples), mean [95% t interval]; the last columns: Welch 95% intervals of the drop's difference (negative: DIFF loses less).`,
    '',
    table(
      ['quantised', ...VARIANT_ORDER.map((v) => `${LABELS[v]} drop`), 'V1 − baseline', 'V2 − baseline'],
      quantRows,
    ),
  ].join('\n');
  const claims = [retrievalClaim(acc('diff', n, r), acc('baseline', n, r), n, r)];
  return { name: 'retrieval', title, markdown, claims, data: summary, cached: planned, planned };
}
