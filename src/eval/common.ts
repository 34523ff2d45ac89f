/**
 * Shared machinery of the experiments (`diff-transformer eval NAME`, `diff-transformer report`): the
 * session context, a cache of training runs and the verdict rules.
 *
 * The run cache: a run is a pure function of its spec (size, variant, arm, seed, training, data,
 * backend), named by a hash of it. Its result — config, seed, commit, backend, wall time, metrics,
 * the final validation loss on `plan.valTokens` held-out tokens, the validation curve, λ over
 * training and every probe result an experiment asked for — is one small JSON file
 * `OUT/results/ID.json`, committed with the report; the model weights stay in `OUT/models/ID/`
 * (not committed) for probes asked for later. So a report can be built over several sittings, from
 * whatever runs are cached, and a rerun with the same seeds reproduces it.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../backends/index.ts';
import type { Backend } from '../core/backend.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { CONFIG_FILE } from '../io/folder-files.ts';
import { loadModelFolder } from '../io/model-folder.ts';
import type { ModelConfig, Variant } from '../model/config.ts';
import type { LanguageModel } from '../model/lm.ts';
import { VARIANTS, variantLabel } from '../model/variants/index.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { examplesHash, type TrainingExample } from '../train/examples.ts';
import { readMetrics } from '../train/metrics.ts';
import type { Preset } from '../train/presets.ts';
import { train } from '../train/trainer.ts';
import {
  type Arm,
  baselineGeometry,
  nonEmbeddingParameters as nonEmbedding,
  PLANS,
  type Plan,
  type Size,
  type TrainingPlan,
} from './plan.ts';
import { formatInterval, type Interval, meanInterval, welch } from './stats.ts';

export const EXPERIMENTS = [
  'lr',
  'headline',
  'ablations',
  'retrieval',
  'attention',
  'quantisation',
  'outliers',
  'scaling',
  'icl',
  'causes',
  'hallucination',
  'lambda',
] as const;
export type ExperimentName = (typeof EXPERIMENTS)[number];

export const VARIANT_ORDER: readonly Variant[] = VARIANTS;
export const LABELS = Object.fromEntries(VARIANTS.map((v) => [v, variantLabel(v)])) as Record<
  Variant,
  string
>;

export interface EvalSettings {
  /** Output folder (default reports/full or reports/quick). */
  out: string;
  quick: boolean;
  /** Seeds per configuration (default: the plan's, 5 in full mode and 1 in quick mode). */
  seeds: number;
  backend: string;
  /** Train the runs that are not cached (false: build the report from the cache only). */
  train: boolean;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

/** Everything an experiment returns for the report. */
export interface ExperimentResult {
  name: ExperimentName;
  title: string;
  /** Markdown body: tables and plots, image links relative to the report folder (`NAME/file.png`). */
  markdown: string;
  claims: Claim[];
  /** Summary numbers, written to NAME/results.json. */
  data: unknown;
  /** Runs cached / runs the section needs. */
  cached: number;
  planned: number;
}

export type Verdict = 'matches' | 'does not match' | 'inconclusive' | 'equivalent' | 'pending';

export interface Claim {
  claim: string;
  paper: string;
  ours: string;
  verdict: Verdict;
  /** Two-sided p-value of the test behind the verdict (for Holm's correction across claims). */
  p?: number;
}

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

/** What a task's models train on: running text, or supervised examples (answer-only loss). */
export interface TaskData {
  tokenizer: Tokenizer;
  text?: string;
  examples?: { train: TrainingExample[]; val: TrainingExample[] };
}

export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .slice(0, 40);
  } catch {
    return 'unknown';
  }
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

/** One experiment session: settings, the run cache, the task data (built once, shared). */
export class EvalContext {
  readonly plan: Plan;
  readonly commit = gitCommit();
  readonly backend: Backend;
  /** Final validation of language models: held-out batches, set by data.ts. */
  lmFinalValidation?: (seq: number) => { loss: (m: LanguageModel) => number; tokens: number };
  private readonly data = new Map<string, TaskData>();
  private readonly memo = new Map<string, unknown>();

  constructor(readonly settings: EvalSettings) {
    this.plan = settings.quick ? PLANS.quick : PLANS.full;
    this.backend = createBackend(settings.backend);
    mkdirSync(join(settings.out, 'results'), { recursive: true });
  }

  get seeds(): number[] {
    return Array.from({ length: this.settings.seeds }, (_, i) => i + 1);
  }

  log(line: string): void {
    this.settings.log?.(line);
  }

