/**
 * The training core: one model's run, step by step, with no file access — the CLI's trainer
 * (trainer.ts: run folder, lock, checkpoint and metrics files, progress) and the browser's training
 * worker (web/src/train) both drive this code, so that the same settings give the same batches,
 * the same updates and the same losses in both.
 *
 * A step: the sampler's next batch → loss and gradients → (λ frozen) → clip to GRAD_CLIP → AdamW at the
 * schedule's learning rate → every weight and moment checked finite (else `DivergedError`); every
 * `evalEvery` steps and at the last, the validation loss over fixed batches and bits per byte.
 */
import { type Backend, countScoredTargets } from '../core/backend.ts';
import { Rng } from '../core/rng.ts';
import type { FileFingerprint } from '../io/checksum.ts';
import { describeNonFinite, findNonFinite } from '../io/finite.ts';
import { type ModelConfig, parseConfig, VARIANTS, type Variant } from '../model/config.ts';
import { nonFiniteLambda } from '../model/lambda-check.ts';
import { LanguageModel } from '../model/lm.ts';
import { initParameters, type ParameterSet, parameterShapes, zerosLike } from '../model/parameters.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { ADAMW_DEFAULTS, type AdamWState, adamwStep, clipGradients, isDecayed } from './adamw.ts';
import { BatchSampler, evaluationBatches, type Sampler, type SamplerState } from './batches.ts';
import type { RestoredCheckpoint, RunState } from './checkpoint-content.ts';
import { checkExamples, type TrainingExample } from './examples.ts';
import type { MetricsRecord } from './metrics.ts';
import { getPreset, type Preset, presetConfig } from './presets.ts';
import { defaultWarmup, learningRate } from './schedule.ts';
import { splitTokens } from './token-split.ts';

export const VALIDATION_FRACTION = 0.1;
export const MAX_EVAL_BATCHES = 16;
export const GRAD_CLIP = 1.0;

export class TrainingError extends Error {
  override name = 'TrainingError';
}

/** A step whose loss, gradient or update is not finite; nothing of it was kept. */
export class DivergedError extends Error {
  override name = 'DivergedError';
  constructor(
    readonly step: number,
    readonly why: string,
  ) {
    super(`training diverged at step ${step}: ${why}`);
  }
}

/** The options that decide a run's numbers (the CLI's flags; TrainOptions adds where files go). */
export interface RunOptions {
  variant: Variant;
  /** A preset name, or a Preset object (experiments use their own sizes). */
  preset: string | Preset;
  steps?: number;
  batch?: number;
  seq?: number;
  lr?: number;
  seed?: number;
  vocab?: number;
  evalEvery?: number;
  saveEvery?: number;
  /** A ready tokenizer instead of training one (recorded by its vocabulary size). */
  tokenizer?: Tokenizer;
  /** Config fields that replace the preset's (e.g. the ablations subln, lambda_init). */
  modelOverrides?: Partial<ModelConfig>;
  /** Keep DIFF V1's λ vectors at their initial values (ablation "λ frozen"). */
  freezeLambda?: boolean;
  /** Warm-up steps of the learning-rate schedule (default 10% of the steps, at most 200). */
  warmupSteps?: number;
  /** Supervised examples instead of running text (needs `tokenizer`; see examples.ts). */
  examples?: { train: TrainingExample[]; val: TrainingExample[] };
}

export type RunSettings = ReturnType<typeof resolveSettings>['settings'];

/**
 * The settings that decide the numbers (a resume must repeat them exactly), checked; `data` names the
 * training data (fingerprints of files, or the hash of a text or of examples).
 */
