/** The files a section writes beside its page: JSON summaries and the ids of the runs it used. */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.ts';
import type { RunRecord } from './run-record.ts';

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
