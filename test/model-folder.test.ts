/** Model folders: save/load round trip, and every mismatch between weights and config named in one error. */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';
import { ModelFolderError, parametersFromTensors, parseConfigText } from '../src/io/model-folder-content.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../src/io/safetensors.ts';
import { repoRoot, tempDir } from './cli-helpers.ts';

const fixture = join(repoRoot, 'test/fixtures/reference/diff-small');

/** A copy of the fixture folder whose weights are edited by `edit`. */
function editedFolder(edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): string {
  const dir = join(tempDir(), 'model');
  cpSync(fixture, dir, { recursive: true });
  const { tensors } = readSafetensorsFile(join(dir, 'model.safetensors'));
  edit(tensors);
  writeSafetensorsFile(join(dir, 'model.safetensors'), tensors);
  return dir;
}

test('missing, unexpected and misshapen tensors are all listed by name', () => {
  const dir = editedFolder((t) => {
    t.delete('model.norm.weight');
    t.delete('model.layers.1.self_attn.lambda_q1');
    t.set('model.layers.0.self_attn.bias', { shape: [2], data: new Float32Array(2) });
    t.set('lm_head.weight', { shape: [32, 64], data: t.get('lm_head.weight')!.data });
  });
  assert.throws(
    () => loadModelFolder(dir, createJsBackend()),
    (e: Error) =>
      /does not match its diff config/.test(e.message) &&
      e.message.includes('missing tensors: model.layers.1.self_attn.lambda_q1, model.norm.weight') &&
      e.message.includes('unexpected tensors: model.layers.0.self_attn.bias') &&
      e.message.includes('wrong shapes: lm_head.weight: expected [64, 32], found [32, 64]'),
  );
});

test('a broken config.json gets a clear error', () => {
  const broken = join(tempDir(), 'model');
  cpSync(fixture, broken, { recursive: true });
  writeFileSync(join(broken, 'config.json'), '{ not json');
  assert.throws(() => loadModelFolder(broken, createJsBackend()), /config\.json: not valid JSON/);
});

test('an intact copy loads', () => {
  const model = loadModelFolder(
    editedFolder(() => {}),
    createJsBackend(),
  );
  assert.equal(model.config.variant, 'diff');
});

test('the content check needs no file system: the same check, listed in full or first problems only', () => {
  const { tensors } = readSafetensorsFile(join(fixture, 'model.safetensors'));
  const config = parseConfigText(readFileSync(join(fixture, 'config.json'), 'utf8'), 'config.json');
  const names = [...tensors.keys()];
  for (const name of names.slice(0, 6)) tensors.delete(name);
  assert.throws(
    () => parametersFromTensors(config, tensors, createJsBackend(), 'w.safetensors'),
    (e: Error) =>
      e instanceof ModelFolderError &&
      e.message.startsWith('w.safetensors does not match its diff config: missing tensors: ') &&
      names.slice(0, 6).every((n) => e.message.includes(n)),
  );
  assert.throws(
    () => parametersFromTensors(config, tensors, createJsBackend(), 'w.safetensors', 'first'),
    (e: Error) =>
      e instanceof ModelFolderError &&
      /^w\.safetensors does not match its diff config: missing [^;]+(; missing [^;]+){3}; … \(6 problems\)$/.test(
        e.message,
      ),
  );
  assert.throws(() => parseConfigText('{ not json', 'c.json'), /^ModelFolderError: c\.json: not valid JSON/);
});

test('NaN weights are refused, naming the tensor', () => {
  const { tensors } = readSafetensorsFile(join(fixture, 'model.safetensors'));
  const config = parseConfigText(readFileSync(join(fixture, 'config.json'), 'utf8'), 'config.json');
  tensors.get('model.norm.weight')!.data[1] = Number.NaN;
  assert.throws(
    () => parametersFromTensors(config, tensors, createJsBackend(), 'w', 'first'),
    /^ModelFolderError: w: model\.norm\.weight holds 1 NaN/,
  );
});
