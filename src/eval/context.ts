/**
 * One experiment session (`diff-transformer eval NAME`, `diff-transformer report`): the settings,
 * the plan of the mode, the backend, the run cache (run-cache.ts) and the task data and other values
 * built once and shared by the sections.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../backends/index.ts';
import type { Backend } from '../core/backend.ts';
import type { ExperimentName } from './experiment.ts';
import { PLANS, type Plan } from './plan.ts';
import { RunCache } from './run-cache.ts';
import type { RunSpec, TaskData } from './run-spec.ts';

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
  readonly cache: RunCache;
  private readonly data = new Map<string, TaskData>();
  private readonly memo = new Map<string, unknown>();

  constructor(readonly settings: EvalSettings) {
    this.plan = settings.quick ? PLANS.quick : PLANS.full;
    this.backend = createBackend(settings.backend);
    this.cache = new RunCache({
      out: settings.out,
      quick: settings.quick,
      train: settings.train,
      backend: this.backend,
      commit: this.commit,
      log: (line) => this.log(line),
    });
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
}
