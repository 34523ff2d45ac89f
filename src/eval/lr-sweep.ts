/**
 * The learning-rate sweep's runs and its outcome: at the main size, DIFF V1, the baseline and DIFF V2
 * are each trained at every rate of the plan (`plan.lm.lrs`, `plan.lm.sweepSeeds` seeds each), and
 * each variant's best rate (lowest mean final validation loss) is the rate of all its later runs.
 * The section that shows the sweep: lr.ts.
 */
import type { Variant } from '../model/config.ts';
import type { EvalContext } from './context.ts';
import { lmData } from './data.ts';
import { ARMS, lmTraining, type Size } from './plan.ts';
import type { RunRecord } from './run-record.ts';
import { armSpec, type RunSpec } from './run-spec.ts';
import { complete } from './section-runs.ts';
import { mean } from './stats.ts';
import { VARIANT_ORDER } from './variant-labels.ts';

/** The main size of the language models (the sweep's, the headline's and the ablations'). */
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

export interface Sweep {
  runs: Array<{ variant: Variant; lr: number; record: RunRecord | undefined }>;
  best?: Record<Variant, number>;
}

/** The sweep's runs (undefined records: not cached) and, once all are cached, each variant's best rate. */
export async function sweep(ctx: EvalContext): Promise<Sweep> {
  const data = lmData(ctx);
  const runs: Sweep['runs'] = [];
  for (const s of sweepSpecs(ctx))
    runs.push({ variant: s.variant, lr: s.lr, record: await ctx.cache.run(s.spec, data) });
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
