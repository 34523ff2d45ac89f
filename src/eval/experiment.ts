/**
 * What an experiment is to the report: the names of the sections (in the report's priority order),
 * the claims each judges and the result each returns.
 */

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
