/**
 * Atomic file writing.
 *
 * Contract: `writeFileAtomic(path, data)` writes `data` to `${path}.tmp-<pid>-<random>` in the same
 * folder, fsyncs that file, renames it over `path` and then fsyncs the folder. Because a rename within
 * one folder is atomic, a crash at any moment leaves either the old `path` or the new one, never a
 * partial file (a stray `.tmp-` file may be left by a crash; readers only ever read `path`).
 * If writing fails, the temp file is removed and an Error naming `path` is thrown (its `code` and
 * `cause` are those of the underlying fs error).
 */
import { nodeBuiltin } from '../core/node-builtins.ts';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } = nodeBuiltin('node:fs');
  const { randomBytes } = nodeBuiltin('node:crypto');
  const { dirname, resolve } = nodeBuiltin('node:path');
  const dir = dirname(resolve(path));
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    crashPointForTests(path);
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    rmSync(tmp, { force: true });
    throw wrapError(err, path, dir);
  }
  fsyncDir(dir);
}

const writesSeen = new Map<string, number>();

/**
 * Fault injection for the crash tests: with DIFF_TRANSFORMER_KILL_BEFORE_RENAME=<file name>:<n> the
 * process kills itself (SIGKILL) on the n-th write of that file name, after the temporary file is
 * complete and before the rename — the worst moment for a crash.
 */
function crashPointForTests(path: string): void {
  const spec = process.env.DIFF_TRANSFORMER_KILL_BEFORE_RENAME;
  if (!spec) return;
  const [name, count] = spec.split(':');
  if (!path.endsWith(name)) return;
  const seen = (writesSeen.get(name) ?? 0) + 1;
  writesSeen.set(name, seen);
  if (seen === Number(count)) process.kill(process.pid, 'SIGKILL');
}

function wrapError(err: unknown, path: string, dir: string): Error {
  const e = err as NodeJS.ErrnoException;
  const { existsSync } = nodeBuiltin('node:fs');
  const why = existsSync(dir) ? (e?.message ?? String(err)) : `folder ${dir} does not exist`;
  const out = new Error(`cannot write ${path} atomically: ${why}`, { cause: err }) as NodeJS.ErrnoException;
  if (e?.code) out.code = e.code;
  return out;
}

/** Make the rename durable. Some platforms (Windows) cannot open or fsync a folder: skip there. */
function fsyncDir(dir: string): void {
  const { closeSync, fsyncSync, openSync } = nodeBuiltin('node:fs');
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
