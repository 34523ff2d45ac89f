/**
 * The headline comparison at the main size, many seeds: DIFF V1, the baseline, DIFF V2, the baseline
 * with half the heads of twice the width (DIFF V1's head geometry without the differential map), and
 * a baseline given DIFF V2's extra parameters (wider FFN), each at its variant's best learning rate,
 * 20 training tokens per non-embedding parameter. Verdicts from 95% Welch intervals of the loss
 * differences (paper: DIFF 3.062 vs Transformer 3.087 at 1.4B, Δ −0.025).
 */
import { join } from 'node:path';
import { writeChart } from '../report/plot.ts';
import type { EvalContext } from './context.ts';
import type { Claim, ExperimentResult } from './experiment.ts';
import { ci, diffCi, table } from './format.ts';
import { lmArmRuns } from './lm-runs.ts';
import { mainSize } from './lr-sweep.ts';
import { ARMS, HEADLINE_ARMS } from './plan.ts';
import { writeJson, writeRuns } from './results-files.ts';
import { sectionRuns } from './section-runs.ts';
import { mean, welch } from './stats.ts';
import { directionalClaim } from './verdicts.ts';

const HEADLINE_CLAIMS = [
  {
    claim: 'DIFF V1 reaches a lower validation loss than the baseline (same size, tokens, tuned lr)',
    paper: '3.062 vs 3.087 at 1.4B (Δ −0.025)',
  },
  {
    claim: 'DIFF V1 beats the baseline with its head geometry (half the heads, twice the width)',
    paper: '3.062 vs 3.088 (8×256-head Transformer)',
  },
  {
    claim: 'DIFF V2 reaches a lower loss than a baseline with the same parameters',
    paper: 'DIFF V2 lower loss than the Transformer (blog, no interval)',
  },
];

export async function runHeadline(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('headline');
  const size = mainSize(ctx);
  const title = `Headline comparison at size ${size.name}`;
  const {
    all: arms,
    planned,
    pending,
  } = sectionRuns(await lmArmRuns(ctx, HEADLINE_ARMS, size), {
    name: 'headline',
    title,
    claims: HEADLINE_CLAIMS,
    lrsUnknown: 'waits for the learning-rate sweep',
  });
  if (pending) return pending;
  writeRuns(dir, [...arms.values()].flat());
  const loss = (k: string) => arms.get(k)!.map((r) => r.finalValLoss);
  const base = loss('baseline');
  const rows = HEADLINE_ARMS.map((k) => {
    const r0 = arms.get(k)![0];
    return [
      ARMS[k].label,
      r0.nonEmbeddingParameters.toLocaleString('en-US'),
      r0.parameters.toLocaleString('en-US'),
      String(r0.spec.training.lr),
      ci(loss(k), 4),
      k === 'baseline' ? '–' : diffCi(loss(k), base, 4),
    ];
  });
  const cmp = (a: string, b: string) => welch(loss(a), loss(b));
  const c1 = cmp('diff', 'baseline');
  const c2 = cmp('diff', 'halfheads');
  const c3 = cmp('diffv2', 'v2ctl');
  const n = ctx.seeds.length;
  const claims: Claim[] = [
    directionalClaim(
      HEADLINE_CLAIMS[0],
      `DIFF V1 − baseline = ${diffCi(loss('diff'), base, 4)} nats (${n} seeds each)`,
      c1,
      -1,
    ),
    directionalClaim(
      HEADLINE_CLAIMS[1],
      `DIFF V1 − half-heads baseline = ${diffCi(loss('diff'), loss('halfheads'), 4)}`,
      c2,
      -1,
    ),
    directionalClaim(
      HEADLINE_CLAIMS[2],
      `DIFF V2 − parameter-matched baseline = ${diffCi(loss('diffv2'), loss('v2ctl'), 4)} (DIFF V2 − plain baseline = ${diffCi(loss('diffv2'), base, 4)})`,
      c3,
      -1,
    ),
  ];
  const curve = (k: string) => {
    const rs = arms.get(k)!;
    return rs[0].curve.map((p, i) => ({
      x: p.tokens,
      y: mean(rs.map((r) => r.curve[i]?.loss ?? Number.NaN)),
    }));
  };
  await writeChart(
    join(dir, 'val-loss'),
    HEADLINE_ARMS.map((k) => ({ name: ARMS[k].label, points: curve(k) })),
    {
      title: `Validation loss during training (size ${size.name}, mean over ${n} seeds; trainer's small validation set)`,
      xLabel: 'training tokens',
      yLabel: 'validation loss (nats/token)',
    },
  );
  const summary = Object.fromEntries(
    HEADLINE_ARMS.map((k) => [
      k,
      { label: ARMS[k].label, lr: arms.get(k)![0].spec.training.lr, valLoss: loss(k) },
    ]),
  );
  writeJson(join(dir, 'results.json'), summary);
  const t = arms.get('diff')![0].spec.training;
  const markdown = [
    `Size ${size.name} (d ${size.d_model}, ${size.n_layers} layers, baseline ${size.n_heads} heads × ${size.head_dim}, DIFF V1 ${size.n_heads / 2} heads × ${2 * size.head_dim}), ${t.steps} steps × ${t.batch} × ${t.seq} = ${(t.steps * t.batch * t.seq).toLocaleString('en-US')} tokens (${ctx.plan.lm.tokensPerParam} per non-embedding parameter of the baseline; under one epoch of the corpus), ${n} seeds per arm, each at its variant's best rate from the sweep. Final validation loss on ${arms.get('diff')![0].valTokens.toLocaleString('en-US')} held-out tokens: mean [95% t interval]; differences: Welch 95% interval.`,
    '',
    table(['model', 'non-embedding params', 'params', 'peak lr', 'val loss', 'Δ vs baseline'], rows),
    '',
    '![validation loss](headline/val-loss.png)',
  ].join('\n');
  return { name: 'headline', title, markdown, claims, data: summary, cached: planned, planned };
}
