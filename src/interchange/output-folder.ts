/**
 * Writing a whole output folder atomically: everything goes into a fresh sibling folder
 * `<out>.tmp-<pid>-<random>` that is renamed to `out` only once complete, so `out` is either absent
 * (or left as it was) or complete — never half-written. An existing non-empty `out` is refused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InterchangeError } from './hf-config.ts';

export function writeFolderAtomic(out: string, fill: (dir: string) => void): void {
  const target = resolve(out);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory())
      throw new InterchangeError(`--out ${out} exists and is not a folder`);
    if (readdirSync(target).length > 0)
      throw new InterchangeError(`--out ${out} exists and is not empty (refusing to overwrite it)`);
  }
  const parent = dirname(target);
  if (!existsSync(parent)) mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    fill(tmp);
    if (existsSync(target)) rmdirSync(target); // empty, checked above
    renameSync(tmp, target);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}
