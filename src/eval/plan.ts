/**
 * The experiment plan: model sizes, token budgets, the learning-rate sweep, the seeds, task sizes
 * (full and quick mode), and the "arms" — every model variant the experiments compare (the three
 * variants, the baselines that control for DIFF's head geometry and V2's extra parameters, the
 * paper's ablations and the candidate causes of V1's gap) with how each derives from a size.
 */
import { type ModelConfig, matchedConfig, type Variant } from '../model/config.ts';
import { countParameters } from '../model/parameters.ts';
import { defaultWarmup } from '../train/schedule.ts';

/** A model size: the baseline's geometry (DIFF V1/V2 are derived from it, parameter-matched). */
export interface Size {
  name: string;
  d_model: number;
  n_layers: number;
  n_heads: number;
  head_dim: number;
  ffn_hidden: number;
}

export interface TrainingPlan {
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  evalEvery: number;
}

export interface Plan {
  vocab: number;
  /** Named corpus (src/train/corpora.ts) of the language models and the tasks' filler text. */
  corpus: string;
  /** Characters of the corpus used (quick mode uses a prefix). */
  corpusChars: number;
  /** Held-out tokens of the final validation loss of every language model. */
  valTokens: number;
  seeds: number;
  lm: {
    sizes: Size[];
    /** The size of the learning-rate sweep, the headline comparison, ablations and causes. */
    main: string;
    batch: number;
    seq: number;
    /** Training tokens per non-embedding parameter of the baseline. */
    tokensPerParam: number;
    minSteps: number;
    lrs: number[];
    sweepSeeds: number;
  };
  needle: {
    size: Size;
    /**
     * One fixed peak rate for every variant: the language models' best swept rates (0.008–0.016) leave
     * the needle task unlearned (DIFF V1 at 0.008: answer loss at chance, N = 1 accuracy 3–9% against
     * a copy baseline of 100%). At 3e-3 (DIFF V1, seed 1, this plan): answer loss 0.71 (chance 1.50),
     * N = 1 1.00, N = 2 0.49, N = 4 0.16, N = 6 0.07 — copying is learned, choosing the asked needle not yet.
     */
    training: TrainingPlan;
    trainExamples: number;
    valExamples: number;
    lengths: number[];
    configs: Array<[n: number, r: number]>;
    depths: number[];
    perCell: number;
    digits: number;
  };
  icl: {
    size: Size;
    /** One fixed peak rate for every variant (answer-only supervised task, as the needle task). */
    training: TrainingPlan;
    trainExamples: number;
    valExamples: number;
    context: number;
    shots: number[];
    episodes: number;
    orderings: number;
  };
  /** The contextual-hallucination task (hallucination.ts); lr is each variant's best rate from the sweep. */
  hallucination: {
    size: Size;
    training: Omit<TrainingPlan, 'lr'>;
    trainExamples: number;
    valExamples: number;
    /** Context lengths of the evaluation (training: uniform over their range). */
    lengths: number[];
    facts: number;
    /** Questions per training context (evaluation items ask one; training lengths grow by the extra questions). */
    questions: number;
    shares: { present: number; absent: number; nearMiss: number };
    /** Evaluation items per length, and of them those probed for attention (present and near-miss). */
    perLength: number;
    probePerLength: number;
    digits: number;
  };
  outliers: { sequences: number; seq: number };
  quant: { bits: number[]; valBatches: number; needlePerCell: number };
}

export const size = (name: string, d: number, layers: number, heads: number, headDim: number): Size => ({
  name,
  d_model: d,
  n_layers: layers,
  n_heads: heads,
  head_dim: headDim,
  ffn_hidden: Math.round((8 / 3) * d),
});

