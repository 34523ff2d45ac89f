/**
 * `metrics.jsonl`: one JSON object per logged step — step, train_loss, val_loss and val_bpb when
 * evaluated, lr, tokens_per_s, grad_norm, and `lambda` per layer (V1: λ; V2: mean sigmoid λ).
 * On resume the file is cut back to the checkpoint's step, so a resumed run's log equals an
 * uninterrupted one.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.ts';

import { METRICS_FILE } from '../io/folder-files.ts';

export { METRICS_FILE };

export interface MetricsRecord {
  step: number;
  train_loss: number;
  val_loss?: number;
  val_bpb?: number;
  lr: number;
  tokens_per_s: number;
  grad_norm: number;
  lambda?: number[];
}

export function metricsPath(dir: string): string {
  return join(dir, METRICS_FILE);
}

export function appendMetrics(dir: string, record: MetricsRecord): void {
  appendFileSync(metricsPath(dir), `${JSON.stringify(record)}\n`);
}

/** Every complete record of the file (a torn last line from a crash is ignored). */
export function readMetrics(dir: string): MetricsRecord[] {
  const path = metricsPath(dir);
  if (!existsSync(path)) return [];
  const records: MetricsRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line));
    } catch {
      // a line torn by a crash mid-append
    }
  }
  return records;
}

/** Keep only the records up to `step` (atomically rewritten). */
export function truncateMetrics(dir: string, step: number): void {
  const kept = readMetrics(dir).filter((r) => r.step <= step);
  writeFileAtomic(metricsPath(dir), kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
}
