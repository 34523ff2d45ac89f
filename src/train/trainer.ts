/**
 * The training loop: corpus → tokenizer → batches → loss and gradients → clip → AdamW, with
 * evaluation (validation loss, bits per byte), metrics.jsonl, atomic checkpoints and exact resume.
 *
 * A run is a pure function of its settings: the same flags give the same losses, and a run killed at
 * any moment and restarted with `resume` continues from its last checkpoint (weights, AdamW moments,
 * step, data sampler state) to exactly the losses of an uninterrupted run.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../backends/index.ts';
import { countScoredTargets, IGNORE_TARGET } from '../core/backend.ts';
import { Rng } from '../core/rng.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { saveModelFolder } from '../io/model-folder.ts';
import { type ModelConfig, parseConfig, VARIANTS, type Variant } from '../model/config.ts';
import { LanguageModel } from '../model/lm.ts';
import {
  countParameters,
  initParameters,
  type ParameterSet,
  parameterShapes,
  zerosLike,
} from '../model/parameters.ts';
import { HF_TOKENIZER_CONFIG, Tokenizer, trainTokenizer } from '../tokenizer/index.ts';
import { ADAMW_DEFAULTS, type AdamWState, adamwStep, clipGradients, isDecayed } from './adamw.ts';
import { BatchSampler, evaluationBatches, type Sampler, type SamplerState } from './batches.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { loadCorpus, splitTokens } from './corpus.ts';
import {
  checkExamples,
  ExampleSampler,
  exampleEvaluationBatches,
  examplesHash,
  type TrainingExample,
} from './examples.ts';
import { appendMetrics, type MetricsRecord, truncateMetrics } from './metrics.ts';
import { getPreset, type Preset, presetConfig } from './presets.ts';
import { createProgress } from './progress.ts';
import { defaultWarmup, learningRate } from './schedule.ts';

export const TOKENIZER_FILE = 'tokenizer.json';
const VALIDATION_FRACTION = 0.1;
const MAX_EVAL_BATCHES = 16;
const GRAD_CLIP = 1.0;

export interface TrainOptions {
  variant: Variant;
  /** A preset name, or a Preset object (experiments use their own sizes). */
  preset: string | Preset;
  out: string;
  data?: string[];
  steps?: number;
  batch?: number;
  seq?: number;
  lr?: number;
  seed?: number;
  vocab?: number;
  evalEvery?: number;
  saveEvery?: number;
  resume?: boolean;
  backend?: string;
  /** No progress output (library use, tests). */
  quiet?: boolean;
  /** Label for progress lines (compare uses the variant name). */
  label?: string;
  /** Library use: train on this text instead of files (recorded in the settings by its hash). */
  text?: string;
  /** Library use: a ready tokenizer instead of training one (recorded by its vocabulary size). */
  tokenizer?: Tokenizer;
  /** Library use: config fields that replace the preset's (e.g. the ablations subln, lambda_init). */
  modelOverrides?: Partial<ModelConfig>;
  /** Keep DIFF V1's λ vectors at their initial values (ablation "λ frozen"). */
  freezeLambda?: boolean;
  /** Library use: warm-up steps of the learning-rate schedule (default 10% of the steps, at most 200). */
  warmupSteps?: number;
  /**
   * Library use: train on supervised examples instead of running text (needs `tokenizer`): one
   * example per batch row, only its scored targets count (see examples.ts). Validation loss and bits
   * per byte are then over the validation examples' scored targets.
   */
  examples?: { train: TrainingExample[]; val: TrainingExample[] };
}

export interface TrainResult {
  out: string;
  config: ModelConfig;
  parameters: number;
  steps: number;
  finalTrainLoss: number;
  finalValLoss: number;
  finalValBpb: number;
  tokensPerSecond: number;
  lambdas?: number[];
  backend: string;
  wallSeconds: number;
}

export class TrainingError extends Error {
  override name = 'TrainingError';
}

