/** `diff-transformer info` on every reference model folder, as text and as JSON. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lambdaInit } from '../src/model/config.ts';
import { countParameters } from '../src/model/parameters.ts';
import { repoRoot, runCli } from './cli-helpers.ts';

const folders = ['test/fixtures/reference', 'test/fixtures/extra'].flatMap((root) =>
  readdirSync(join(repoRoot, root), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(root, e.name)),
);

test('info --json describes every fixture folder', () => {
  assert.ok(folders.length >= 9);
  for (const folder of folders) {
    const r = runCli(['info', '--model', folder, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.parameters.total, countParameters(info.config).total);
    assert.equal(info.backend.length > 0, true);
    if (info.config.variant === 'diff') {
      assert.equal(info.lambda.length, info.config.n_layers);
      info.lambda.forEach((l: { layer: number; lambda_init: number; lambda: number }) => {
        assert.equal(l.lambda_init, lambdaInit(l.layer));
        assert.ok(Number.isFinite(l.lambda));
      });
    } else assert.equal(info.lambda, undefined);
  }
});

test('info prints a readable summary', () => {
  const r = runCli(['info', '--model', 'test/fixtures/reference/diff-small']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /variant\s+diff/);
  assert.match(r.stdout, /parameters\s+29,440/);
  assert.match(r.stdout, /layer\s+λ_init\s+λ\n\s+0\s+0\.2000\s+0\.19/);
});
