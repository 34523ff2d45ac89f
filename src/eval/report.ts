/**
 * Running experiments and writing the report: `runExperiment` runs one (writing NAME/NAME.md,
 * NAME/results.json, NAME/runs.json, plots), `runReport` runs all eight in one session (so they share
 * trained models) and writes REPORT.md: setup, the claims against the paper, every table and plot.
 * The conclusions are composed from the measured numbers by each experiment; nothing is hard-coded.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { runAblations } from './ablations.ts';
import { runAttention } from './attention.ts';
import {
  type Claim,
  EvalContext,
  type EvalSettings,
  EXPERIMENTS,
  type ExperimentName,
  type ExperimentResult,
  fmt,
  mean,
  type Plan,
  type RunRecord,
  type Size,
  table,
  writeJson,
} from './common.ts';
import { runIcl } from './icl.ts';
import { runLambda } from './lambda.ts';
import { runOutliers } from './outliers.ts';
import { runQuantisation } from './quantisation.ts';
import { runRetrieval } from './retrieval.ts';
import { runScaling } from './scaling.ts';

export const RUNNERS: Record<ExperimentName, (ctx: EvalContext) => Promise<ExperimentResult>> = {
  scaling: runScaling,
  retrieval: runRetrieval,
  attention: runAttention,
  outliers: runOutliers,
  quantisation: runQuantisation,
  ablations: runAblations,
  icl: runIcl,
  lambda: runLambda,
};

export class UnknownExperimentError extends Error {
  override name = 'UnknownExperimentError';
}

export function checkExperimentName(name: string): ExperimentName {
  if (!(EXPERIMENTS as readonly string[]).includes(name))
    throw new UnknownExperimentError(`unknown experiment "${name}" (valid names: ${EXPERIMENTS.join(', ')})`);
  return name as ExperimentName;
}

/** Default settings: reports/full or reports/quick, 3 seeds in full mode and 1 in quick mode. */
export function defaultSettings(o: Partial<EvalSettings> & { quick?: boolean }): EvalSettings {
  const quick = o.quick ?? false;
  const seeds = o.seeds ?? (quick ? 1 : 3);
  if (!Number.isSafeInteger(seeds) || seeds < 1)
    throw new Error(`--seeds must be a positive integer, found ${seeds}`);
  return {
    out: o.out ?? join('reports', quick ? 'quick' : 'full'),
    quick,
    seeds,
    backend: o.backend ?? 'auto',
    log: o.log,
  };
}

interface Timed {
  result: ExperimentResult;
  seconds: number;
}