export const PLANS: Record<'full' | 'quick', Plan> = {
  full: {
    vocab: 512,
    corpus: 'sotu',
    corpusChars: Number.POSITIVE_INFINITY,
    valTokens: 204_800,
    seeds: 5,
    lm: {
      // baseline heads of width 8 everywhere: DIFF V1 has 2–4 heads of 16 (4 at the two largest sizes)
      sizes: [
        size('s1', 32, 1, 4, 8),
        size('s2', 32, 2, 4, 8),
        size('s3', 48, 2, 6, 8),
        size('s4', 64, 2, 8, 8),
        size('s5', 64, 4, 8, 8),
      ],
      main: 's4',
      batch: 16,
      seq: 128,
      tokensPerParam: 20,
      minSteps: 50,
      lrs: [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2],
      sweepSeeds: 2,
    },
    needle: {
      size: size('s4', 64, 2, 8, 8),
      training: { steps: 3000, batch: 8, seq: 192, lr: 3e-3, evalEvery: 250 },
      trainExamples: 20_000,
      valExamples: 256,
      lengths: [64, 96, 128],
      configs: [
        [1, 1],
        [2, 2],
        [4, 2],
        [6, 2],
      ],
      depths: [0, 25, 50, 75, 100],
      perCell: 16,
      digits: 2,
    },
    icl: {
      size: size('s4', 64, 2, 8, 8),
      training: { steps: 2000, batch: 8, seq: 128, lr: 3e-3, evalEvery: 250 },
      trainExamples: 20_000,
      valExamples: 256,
      context: 128,
      shots: [1, 2, 4, 8, 12],
      episodes: 96,
      orderings: 4,
    },
    hallucination: {
      size: size('s4', 64, 2, 8, 8),
      training: { steps: 1400, batch: 8, seq: 176, evalEvery: 200 },
      trainExamples: 12_000,
      valExamples: 256,
      lengths: [40, 72, 104],
      facts: 3,
      questions: 6,
      shares: { present: 2, absent: 1, nearMiss: 1 },
      perLength: 96,
      probePerLength: 16,
      digits: 2,
    },
    outliers: { sequences: 64, seq: 128 },
    quant: { bits: [16, 8, 6, 4], valBatches: 16, needlePerCell: 8 },
  },
  quick: {
    vocab: 320,
    corpus: 'moby-dick',
    corpusChars: 200_000,
    valTokens: 2048,
    seeds: 1,
    lm: {
      sizes: [size('q1', 16, 1, 2, 8), size('q2', 16, 2, 2, 8), size('q3', 32, 1, 4, 8)],
      main: 'q2',
      batch: 4,
      seq: 32,
      tokensPerParam: 0.1,
      minSteps: 6,
      lrs: [3e-3, 1e-2],
      sweepSeeds: 1,
    },
    needle: {
      size: size('q', 32, 1, 4, 8),
      training: { steps: 12, batch: 4, seq: 96, lr: 5e-3, evalEvery: 6 },
      trainExamples: 200,
      valExamples: 16,
      lengths: [40, 64],
      configs: [
        [1, 1],
        [2, 2],
      ],
      depths: [0, 50, 100],
      perCell: 2,
      digits: 2,
    },
    icl: {
      size: size('q', 32, 1, 4, 8),
      training: { steps: 12, batch: 4, seq: 96, lr: 5e-3, evalEvery: 6 },
      trainExamples: 200,
      valExamples: 16,
      context: 96,
      shots: [1, 2, 4],
      episodes: 8,
      orderings: 2,
    },
    hallucination: {
      size: size('q', 32, 1, 4, 8),
      training: { steps: 12, batch: 4, seq: 96, evalEvery: 6 },
      trainExamples: 200,
      valExamples: 16,
      lengths: [48, 80],
      facts: 2,
      questions: 3,
      shares: { present: 2, absent: 1, nearMiss: 1 },
      perLength: 8,
      probePerLength: 2,
      digits: 2,
    },
    outliers: { sequences: 2, seq: 32 },
    quant: { bits: [8, 4], valBatches: 2, needlePerCell: 1 },
  },
};

/** The baseline config of a size (vocabulary `vocab`). */
export function baselineConfig(s: Size, vocab: number): ModelConfig {
  // key order as before (variant, vocab_size, geometry): run hashes are over the serialised config
  const { variant, ...geometry } = baselineGeometry(s);
  return { variant, vocab_size: vocab, ...geometry };
}

/** The baseline config of a size without its vocabulary (a preset's baseline). */
export function baselineGeometry(s: Size): Omit<ModelConfig, 'vocab_size'> {
  return {
    variant: 'baseline',
    d_model: s.d_model,
    n_layers: s.n_layers,
    ffn_hidden: s.ffn_hidden,
    n_heads: s.n_heads,
    n_kv_heads: s.n_heads,
    head_dim: s.head_dim,
    rope_theta: 10000,
    norm_eps: 1e-5,
    subln_eps: 1e-5,
    tie_embeddings: false,
  };
}

export function nonEmbeddingParameters(c: ModelConfig): number {
  const n = countParameters(c);
  return n.total - n.byGroup.embedding - n.byGroup.head;
}

