/**
 * Running experiments and writing the report: `runExperiment` runs one section, `runReport` runs
 * every section in the plan's priority order (each trains its missing runs when training is on, so
 * whole sections complete early: sweep, headline, ablations, needle task, scaling, causes) and writes
 * REPORT.md from whatever runs are cached. A section with missing runs says "pending: k of n runs
 * cached" and gives no verdict. Verdicts: "matches" only when the 95% interval of the difference
 * excludes zero in the paper's direction, "does not match" when it excludes zero the other way,
 * "equivalent" only from TOST; Holm-adjusted p-values across the claims are listed beside them.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { runAblations, runCauses } from './ablations.ts';
import { runAttention } from './attention.ts';
import { EvalContext, type EvalSettings } from './context.ts';
import { type Claim, EXPERIMENTS, type ExperimentName, type ExperimentResult } from './experiment.ts';
import { fmt, table } from './format.ts';
import { runHallucination } from './hallucination.ts';
import { runHeadline } from './headline.ts';
import { runIcl } from './icl.ts';
import { runLambda } from './lambda.ts';
import { runLr } from './lr.ts';
import { mainSize } from './lr-sweep.ts';
import { runOutliers } from './outliers.ts';
import { lmSteps, PLANS } from './plan.ts';
import { runQuantisation } from './quantisation.ts';
import { writeJson } from './results-files.ts';
import { runRetrieval } from './retrieval.ts';
import type { RunRecord } from './run-record.ts';
import { runScaling } from './scaling-section.ts';
import { holm } from './stats.ts';

export const RUNNERS: Record<ExperimentName, (ctx: EvalContext) => Promise<ExperimentResult>> = {
  lr: runLr,
  headline: runHeadline,
  ablations: runAblations,
  retrieval: runRetrieval,
  attention: runAttention,
  quantisation: runQuantisation,
  outliers: runOutliers,
  scaling: runScaling,
  icl: runIcl,
  causes: runCauses,
  hallucination: runHallucination,
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

/** Default settings: reports/full or reports/quick, the plan's seeds (5 full, 1 quick), training on. */
export function defaultSettings(o: Partial<EvalSettings> & { quick?: boolean }): EvalSettings {
  const quick = o.quick ?? false;
  const seeds = o.seeds ?? (quick ? PLANS.quick : PLANS.full).seeds;
  if (!Number.isSafeInteger(seeds) || seeds < 1)
    throw new Error(`--seeds must be a positive integer, found ${seeds}`);
  return {
    out: o.out ?? join('reports', quick ? 'quick' : 'full'),
    quick,
    seeds,
    backend: o.backend ?? 'auto',
    train: o.train ?? true,
    log: o.log,
  };
}

