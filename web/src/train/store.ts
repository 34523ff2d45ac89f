/**
 * The Train view's run in IndexedDB, so that it survives a reload: its flags, its text and tokenizer,
 * and per model the last checkpoint (the CLI's checkpoint.safetensors content) with the metrics up to
 * it. One run is kept (the latest); starting a new one replaces it.
 */
import type { MetricsRecord, Variant } from 'diff-transformer/browser';
import type { RunSpec } from './protocol.ts';

export interface StoredModel {
  step: number;
  checkpoint?: Uint8Array;
  metrics: MetricsRecord[];
}

export interface StoredRun {
  /** The flags shared by the models (`variant` is each model's). */
  spec: Omit<RunSpec, 'variant'>;
  variants: Variant[];
  corpusName: string;
  text: string;
  tokenizerJson: string;
  finished: boolean;
  models: Partial<Record<Variant, StoredModel>>;
}

const DB = 'diff-transformer-train';
const STORE = 'runs';
const KEY = 'latest';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB failed to open'));
  });
}

async function transact<T>(
  mode: IDBTransactionMode,
  act: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = act(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  } finally {
    db.close();
  }
}

export async function loadRun(): Promise<StoredRun | undefined> {
  if (typeof indexedDB === 'undefined') return undefined;
  return (await transact('readonly', (s) => s.get(KEY))) as StoredRun | undefined;
}

/** Saves go one after the other, so that a later save's content is always the one kept. */
let saving: Promise<unknown> = Promise.resolve();

/**
 * Keeps `run` as it is when its turn comes (saves are queued); resolves with the step each model
 * was saved at, read at the moment the run was written (the object may change while a save waits).
 */
export function saveRun(run: StoredRun): Promise<Partial<Record<Variant, number>>> {
  const save = saving.then(async () => {
    if (typeof indexedDB === 'undefined') return {};
    let steps: Partial<Record<Variant, number>> = {};
    await transact('readwrite', (s) => {
      steps = Object.fromEntries(run.variants.map((v) => [v, run.models[v]?.step ?? 0]));
      return s.put(run, KEY);
    });
    return steps;
  });
  saving = save.catch(() => undefined);
  return save;
}

export async function clearRun(): Promise<void> {
  if (typeof indexedDB === 'undefined') return;
  await transact('readwrite', (s) => s.delete(KEY));
}