/** Steps of a language model of this size: tokensPerParam × its baseline's non-embedding parameters. */
export function lmSteps(plan: Plan, s: Size): number {
  const n = nonEmbeddingParameters(baselineConfig(s, plan.vocab));
  return Math.max(plan.lm.minSteps, Math.ceil((plan.lm.tokensPerParam * n) / (plan.lm.batch * plan.lm.seq)));
}

export function lmTraining(plan: Plan, s: Size, lr: number): TrainingPlan {
  const steps = lmSteps(plan, s);
  return {
    steps,
    batch: plan.lm.batch,
    seq: plan.lm.seq,
    lr,
    evalEvery: Math.max(1, Math.round(steps / 10)),
  };
}

/** One model the experiments compare: a variant plus what is changed, and whose learning rate it takes. */
export interface Arm {
  key: string;
  label: string;
  variant: Variant;
  /** The variant whose best swept learning rate this arm trains with. */
  lrOf: Variant;
  overrides?: (s: Size, vocab: number) => Partial<ModelConfig>;
  freezeLambda?: boolean;
  warmup?: (steps: number) => number;
}

/** FFN width that gives a baseline the non-embedding parameters of the size's DIFF V2. */
export function v2MatchedFfn(s: Size, vocab: number): number {
  const base = baselineConfig(s, vocab);
  const extra = nonEmbeddingParameters(matchedConfig(base, 'diffv2')) - nonEmbeddingParameters(base);
  return s.ffn_hidden + Math.round(extra / (3 * s.d_model * s.n_layers));
}

export const ARMS: Record<string, Arm> = {
  diff: { key: 'diff', label: 'DIFF V1', variant: 'diff', lrOf: 'diff' },
  baseline: { key: 'baseline', label: 'Baseline', variant: 'baseline', lrOf: 'baseline' },
  diffv2: { key: 'diffv2', label: 'DIFF V2', variant: 'diffv2', lrOf: 'diffv2' },
  halfheads: {
    key: 'halfheads',
    label: 'Baseline, half the heads × 2 width',
    variant: 'baseline',
    lrOf: 'baseline',
    overrides: (s) => ({ n_heads: s.n_heads / 2, n_kv_heads: s.n_heads / 2, head_dim: 2 * s.head_dim }),
  },
  v2ctl: {
    key: 'v2ctl',
    label: "Baseline with DIFF V2's parameters (wider FFN)",
    variant: 'baseline',
    lrOf: 'baseline',
    overrides: (s, vocab) => ({ ffn_hidden: v2MatchedFfn(s, vocab) }),
  },
  nonorm: {
    key: 'nonorm',
    label: 'DIFF V1 w/o per-head norm',
    variant: 'diff',
    lrOf: 'diff',
    overrides: () => ({ subln: false }),
  },
  init08: {
    key: 'init08',
    label: 'DIFF V1, λ_init = 0.8',
    variant: 'diff',
    lrOf: 'diff',
    overrides: () => ({ lambda_init: 0.8 }),
  },
  init05: {
    key: 'init05',
    label: 'DIFF V1, λ_init = 0.5',
    variant: 'diff',
    lrOf: 'diff',
    overrides: () => ({ lambda_init: 0.5 }),
  },
  frozen: {
    key: 'frozen',
    label: 'DIFF V1, λ frozen at λ_init',
    variant: 'diff',
    lrOf: 'diff',
    freezeLambda: true,
  },
  quiet: {
    key: 'quiet',
    label: 'DIFF V1, per-head norm weight initialised to 0.05',
    variant: 'diff',
    lrOf: 'diff',
    overrides: () => ({ subln_init: 0.05 }),
  },
  heads2x: {
    key: 'heads2x',
    label: 'DIFF V1 with twice the heads (half the width)',
    variant: 'diff',
    lrOf: 'diff',
    overrides: (s) => ({ n_heads: s.n_heads, n_kv_heads: s.n_heads, head_dim: s.head_dim / 2 }),
  },
  warmup3x: {
    key: 'warmup3x',
    label: 'DIFF V1, 3× longer warm-up',
    variant: 'diff',
    lrOf: 'diff',
    warmup: (steps) => Math.min(steps, 3 * defaultWarmup(steps)),
  },
};

export const HEADLINE_ARMS = ['diff', 'baseline', 'diffv2', 'halfheads', 'v2ctl'] as const;
export const ABLATION_ARMS = ['nonorm', 'init08', 'init05'] as const;
export const CAUSE_ARMS = ['quiet', 'frozen', 'heads2x', 'warmup3x'] as const;
