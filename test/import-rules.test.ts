/**
 * The layering rules of README § Architecture, read from the import statements of every source file:
 * the model never imports a backend, io, train or eval; a backend never imports train, eval, model or
 * io (it may build on core, the js backend — the oracle — and backends/scratch.ts); core imports only core;
 * the web app imports the library only through its browser entry (and the kernels' wasm assets).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Every module specifier a file imports or re-exports (static and dynamic). */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g))
    found.push(m[1]);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]);
  return found;
}

/** The folder under src/ (e.g. "model", "backends/wasm") that a relative import of `file` lands in. */
function targetFolder(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return relative(join(root, 'src'), resolve(dirname(file), spec));
}

function violations(folder: string, allowed: (target: string) => boolean): string[] {
  const out: string[] = [];
  for (const file of sources(join(root, 'src', folder)))
    for (const spec of specifiers(file)) {
      const target = targetFolder(file, spec);
      if (target !== undefined && !allowed(target)) out.push(`${relative(root, file)} imports ${spec}`);
    }
  return out;
}

const inside = (target: string, folder: string) => target === folder || target.startsWith(`${folder}/`);

test('the model imports only the model and core', () => {
  assert.deepEqual(
    violations('model', (t) => inside(t, 'model') || inside(t, 'core')),
    [],
  );
});

test('core imports only core', () => {
  assert.deepEqual(
    violations('core', (t) => inside(t, 'core')),
    [],
  );
});

test('a backend imports only core, its own folder, the js backend (the oracle) and shared backend helpers', () => {
  for (const name of ['js', 'wasm', 'native'])
    assert.deepEqual(
      violations(
        `backends/${name}`,
        (t) =>
          inside(t, 'core') ||
          inside(t, `backends/${name}`) ||
          inside(t, 'backends/js') ||
          t === 'backends/scratch.ts',
      ),
      [],
      `backend ${name}`,
    );
});

test('the web app imports the library only through its browser entry', () => {
  const bad: string[] = [];
  for (const file of sources(join(root, 'web', 'src')))
    for (const spec of specifiers(file)) {
      const library = spec === 'diff-transformer' || spec.startsWith('diff-transformer/');
      const allowed = [
        'diff-transformer/browser',
        'diff-transformer/kernels.wasm?url',
        'diff-transformer/kernels-relaxed.wasm?url',
      ];
      if (library && !allowed.includes(spec)) bad.push(`${relative(root, file)} imports ${spec}`);
      if (spec.startsWith('.') && !resolve(dirname(file), spec).startsWith(join(root, 'web', 'src')))
        bad.push(`${relative(root, file)} imports ${spec} (outside web/src)`);
    }
  assert.deepEqual(bad, []);
});

test('the rules see the imports (a file known to import across folders is found)', () => {
  const found = specifiers(join(root, 'src', 'model', 'attention.ts'));
  assert.ok(found.includes('../core/backend.ts'), `found ${found.join(', ')}`);
  assert.ok(
    violations('model', (t) => inside(t, 'model')).length > 0,
    'model imports core: a stricter rule must fail',
  );
});
