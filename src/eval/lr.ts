/**
 * The learning-rate sweep's section (its runs and best rates: lr-sweep.ts): at the main size, DIFF
 * V1, the baseline and DIFF V2 are each trained at every rate of the plan (`plan.lm.lrs`,
 * `plan.lm.sweepSeeds` seeds each), and each variant's best rate (lowest mean final validation loss)
 * is the rate of all its later runs; arms derived from a variant (the baseline controls, the V1
 * ablations and causes) take that variant's rate. One rate per variant, chosen at one size, is used
 * at every size and on the synthetic tasks.
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { writeChart } from '../report/plot.ts';
import type { EvalContext } from './context.ts';
import type { ExperimentResult } from './experiment.ts';
import { band, ci, table } from './format.ts';
import { mainSize, sweep } from './lr-sweep.ts';
import { lmTraining } from './plan.ts';
import { writeJson, writeRuns } from './results-files.ts';
import { complete, pendingResult } from './section-runs.ts';
import { LABELS, VARIANT_ORDER } from './variant-labels.ts';

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
