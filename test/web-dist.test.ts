/**
 * The committed browser bundle (web/dist, shipped so users need no build step) must be what the
 * current sources build to: a change to web/ or to the model code without `npm run build:web` fails here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { repoRoot, tempDir } from './cli-helpers.ts';

function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

test('web/dist is up to date with the sources (run `npm run build:web` if not)', () => {
  const outDir = join(tempDir('dt-web-'), 'dist');
  const vite = join(repoRoot, 'node_modules/vite/bin/vite.js');
  const r = spawnSync(
    process.execPath,
    [vite, 'build', 'web', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'],
    {
      cwd: repoRoot,
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const fresh = files(outDir);
  const committed = files(join(repoRoot, 'web/dist'));
  assert.deepEqual([...committed.keys()].sort(), [...fresh.keys()].sort(), 'the same files');
  for (const [name, content] of fresh)
    assert.ok(committed.get(name)?.equals(content), `${name} differs: rebuild with npm run build:web`);
});
