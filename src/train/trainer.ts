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
import { IGNORE_TARGET } from '../core/backend.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { type FileFingerprint, sha256 } from '../io/checksum.ts';
import { TOKENIZER_FILE } from '../io/folder-files.ts';
import { CONFIG_FILE, saveModelFolder, WEIGHTS_FILE } from '../io/model-folder.ts';
import { readSafetensorsFile } from '../io/safetensors.ts';
import type { ModelConfig } from '../model/config.ts';
import { countParameters } from '../model/parameters.ts';
import { HF_TOKENIZER_CONFIG, Tokenizer, trainTokenizer } from '../tokenizer/index.ts';
import { loadCheckpoint, type RunState, saveCheckpoint } from './checkpoint.ts';
import { loadCorpus } from './corpus.ts';
import { ExampleSampler, exampleEvaluationBatches, examplesHash } from './examples.ts';
import { corpusFingerprints, dataChange } from './fingerprint.ts';
import { appendMetrics, type MetricsRecord, truncateMetrics } from './metrics.ts';
import { createProgress } from './progress.ts';
import { openRunFolder } from './run-folder.ts';
import {
  DivergedError,
  MAX_EVAL_BATCHES,
  type RunOptions,
  resolveSettings,
  type TrainingData,
  TrainingError,
  TrainingSession,
  textTrainingData,
} from './session.ts';

export { TOKENIZER_FILE } from '../io/folder-files.ts';
export { TrainingError } from './session.ts';

export interface TrainOptions extends RunOptions {
  out: string;
  data?: string[];
  resume?: boolean;
  backend?: string;
  /** No progress output (library use, tests). */
  quiet?: boolean;
  /** Label for progress lines (compare uses the variant name). */
  label?: string;
  /** Library use: train on this text instead of files (recorded in the settings by its hash). */
  text?: string;
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

/** What the data is recorded as in the settings before the corpus is read (files: filled in then). */
function dataSettings(o: TrainOptions): unknown[] {
  if (o.examples) return [`examples sha256:${examplesHash(o.examples)}`];
  if (o.text !== undefined) return [`text sha256:${createHash('sha256').update(o.text).digest('hex')}`];
  return [];
}

/** Supervised examples: one per batch row, only the scored targets count (see examples.ts). */
function exampleTrainingData(
  examples: NonNullable<TrainOptions['examples']>,
  tokenizer: Tokenizer,
  { batch, seq, seed }: { batch: number; seq: number; seed: number },
): TrainingData {
  const { train: trainSet, val } = examples; // checked by resolveSettings
  const scored = val.flatMap((e) => [...e.targets].filter((t) => t !== IGNORE_TARGET));
  return {
    createSampler: () => new ExampleSampler(trainSet, batch, seq, seed + 1),
    restoreSampler: (state) => ExampleSampler.restore(trainSet, batch, seq, state),
    evalSet: exampleEvaluationBatches(val, batch, seq, MAX_EVAL_BATCHES),
    bytesPerToken: tokenizer.decodeBytes(scored).length / scored.length,
  };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const resolved = resolveSettings(o, dataSettings(o));
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
  const data = o.examples
    ? exampleTrainingData(o.examples, tokenizer, settings)
    : textTrainingData(corpus!.text, tokenizer, settings);

  // Model, optimiser and sampler: fresh or from the checkpoint (session.ts).
  const session = new TrainingSession({
    preset,
    settings,
    evalEvery,
    tokenizer,
    data,
    backend,
    checkpoint: ckpt,
  });
  const { model, optimiser } = session;
  const startStep = session.step;
  if (ckpt) truncateMetrics(o.out, startStep);
  const saveModel = (step: number) =>
    saveModelFolder(o.out, model, { step: String(step), variant: model.config.variant });
  if (ckpt) {
    const stale = staleModel(o.out, startStep);
    if (stale) {
      saveModel(startStep);
      notice(`${o.out}: rewrote ${WEIGHTS_FILE} from the checkpoint (step ${startStep}): ${stale}`);
    }
  }
  // The model first, the checkpoint last: a crash in between leaves a checkpoint that a resume
  // continues from (rewriting the model), never a checkpoint newer than the model it describes.
  let savedStep = ckpt ? startStep : undefined;
  const save = (step: number) => {
    saveModel(step);
    saveCheckpoint(o.out, model.params, optimiser, session.runState(tokenizerPrint));
    savedStep = step;
  };
  const diverged = (error: DivergedError) => {
    progress.stop();
    const kept =
      savedStep === undefined
        ? 'no checkpoint was written yet'
        : `the checkpoint of step ${savedStep} in ${o.out} is kept, unchanged`;
    return new TrainingError(`${error.message}; ${kept} (try a lower --lr)`);
  };

  const label = o.label ?? settings.variant;
  const progress = createProgress(label, startStep, settings.steps, o.quiet);
  const tokensPerStep = settings.batch * settings.seq;
  let last: MetricsRecord | undefined;
  let lastVal = Number.NaN;
  while (!session.done) {
    await yieldToEventLoop(); // lets a signal handler run between steps (it releases the lock)
    let record: MetricsRecord;
    try {
      record = session.next();
    } catch (error) {
      throw error instanceof DivergedError ? diverged(error) : error;
    }
    const { step } = record;
    if (record.val_loss !== undefined) lastVal = record.val_loss;
    appendMetrics(o.out, record);
    last = record;
    progress.update(step, {
      loss: record.train_loss,
      tokensPerSecond: record.tokens_per_s,
      valLoss: record.val_loss,
    });
    if (step % saveEvery === 0 || step === settings.steps) save(step);
  }
  progress.stop();
  if (!last) {
    // Resumed a finished run: report from the saved state.
    lastVal = session.evaluate();
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
    finalValBpb: session.bitsPerByte(lastVal),
    tokensPerSecond: ranSteps > 0 ? (ranSteps * tokensPerStep) / session.trainSeconds : Number.NaN,
    lambdas: last?.lambda,
    backend: backend.name,
    wallSeconds: (Date.now() - started) / 1000,
  };
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
  return existsSync(join(dir, CONFIG_FILE)) ? undefined : `${CONFIG_FILE} was missing`;
}
