/**
 * Whether a section's runs are all there: a section gives numbers and verdicts only when every run
 * it needs is cached (and the learning rates it trains at are known); otherwise its result is
 * "pending: k of n runs cached", with no verdict.
 */
import type { Claim, ExperimentName, ExperimentResult } from './experiment.ts';
import type { RunRecord } from './run-record.ts';

/** Runs by key (variant or arm), one per seed; undefined entries are not cached. */
export type RunsByKey<K> = Map<K, Array<RunRecord | undefined>>;

/** What a section's run producer returns (needle-runs.ts, lm-runs.ts, …). */
export interface ProducedRuns<K> {
  runs: RunsByKey<K>;
  /** Runs the section needs. */
  planned: number;
  /** Whether the learning rates of the runs are known (false: no run could be looked up). */
  lrsKnown: boolean;
}

/** Records when all are present, else undefined. */
export function complete(records: Array<RunRecord | undefined>): RunRecord[] | undefined {
  return records.every((r) => r !== undefined) ? (records as RunRecord[]) : undefined;
}

export const countCached = <K>(runs: RunsByKey<K>) =>
  [...runs.values()].flat().filter((r) => r !== undefined).length;

/** The cached runs of every key, or undefined while any is missing. */
export function allCached<K>(runs: RunsByKey<K>): Map<K, RunRecord[]> | undefined {
  const out = new Map<K, RunRecord[]>();
  for (const [k, rs] of runs) {
    const c = complete(rs);
    if (!c) return undefined;
    out.set(k, c);
  }
  return out;
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

/** How a section is named in its pending result. */
export interface PendingSection {
  name: ExperimentName;
  title: string;
  claims: Array<Pick<Claim, 'claim' | 'paper'>>;
  /** The reason given while the learning rates are unknown (none by default). */
  lrsUnknown?: string;
}

/** Every key's cached runs and the number planned, or the section's pending result. */
export type SectionRuns<K> =
  | { all: Map<K, RunRecord[]>; planned: number; pending?: undefined }
  | { all?: undefined; planned?: undefined; pending: ExperimentResult };

/**
 * A section's runs: every key's cached runs when the learning rates are known and every run is
 * cached, else the section's pending result.
 */
export function sectionRuns<K>(produced: ProducedRuns<K>, section: PendingSection): SectionRuns<K> {
  const { runs, planned, lrsKnown } = produced;
  const all = lrsKnown ? allCached(runs) : undefined;
  if (all) return { all, planned };
  const why = lrsKnown ? '' : (section.lrsUnknown ?? '');
  return {
    pending: pendingResult(section.name, section.title, section.claims, countCached(runs), planned, why),
  };
}
