/**
 * The learning-rate sweep: at the main size, DIFF V1, the baseline and DIFF V2 are each trained at
 * every rate of the plan (`plan.lm.lrs`, `plan.lm.sweepSeeds` seeds each), and each variant's best
 * rate (lowest mean final validation loss) is the rate of all its later runs; arms derived from a
 * variant (the baseline controls, the V1 ablations and causes) take that variant's rate. One rate
 * per variant, chosen at one size, is used at every size and on the synthetic tasks.
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { writeChart } from '../report/plot.ts';
import {
  armSpec,
  band,
  ci,
  complete,
  type EvalContext,
  type ExperimentResult,
  LABELS,
  pendingResult,
  type RunRecord,
  type RunSpec,
  table,
  VARIANT_ORDER,
  writeJson,
  writeRuns,
} from './common.ts';
import { lmData } from './data.ts';
import { ARMS, lmTraining, type Size } from './plan.ts';
import { mean } from './stats.ts';

export function mainSize(ctx: EvalContext): Size {
  return ctx.plan.lm.sizes.find((s) => s.name === ctx.plan.lm.main)!;
}

function sweepSpecs(ctx: EvalContext): Array<{ variant: Variant; lr: number; spec: RunSpec }> {
  const size = mainSize(ctx);
  const out: Array<{ variant: Variant; lr: number; spec: RunSpec }> = [];
  for (const lr of ctx.plan.lm.lrs)
    for (const variant of VARIANT_ORDER)
      for (let seed = 1; seed <= ctx.plan.lm.sweepSeeds; seed++)
        out.push({
          variant,
          lr,
          spec: armSpec(ARMS[variant], 'lm', size, seed, lmTraining(ctx.plan, size, lr), ctx.plan.vocab),
        });
  return out;
}

interface Sweep {
  runs: Array<{ variant: Variant; lr: number; record: RunRecord | undefined }>;
  best?: Record<Variant, number>;
}

async function sweep(ctx: EvalContext): Promise<Sweep> {
  const data = lmData(ctx);
  const runs: Sweep['runs'] = [];
  for (const s of sweepSpecs(ctx))
    runs.push({ variant: s.variant, lr: s.lr, record: await ctx.run(s.spec, data) });
  if (!complete(runs.map((r) => r.record))) return { runs };
  const lossAt = (v: Variant, lr: number) =>
    mean(runs.filter((r) => r.variant === v && r.lr === lr).map((r) => r.record!.finalValLoss));
  const best = Object.fromEntries(
    VARIANT_ORDER.map((v) => [v, ctx.plan.lm.lrs.reduce((a, b) => (lossAt(v, b) < lossAt(v, a) ? b : a))]),
  ) as Record<Variant, number>;
  return { runs, best };
}

/** Each variant's best swept learning rate; undefined until the sweep is cached. */
export async function bestLrs(ctx: EvalContext): Promise<Record<Variant, number> | undefined> {
  const key = 'best-lrs';
  const found = ctx.once<{ value?: Record<Variant, number> }>(key, () => ({}));
  if (!found.value) found.value = (await sweep(ctx)).best;
  return found.value;
}

export async function runLr(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('lr');
  const s = await sweep(ctx);
  const title = 'Learning-rate sweep';
  const records = complete(s.runs.map((r) => r.record));
  const cached = s.runs.filter((r) => r.record).length;
  if (!records || !s.best) return pendingResult('lr', title, [], cached, s.runs.length);
  writeRuns(dir, records);
  const size = mainSize(ctx);
  const lrs = ctx.plan.lm.lrs;
  const losses = (v: Variant, lr: number) =>
    s.runs.filter((r) => r.variant === v && r.lr === lr).map((r) => r.record!.finalValLoss);
  const best = s.best;
  const rows = lrs.map((lr) => [
    String(lr),
    ...VARIANT_ORDER.map((v) => `${ci(losses(v, lr), 4)}${best[v] === lr ? ' **best**' : ''}`),
  ]);
  const edge = VARIANT_ORDER.filter((v) => best[v] === lrs[0] || best[v] === lrs[lrs.length - 1]);
  await writeChart(
    join(dir, 'loss-vs-lr'),
    VARIANT_ORDER.map((v) => ({ name: LABELS[v], points: lrs.map((lr) => band(lr, losses(v, lr))) })),
    {
      title: `Final validation loss vs peak learning rate (size ${size.name}, 95% intervals over seeds)`,
      xLabel: 'peak learning rate',
      yLabel: 'validation loss (nats/token)',
      logX: true,
    },
  );
  const training = lmTraining(ctx.plan, size, lrs[0]);
  const summary = {
    size,
    lrs,
    best,
    losses: Object.fromEntries(
      VARIANT_ORDER.map((v) => [v, Object.fromEntries(lrs.map((lr) => [lr, losses(v, lr)]))]),
    ),
  };
  writeJson(join(dir, 'results.json'), summary);
  const markdown = [
    `Size ${size.name} (d ${size.d_model}, ${size.n_layers} layers), ${training.steps} steps × ${training.batch} × ${training.seq} tokens, ${ctx.plan.lm.sweepSeeds} seed(s) per rate; final validation loss on ${records[0].valTokens.toLocaleString('en-US')} held-out tokens, mean [95% t interval]. The best rate of each variant (lowest mean) is used for all its later runs: DIFF V1 ${best.diff}, baseline ${best.baseline}, DIFF V2 ${best.diffv2}.`,
    edge.length
      ? `Note: the best rate of ${edge.map((v) => LABELS[v]).join(', ')} is at the edge of the grid, so a better rate may lie outside it.`
      : 'Every best rate is inside the grid.',
    '',
    table(['peak lr', ...VARIANT_ORDER.map((v) => LABELS[v])], rows),
    '',
    '![loss vs learning rate](lr/loss-vs-lr.png)',
  ].join('\n');
  return { name: 'lr', title, markdown, claims: [], data: summary, cached, planned: s.runs.length };
}
