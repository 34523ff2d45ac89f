/**
 * What defines a training run of the experiments (its hash names the run in the cache) and what its
 * model trains on; `armSpec` builds the spec of one arm of the plan.
 */
import type { ModelConfig, Variant } from '../model/config.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { TrainingExample } from '../train/examples.ts';
import type { Arm, Size, TrainingPlan } from './plan.ts';

/** What defines a training run; its hash names the run. */
export interface RunSpec {
  task: 'lm' | 'needle' | 'icl' | 'hallucination';
  size: Size;
  variant: Variant;
  seed: number;
  training: TrainingPlan;
  /** The arm (ARMS key) for anything but the plain variant. */
  tag?: string;
  overrides?: Partial<ModelConfig>;
  freezeLambda?: boolean;
  warmup?: number;
}

/** What a task's models train on: running text, or supervised examples (answer-only loss). */
export interface TaskData {
  tokenizer: Tokenizer;
  text?: string;
  examples?: { train: TrainingExample[]; val: TrainingExample[] };
}

/** The spec of one arm's run. */
export function armSpec(
  arm: Arm,
  task: RunSpec['task'],
  size: Size,
  seed: number,
  training: TrainingPlan,
  vocab: number,
): RunSpec {
  const spec: RunSpec = { task, size, variant: arm.variant, seed, training };
  if (arm.key !== arm.variant) spec.tag = arm.key;
  const overrides = arm.overrides?.(size, vocab);
  if (overrides) spec.overrides = overrides;
  if (arm.freezeLambda) spec.freezeLambda = true;
  if (arm.warmup) spec.warmup = arm.warmup(training.steps);
  return spec;
}
