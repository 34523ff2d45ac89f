/**
 * Training one run of the experiments: its model is trained into its folder (an interrupted run's
 * folder is started again), and its record is built from the trainer's result and metrics: the
 * validation curve, λ over training and, for language models, the final validation loss on the
 * held-out tokens.
 */
import { rmSync } from 'node:fs';
import type { Backend } from '../core/backend.ts';
import { loadModelFolder } from '../io/model-folder.ts';
import type { LanguageModel } from '../model/lm.ts';
import { readMetrics } from '../train/metrics.ts';
import type { Preset } from '../train/presets.ts';
import { train } from '../train/trainer.ts';
import { baselineGeometry, nonEmbeddingParameters as nonEmbedding } from './plan.ts';
import type { LambdaTrace, RunRecord } from './run-record.ts';
import type { RunSpec, TaskData } from './run-spec.ts';
import { LABELS } from './variant-labels.ts';

/** Final validation of language models at sequence length `seq`: held-out batches (data.ts). */
export type LmFinalValidation = (seq: number) => { loss: (m: LanguageModel) => number; tokens: number };

export interface TrainRunOptions {
  id: string;
  spec: RunSpec;
  data: TaskData;
  /** The run's model folder. */
  dir: string;
  backend: Backend;
  commit: string;
  log: (line: string) => void;
  lmFinalValidation?: LmFinalValidation;
}

/** The kept model of a run, with the ablation fields it was trained with. */
export function loadRunModel(dir: string, record: RunRecord, backend: Backend): LanguageModel {
  const model = loadModelFolder(dir, backend);
  // config.json keeps the standard fields only; restore the ablation fields the run was trained with.
  Object.assign(model.config, record.config);
  return model;
}

/** Trains the run of `spec` into `dir` and returns its record (not written: the cache does that). */
export async function trainRun(o: TrainRunOptions): Promise<RunRecord> {
  const { id, spec, data, dir } = o;
  rmSync(dir, { recursive: true, force: true }); // an interrupted run: start it again
  const label = `${spec.task}/${spec.size.name}/${LABELS[spec.variant]}${spec.tag ? ` ${spec.tag}` : ''} lr ${spec.training.lr} seed ${spec.seed}`;
  o.log(`  training ${label} (${spec.training.steps} steps)`);
  const r = await train({
    variant: spec.variant,
    preset: presetOf(spec, data.tokenizer.vocabSize),
    out: dir,
    text: data.text,
    examples: data.examples,
    tokenizer: data.tokenizer,
    seed: spec.seed,
    backend: o.backend.name,
    quiet: true,
    modelOverrides: spec.overrides,
    freezeLambda: spec.freezeLambda,
    warmupSteps: spec.warmup,
  });
  const metrics = readMetrics(dir);
  const tokensPerStep = spec.training.batch * spec.training.seq;
  const record: RunRecord = {
    id,
    spec,
    label,
    config: r.config,
    parameters: r.parameters,
    nonEmbeddingParameters: nonEmbedding(r.config),
    finalValLoss: r.finalValLoss,
    valTokens: 0,
    curve: metrics
      .filter((m) => m.val_loss !== undefined)
      .map((m) => ({ tokens: m.step * tokensPerStep, loss: m.val_loss! })),
    lambda: lambdaTrace(metrics),
    tokensPerSecond: r.tokensPerSecond,
    backend: r.backend,
    wallSeconds: r.wallSeconds,
    commit: o.commit,
    probes: {},
  };
  if (spec.task === 'lm' && o.lmFinalValidation) {
    const t0 = performance.now();
    const v = o.lmFinalValidation(spec.training.seq);
    record.finalValLoss = v.loss(loadRunModel(dir, record, o.backend));
    record.valTokens = v.tokens;
    record.wallSeconds += (performance.now() - t0) / 1000;
  }
  o.log(
    `    val loss ${record.finalValLoss.toFixed(4)}, ${Math.round(r.tokensPerSecond)} tokens/s, ${record.wallSeconds.toFixed(1)} s`,
  );
  return record;
}

/** λ per layer over training from the metrics: at most ~100 points kept, min and final over all steps. */
function lambdaTrace(metrics: ReturnType<typeof readMetrics>): LambdaTrace | undefined {
  const rows = metrics.filter((m) => m.lambda);
  if (!rows.length) return undefined;
  const L = rows[0].lambda!.length;
  const stride = Math.max(1, Math.ceil(rows.length / 100));
  const kept = rows.filter((_, i) => i % stride === 0 || i === rows.length - 1);
  return {
    steps: kept.map((m) => m.step),
    values: kept.map((m) => m.lambda!.map((x) => Number(x.toPrecision(5)))),
    min: Array.from({ length: L }, (_, l) => Math.min(...rows.map((m) => m.lambda![l]))),
    final: rows[rows.length - 1].lambda!,
  };
}

export function presetOf(spec: RunSpec, vocab: number): Preset {
  const s = spec.size;
  return {
    name: `eval-${spec.task}-${s.name}`,
    description: `experiment size ${s.name}`,
    vocab,
    baseline: baselineGeometry(s),
    training: { ...spec.training, saveEvery: spec.training.steps },
  };
}