  /** The folder of an experiment's outputs. */
  dir(name: ExperimentName): string {
    const dir = join(this.settings.out, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Task data by name, built once per session. */
  taskData<T extends TaskData>(name: RunSpec['task'], build: () => T): T {
    let found = this.data.get(name);
    if (!found) {
      found = build();
      this.data.set(name, found);
    }
    return found as T;
  }

  /** Any value computed once per session (e.g. evaluation sets). */
  once<T>(key: string, build: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, build());
    return this.memo.get(key) as T;
  }

  /** The run's id: readable prefix and a hash of everything that decides its numbers. */
  runId(spec: RunSpec, data: TaskData): string {
    const key = JSON.stringify({ spec, backend: this.backend.name, quick: this.settings.quick });
    const hash = createHash('sha256').update(key).update(this.dataHash(data)).digest('hex').slice(0, 10);
    const tag = spec.tag ? `-${spec.tag}` : '';
    const lr = `-lr${spec.training.lr}`;
    return `${spec.task}-${spec.size.name}-${spec.variant}${tag}${lr}-seed${spec.seed}-${hash}`;
  }

  private dataHash(data: TaskData): string {
    return this.once(`data-hash-${data.text?.length}-${data.examples?.train.length}`, () =>
      createHash('sha256')
        .update(data.text ?? '')
        .update(data.examples ? examplesHash(data.examples) : '')
        .update(JSON.stringify(data.tokenizer.toJSON()))
        .digest('hex'),
    );
  }

  private recordPath(id: string): string {
    return join(this.settings.out, 'results', `${id}.json`);
  }

  private modelDir(id: string): string {
    return join(this.settings.out, 'models', id);
  }

  /** Whether the run is cached with all the named probes. */
  isCached(spec: RunSpec, data: TaskData, probes: readonly string[] = []): boolean {
    const path = this.recordPath(this.runId(spec, data));
    if (!existsSync(path)) return false;
    const r = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    return probes.every((p) => p in r.probes) || existsSync(join(this.modelDir(r.id), CONFIG_FILE));
  }

  /**
   * The run of `spec` with the results of `probes`: from the cache, completed from the kept model
   * where a probe is missing, or trained (when training is on). Undefined when it is not cached and
   * cannot be made in this session.
   */
  async run(
    spec: RunSpec,
    data: TaskData,
    probes: Record<string, Probe> = {},
  ): Promise<RunRecord | undefined> {
    const id = this.runId(spec, data);
    const path = this.recordPath(id);
    const dir = this.modelDir(id);
    let record: RunRecord | undefined;
    if (existsSync(path)) record = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    const missing = (r: RunRecord) => Object.keys(probes).filter((p) => !(p in r.probes));
    const hasModel = existsSync(join(dir, CONFIG_FILE));
    if (record && missing(record).length && !hasModel) {
      if (!this.settings.train) return undefined;
      record = undefined; // the weights are gone: retrain (deterministic) to compute the new probes
    }
    if (!record) {
      if (!this.settings.train) return undefined;
      record = await this.trainRun(id, spec, data);
    }
    const todo = missing(record);
    if (todo.length) {
      const model = this.loadModel(id, record);
      for (const name of todo) record.probes[name] = probes[name](model, record);
      writeFileAtomic(path, `${JSON.stringify(record)}\n`);
    }
    return record;
  }

  /** Runs of many specs (in order); undefined entries are not cached. */
  async runs(
    specs: RunSpec[],
    data: TaskData,
    probes: Record<string, Probe> = {},
  ): Promise<Array<RunRecord | undefined>> {
    const out: Array<RunRecord | undefined> = [];
    for (const spec of specs) out.push(await this.run(spec, data, probes));
    return out;
  }

  /** Every cached record in the output folder (for λ across all experiments). */
  allRecords(): RunRecord[] {
    const dir = join(this.settings.out, 'results');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunRecord);
  }

  private loadModel(id: string, record: RunRecord): LanguageModel {
    const model = loadModelFolder(this.modelDir(id), this.backend);
    // config.json keeps the standard fields only; restore the ablation fields the run was trained with.
    Object.assign(model.config, record.config);
    return model;
  }

