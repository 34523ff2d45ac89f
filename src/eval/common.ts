/**
 * Shared machinery of the experiments (`diff-transformer eval NAME`, `diff-transformer report`):
 * the plan (model sizes, steps, task sizes for full and quick mode), a cache of training runs (a run
 * is a pure function of its spec, so experiments that need the same model share one run and a rerun
 * reuses it), statistics over seeds, markdown tables, heatmaps and the claim records of the report.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../backends/index.ts';
import type { Backend } from '../core/backend.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { loadModelFolder } from '../io/model-folder.ts';
import type { ModelConfig, Variant } from '../model/config.ts';
import type { LanguageModel } from '../model/lm.ts';
import { countParameters } from '../model/parameters.ts';
import { svgToPng } from '../report/plot.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { examplesHash, type TrainingExample } from '../train/examples.ts';
import type { Preset } from '../train/presets.ts';
import { train } from '../train/trainer.ts';

export const EXPERIMENTS = [
  'scaling',
  'retrieval',
  'attention',
  'outliers',
  'quantisation',
  'ablations',
  'icl',
  'lambda',
] as const;
export type ExperimentName = (typeof EXPERIMENTS)[number];

export const VARIANT_ORDER: readonly Variant[] = ['diff', 'baseline', 'diffv2'];
export const LABELS: Record<Variant, string> = { diff: 'DIFF V1', baseline: 'Baseline', diffv2: 'DIFF V2' };

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
  /** Characters of Moby Dick used (quick mode uses a prefix). */
  corpusChars: number;
  lm: { sizes: Size[]; main: string; deep: string; training: TrainingPlan };
  needle: {
    size: Size;
    training: TrainingPlan;
    /** Training examples (one per batch row, scored on the answers) and validation examples. */
    trainExamples: number;
    valExamples: number;
    /** Example lengths in tokens for evaluation (training draws lengths in [min, max]). */
    lengths: number[];
    configs: Array<[n: number, r: number]>;
    depths: number[];
    perCell: number;
    digits: number;
  };
  icl: {
    size: Size;
    training: TrainingPlan;
    /** Training episodes (one per batch row, scored on the labels) and validation episodes. */
    trainExamples: number;
    valExamples: number;
    /** Tokens of context: the most demonstrations that fit it, and the training sequence length. */
    context: number;
    shots: number[];
    episodes: number;
    orderings: number;
  };
  outliers: { sequences: number; seq: number };
  quant: { bits: number[]; valBatches: number; needlePerCell: number };
}

const size = (name: string, d: number, layers: number, heads: number, headDim: number): Size => ({
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
    corpusChars: Number.POSITIVE_INFINITY,
    lm: {
      sizes: [size('xs', 32, 2, 2, 16), size('s', 64, 2, 4, 16), size('m', 96, 4, 6, 16)],
      main: 's',
      deep: 'm',
      training: { steps: 600, batch: 8, seq: 128, lr: 3e-3, evalEvery: 50 },
    },
    needle: {
      size: size('s', 64, 2, 4, 16),
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
      perCell: 8,
      digits: 2,
    },
    icl: {
      size: size('s', 64, 2, 4, 16),
      training: { steps: 2000, batch: 8, seq: 128, lr: 3e-3, evalEvery: 250 },
      trainExamples: 20_000,
      valExamples: 256,
      context: 128,
      shots: [1, 2, 4, 8, 12],
      episodes: 96,
      orderings: 4,
    },
    outliers: { sequences: 16, seq: 128 },
    quant: { bits: [16, 8, 6, 4], valBatches: 8, needlePerCell: 4 },
  },
  quick: {
    vocab: 320,
    corpusChars: 200_000,
    lm: {
      sizes: [size('xs', 16, 1, 2, 8), size('s', 32, 1, 2, 16), size('m', 32, 2, 2, 16)],
      main: 's',
      deep: 'm',
      training: { steps: 12, batch: 4, seq: 32, lr: 5e-3, evalEvery: 4 },
    },
    needle: {
      size: size('s', 32, 1, 2, 16),
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
      size: size('s', 32, 1, 2, 16),
      training: { steps: 12, batch: 4, seq: 96, lr: 5e-3, evalEvery: 6 },
      trainExamples: 200,
      valExamples: 16,
      context: 96,
      shots: [1, 2, 4],
      episodes: 8,
      orderings: 2,
    },
    outliers: { sequences: 2, seq: 32 },
    quant: { bits: [8, 4], valBatches: 2, needlePerCell: 1 },
  },
};

