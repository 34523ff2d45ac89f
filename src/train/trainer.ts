/**
 * The training loop: corpus → tokenizer → batches → loss and gradients → clip → AdamW, with
 * evaluation (validation loss, bits per byte), metrics.jsonl, atomic checkpoints and exact resume.
 *
 * A run is a pure function of its settings: the same flags give the same losses, and a run killed at
 * any moment and restarted with `resume` continues from its last checkpoint (weights, AdamW moments,
 * step, data sampler state) to exactly the losses of an uninterrupted run.
 *
 * Nothing poisoned or inconsistent is ever left behind: the run folder is locked (run-folder.ts);
 * weights and AdamW moments are checked finite after every update, before anything is saved; each
 * save writes model.safetensors first and checkpoint.safetensors last (both record the step), and a
 * resume rewrites a model.safetensors that does not match the checkpoint. A resume refuses changed
 * settings, data (by content: size and SHA-256 per file) or tokenizer.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { createBackend } from '../backends/index.ts';
import { countScoredTargets, IGNORE_TARGET } from '../core/backend.ts';
import { Rng } from '../core/rng.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { type FileFingerprint, sha256 } from '../io/checksum.ts';
import { describeNonFinite, findNonFinite } from '../io/finite.ts';
import { saveModelFolder, WEIGHTS_FILE } from '../io/model-folder.ts';
import { readSafetensorsFile } from '../io/safetensors.ts';
import { type ModelConfig, parseConfig, VARIANTS, type Variant } from '../model/config.ts';
import { nonFiniteLambda } from '../model/lambda-check.ts';
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
import { loadCheckpoint, type RunState, saveCheckpoint } from './checkpoint.ts';
import { type Corpus, loadCorpus, splitTokens } from './corpus.ts';
import {
  checkExamples,
  ExampleSampler,
  exampleEvaluationBatches,
  examplesHash,
  type TrainingExample,
} from './examples.ts';
import { corpusFingerprints, dataChange } from './fingerprint.ts';
import { appendMetrics, type MetricsRecord, truncateMetrics } from './metrics.ts';
import { getPreset, type Preset, presetConfig } from './presets.ts';
import { createProgress } from './progress.ts';
import { openRunFolder } from './run-folder.ts';
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
  /** Steps run by this call (0 when resuming a finished run). */
  stepsRun: number;
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
        : ([] as unknown[]), // files: their fingerprints, filled in once the corpus is read
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

/** The training sampler, validation batches and bytes per scored token of text or examples. */
function trainingData(
  o: TrainOptions,
  corpus: Corpus | { text: string } | undefined,
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
  const ids = Int32Array.from(tokenizer.encode(corpus!.text));
  const { train: trainIds, val: valIds } = splitTokens(ids, VALIDATION_FRACTION, seq + 1);
  return {
    createSampler: () => new BatchSampler(trainIds, batch, seq, seed + 1),
    restoreSampler: (state: SamplerState) => BatchSampler.restore(trainIds, batch, seq, state),
    evalSet: evaluationBatches(valIds, batch, seq, MAX_EVAL_BATCHES),
    bytesPerToken: tokenizer.decodeBytes(Array.from(valIds)).length / valIds.length,
  };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const resolved = resolveSettings(o);
  const { settings } = resolved;
  const notice = (message: string) => process.stderr.write(`${message}\n`); // even with quiet
  const folder = openRunFolder(
    o.out,
    o.resume ? 'resume' : 'fresh',
    `train --variant ${settings.variant}`,
    notice,
  );
  try {
    const result = await trainInFolder(o, resolved, notice);
    folder.release();
    return result;
  } catch (error) {
    if (o.resume) folder.release();
    else folder.abandon();
    throw error;
  }
}