  private async trainRun(id: string, spec: RunSpec, data: TaskData): Promise<RunRecord> {
    const dir = this.modelDir(id);
    rmSync(dir, { recursive: true, force: true }); // an interrupted run: start it again
    const label = `${spec.task}/${spec.size.name}/${LABELS[spec.variant]}${spec.tag ? ` ${spec.tag}` : ''} lr ${spec.training.lr} seed ${spec.seed}`;
    this.log(`  training ${label} (${spec.training.steps} steps)`);
    const r = await train({
      variant: spec.variant,
      preset: presetOf(spec, data.tokenizer.vocabSize),
      out: dir,
      text: data.text,
      examples: data.examples,
      tokenizer: data.tokenizer,
      seed: spec.seed,
      backend: this.backend.name,
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
      commit: this.commit,
      probes: {},
    };
    if (spec.task === 'lm' && this.lmFinalValidation) {
      const t0 = performance.now();
      const v = this.lmFinalValidation(spec.training.seq);
      record.finalValLoss = v.loss(this.loadModel(id, record));
      record.valTokens = v.tokens;
      record.wallSeconds += (performance.now() - t0) / 1000;
    }
    this.log(
      `    val loss ${record.finalValLoss.toFixed(4)}, ${Math.round(r.tokensPerSecond)} tokens/s, ${record.wallSeconds.toFixed(1)} s`,
    );
    writeFileAtomic(this.recordPath(id), `${JSON.stringify(record)}\n`);
    return record;
  }
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

// ---------------------------------------------------------------- pending sections

/** Records when all are present, else undefined. */
export function complete(records: Array<RunRecord | undefined>): RunRecord[] | undefined {
  return records.every((r) => r !== undefined) ? (records as RunRecord[]) : undefined;
}

/** The result of a section whose runs are not all cached: no numbers read as verdicts. */
export function pendingResult(
  name: ExperimentName,
  title: string,
  claims: Array<Pick<Claim, 'claim' | 'paper'>>,
  cached: number,
  planned: number,
  why = '',
): ExperimentResult {
  const line = `pending: ${cached} of ${planned} runs cached${why ? ` (${why})` : ''}`;
  return {
    name,
    title,
    markdown: `**${line}.** No verdict is given until every run of this section is cached; resume with \`diff-transformer report\`.`,
    claims: claims.map((c) => ({ ...c, ours: line, verdict: 'pending' })),
    data: { pending: true, cached, planned },
    cached,
    planned,
  };
}

// ---------------------------------------------------------------- verdicts and formatting

/**
 * The verdict of a difference whose paper direction has sign `paperSign` (e.g. loss DIFF − baseline:
 * −1): "matches" when the 95% interval excludes zero on the paper's side, "does not match" when it
 * excludes zero on the other side, else "inconclusive".
 */
export function directional(i: Interval, paperSign: 1 | -1): Verdict {
  if (!Number.isFinite(i.lo) || !Number.isFinite(i.hi)) return 'inconclusive';
  if (paperSign * i.lo > 0 && paperSign * i.hi > 0) return 'matches';
  if (paperSign * i.lo < 0 && paperSign * i.hi < 0) return 'does not match';
  return 'inconclusive';
}

/** "mean [lo, hi]" of the 95% t interval over seeds (just the mean for one value). */
export function ci(xs: readonly number[], digits = 3): string {
  if (!xs.length || !xs.every(Number.isFinite)) return '–';
  const i = meanInterval(xs);
  return xs.length > 1 ? formatInterval(i, digits) : i.estimate.toFixed(digits);
}

/** "Δ [lo, hi]" of mean(a) − mean(b) (Welch 95%). */
export function diffCi(a: readonly number[], b: readonly number[], digits = 3): string {
  return formatInterval(welch(a, b), digits);
}

export const fmt = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

/** A markdown table. */
export function table(header: string[], rows: Array<Array<string | number>>, align?: string[]): string {
  const sep = header.map((_, i) => align?.[i] ?? (i === 0 ? '---' : '---:'));
  return [
    `| ${header.join(' | ')} |`,
    `| ${sep.join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(String).join(' | ')} |`),
  ].join('\n');
}

/** Write JSON (atomically). */
export function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** The ids of the runs an experiment used (their records are under results/). */
export function writeRuns(dir: string, runs: Iterable<RunRecord>): void {
  writeJson(
    join(dir, 'runs.json'),
    [...runs].map((r) => r.id),
  );
}

/** 95% t-interval points (mean, lo, hi) for a chart. */
export function band(x: number, ys: readonly number[]): { x: number; y: number; lo?: number; hi?: number } {
  const i = meanInterval(ys);
  return Number.isFinite(i.lo) ? { x, y: i.estimate, lo: i.lo, hi: i.hi } : { x, y: i.estimate };
}
