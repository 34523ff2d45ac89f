import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeFileAtomic } from '../src/io/atomic-write.ts';
import { readSafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';

const root = mkdtempSync(join(tmpdir(), 'atomic-write-'));
after(() => rmSync(root, { recursive: true, force: true }));

function freshDir(): string {
  return mkdtempSync(join(root, 'case-'));
}

test('writes bytes and strings, leaving no temp files', () => {
  const dir = freshDir();
  writeFileAtomic(join(dir, 'a.bin'), new Uint8Array([1, 2, 3]));
  writeFileAtomic(join(dir, 'b.txt'), 'héllo');
  assert.deepEqual([...readFileSync(join(dir, 'a.bin'))], [1, 2, 3]);
  assert.equal(readFileSync(join(dir, 'b.txt'), 'utf8'), 'héllo');
  assert.deepEqual(readdirSync(dir).sort(), ['a.bin', 'b.txt']);
});

test('overwrites an existing file', () => {
  const dir = freshDir();
  const path = join(dir, 'f.txt');
  writeFileAtomic(path, 'old content that is longer');
  writeFileAtomic(path, 'new');
  assert.equal(readFileSync(path, 'utf8'), 'new');
  assert.deepEqual(readdirSync(dir), ['f.txt']);
});

test('missing folder gives a clear error and leaves no temp file', () => {
  const dir = freshDir();
  const path = join(dir, 'missing', 'f.txt');
  assert.throws(
    () => writeFileAtomic(path, 'x'),
    (err: Error & { code?: string }) => {
      assert.match(err.message, /cannot write .*f\.txt atomically/);
      assert.match(err.message, /does not exist/);
      assert.equal(err.code, 'ENOENT');
      return true;
    },
  );
  assert.deepEqual(readdirSync(dir), []);
});

test('failure at rename removes the temp file and leaves the target untouched', () => {
  const dir = freshDir();
  const target = join(dir, 'target');
  mkdirSync(target);
  writeFileSync(join(target, 'inner'), 'keep');
  // renaming a file over a non-empty folder fails after the temp file was fully written
  assert.throws(() => writeFileAtomic(target, 'x'), /cannot write .*target atomically/);
  assert.deepEqual(readdirSync(dir), ['target']);
  assert.equal(readFileSync(join(target, 'inner'), 'utf8'), 'keep');
});

test('simulated crash: a leftover partial temp file does not affect the target', () => {
  const dir = freshDir();
  const path = join(dir, 'model.safetensors');
  const tensors = { w: { shape: [2], data: new Float32Array([1, 2]) } };
  writeFileAtomic(path, writeSafetensors(tensors));
  // a crash mid-write of a newer version leaves a truncated temp file next to the target
  const newer = writeSafetensors({ w: { shape: [3], data: new Float32Array([7, 8, 9]) } });
  writeFileSync(`${path}.tmp-12345-deadbeef`, newer.subarray(0, newer.length - 5));
  const back = readSafetensorsFile(path);
  assert.deepEqual([...back.tensors.get('w')!.data], [1, 2]);
  // the next successful write replaces the target and leaves the stale temp file alone
  writeFileAtomic(path, newer);
  assert.deepEqual([...readSafetensorsFile(path).tensors.get('w')!.data], [7, 8, 9]);
  assert.deepEqual(readdirSync(dir).sort(), ['model.safetensors', 'model.safetensors.tmp-12345-deadbeef']);
});