async function section(ctx: EvalContext, name: ExperimentName): Promise<ExperimentResult> {
  ctx.log(`experiment ${name}`);
  const result = await RUNNERS[name](ctx);
  const dir = ctx.dir(name);
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
  return result;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function claimsTable(claims: readonly Claim[], adjusted?: number[]): string {
  return table(
    adjusted ? ['claim', 'paper', 'here', 'verdict', 'p (Holm)'] : ['claim', 'paper', 'here', 'verdict'],
    claims.map((c, i) => [
      cell(c.claim),
      cell(c.paper),
      cell(c.ours),
      `**${c.verdict}**`,
      ...(adjusted
        ? [c.p === undefined || !Number.isFinite(c.p) ? '–' : `${fmt(c.p, 3)} (${fmt(adjusted[i], 3)})`]
        : []),
    ]),
    adjusted ? ['---', '---', '---', '---', '---:'] : ['---', '---', '---', '---'],
  );
}

export async function runExperiment(name: string, settings: EvalSettings) {
  const checked = checkExperimentName(name);
  const ctx = new EvalContext(settings);
  const t0 = performance.now();
  const result = await section(ctx, checked);
  return {
    result,
    page: join(settings.out, checked, `${checked}.md`),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Every section in priority order, then REPORT.md from the cache. */
export async function runReport(settings: EvalSettings): Promise<{ path: string; seconds: number }> {
  const ctx = new EvalContext(settings);
  const t0 = performance.now();
  const done: ExperimentResult[] = [];
  for (const name of EXPERIMENTS) done.push(await section(ctx, name));
  const seconds = (performance.now() - t0) / 1000;
  const records: RunRecord[] = ctx.cache.allRecords();
  const trainHours = records.reduce((s, r) => s + r.wallSeconds, 0) / 3600;
  const claims = done.flatMap((d) => d.claims);
  const adjusted = holm(claims.map((c) => c.p ?? Number.NaN));
  const plan = ctx.plan;
  const main = mainSize(ctx);
  const mode = settings.quick ? 'quick' : 'full';
  const counts = ['matches', 'does not match', 'equivalent', 'inconclusive', 'pending'].map(
    (v) => `${claims.filter((c) => c.verdict === v).length} ${v}`,
  );
  const lines = [
    "# Differential Transformer: the paper's experiments at small scale",
    '',
    `Mode **${mode}**${settings.quick ? ' (toy sizes, a few steps: this exercises the pipeline; the numbers mean nothing)' : ''}, ${settings.seeds} seed(s) per configuration, backend \`${ctx.backend.name}\`, commit \`${ctx.commit}\`. ${records.length} runs cached under \`results/\` (${fmt(trainHours, 2)} h of training and evaluation).`,
    `Resume / reproduce: \`diff-transformer report${settings.quick ? ' --quick' : ''} --backend native\` (trains what is missing, in priority order; every finished run is cached by a hash of its settings); \`--no-train\` builds this page from the cache only.`,
    '',
    '## Setup',
    '',
    `- **Data**: the named corpus \`${plan.corpus}\` (src/train/corpora.ts) for language models, BPE with ${plan.vocab} tokens; the last 10% of its tokens are held out and the final validation loss of every language model is over ${plan.valTokens.toLocaleString('en-US')} of them.`,
    `- **Budgets**: ${plan.lm.tokensPerParam} training tokens per non-embedding parameter of the baseline (batch ${plan.lm.batch} × ${plan.lm.seq}; sizes ${plan.lm.sizes.map((s) => `${s.name} ${lmSteps(plan, s)} steps`).join(', ')}), under one epoch of the corpus. DIFF V1 has ${main.n_heads / 2} heads at the main size ${main.name}.`,
    `- **Learning rates**: a sweep over ${plan.lm.lrs.join(', ')} at size ${main.name} per variant; each variant then trains at its own best rate (derived arms take their variant's).`,
    '- **Statistics** (src/eval/stats.ts, tested against SciPy): mean [95% Student-t interval] over seeds; differences as Welch 95% intervals. "matches" only when the interval excludes zero in the paper\'s direction, "does not match" when it excludes zero the other way, else "inconclusive"; "equivalent" only from TOST with the stated margin. p-values are listed with their Holm-adjusted value across all claims of the report (multiple comparisons): a verdict whose Holm-adjusted p is above 0.05 should be read as suggestive only.',
    '',
    '## Claims',
    '',
    `${counts.join(', ')}; ${records.length} runs cached (sections share runs; each section gives its own count).`,
    '',
    claimsTable(claims, adjusted),
    '',
    ...done.flatMap((d, i) => [`## ${i + 1}. ${d.title}`, '', d.markdown, '']),
  ];
  const path = join(settings.out, 'REPORT.md');
  writeFileAtomic(path, lines.join('\n'));
  writeJson(join(settings.out, 'report.json'), {
    mode,
    seeds: ctx.seeds,
    backend: ctx.backend.name,
    commit: ctx.commit,
    sections: done.map((d) => ({ name: d.name, cached: d.cached, planned: d.planned, claims: d.claims })),
  });
  return { path, seconds };
}