/** Settings that decide the numbers; a resume must repeat them exactly. */
function resolveSettings(o: TrainOptions) {
  if (!VARIANTS.includes(o.variant))
    throw new TrainingError(`--variant must be one of ${VARIANTS.join(', ')}, found "${o.variant}"`);
  const preset = typeof o.preset === 'string' ? getPreset(o.preset) : o.preset;
  const d = preset.training;
  if (o.examples && !o.tokenizer)
    throw new TrainingError('training on examples needs the tokenizer they were encoded with');
  const settings = {
    variant: o.variant,
    preset: preset.name,
    data: o.examples
      ? [`examples sha256:${examplesHash(o.examples)}`]
      : o.text !== undefined
        ? [`text sha256:${createHash('sha256').update(o.text).digest('hex')}`]
        : (o.data ?? []),
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
  for (const key of ['steps', 'batch', 'seq', 'seed'] as const) {
    const v = settings[key];
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
  return { preset, settings };
}

/** The training sampler, validation batches and bytes per scored token of text or examples. */
function trainingData(
  o: TrainOptions,
  tokenizer: Tokenizer,
  settings: { batch: number; seq: number; seed: number },
) {
  const { batch, seq, seed } = settings;
  if (o.examples) {
    const { train: trainSet, val } = o.examples; // checked by resolveSettings
    const scored = val.flatMap((e) => [...e.targets].filter((t) => t !== IGNORE_TARGET));
    return {
      createSampler: () => new ExampleSampler(trainSet, batch, seq, seed + 1),
      restoreSampler: (state: SamplerState) => ExampleSampler.restore(trainSet, batch, seq, state),
      evalSet: exampleEvaluationBatches(val, batch, seq, MAX_EVAL_BATCHES),
      bytesPerToken: tokenizer.decodeBytes(scored).length / scored.length,
    };
  }
  const corpus = o.text !== undefined ? { text: o.text } : loadCorpus(o.data ?? []);
  const ids = Int32Array.from(tokenizer.encode(corpus.text));
  const { train: trainIds, val: valIds } = splitTokens(ids, VALIDATION_FRACTION, seq + 1);
  return {
    createSampler: () => new BatchSampler(trainIds, batch, seq, seed + 1),
    restoreSampler: (state: SamplerState) => BatchSampler.restore(trainIds, batch, seq, state),
    evalSet: evaluationBatches(valIds, batch, seq, MAX_EVAL_BATCHES),
    bytesPerToken: tokenizer.decodeBytes(Array.from(valIds)).length / valIds.length,
  };
}

function prepareOutputFolder(out: string, resume: boolean): void {
  if (resume) {
    if (!hasCheckpoint(out))
      throw new TrainingError(`cannot resume: ${out} holds no checkpoint (start without --resume)`);
    return;
  }
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new TrainingError(
      `${out} is not empty: pass --resume to continue the run there, or choose another --out`,
    );
  }
  mkdirSync(out, { recursive: true });
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const started = Date.now();
  const { preset, settings } = resolveSettings(o);
  const evalEvery = o.evalEvery ?? preset.training.evalEvery;
  const saveEvery = o.saveEvery ?? preset.training.saveEvery;
  prepareOutputFolder(o.out, o.resume ?? false);
  const backend = createBackend(o.backend ?? 'auto');

  // Data and tokenizer (a resumed run reuses the saved tokenizer; training it again gives the same one).
  const tokenizerPath = join(o.out, TOKENIZER_FILE);
  let tokenizer: Tokenizer;
  if (o.tokenizer) {
    tokenizer = o.tokenizer;
    writeFileAtomic(tokenizerPath, JSON.stringify(tokenizer.toJSON()));
  } else if (o.resume && existsSync(tokenizerPath)) tokenizer = Tokenizer.fromFile(tokenizerPath);
  else {
    const corpus = o.text !== undefined ? { text: o.text } : loadCorpus(o.data ?? []);
    tokenizer = trainTokenizer(corpus.text, { vocabSize: settings.vocab });
    writeFileAtomic(tokenizerPath, JSON.stringify(tokenizer.toJSON()));
    writeFileAtomic(join(o.out, 'tokenizer_config.json'), JSON.stringify(HF_TOKENIZER_CONFIG, null, 2));
  }
  const data = trainingData(o, tokenizer, settings);
  const { bytesPerToken } = data;

  // Model, optimiser and sampler: fresh or from the checkpoint.
  const config = parseConfig({
    ...presetConfig(preset, settings.variant, tokenizer.vocabSize),
    ...settings.overrides,
  });
  let model: LanguageModel;
  let optimiser: AdamWState;
  let sampler: Sampler;
  let startStep = 0;
  if (o.resume) {
    const ckpt = loadCheckpoint(o.out, backend);
    const changed = Object.keys(settings).filter(
      (k) => JSON.stringify(ckpt.state.settings[k]) !== JSON.stringify(settings[k as keyof typeof settings]),
    );
    if (changed.length) {
      throw new TrainingError(
        `cannot resume with different settings: ${changed.map((k) => `${k} was ${JSON.stringify(ckpt.state.settings[k])}, now ${JSON.stringify(settings[k as keyof typeof settings])}`).join('; ')}`,
      );
    }
    model = new LanguageModel(ckpt.state.config, ckpt.params, backend);
    optimiser = ckpt.optimiser;
    sampler = data.restoreSampler(ckpt.state.sampler);
    startStep = ckpt.state.step;
    truncateMetrics(o.out, startStep);
  } else {
    model = new LanguageModel(config, initParameters(config, backend, new Rng(settings.seed)), backend);
    optimiser = { step: 0, m: zerosLike(model.params, backend), v: zerosLike(model.params, backend) };
    sampler = data.createSampler();
  }
  const shapes = parameterShapes(model.config);
  const decayed = new Set(
    [...shapes].filter(([name, shape]) => isDecayed(name, shape)).map(([name]) => name),
  );
  const frozen = settings.freezeLambda
    ? [...shapes.keys()].filter((name) => /lambda_[qk][12]$/.test(name))
    : [];
  const schedule = {
    peak: settings.lr,
    warmupSteps: settings.warmupSteps ?? defaultWarmup(settings.steps),
    totalSteps: settings.steps,
    finalFraction: 0.04,
  };
  // Validation loss: the mean over every scored target of the fixed validation batches.
  const evalSet = data.evalSet.map((b) => {
    const n = b.count * settings.seq;
    const inputs = b.inputs.subarray(0, n);
    const targets = b.targets.subarray(0, n);
    return { inputs, targets, count: b.count, scored: countScoredTargets(targets, n, tokenizer.vocabSize) };
  });
  const evaluate = (): number => {
    let total = 0;
    let scored = 0;
    for (const b of evalSet) {
      if (b.scored === 0) continue;
      total += model.loss(b.inputs, b.targets, b.count, settings.seq) * b.scored;
      scored += b.scored;
    }
    return total / scored;
  };
  const save = (step: number) => {
    saveCheckpoint(o.out, model.params, optimiser, {
      step,
      sampler: sampler.state(),
      settings,
      config: model.config,
    });
    saveModelFolder(o.out, model, { step: String(step), variant: model.config.variant });
  };

  const label = o.label ?? settings.variant;
  const progress = createProgress(label, startStep, settings.steps, o.quiet);
  const tokensPerStep = settings.batch * settings.seq;
  let trainSeconds = 0;
  let last: MetricsRecord | undefined;
  let lastVal = Number.NaN;
  let gradBuffer: ParameterSet | undefined; // reused every step
  for (let step = startStep + 1; step <= settings.steps; step++) {
    const t0 = performance.now();
    const batch = sampler.next();
    const { loss, grads, lambdas } = model.lossAndGradients(
      batch.inputs,
      batch.targets,
      settings.batch,
      settings.seq,
      gradBuffer,
    );
    gradBuffer = grads;
    for (const name of frozen) grads.get(name)!.fill(0);
    const gradNorm = clipGradients(grads, GRAD_CLIP, backend);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      progress.stop();
      const kept = hasCheckpoint(o.out)
        ? `the last good checkpoint in ${o.out} is kept`
        : 'no checkpoint was written yet';
      throw new TrainingError(
        `training diverged at step ${step}: loss ${loss}, gradient norm ${gradNorm}; ${kept} (try a lower --lr)`,
      );
    }
    const lr = learningRate(schedule, step);
    adamwStep(model.params, grads, optimiser, lr, decayed, ADAMW_DEFAULTS, backend);
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;

    const record: MetricsRecord = {
      step,
      train_loss: loss,
      lr,
      tokens_per_s: tokensPerStep / seconds,
      grad_norm: gradNorm,
    };
    if (lambdas) record.lambda = lambdas;
    if (step % evalEvery === 0 || step === settings.steps) {
      lastVal = evaluate();
      record.val_loss = lastVal;
      record.val_bpb = lastVal / (Math.LN2 * bytesPerToken);
    }
    appendMetrics(o.out, record);
    last = record;
    progress.update(step, { loss, tokensPerSecond: record.tokens_per_s, valLoss: record.val_loss });
    if (step % saveEvery === 0 || step === settings.steps) save(step);
  }
  progress.stop();
  if (!last) {
    // Resumed a finished run: report from the saved state.
    lastVal = evaluate();
  }
  const ranSteps = settings.steps - startStep;
  return {
    out: o.out,
    config: model.config,
    parameters: countParameters(model.config).total,
    steps: settings.steps,
    finalTrainLoss: last?.train_loss ?? Number.NaN,
    finalValLoss: lastVal,
    finalValBpb: lastVal / (Math.LN2 * bytesPerToken),
    tokensPerSecond: ranSteps > 0 ? (ranSteps * tokensPerStep) / trainSeconds : Number.NaN,
    lambdas: last?.lambda,
    backend: backend.name,
    wallSeconds: (Date.now() - started) / 1000,
  };
}
