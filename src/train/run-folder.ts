/**
 * The output folder of a run (`--out`): checked and created before anything is written, locked for the
 * run's lifetime (run-lock.ts), and — when a fresh run stops before its first checkpoint, by an error
 * or a signal — emptied of what the run wrote, so that the same command can simply be repeated.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE } from '../io/folder-files.ts';
import { LOCK_FILE, lockRunFolder } from '../io/run-lock.ts';
import { CHECKPOINT_FILE, hasCheckpoint } from './checkpoint.ts';
import { METRICS_FILE } from './metrics.ts';

/** What a run writes before its first save. */
const EARLY_FILES = [TOKENIZER_FILE, 'tokenizer_config.json', METRICS_FILE];
/** Every file a training run writes into its folder. */
const RUN_FILES = [...EARLY_FILES, WEIGHTS_FILE, CONFIG_FILE, CHECKPOINT_FILE];
const isOneOf = (files: readonly string[], name: string) =>
  files.some((f) => name === f || name.startsWith(`${f}.tmp-`));

export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

export interface RunFolder {
  dir: string;
  /** Release the lock (the run ended, successfully or not, with its files kept). */
  release(): void;
  /** A fresh run failed: remove what it wrote if no checkpoint was written, then release. */
  abandon(): void;
}

/**
 * Check `dir`, create it when missing (only for `mode` fresh or compare), lock it, and — under the
 * lock — check that a fresh run finds it empty and a resumed run finds a checkpoint.
 */
export function openRunFolder(
  dir: string,
  mode: 'fresh' | 'resume' | 'compare',
  command: string,
  notice: (message: string) => void,
): RunFolder {
  const created = prepareFolder(dir, mode);
  const discard = () => {
    if (mode !== 'fresh' || hasCheckpoint(dir)) return;
    for (const name of readdirSync(dir)) {
      if (RUN_FILES.some((f) => name === f || name.startsWith(`${f}.tmp-`)))
        rmSync(join(dir, name), { force: true });
    }
  };
  const lock = lockRunFolder(dir, { command, notice, onSignal: discard });
  const removeIfCreated = () => {
    for (const level of [...created].reverse()) {
      try {
        rmdirSync(level); // only when empty
      } catch {
        return; // something else is in it: keep it
      }
    }
  };
  try {
    // Under the lock no other process writes here: temporary files are what a crash left.
    for (const name of readdirSync(dir))
      if (/\.tmp-\d+-[0-9a-f]+$/.test(name) && isOneOf(RUN_FILES, name))
        rmSync(join(dir, name), { force: true });
    if (mode === 'resume' && !hasCheckpoint(dir))
      throw new RunFolderError(`cannot resume: ${dir} holds no checkpoint (start without --resume)`);
    if (mode === 'fresh') {
      const found = readdirSync(dir).filter((n) => n !== LOCK_FILE && !n.startsWith(`${LOCK_FILE}.stale-`));
      if (found.length > 0) throw new RunFolderError(notEmpty(dir, found));
    }
  } catch (error) {
    lock.release();
    removeIfCreated();
    throw error;
  }
  return {
    dir,
    release: () => lock.release(),
    abandon: () => {
      discard();
      lock.release();
      if (mode === 'fresh' && !hasCheckpoint(dir)) removeIfCreated();
    },
  };
}

function notEmpty(dir: string, found: string[]): string {
  if (found.every((n) => isOneOf(EARLY_FILES, n))) {
    return `${dir} holds what a run that was killed before its first checkpoint left (${found.join(', ')}) and no checkpoint: delete those files to start over, or choose another --out`;
  }
  return `${dir} is not empty: pass --resume to continue the run there, or choose another --out`;
}

/**
 * The folders created here, outermost first. Never `mkdir -p` blindly (it spins forever on some
 * paths, e.g. under /proc): check the nearest existing ancestor, then create level by level.
 */
function prepareFolder(dir: string, mode: 'fresh' | 'resume' | 'compare'): string[] {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new RunFolderError(`--out ${dir} is a file, not a folder`);
    return [];
  }
  if (mode === 'resume') throw new RunFolderError(`cannot resume: ${dir} does not exist`);
  const missing: string[] = [];
  let at = resolve(dir);
  while (!existsSync(at)) {
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  if (existsSync(at) && !statSync(at).isDirectory())
    throw new RunFolderError(`cannot create --out ${dir}: ${at} is a file, not a folder`);
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (error) {
      const e = error as Error;
      throw new RunFolderError(`cannot create --out ${dir}: ${e.message}`);
    }
  }
  return missing;
}
