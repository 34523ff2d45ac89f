/**
 * The browser entry (`diff-transformer/browser` → dist/browser.js, built by `npm run build`) imports
 * nothing from node:* and no other package, through its whole module graph: static imports, re-exports
 * and dynamic import()/require() calls of the compiled JavaScript that ships.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const repoRoot = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

/** Every module reachable from `entry`, and every specifier that is not a relative path. */
function moduleGraph(entry: string): { modules: Set<string>; external: Map<string, string> } {
  const modules = new Set<string>();
  const external = new Map<string, string>(); // specifier → first importer
  const visit = (file: string) => {
    if (modules.has(file)) return;
    modules.add(file);
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      if (fileName.startsWith('./') || fileName.startsWith('../')) visit(resolve(dirname(file), fileName));
      else if (!external.has(fileName)) external.set(fileName, file);
    }
  };
  visit(entry);
  return { modules, external };
}

test('the browser entry in package.json exports is dist/browser.js, with types', () => {
  assert.deepEqual(pkg.exports['./browser'], { types: './dist/browser.d.ts', import: './dist/browser.js' });
});

test('the browser entry module graph imports nothing from node:* nor from any other package', () => {
  const entry = join(repoRoot, pkg.exports['./browser'].import);
  assert.ok(existsSync(entry), `${entry} is missing: run npm run build`);
  const { modules, external } = moduleGraph(entry);
  const found = [...external].map(
    ([spec, from]) => `${spec} (imported by ${from.slice(repoRoot.length + 1)})`,
  );
  assert.deepEqual(found, []);
  // the graph is the real one: the model, both browser backends and the tokenizer are in it
  for (const m of ['model/lm.js', 'backends/wasm/index.js', 'backends/js/index.js', 'tokenizer/tokenizer.js'])
    assert.ok(modules.has(join(repoRoot, 'dist', m)), `${m} not reached from the browser entry`);
});

test('the walker sees node: imports where they are (the Node entry reaches node:fs)', () => {
  const { external } = moduleGraph(join(repoRoot, pkg.exports['.'].import));
  assert.ok(external.has('node:fs'), 'node:fs not found in the graph of dist/index.js');
});