export function resolveSettings(o: RunOptions, data: unknown[]) {
  if (!VARIANTS.includes(o.variant))
    throw new TrainingError(`--variant must be one of ${VARIANTS.join(', ')}, found "${o.variant}"`);
  const preset = typeof o.preset === 'string' ? getPreset(o.preset) : o.preset;
  const d = preset.training;
  if (o.examples && !o.tokenizer)
    throw new TrainingError('training on examples needs the tokenizer they were encoded with');
  const settings = {
    variant: o.variant,
    preset: preset.name,
    data,
    steps: o.steps ?? d.steps,
    batch: o.batch ?? d.batch,
    seq: o.seq ?? d.seq,
    lr: o.lr ?? d.lr,
    seed: o.seed ?? 1,
    vocab: o.tokenizer?.vocabSize ?? o.vocab ?? preset.vocab,
    overrides: o.modelOverrides ?? {},
    freezeLambda: o.freezeLambda ?? false,
    // only when set, so that checkpoints written before this option still resume
    ...(o.warmupSteps !== undefined && { warmupSteps: o.warmupSteps }),
  };
  if (
    settings.warmupSteps !== undefined &&
    !(Number.isSafeInteger(settings.warmupSteps) && settings.warmupSteps >= 1)
  )
    throw new TrainingError(`warmupSteps must be a positive integer, found ${settings.warmupSteps}`);
  const counts = {
    ...settings,
    'eval-every': o.evalEvery ?? d.evalEvery,
    'save-every': o.saveEvery ?? d.saveEvery,
  };
  for (const key of ['steps', 'batch', 'seq', 'seed', 'eval-every', 'save-every'] as const) {
    const v = counts[key];
    if (!Number.isSafeInteger(v) || v < (key === 'seed' ? 0 : 1))
      throw new TrainingError(
        `--${key} must be a ${key === 'seed' ? 'non-negative' : 'positive'} integer, found ${v}`,
      );
  }
  if (o.examples && o.tokenizer) {
    // before anything is written: bad examples must not leave a half-made output folder behind
    try {
      checkExamples(o.examples.train, settings.seq, o.tokenizer.vocabSize, 'training examples');
      checkExamples(o.examples.val, settings.seq, o.tokenizer.vocabSize, 'validation examples');
    } catch (e) {
      throw new TrainingError((e as Error).message);
    }
  }
  if (!(settings.lr > 0 && Number.isFinite(settings.lr)))
    throw new TrainingError(`--lr must be a positive number, found ${settings.lr}`);
  if (!Number.isSafeInteger(settings.vocab) || settings.vocab < 257)
    throw new TrainingError(
      `--vocab must be an integer ≥ 257 (256 bytes + end-of-text), found ${settings.vocab}`,
    );
  return { preset, settings, evalEvery: counts['eval-every'], saveEvery: counts['save-every'] };
}

/** Where a run's batches come from: a fresh or restored sampler, fixed validation batches, bytes per token. */
export interface TrainingData {
  createSampler(): Sampler;
  restoreSampler(state: SamplerState): Sampler;
  /** Fixed validation batches; `count` rows of each are real, the rest padding. */
  evalSet: Array<{ inputs: Int32Array; targets: Int32Array; count: number }>;
  /** UTF-8 bytes per scored validation token (for bits per byte). */
  bytesPerToken: number;
}

/** Running text: encoded, split (the last VALIDATION_FRACTION is validation), random windows. */
export function textTrainingData(
  text: string,
  tokenizer: Tokenizer,
  { batch, seq, seed }: { batch: number; seq: number; seed: number },
): TrainingData {
  const ids = Int32Array.from(tokenizer.encode(text));
  const { train: trainIds, val: valIds } = splitTokens(ids, VALIDATION_FRACTION, seq + 1);
  return {
    createSampler: () => new BatchSampler(trainIds, batch, seq, seed + 1),
    restoreSampler: (state) => BatchSampler.restore(trainIds, batch, seq, state),
    evalSet: evaluationBatches(valIds, batch, seq, MAX_EVAL_BATCHES),
    bytesPerToken: tokenizer.decodeBytes(Array.from(valIds)).length / valIds.length,
  };
}

export interface SessionInit {
  preset: Preset;
  settings: RunSettings;
  evalEvery: number;
  tokenizer: Tokenizer;
  data: TrainingData;
  backend: Backend;
  /** Continue from this checkpoint (its settings already checked against `settings`). */
  checkpoint?: RestoredCheckpoint;
}

/** One model's training: `next()` runs one step; `step` is the last step done. */
export class TrainingSession {
  readonly model: LanguageModel;
  readonly optimiser: AdamWState;
  readonly sampler: Sampler;
  readonly settings: RunSettings;
  readonly bytesPerToken: number;
  /** The last step done (0 before the first). */
  step: number;
  /** Seconds spent in training steps by this session (evaluation excluded). */
  trainSeconds = 0;
  private readonly evalEvery: number;
  private readonly backend: Backend;
  private readonly decayed: Set<string>;
  private readonly frozen: string[];
  private readonly schedule: Parameters<typeof learningRate>[0];
  private readonly evalSet: Array<{ inputs: Int32Array; targets: Int32Array; count: number; scored: number }>;
  private gradBuffer: ParameterSet | undefined; // reused every step

