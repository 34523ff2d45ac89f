/**
 * Low-bit quantisation (paper §3.8, Fig. 8), judged on the DROP from full precision, not on absolute
 * numbers (which would only carry over a full-precision lead): per main-size language model, the
 * validation-loss increase when its attention logits (or its weights) are quantised to b bits,
 * DIFF minus baseline as a Welch 95% interval. The paper's direction: DIFF degrades less (Δ < 0).
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { writeChart } from '../report/plot.ts';
import type { EvalContext } from './context.ts';
import type { Claim, ExperimentResult } from './experiment.ts';
import { band, ci, diffCi, table } from './format.ts';
import type { LmQuantProbe } from './lm-probes.ts';
import { mainLmRuns } from './lm-runs.ts';
import { writeJson, writeRuns } from './results-files.ts';
import type { RunRecord } from './run-record.ts';
import { sectionRuns } from './section-runs.ts';
import { welch } from './stats.ts';
import { LABELS, VARIANT_ORDER } from './variant-labels.ts';
import { directionalClaim } from './verdicts.ts';

const CLAIMS = [
  {
    claim: 'DIFF degrades less under low-bit attention quantisation (loss increase at 4 bits, vs baseline)',
    paper: '4-bit DIFF ≈ 6-bit Transformer',
  },
];

/** Loss increase over full precision at `bits` of each run ('logits' or 'weights' quantised). */
export function drops(runs: readonly RunRecord[], kind: 'logits' | 'weights', bits: number): number[] {
  return runs.map((r) => {
    const q = r.probes['lm-quant'] as LmQuantProbe;
    const i = q.bits.indexOf(bits);
    const full = q.bits.indexOf(32);
    if (i < 0 || full < 0) throw new Error(`run ${r.id}: lm-quant has no ${bits}-bit or 32-bit entry`);
    return q[kind][i] - q[kind][full];
  });
}

/** The claim from the drops at the lowest bit width: DIFF V1 − baseline, paper direction < 0. */
export function quantClaim(diff: readonly RunRecord[], base: readonly RunRecord[], bits: number): Claim {
  const a = drops(diff, 'logits', bits);
  const b = drops(base, 'logits', bits);
  return directionalClaim(
    CLAIMS[0],
    `${bits}-bit attention-logit loss increase: DIFF V1 ${ci(a, 4)} vs baseline ${ci(b, 4)}; difference ${diffCi(a, b, 4)} nats`,
    welch(a, b),
    -1,
  );
}

export async function runQuantisation(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('quantisation');
  const title = 'Low-bit quantisation (judged on the drop from full precision)';
  const { all, planned, pending } = sectionRuns(await mainLmRuns(ctx), {
    name: 'quantisation',
    title,
    claims: CLAIMS,
  });
  if (pending) return pending;
  const rs = (v: Variant) => all.get(v)!;
  writeRuns(dir, VARIANT_ORDER.flatMap(rs));
  const bits = ctx.plan.quant.bits;
  const lowest = Math.min(...bits);
  const rows = (kind: 'logits' | 'weights') =>
    bits.map((b) => [
      `${b} bits`,
      ...VARIANT_ORDER.map((v) => ci(drops(rs(v), kind, b), 4)),
      diffCi(drops(rs('diff'), kind, b), drops(rs('baseline'), kind, b), 4),
      diffCi(drops(rs('diffv2'), kind, b), drops(rs('baseline'), kind, b), 4),
    ]);
  const header = [
    'quantised to',
    ...VARIANT_ORDER.map((v) => `${LABELS[v]} increase`),
    'V1 − baseline',
    'V2 − baseline',
  ];
  for (const kind of ['logits', 'weights'] as const)
    await writeChart(
      join(dir, `drop-${kind}`),
      VARIANT_ORDER.map((v) => ({
        name: LABELS[v],
        points: bits.map((b) => band(b, drops(rs(v), kind, b))),
      })),
      {
        title: `Validation-loss increase with quantised ${kind === 'logits' ? 'attention logits' : 'weights'} (95% intervals over seeds)`,
        xLabel: 'bits',
        yLabel: 'loss increase over full precision (nats/token)',
      },
    );
  const summary = Object.fromEntries(
    VARIANT_ORDER.map((v) => [
      v,
      Object.fromEntries(
        (['logits', 'weights'] as const).map((k) => [
          k,
          Object.fromEntries(bits.map((b) => [b, drops(rs(v), k, b)])),
        ]),
      ),
    ]),
  );
  writeJson(join(dir, 'results.json'), summary);
  const q = rs('diff')[0].probes['lm-quant'] as LmQuantProbe;
  const markdown = [
    `Main-size language models (${rs('diff').length} seeds per variant), validation loss on ${q.tokens.toLocaleString('en-US')} held-out tokens at full precision and with the attention logits (absmax per head and sequence) or every weight matrix (per row) quantised. Each cell: the loss increase over the same model at full precision, mean [95% t interval]; the last columns: Welch 95% intervals of the increase's difference (negative: DIFF degrades less). The needle task's accuracy drops under the same quantisation are in the retrieval section (needle runs).`,
    '',
    '**Attention logits quantised**',
    '',
    table(header, rows('logits')),
    '',
    '**Weights quantised**',
    '',
    table(header, rows('weights')),
    '',
    '![loss increase, attention logits](quantisation/drop-logits.png)',
    '![loss increase, weights](quantisation/drop-weights.png)',
  ].join('\n');
  const claims = [quantClaim(rs('diff'), rs('baseline'), lowest)];
  return { name: 'quantisation', title, markdown, claims, data: summary, cached: planned, planned };
}
