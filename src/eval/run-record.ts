/**
 * The cached result of one training run (`OUT/results/ID.json`): config, seed, commit, backend, wall
 * time, the final validation loss, the validation curve, λ over training and every probe result an
 * experiment asked for.
 */
import type { ModelConfig } from '../model/config.ts';
import type { LanguageModel } from '../model/lm.ts';
import type { RunSpec } from './run-spec.ts';

export interface LambdaTrace {
  steps: number[];
  /** [point][layer]: DIFF V1 the layer's λ, DIFF V2 the batch mean of sigmoid λ. */
  values: number[][];
  /** Per layer, over every step. */
  min: number[];
  final: number[];
}

export interface RunRecord {
  id: string;
  spec: RunSpec;
  label: string;
  config: ModelConfig;
  parameters: number;
  nonEmbeddingParameters: number;
  /** LM runs: mean loss over `valTokens` held-out tokens; task runs: the trainer's validation loss. */
  finalValLoss: number;
  valTokens: number;
  /** The trainer's validation loss during training (its small fixed validation set). */
  curve: Array<{ tokens: number; loss: number }>;
  lambda?: LambdaTrace;
  tokensPerSecond: number;
  backend: string;
  wallSeconds: number;
  commit: string;
  probes: Record<string, unknown>;
}

/** A computation on a trained model whose result is cached in the run's record under its name. */
export type Probe = (model: LanguageModel, record: RunRecord) => unknown;