  constructor(init: SessionInit) {
    const { settings, backend, data, checkpoint } = init;
    this.settings = settings;
    this.backend = backend;
    this.evalEvery = init.evalEvery;
    this.bytesPerToken = data.bytesPerToken;
    if (checkpoint) {
      this.model = new LanguageModel(checkpoint.state.config, checkpoint.params, backend);
      this.optimiser = checkpoint.optimiser;
      this.sampler = data.restoreSampler(checkpoint.state.sampler);
      this.step = checkpoint.state.step;
    } else {
      const config = parseConfig({
        ...presetConfig(init.preset, settings.variant, init.tokenizer.vocabSize),
        ...settings.overrides,
      });
      this.model = new LanguageModel(
        config,
        initParameters(config, backend, new Rng(settings.seed)),
        backend,
      );
      this.optimiser = {
        step: 0,
        m: zerosLike(this.model.params, backend),
        v: zerosLike(this.model.params, backend),
      };
      this.sampler = data.createSampler();
      this.step = 0;
    }
    const shapes = parameterShapes(this.model.config);
    this.decayed = new Set(
      [...shapes].filter(([name, shape]) => isDecayed(name, shape)).map(([name]) => name),
    );
    this.frozen = settings.freezeLambda
      ? [...shapes.keys()].filter((name) => /lambda_[qk][12]$/.test(name))
      : [];
    this.schedule = {
      peak: settings.lr,
      warmupSteps: settings.warmupSteps ?? defaultWarmup(settings.steps),
      totalSteps: settings.steps,
      finalFraction: 0.04,
    };
    const vocab = init.tokenizer.vocabSize;
    this.evalSet = data.evalSet.map((b) => {
      const n = b.count * settings.seq;
      const inputs = b.inputs.subarray(0, n);
      const targets = b.targets.subarray(0, n);
      return { inputs, targets, count: b.count, scored: countScoredTargets(targets, n, vocab) };
    });
  }

  get done(): boolean {
    return this.step >= this.settings.steps;
  }

  /** Validation loss: the mean over every scored target of the fixed validation batches. */
  evaluate(): number {
    let total = 0;
    let scored = 0;
    for (const b of this.evalSet) {
      if (b.scored === 0) continue;
      total += this.model.loss(b.inputs, b.targets, b.count, this.settings.seq) * b.scored;
      scored += b.scored;
    }
    return total / scored;
  }

  /** Bits per byte of a validation loss. */
  bitsPerByte(valLoss: number): number {
    return valLoss / (Math.LN2 * this.bytesPerToken);
  }

  /** Step `step + 1`: the update, then the validation loss when due. Throws DivergedError. */
  next(): MetricsRecord {
    const { settings, model, optimiser, backend } = this;
    const step = this.step + 1;
    const t0 = performance.now();
    const batch = this.sampler.next();
    const { loss, grads, lambdas } = model.lossAndGradients(
      batch.inputs,
      batch.targets,
      settings.batch,
      settings.seq,
      this.gradBuffer,
    );
    this.gradBuffer = grads;
    for (const name of this.frozen) grads.get(name)!.fill(0);
    const gradNorm = clipGradients(grads, GRAD_CLIP, backend);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm))
      throw new DivergedError(step, `loss ${loss}, gradient norm ${gradNorm}`);
    const lr = learningRate(this.schedule, step);
    adamwStep(model.params, grads, optimiser, lr, this.decayed, ADAMW_DEFAULTS, backend);
    const nonFinite =
      findNonFinite(model.params) ??
      findNonFinite(prefixed('adam_m.', optimiser.m)) ??
      findNonFinite(prefixed('adam_v.', optimiser.v));
    const bad = nonFinite ? describeNonFinite(nonFinite) : nonFiniteLambda(model.config, model.params);
    if (bad)
      throw new DivergedError(
        step,
        `after the update (learning rate ${lr}, loss ${loss}, gradient norm ${gradNorm}) ${bad}`,
      );
    const seconds = (performance.now() - t0) / 1000;
    this.trainSeconds += seconds;
    this.step = step;
    const record: MetricsRecord = {
      step,
      train_loss: loss,
      lr,
      tokens_per_s: (settings.batch * settings.seq) / seconds,
      grad_norm: gradNorm,
    };
    if (lambdas) record.lambda = lambdas;
    if (step % this.evalEvery === 0 || step === settings.steps) {
      record.val_loss = this.evaluate();
      record.val_bpb = this.bitsPerByte(record.val_loss);
    }
    return record;
  }

  /** Where the run stands, for a checkpoint (checkpoint-content.ts). */
  runState(tokenizer: FileFingerprint): RunState {
    return {
      step: this.step,
      sampler: this.sampler.state(),
      settings: this.settings,
      config: this.model.config,
      tokenizer,
    };
  }
}

function* prefixed(prefix: string, set: ParameterSet): Iterable<[string, ArrayLike<number>]> {
  for (const [name, values] of set) yield [prefix + name, values];
}