export interface EvalSettings {
  /** Output folder (default reports/full or reports/quick). */
  out: string;
  quick: boolean;
  /** Seeds per configuration (default 3 in full mode, 1 in quick mode). */
  seeds: number;
  backend: string;
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
}

export type Verdict = 'matches' | 'partly matches' | 'does not match' | 'inconclusive';

export interface Claim {
  claim: string;
  paper: string;
  ours: string;
  verdict: Verdict;
}

/** What defines a training run; its hash names the run's folder in the cache. */
export interface RunSpec {
  task: 'lm' | 'needle' | 'icl';
  size: Size;
  variant: Variant;
  seed: number;
  training: TrainingPlan;
  /** Short name of an ablation (empty for the plain model). */
  tag?: string;
  overrides?: Partial<ModelConfig>;
  freezeLambda?: boolean;
}

export interface RunRecord {
  id: string;
  spec: RunSpec;
  label: string;
  config: ModelConfig;
  parameters: number;
  nonEmbeddingParameters: number;
  finalValLoss: number;
  finalValBpb: number;
  tokensPerSecond: number;
  lambdas?: number[];
  backend: string;
  wallSeconds: number;
  commit: string;
  /** Model folder (config.json, model.safetensors, tokenizer.json, metrics.jsonl). */
  dir: string;
}

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

/** One experiment session: settings, the run cache, the task data (built once, shared). */
export class EvalContext {
  readonly plan: Plan;
  readonly commit = gitCommit();
  readonly backend: Backend;
  private readonly data = new Map<string, TaskData>();
  private readonly memo = new Map<string, unknown>();

