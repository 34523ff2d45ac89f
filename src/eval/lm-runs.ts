/**
 * The language-model runs the sections share: every arm × seed at a size, each at its variant's best
 * swept rate, the three variants' main-size models with the quantisation and outlier probes.
 */
import { armRuns } from './arm-runs.ts';
import type { EvalContext } from './context.ts';
import { lmData } from './data.ts';
import { lmProbes } from './lm-probes.ts';
import { bestLrs, mainSize } from './lr-sweep.ts';
import { lmTraining, type Size } from './plan.ts';
import type { Probe } from './run-record.ts';
import type { ProducedRuns } from './section-runs.ts';

/** Language-model runs of `arms` × seeds at `size` at the best rates; undefined entries are not cached. */
export async function lmArmRuns(
  ctx: EvalContext,
  arms: readonly string[],
  size: Size,
  probes: Record<string, Probe> = {},
): Promise<ProducedRuns<string>> {
  const lrs = await bestLrs(ctx);
  if (!lrs) return { runs: new Map(), planned: arms.length * ctx.seeds.length, lrsKnown: false };
  return armRuns(ctx, {
    task: 'lm',
    size,
    arms,
    data: lmData(ctx),
    training: (arm) => lmTraining(ctx.plan, size, lrs[arm.lrOf]),
    // the three variants' main-size models also carry the quantisation and outlier probes
    probes: (arm) =>
      arm.key === arm.variant && size.name === ctx.plan.lm.main ? { ...lmProbes(ctx), ...probes } : probes,
  });
}

/** The three variants' main-size language models (with their probes). */
export async function mainLmRuns(ctx: EvalContext) {
  return lmArmRuns(ctx, ['diff', 'baseline', 'diffv2'], mainSize(ctx));
}
