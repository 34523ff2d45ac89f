/**
 * Named model sizes with training defaults. Each preset is a baseline config; the DIFF V1 and V2
 * models are derived from it by `matchedConfig` (SPEC §1, §2), so they are parameter-matched by
 * construction: V1 has half the heads and 6·head_dim more parameters per layer.
 */
import { type ModelConfig, matchedConfig, type Variant } from '../model/config.ts';

export interface TrainingDefaults {
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  evalEvery: number;
  saveEvery: number;
}

export interface Preset {
  name: string;
  description: string;
  /** The baseline model; vocab_size is replaced by the trained tokenizer's size. */
  baseline: Omit<ModelConfig, 'vocab_size'>;
  vocab: number;
  training: TrainingDefaults;
}

const common = {
  variant: 'baseline' as const,
  rope_theta: 10000,
  norm_eps: 1e-5,
  subln_eps: 1e-5,
  tie_embeddings: false,
};

export const PRESETS: Record<string, Preset> = {
  nano: {
    name: 'nano',
    description:
      'd_model 64, 2 layers, 4 baseline heads of 16: learns visibly in a couple of minutes on 2 cores',
    baseline: {
      ...common,
      d_model: 64,
      n_layers: 2,
      ffn_hidden: 172,
      n_heads: 4,
      n_kv_heads: 4,
      head_dim: 16,
    },
    vocab: 512,
    training: { steps: 600, batch: 8, seq: 64, lr: 3e-3, evalEvery: 50, saveEvery: 200 },
  },
  small: {
    name: 'small',
    description: 'd_model 128, 4 layers, 4 baseline heads of 32 (≈0.9M parameters): the benchmark size',
    baseline: {
      ...common,
      d_model: 128,
      n_layers: 4,
      ffn_hidden: 344,
      n_heads: 4,
      n_kv_heads: 4,
      head_dim: 32,
    },
    vocab: 1024,
    training: { steps: 2000, batch: 8, seq: 128, lr: 2e-3, evalEvery: 200, saveEvery: 500 },
  },
  medium: {
    name: 'medium',
    description: 'd_model 256, 6 layers, 8 baseline heads of 32 (≈7M parameters): for longer runs',
    baseline: {
      ...common,
      d_model: 256,
      n_layers: 6,
      ffn_hidden: 688,
      n_heads: 8,
      n_kv_heads: 8,
      head_dim: 32,
    },
    vocab: 4096,
    training: { steps: 5000, batch: 8, seq: 256, lr: 1e-3, evalEvery: 250, saveEvery: 500 },
  },
};

export function getPreset(name: string): Preset {
  const preset = PRESETS[name];
  if (!preset) throw new Error(`unknown preset "${name}" (available: ${Object.keys(PRESETS).join(', ')})`);
  return preset;
}

/** The model config of `variant` for a preset and a vocabulary size. */
export function presetConfig(preset: Preset, variant: Variant, vocabSize: number): ModelConfig {
  return matchedConfig({ ...preset.baseline, vocab_size: vocabSize }, variant);
}