async function trainInFolder(
  o: TrainOptions,
  { preset, settings, evalEvery, saveEvery }: ReturnType<typeof resolveSettings>,
  notice: (message: string) => void,
): Promise<TrainResult> {
  const started = Date.now();
  const backend = createBackend(o.backend ?? 'auto');
  const corpus = o.examples ? undefined : o.text !== undefined ? { text: o.text } : loadCorpus(o.data ?? []);
  if (corpus && 'sources' in corpus) settings.data = corpusFingerprints(corpus);
  const ckpt = o.resume ? loadCheckpoint(o.out, backend) : undefined;
  if (ckpt) checkResumable(ckpt.state, settings);

  // Tokenizer: given, saved by the run, or trained (training it again gives the same one).
  const tokenizerPath = join(o.out, TOKENIZER_FILE);
  let tokenizer: Tokenizer;
  if (o.tokenizer) tokenizer = o.tokenizer;
  else if (o.resume && existsSync(tokenizerPath)) tokenizer = Tokenizer.fromFile(tokenizerPath);
  else {
    tokenizer = trainTokenizer(corpus!.text, { vocabSize: settings.vocab });
    if (tokenizer.vocabSize < settings.vocab)
      notice(
        `--vocab ${settings.vocab}: the corpus has no pair left to merge after ${tokenizer.vocabSize} tokens; the vocabulary has ${tokenizer.vocabSize}`,
      );
    writeFileAtomic(join(o.out, 'tokenizer_config.json'), JSON.stringify(HF_TOKENIZER_CONFIG, null, 2));
  }
  const tokenizerJson = JSON.stringify(tokenizer.toJSON());
  const tokenizerPrint: FileFingerprint = {
    bytes: Buffer.byteLength(tokenizerJson),
    sha256: sha256(tokenizerJson),
  };
  const was = ckpt?.state.tokenizer;
  if (was && was.sha256 !== tokenizerPrint.sha256)
    throw new TrainingError(
      `cannot resume: the tokenizer (${tokenizerPath}) changed since the checkpoint: it was ${was.bytes} bytes, sha256 ${was.sha256.slice(0, 12)}…, now ${tokenizerPrint.bytes} bytes, sha256 ${tokenizerPrint.sha256.slice(0, 12)}…`,
    );
  if (o.tokenizer || !existsSync(tokenizerPath)) {
    if (ckpt && !o.tokenizer) notice(`${o.out}: ${TOKENIZER_FILE} was missing: trained it again`);
    writeFileAtomic(tokenizerPath, tokenizerJson);
  }
  const data = trainingData(o, corpus, tokenizer, settings);
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
  if (ckpt) {
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
  const saveModel = (step: number) =>
    saveModelFolder(o.out, model, { step: String(step), variant: model.config.variant });
  if (ckpt) {
    const stale = staleModel(o.out, startStep);
    if (stale) {
      saveModel(startStep);
      notice(`${o.out}: rewrote ${WEIGHTS_FILE} from the checkpoint (step ${startStep}): ${stale}`);
    }
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
  // The model first, the checkpoint last: a crash in between leaves a checkpoint that a resume
  // continues from (rewriting the model), never a checkpoint newer than the model it describes.
  let savedStep = ckpt ? startStep : undefined;
  const save = (step: number) => {
    saveModel(step);
    saveCheckpoint(o.out, model.params, optimiser, {
      step,
      sampler: sampler.state(),
      settings,
      config: model.config,
      tokenizer: tokenizerPrint,
    });
    savedStep = step;
  };
  const diverged = (step: number, why: string) => {
    progress.stop();
    const kept =
      savedStep === undefined
        ? 'no checkpoint was written yet'
        : `the checkpoint of step ${savedStep} in ${o.out} is kept, unchanged`;
    return new TrainingError(`training diverged at step ${step}: ${why}; ${kept} (try a lower --lr)`);
  };

  const label = o.label ?? settings.variant;
  const progress = createProgress(label, startStep, settings.steps, o.quiet);
  const tokensPerStep = settings.batch * settings.seq;
  let trainSeconds = 0;
  let last: MetricsRecord | undefined;
  let lastVal = Number.NaN;
  let gradBuffer: ParameterSet | undefined; // reused every step
  for (let step = startStep + 1; step <= settings.steps; step++) {
    await yieldToEventLoop(); // lets a signal handler run between steps (it releases the lock)
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
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm))
      throw diverged(step, `loss ${loss}, gradient norm ${gradNorm}`);
    const lr = learningRate(schedule, step);
    adamwStep(model.params, grads, optimiser, lr, decayed, ADAMW_DEFAULTS, backend);
    const nonFinite =
      findNonFinite(model.params) ??
      findNonFinite(prefixed('adam_m.', optimiser.m)) ??
      findNonFinite(prefixed('adam_v.', optimiser.v));
    const bad = nonFinite ? describeNonFinite(nonFinite) : nonFiniteLambda(model.config, model.params);
    if (bad)
      throw diverged(
        step,
        `after the update (learning rate ${lr}, loss ${loss}, gradient norm ${gradNorm}) ${bad}`,
      );
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
    stepsRun: ranSteps,
    finalTrainLoss: last?.train_loss ?? Number.NaN,
    finalValLoss: lastVal,
    finalValBpb: lastVal / (Math.LN2 * bytesPerToken),
    tokensPerSecond: ranSteps > 0 ? (ranSteps * tokensPerStep) / trainSeconds : Number.NaN,
    lambdas: last?.lambda,
    backend: backend.name,
    wallSeconds: (Date.now() - started) / 1000,
  };
}

function* prefixed(prefix: string, set: ParameterSet): Iterable<[string, ArrayLike<number>]> {
  for (const [name, values] of set) yield [prefix + name, values];
}

/** A resume must repeat the settings exactly, and train on the same data (compared by content). */
function checkResumable(state: RunState, settings: Record<string, unknown>): void {
  const changed = Object.keys(settings)
    .filter((k) => k !== 'data' && JSON.stringify(state.settings[k]) !== JSON.stringify(settings[k]))
    .map((k) => `${k} was ${JSON.stringify(state.settings[k])}, now ${JSON.stringify(settings[k])}`);
  const data = dataChange(state.settings.data, settings.data as unknown[]);
  if (data) throw new TrainingError(`cannot resume: ${data}`);
  if (changed.length) throw new TrainingError(`cannot resume with different settings: ${changed.join('; ')}`);
}

/** Why model.safetensors does not hold the checkpoint's step (missing, damaged, other step), if it does not. */
function staleModel(dir: string, step: number): string | undefined {
  const path = join(dir, WEIGHTS_FILE);
  if (!existsSync(path)) return `${WEIGHTS_FILE} was missing`;
  let metadata: Record<string, string>;
  try {
    metadata = readSafetensorsFile(path).metadata;
  } catch (error) {
    return `it was unreadable (${(error as Error).message})`;
  }
  if (metadata.step !== String(step)) return `it held step ${metadata.step ?? '(none recorded)'}`;
  return existsSync(join(dir, 'config.json')) ? undefined : 'config.json was missing';
}
