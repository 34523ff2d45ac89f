/**
 * An exclusive lock on a run folder, so that two `train`/`compare` processes never write one folder.
 *
 * Contract: `lockRunFolder(dir, …)` creates `dir/.diff-transformer.lock` with O_EXCL (`wx`), holding
 * JSON { pid, host, command, started }. When the file exists already:
 * - held by a process of this host that is no longer running (or unreadable and older than a few
 *   seconds): the stale lock is taken over, with a notice;
 * - otherwise: `RunLockError` naming the process, its host and the lock file (to delete by hand only
 *   when that process is known to be gone, e.g. on another host).
 * The lock is released by `release()`, at process exit, and on SIGINT/SIGTERM/SIGHUP (then the signal's
 * own default action follows, after `onSignal` has run). A `kill -9` leaves it behind: the next run
 * takes it over. Signal handlers run only when the event loop turns: long loops must yield to it.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = '.diff-transformer.lock';
/** An unreadable lock younger than this may be one being written right now. */
const UNREADABLE_GRACE_MS = 5000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class RunLockError extends Error {
  override name = 'RunLockError';
}

export interface RunLock {
  path: string;
  release(): void;
}

interface Holder {
  pid: number;
  host: string;
  command: string;
  started: string;
}

interface Held {
  path: string;
  content: string;
  onSignal?: () => void;
}

const held = new Set<Held>();

export function lockRunFolder(
  dir: string,
  options: { command: string; notice?: (message: string) => void; onSignal?: () => void },
): RunLock {
  const path = join(dir, LOCK_FILE);
  const me: Holder = {
    pid: process.pid,
    host: hostname(),
    command: options.command,
    started: new Date().toISOString(),
  };
  const content = `${JSON.stringify(me)}\n`;
  // The handlers go in before the file exists, so that no signal can find the lock made and not yet
  // guarded (a signal in between, with nothing held, takes its default action).
  installHandlers();
  try {
    for (let attempt = 0; ; attempt++) {
      if (tryCreate(path, content)) break;
      const found = readLock(path);
      if (found === 'gone') continue; // released between our two looks: try again
      const stale = staleness(found, path);
      if (!stale || attempt >= 3) throw new RunLockError(refusal(dir, path, found));
      if (takeOver(path, found.text)) options.notice?.(`${dir}: taking over the lock of ${stale}`);
    }
  } catch (error) {
    if (held.size === 0) removeHandlers();
    throw error;
  }
  const entry: Held = { path, content, onSignal: options.onSignal };
  held.add(entry);
  return {
    path,
    release: () => {
      release(entry);
    },
  };
}

function tryCreate(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new RunLockError(`cannot lock ${path}: ${(error as Error).message}`);
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

type Found = { text: string; holder?: Holder; mtimeMs: number };

function readLock(path: string): Found | 'gone' {
  try {
    const mtimeMs = statSync(path).mtimeMs;
    const text = readFileSync(path, 'utf8');
    let holder: Holder | undefined;
    try {
      const parsed = JSON.parse(text);
      if (Number.isSafeInteger(parsed?.pid) && typeof parsed?.host === 'string') holder = parsed;
    } catch {
      // unreadable: judged by its age
    }
    return { text, holder, mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
}

/** Why the lock is stale ("process 123, no longer running"), or undefined when it may be live. */
function staleness(found: Found, path: string): string | undefined {
  const h = found.holder;
  if (!h)
    return Date.now() - found.mtimeMs > UNREADABLE_GRACE_MS ? `an unreadable lock file ${path}` : undefined;
  if (h.host !== hostname()) return undefined; // cannot tell whether a process elsewhere still runs
  if (h.pid === process.pid) return undefined; // this very process holds it
  return isRunning(h.pid)
    ? undefined
    : `process ${h.pid} (${h.command}, started ${h.started}), which is no longer running`;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/**
 * Moves the stale lock aside; only the process whose rename finds exactly the stale content goes on
 * (if someone else's fresh lock was moved instead, it is linked back).
 */
function takeOver(path: string, staleText: string): boolean {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const moved = readFileSync(aside, 'utf8');
  if (moved !== staleText) {
    try {
      linkSync(aside, path);
    } catch {
      // a third process locked meanwhile; the moved lock's owner will find its lock replaced
    }
  }
  rmSync(aside, { force: true });
  return moved === staleText;
}

function refusal(dir: string, path: string, found: Found): string {
  const h = found.holder;
  if (!h) return `${dir} is in use: its lock ${path} is being written by another run`;
  const where = h.host === hostname() ? '' : ` on host ${h.host}`;
  return `${dir} is in use by process ${h.pid}${where} (${h.command}, started ${h.started}): wait for it to finish, or stop it; delete ${path} only if that process is gone`;
}

function release(entry: Held): void {
  if (!held.delete(entry)) return;
  try {
    if (readFileSync(entry.path, 'utf8') === entry.content) rmSync(entry.path, { force: true });
  } catch {
    // already gone
  }
  if (held.size === 0) removeHandlers();
}

const onExit = () => {
  for (const entry of [...held]) release(entry);
};

const onSignal = (signal: NodeJS.Signals) => {
  for (const entry of [...held]) {
    try {
      entry.onSignal?.();
    } finally {
      release(entry);
    }
  }
  removeHandlers();
  process.kill(process.pid, signal); // the signal's default action, now that no handler is left
};

let installed = false;

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function removeHandlers(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}