async function timed(ctx: EvalContext, name: ExperimentName): Promise<Timed> {
  const t0 = performance.now();
  ctx.log(`experiment ${name}`);
  const result = await RUNNERS[name](ctx);
  const seconds = (performance.now() - t0) / 1000;
  ctx.log(`experiment ${name} done in ${seconds.toFixed(1)} s`);
  const dir = ctx.dir(name);
  // The experiment's own page, images relative to its folder.
  const page = [
    `# ${result.title}`,
    '',
    result.markdown.replaceAll(`](${name}/`, ']('),
    '',
    claimsTable(result.claims),
    '',
  ].join('\n');
  writeFileAtomic(join(dir, `${name}.md`), page);
  writeJson(join(dir, 'claims.json'), result.claims);
  return { result, seconds };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function claimsTable(claims: readonly Claim[]): string {
  return table(
    ['claim', 'paper', 'here', 'verdict'],
    claims.map((c) => [cell(c.claim), cell(c.paper), cell(c.ours), `**${c.verdict}**`]),
    ['---', '---', '---', '---'],
  );
}

/** Run one experiment; returns its result and the path of its page. */
export async function runExperiment(
  name: string,
  settings: EvalSettings,
): Promise<{ result: ExperimentResult; page: string; seconds: number }> {
  const checked = checkExperimentName(name);
  const ctx = new EvalContext(settings);
  const { result, seconds } = await timed(ctx, checked);
  return { result, page: join(settings.out, checked, `${checked}.md`), seconds };
}

function sizesTable(plan: Plan): string {
  const rows: Array<[string, Size]> = [
    ...plan.lm.sizes.map((s): [string, Size] => [`LM ${s.name}`, s]),
    ['needle task', plan.needle.size],
    ['in-context task', plan.icl.size],
  ];
  return table(
    ['models', 'd_model', 'layers', 'baseline heads × d', 'DIFF V1 heads × 2d', 'DIFF V2 query heads', 'FFN'],
    rows.map(([name, s]) => [
      name,
      s.d_model,
      s.n_layers,
      `${s.n_heads} × ${s.head_dim}`,
      `${s.n_heads / 2} × ${2 * s.head_dim}`,
      `${2 * s.n_heads} (λ per token)`,
      s.ffn_hidden,
    ]),
  );
}

function collectRuns(ctx: EvalContext): RunRecord[] {
  const seen = new Map<string, RunRecord>();
  for (const name of EXPERIMENTS) {
    try {
      const runs = JSON.parse(readFileSync(join(ctx.settings.out, name, 'runs.json'), 'utf8')) as RunRecord[];
      for (const r of runs) seen.set(r.id, r);
    } catch {
      // experiment not run
    }
  }
  return [...seen.values()];
}

/** Run every experiment in one session and write REPORT.md. */
export async function runReport(settings: EvalSettings): Promise<{ path: string; seconds: number }> {
  const ctx = new EvalContext(settings);
  const t0 = performance.now();
  const done: Array<Timed & { name: ExperimentName }> = [];
  for (const name of EXPERIMENTS) done.push({ name, ...(await timed(ctx, name)) });
  const seconds = (performance.now() - t0) / 1000;
  const runs = collectRuns(ctx);
  const plan = ctx.plan;
  const trainSeconds = runs.reduce((s, r) => s + r.wallSeconds, 0);
  const main = runs.filter((r) => r.spec.task === 'lm' && r.spec.size.name === plan.lm.main && !r.spec.tag);
  const tps = mean(main.map((r) => r.tokensPerSecond));
  const mainParams = mean(main.map((r) => r.parameters));
  const mode = settings.quick ? 'quick' : 'full';
  const allClaims = done.flatMap((d) => d.result.claims);
  const counts = ['matches', 'partly matches', 'does not match', 'inconclusive'].map(
    (v) => `${allClaims.filter((c) => c.verdict === v).length} ${v}`,
  );
  const larger = largerRunText(plan, tps, mainParams);
  const lines = [
    "# Differential Transformer: the paper's experiments at small scale",
    '',
    `Mode **${mode}**${settings.quick ? ' (toy sizes and very few steps: this exercises the pipeline; the numbers mean nothing)' : ''}, ${settings.seeds} seed(s) per configuration (${ctx.seeds.join(', ')}), backend \`${ctx.backend.name}\`, commit \`${ctx.commit}\`.`,
    `${runs.length} training runs (${fmt(trainSeconds / 60, 1)} min of training), whole report ${fmt(seconds / 60, 1)} min.`,
    `Reproduce: \`diff-transformer report${settings.quick ? ' --quick' : ''} --seeds ${settings.seeds} --out DIR\` (every run is seeded; a rerun into the same folder reuses the finished runs under \`runs/\`, a rerun into a new folder retrains them to the same numbers on the same backend).`,
    '',
    '## Setup',
    '',
    `- **Models**: DIFF V1 (the paper), the parameter-matched baseline Transformer and DIFF V2, derived from the same baseline geometry (SPEC §1–3). All three of an experiment get identical data, data order (seeded), initialisation seed, steps, batch, sequence length and learning-rate schedule.`,
    `- **Language modelling**: ${Number.isFinite(plan.corpusChars) ? `the first ${plan.corpusChars.toLocaleString('en-US')} characters of ` : ''}Moby Dick (last 10% of the tokens = validation), byte-level BPE with ${plan.vocab} tokens; ${plan.lm.training.steps} steps × ${plan.lm.training.batch} × ${plan.lm.training.seq} tokens, peak lr ${plan.lm.training.lr}.`,
    `- **Synthetic tasks** (needle retrieval, in-context classification): their own BPE tokenizer (${plan.vocab} tokens, trained on corpus text plus task text); needle models ${plan.needle.training.steps} steps × ${plan.needle.training.batch} × ${plan.needle.training.seq}, in-context models ${plan.icl.training.steps} steps × ${plan.icl.training.batch} × ${plan.icl.training.seq}.`,
    '- **Statistics**: mean ± sample standard deviation over seeds. A difference counts only when it exceeds twice its standard error (Welch); with one seed every comparison is "inconclusive".',
    '- **Verdicts** are computed from the numbers by each experiment\'s code: "matches" (the paper\'s direction, beyond seed noise), "partly matches", "does not match" (the opposite direction beyond noise), "inconclusive".',
    '',
    sizesTable(plan),
    '',
    '## Claims',
    '',
    `${counts.join(', ')}.`,
    '',
    claimsTable(allClaims),
    '',
    ...done.flatMap((d, i) => [
      `## ${i + 1}. ${d.result.title}`,
      '',
      `(${fmt(d.seconds, 0)} s in this session; raw runs in \`${d.name}/runs.json\`, numbers in \`${d.name}/results.json\`)`,
      '',
      d.result.markdown,
      '',
    ]),
    '## What a larger run would need',
    '',
    larger,
    '',
  ];
  const path = join(settings.out, 'REPORT.md');
  writeFileAtomic(path, lines.join('\n'));
  writeJson(join(settings.out, 'report.json'), {
    mode,
    seeds: ctx.seeds,
    backend: ctx.backend.name,
    commit: ctx.commit,
    seconds,
    experiments: done.map((d) => ({ name: d.name, seconds: d.seconds, claims: d.result.claims })),
  });
  return { path, seconds };
}

function largerRunText(plan: Plan, tps: number, params: number): string {
  const paperTokens = 350e9;
  const paperParams = 3e9;
  const tokens = plan.lm.training.steps * plan.lm.training.batch * plan.lm.training.seq;
  const flopsPerSecond = 6 * params * tps;
  const paperDays = (6 * paperParams * paperTokens) / flopsPerSecond / 86400;
  const mediumHours = (6 * 7e6 * 100e6) / flopsPerSecond / 3600;
  return [
    `These models have ${fmt(params / 1e3, 0)}K parameters (mostly embeddings) and see ${(tokens / 1e3).toFixed(0)}K tokens; the paper's have 0.8–13B parameters, 350B tokens and 4K–64K contexts. The measured training speed here, ${Number.isFinite(tps) ? Math.round(tps).toLocaleString('en-US') : '–'} tokens/s at the main size (≈ ${fmt(flopsPerSecond / 1e9, 2)} GFLOP/s by 6·N·tokens), would need about ${fmt(mediumHours, 0)} hours for a 7M-parameter model (the \`medium\` preset) on 100M tokens and ≈ ${paperDays.toExponential(1)} days for one 3B model on 350B tokens.`,
    '- The effects the paper measures (retrieval from long noisy contexts, outliers, many-shot ICL) grow with context length and scale; at ≤ 256 tokens and ~10⁵ parameters they may be absent or reversed, and short training favours whichever model learns fastest early rather than the better one at convergence.',
    '- A more conclusive replication: a GPU backend (or PyTorch) for ≥ 100M-parameter models, ≥ 10B tokens of web text, 4K+ contexts with the needle and many-shot tasks evaluated zero-shot as in the paper, ≥ 3 seeds, and a learning-rate sweep per variant (one shared learning rate, as here, can favour one variant).',
  ].join('\n');
}
