/**
 * The experiments' probe: the model's own forward (LanguageModel.forward) with inspection hooks, for
 * what its ordinary forward does not expose — the pre-softmax attention logits (collected, or
 * quantised with absmax), and the residual stream after every layer. A `logits` hook makes the model
 * run its inspectable float64 attention (src/model/inspected-attention.ts) in place of the backend's
 * op, so the probe's numbers do not depend on the backend's attention kernel.
 *
 * The tests check that its logits equal `LanguageModel.forward` and that its loss without
 * quantisation equals `LanguageModel.loss`.
 */
import type { Backend, Floats } from '../core/backend.ts';
import type { ModelConfig } from '../model/config.ts';
import { LanguageModel } from '../model/lm.ts';
import type { ParameterSet } from '../model/parameters.ts';
import { quantizeInPlace } from './quantize.ts';

export interface ProbeOptions {
  /** Quantise every head's logit matrix (one sequence, causal entries) with absmax to this many bits. */
  logitBits?: number;
  /** Collect |attention logits| (every causal entry of every query head, V1: both maps). */
  collectLogits?: boolean;
  /** Collect the residual stream after every layer. */
  collectHidden?: boolean;
}

export interface ProbeResult {
  /** [B·T, V] */
  logits: Floats;
  /** Per layer: |q·kᵀ/√d| of every causal entry, every query head (before quantisation). */
  attentionLogits?: Float32Array[];
  /** Per layer: the residual stream after the layer [B·T, D]. */
  hidden?: Float32Array[];
}

/** The model parameters and config the probe needs (a LanguageModel has them). */
export interface ProbeModel {
  config: ModelConfig;
  params: ParameterSet;
  backend: Backend;
}

export function probeForward(
  model: ProbeModel,
  tokens: Int32Array,
  batch: number,
  seq: number,
  options: ProbeOptions = {},
): ProbeResult {
  if (tokens.length !== batch * seq)
    throw new RangeError(`expected ${batch}×${seq} tokens, found ${tokens.length}`);
  const lm =
    model instanceof LanguageModel ? model : new LanguageModel(model.config, model.params, model.backend);
  const attentionLogits: Float32Array[] = [];
  const hidden: Float32Array[] = [];
  const bits = options.logitBits;
  let collected: { layer: number; values: number[] } | undefined;
  const { logits } = lm.forward(tokens, batch, seq, {
    inspect: {
      logits(layer, s) {
        if (options.collectLogits) {
          if (collected?.layer !== layer) {
            if (collected) attentionLogits.push(Float32Array.from(collected.values));
            collected = { layer, values: [] };
          }
          for (let i = 0; i < s.length; i++) collected.values.push(Math.abs(s[i]));
        }
        if (bits !== undefined && bits < 32) quantizeInPlace(s, bits);
      },
      hidden: options.collectHidden ? (_layer, x) => hidden.push(Float32Array.from(x)) : undefined,
    },
  });
  if (collected) attentionLogits.push(Float32Array.from(collected.values));
  return {
    logits,
    attentionLogits: options.collectLogits ? attentionLogits : undefined,
    hidden: options.collectHidden ? hidden : undefined,
  };
}

/** Mean next-token cross-entropy of the probe's forward (with its options, e.g. quantised logits). */
export function probeLoss(
  model: ProbeModel,
  inputs: Int32Array,
  targets: Int32Array,
  batch: number,
  seq: number,
  options: ProbeOptions = {},
): number {
  const { logits } = probeForward(model, inputs, batch, seq, options);
  return model.backend.crossEntropy(logits, targets, batch * seq, model.config.vocab_size).loss;
}