  constructor(readonly settings: EvalSettings) {
    this.plan = settings.quick ? PLANS.quick : PLANS.full;
    this.backend = createBackend(settings.backend);
    mkdirSync(settings.out, { recursive: true });
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

  /** Train (or reuse from the cache) the run of `spec` on `data`. */
  async run(spec: RunSpec, data: TaskData): Promise<RunRecord> {
    const key = JSON.stringify({ spec, backend: this.backend.name, quick: this.settings.quick });
    const hash = createHash('sha256').update(key).update(dataHash(data)).digest('hex').slice(0, 10);
    const tag = spec.tag ? `-${spec.tag}` : '';
    const id = `${spec.task}-${spec.size.name}-${spec.variant}${tag}-seed${spec.seed}-${hash}`;
    const dir = join(this.settings.out, 'runs', id);
    const recordPath = join(dir, 'run.json');
    if (existsSync(recordPath)) return JSON.parse(readFileSync(recordPath, 'utf8')) as RunRecord;
    rmSync(dir, { recursive: true, force: true }); // an interrupted run: start it again
    const preset = presetOf(spec, data.tokenizer.vocabSize);
    const label = `${spec.task}/${spec.size.name}/${LABELS[spec.variant]}${tag} seed ${spec.seed}`;
    this.log(`  training ${label} (${spec.training.steps} steps)`);
    const r = await train({
      variant: spec.variant,
      preset,
      out: dir,
      text: data.text,
      examples: data.examples,
      tokenizer: data.tokenizer,
      seed: spec.seed,
      backend: this.backend.name,
      quiet: true,
      modelOverrides: spec.overrides,
      freezeLambda: spec.freezeLambda,
    });
    const counts = countParameters(r.config);
    const record: RunRecord = {
      id,
      spec,
      label,
      config: r.config,
      parameters: r.parameters,
      nonEmbeddingParameters: r.parameters - counts.byGroup.embedding - counts.byGroup.head,
      finalValLoss: r.finalValLoss,
      finalValBpb: r.finalValBpb,
      tokensPerSecond: r.tokensPerSecond,
      lambdas: r.lambdas,
      backend: r.backend,
      wallSeconds: r.wallSeconds,
      commit: this.commit,
      dir,
    };
    this.log(
      `    val loss ${r.finalValLoss.toFixed(4)}, ${Math.round(r.tokensPerSecond)} tokens/s, ${r.wallSeconds.toFixed(1)} s`,
    );
    writeFileAtomic(recordPath, `${JSON.stringify(record, null, 2)}\n`);
    return record;
  }

  /** The trained model of a run (its config as trained, ablation fields included). */
  load(run: RunRecord): LanguageModel {
    const model = loadModelFolder(run.dir, this.backend);
    // config.json keeps the standard fields only; restore the ablation fields the run was trained with.
    Object.assign(model.config, run.config);
    return model;
  }

  /** Runs of every variant × seed for one spec template. */
  async runAll(
    template: Omit<RunSpec, 'variant' | 'seed'>,
    data: TaskData,
    variants: readonly Variant[] = VARIANT_ORDER,
  ): Promise<Map<Variant, RunRecord[]>> {
    const out = new Map<Variant, RunRecord[]>();
    for (const variant of variants) {
      const runs: RunRecord[] = [];
      for (const seed of this.seeds) runs.push(await this.run({ ...template, variant, seed }, data));
      out.set(variant, runs);
    }
    return out;
  }
}

function dataHash(data: TaskData): string {
  return createHash('sha256')
    .update(data.text ?? '')
    .update(data.examples ? examplesHash(data.examples) : '')
    .update(JSON.stringify(data.tokenizer.toJSON()))
    .digest('hex');
}

export function presetOf(spec: RunSpec, vocab: number): Preset {
  const s = spec.size;
  return {
    name: `eval-${spec.task}-${s.name}`,
    description: `experiment size ${s.name}`,
    vocab,
    baseline: {
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
    },
    training: { ...spec.training, saveEvery: spec.training.steps },
  };
}

// ---------------------------------------------------------------- statistics and formatting

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

/** Sample standard deviation (n − 1); 0 for a single value. */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** "m ± s" (just "m" for one value). */
export function pm(xs: readonly number[], digits = 3): string {
  if (!xs.length || !xs.every(Number.isFinite)) return '–';
  const m = mean(xs).toFixed(digits);
  return xs.length > 1 ? `${m} ± ${std(xs).toFixed(digits)}` : m;
}

export const fmt = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

/**
 * How `a` compares with `b` over seeds (lower is better when `lowerIsBetter`): the difference of the
 * means and whether it exceeds twice its standard error (Welch). With one value per side the
 * comparison cannot separate signal from seed noise: `decided` is false.
 */
export function compareSamples(
  a: readonly number[],
  b: readonly number[],
  lowerIsBetter: boolean,
): { delta: number; se: number; decided: boolean; better: boolean; worse: boolean } {
  const delta = mean(a) - mean(b);
  const se = Math.sqrt(std(a) ** 2 / Math.max(1, a.length) + std(b) ** 2 / Math.max(1, b.length));
  const decided = a.length >= 2 && b.length >= 2 && Math.abs(delta) > 2 * se;
  const improvement = lowerIsBetter ? -delta : delta;
  return { delta, se, decided, better: decided && improvement > 0, worse: decided && improvement < 0 };
}

/** A markdown table. */
export function table(header: string[], rows: Array<Array<string | number>>, align?: string[]): string {
  const sep = header.map((_, i) => align?.[i] ?? (i === 0 ? '---' : '---:'));
  return [
    `| ${header.join(' | ')} |`,
    `| ${sep.join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(String).join(' | ')} |`),
  ].join('\n');
}

/** Write JSON (atomically) under the experiment's folder. */
export function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** The raw record of every run an experiment used. */
export function writeRuns(dir: string, runs: Iterable<RunRecord>): void {
  writeJson(join(dir, 'runs.json'), [...runs]);
}

export function allRuns(groups: Iterable<RunRecord[]>): RunRecord[] {
  return [...groups].flat();
}

// ---------------------------------------------------------------- heatmaps

export interface HeatmapOptions {
  title: string;
  /** Signed values: a diverging blue–white–red scale symmetric around 0; else white → blue. */
  signed: boolean;
  /** Pixel size of a cell. */
  cell?: number;
  /** Second title line (default: what rows and columns of an attention map are). */
  caption?: string;
  /** Labels of the rows and columns (drawn when given). */
  rowLabels?: string[];
  colLabels?: string[];
  /** Print each cell's value (for small grids). */
  annotate?: boolean;
  /** Fixed maximum of the colour scale (default: the data's max |value|). */
  max?: number;
  /** Saturate the colour scale at this quantile of the non-zero |values| (e.g. 0.99). */
  clip?: number;
}

const FONT = 'Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif';

