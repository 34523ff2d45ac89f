/**
 * The runs of arms × seeds of one task at one size, looked up in (or added to) the run cache: the
 * loop that every run producer shares (lm-runs.ts, needle-runs.ts, icl-runs.ts, hallucination-runs.ts).
 */
import type { EvalContext } from './context.ts';
import { ARMS, type Arm, type Size, type TrainingPlan } from './plan.ts';
import type { Probe, RunRecord } from './run-record.ts';
import { armSpec, type RunSpec, type TaskData } from './run-spec.ts';
import type { ProducedRuns } from './section-runs.ts';

export interface ArmRunsPlan<K extends string> {
  task: RunSpec['task'];
  size: Size;
  /** ARMS keys, in order. */
  arms: readonly K[];
  data: TaskData;
  /** The training of an arm's runs (its learning rate among them). */
  training: (arm: Arm) => TrainingPlan;
  /** The probes an arm's runs carry. */
  probes: (arm: Arm) => Record<string, Probe>;
}

/** Every arm's runs, one per seed of the session; undefined entries are not cached. */
export async function armRuns<K extends string>(
  ctx: EvalContext,
  plan: ArmRunsPlan<K>,
): Promise<ProducedRuns<K>> {
  const runs = new Map<K, Array<RunRecord | undefined>>();
  for (const key of plan.arms) {
    const arm = ARMS[key];
    const training = plan.training(arm);
    const specs = ctx.seeds.map((seed) => armSpec(arm, plan.task, plan.size, seed, training, ctx.plan.vocab));
    runs.set(key, await ctx.cache.runs(specs, plan.data, plan.probes(arm)));
  }
  return { runs, planned: plan.arms.length * ctx.seeds.length, lrsKnown: true };
}
