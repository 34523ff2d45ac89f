/**
 * The run cache: a run is a pure function of its spec (size, variant, arm, seed, training, data,
 * backend), named by a hash of it. Its record (run-record.ts) is one small JSON file
 * `OUT/results/ID.json`, committed with the report; the model weights stay in `OUT/models/ID/`
 * (not committed) for probes asked for later. So a report can be built over several sittings, from
 * whatever runs are cached, and a rerun with the same seeds reproduces it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../core/backend.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { CONFIG_FILE } from '../io/folder-files.ts';
import type { LanguageModel } from '../model/lm.ts';
import { examplesHash } from '../train/examples.ts';
import type { Probe, RunRecord } from './run-record.ts';
import type { RunSpec, TaskData } from './run-spec.ts';
import { type LmFinalValidation, loadRunModel, trainRun } from './train-run.ts';

export interface RunCacheSettings {
  /** The output folder: records under results/, models under models/. */
  out: string;
  /** Quick mode (part of every run's hash). */
  quick: boolean;
  /** Train the runs that are not cached (false: cached runs only). */
  train: boolean;
  backend: Backend;
  /** The commit written into new records. */
  commit: string;
  log: (line: string) => void;
}

export class RunCache {
  /** Final validation of language models: held-out batches, set by data.ts. */
  lmFinalValidation?: LmFinalValidation;
  /** Each data set's hash, by the data object (the context builds each task's data once). */
  private readonly dataHashes = new WeakMap<TaskData, string>();

  constructor(private readonly settings: RunCacheSettings) {
    mkdirSync(join(settings.out, 'results'), { recursive: true });
  }

  /** The run's id: readable prefix and a hash of everything that decides its numbers. */
  runId(spec: RunSpec, data: TaskData): string {
    const key = JSON.stringify({ spec, backend: this.settings.backend.name, quick: this.settings.quick });
    const hash = createHash('sha256').update(key).update(this.dataHash(data)).digest('hex').slice(0, 10);
    const tag = spec.tag ? `-${spec.tag}` : '';
    const lr = `-lr${spec.training.lr}`;
    return `${spec.task}-${spec.size.name}-${spec.variant}${tag}${lr}-seed${spec.seed}-${hash}`;
  }

  /**
   * The hash of a task's data, computed once per data object. (Keyed by the object itself: a key
   * made of sizes let two tasks with as many training examples — needle and ICL, 20,000 each — share
   * one hash within a process, so `report` looked the ICL runs up under the needle data's hash.)
   */
  private dataHash(data: TaskData): string {
    let hash = this.dataHashes.get(data);
    if (hash === undefined) {
      hash = createHash('sha256')
        .update(data.text ?? '')
        .update(data.examples ? examplesHash(data.examples) : '')
        .update(JSON.stringify(data.tokenizer.toJSON()))
        .digest('hex');
      this.dataHashes.set(data, hash);
    }
    return hash;
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
      const { backend, commit, log } = this.settings;
      record = await trainRun({
        id,
        spec,
        data,
        dir,
        backend,
        commit,
        log,
        lmFinalValidation: this.lmFinalValidation,
      });
      writeFileAtomic(path, `${JSON.stringify(record)}\n`);
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
    return loadRunModel(this.modelDir(id), record, this.settings.backend);
  }
}
