/** Tests for src/train/corpus.ts: the default corpus, folder walking, errors, and the split. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DataError, loadCorpus, splitTokens } from '../src/train/corpus.ts';

const root = mkdtempSync(join(tmpdir(), 'corpus-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string | Uint8Array>): string {
  const dir = join(root, name);
  for (const [rel, content] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('loadCorpus', () => {
  test('the default corpus is Moby Dick and over 1 MB', () => {
    const corpus = loadCorpus();
    assert.ok(corpus.bytes > 1_000_000, `only ${corpus.bytes} bytes`);
    assert.equal(corpus.bytes, Buffer.byteLength(corpus.text, 'utf8'));
    assert.match(corpus.text, /Call me Ishmael/);
    assert.equal(corpus.sources.length, 1);
    assert.match(corpus.sources[0], /moby-dick/);
    assert.deepEqual(loadCorpus([]).sources, corpus.sources);
  });

  test('folders are walked recursively in sorted order, skipping hidden, node_modules and non-text', () => {
    const dir = tree('walk', {
      'b.txt': 'B',
      'a.md': 'A',
      'sub/c.rst': 'C',
      'sub/README': 'R',
      'Z.text': 'Z',
      '.hidden.txt': 'hidden',
      '.git/config': 'git',
      'node_modules/x.txt': 'module',
      'image.png': 'png',
      'data.json': '{}',
    });
    const corpus = loadCorpus([dir]);
    assert.deepEqual(
      corpus.sources.map((s) => s.slice(dir.length + 1)),
      ['Z.text', 'a.md', 'b.txt', join('sub', 'README'), join('sub', 'c.rst')],
    );
    assert.equal(corpus.text, 'Z\n\nA\n\nB\n\nR\n\nC');
    assert.deepEqual(loadCorpus([dir]), corpus);
  });

  test('several paths keep their order; a file path is read whatever its extension', () => {
    const dir = tree('paths', { 'one.txt': 'one', 'two.csv': 'two' });
    const corpus = loadCorpus([join(dir, 'two.csv'), join(dir, 'one.txt')]);
    assert.equal(corpus.text, 'two\n\none');
    assert.equal(corpus.bytes, 8);
  });

  test('a missing path is a DataError naming it', () => {
    const missing = join(root, 'no-such-file.txt');
    assert.throws(
      () => loadCorpus([missing]),
      (e: unknown) => e instanceof DataError && e.message.includes(missing),
    );
  });

  test('a folder without text files is a DataError', () => {
    const dir = tree('no-text', { 'a.json': '{}', '.b.txt': 'hidden' });
    assert.throws(
      () => loadCorpus([dir]),
      (e: unknown) => e instanceof DataError && /no text files/.test(e.message),
    );
  });

  test('a non-UTF-8 file is a DataError naming it', () => {
    const dir = tree('latin1', { 'bad.txt': new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]) });
    const file = join(dir, 'bad.txt');
    assert.throws(
      () => loadCorpus([file]),
      (e: unknown) => e instanceof DataError && e.message.includes(file) && /UTF-8/.test(e.message),
    );
  });

  test('an empty or whitespace-only corpus is a DataError', () => {
    const dir = tree('blank', { 'a.txt': '', 'b.txt': '  \n\t\n' });
    assert.throws(
      () => loadCorpus([dir]),
      (e: unknown) => e instanceof DataError && /empty/.test(e.message),
    );
  });

  test('errors are one line', () => {
    try {
      loadCorpus([join(root, 'missing')]);
      assert.fail('expected a DataError');
    } catch (e) {
      assert.ok(e instanceof DataError);
      assert.ok(!e.message.includes('\n'));
    }
  });
});

describe('splitTokens', () => {
  const ids = Int32Array.from({ length: 1000 }, (_, i) => i);

  test('the last fraction is validation, the rest training', () => {
    const { train, val } = splitTokens(ids, 0.1, 33);
    assert.equal(train.length, 900);
    assert.equal(val.length, 100);
    assert.equal(train[0], 0);
    assert.equal(train[899], 899);
    assert.equal(val[0], 900);
    assert.equal(val[99], 999);
    assert.deepEqual(splitTokens(ids, 0.1, 33), { train, val });
  });

  test('a part shorter than minLength is a DataError with sizes and advice', () => {
    assert.throws(
      () => splitTokens(ids, 0.1, 129),
      (e: unknown) =>
        e instanceof DataError && /900/.test(e.message) && /100/.test(e.message) && /--seq/.test(e.message),
    );
    assert.doesNotThrow(() => splitTokens(ids, 0.1, 100));
  });

  test('a fraction outside (0, 1) is a DataError', () => {
    assert.throws(() => splitTokens(ids, 0, 2), DataError);
    assert.throws(() => splitTokens(ids, 1, 2), DataError);
  });
});

describe('named corpora', () => {
  test('sotu, moby-dick and books load by name from their packages, with their licences', () => {
    const sotu = loadCorpus(['sotu']);
    assert.ok(sotu.bytes > 10_000_000, `sotu is ${sotu.bytes} bytes`);
    assert.match(sotu.sources[0], /PDDL-1\.0 AND CC0-1\.0/);
    assert.ok(sotu.text.startsWith('Fellow-Citizens of the Senate'), 'oldest address first');
    const moby = loadCorpus(['moby-dick']);
    assert.equal(moby.text, loadCorpus().text, 'the named moby-dick is the default corpus');
    assert.equal(loadCorpus(['books']).text, `${sotu.text}\n\n${moby.text}`);
  });

  test('an unknown name is a missing path that lists the named corpora', () => {
    assert.throws(
      () => loadCorpus(['no-such-corpus']),
      /does not exist: no-such-corpus \(nor is it a named corpus: moby-dick, sotu, books\)/,
    );
  });
});