function colour(v: number, max: number, signed: boolean): string {
  const t = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
  const mix = (a: number, b: number, f: number) => Math.round(a + (b - a) * f);
  if (!signed || t >= 0) {
    // white → blue (positive) or white → red for signed positive
    const f = Math.abs(t);
    return signed
      ? `rgb(${mix(255, 178, f)},${mix(255, 24, f)},${mix(255, 43, f)})`
      : `rgb(${mix(255, 8, f)},${mix(255, 48, f)},${mix(255, 107, f)})`;
  }
  const f = -t;
  return `rgb(${mix(255, 33, f)},${mix(255, 102, f)},${mix(255, 172, f)})`;
}

/** A matrix [rows, cols] as an SVG heatmap with a title and a min/max legend. */
export function heatmapSvg(values: ArrayLike<number>, rows: number, cols: number, o: HeatmapOptions): string {
  const cell = o.cell ?? Math.max(2, Math.min(8, Math.floor(480 / Math.max(rows, cols))));
  const top = o.colLabels ? 68 : 52;
  const left = o.rowLabels ? 60 : 10;
  const width = Math.max(left + 10 + cols * cell, 520);
  const height = top + rows * cell + 12;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  const magnitudes: number[] = [];
  for (let i = 0; i < rows * cols; i++) {
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
    if (values[i] !== 0) magnitudes.push(Math.abs(values[i]));
  }
  let scale = o.max ?? (o.signed ? Math.max(Math.abs(min), Math.abs(max)) : max);
  let clipped = '';
  if (o.max === undefined && o.clip !== undefined && magnitudes.length) {
    magnitudes.sort((a, b) => a - b);
    const q = magnitudes[Math.min(magnitudes.length - 1, Math.floor(o.clip * magnitudes.length))];
    if (q > 0 && q < scale) {
      scale = q;
      clipped = `; colour clipped at ${q.toFixed(3)} (${Math.round(o.clip * 100)}th pct.)`;
    }
  }
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-family="${FONT}" font-size="13">${escapeXml(o.title)}</text>`,
    `<text x="10" y="33" font-family="${FONT}" font-size="10">${escapeXml(o.caption ?? 'rows: query position, columns: key position')}</text>`,
    `<text x="10" y="46" font-family="${FONT}" font-size="10">${escapeXml(`min ${min.toFixed(3)}, max ${max.toFixed(3)}${o.signed ? ', blue < 0 < red' : ''}${clipped}`)}</text>`,
  ];
  o.rowLabels?.forEach((label, r) => {
    parts.push(
      `<text x="${left - 4}" y="${top + r * cell + cell / 2 + 4}" text-anchor="end" font-family="${FONT}" font-size="11">${escapeXml(label)}</text>`,
    );
  });
  o.colLabels?.forEach((label, c) => {
    parts.push(
      `<text x="${left + c * cell + cell / 2}" y="${top - 4}" text-anchor="middle" font-family="${FONT}" font-size="11">${escapeXml(label)}</text>`,
    );
  });
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c];
      if (v === 0 && !o.signed && !o.annotate) continue;
      parts.push(
        `<rect x="${left + c * cell}" y="${top + r * cell}" width="${cell}" height="${cell}" fill="${colour(v, scale, o.signed)}"/>`,
      );
      if (o.annotate) {
        const dark = Math.abs(v) > 0.6 * scale;
        parts.push(
          `<text x="${left + c * cell + cell / 2}" y="${top + r * cell + cell / 2 + 4}" text-anchor="middle" font-family="${FONT}" font-size="11" fill="${dark ? 'white' : 'black'}">${v.toFixed(2)}</text>`,
        );
      }
    }
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${cols * cell}" height="${rows * cell}" fill="none" stroke="#888" stroke-width="0.5"/>`,
    '</svg>',
  );
  return parts.join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Writes `${base}.svg` and `${base}.png`. */
export function writeHeatmap(
  base: string,
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  o: HeatmapOptions,
): void {
  const svg = heatmapSvg(values, rows, cols, o);
  writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.png`, svgToPng(svg, 1.5));
}

/** "matches" / "does not match" / "inconclusive" from a comparison, with the seed count in mind. */
export function verdictOf(ok: boolean, bad: boolean): Verdict {
  return ok ? 'matches' : bad ? 'does not match' : 'inconclusive';
}
