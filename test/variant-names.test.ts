/**
 * README § Architecture, "The variant is asked, not tested": a variant's name is tested only inside
 * src/model/variants/ (its module and the registry); everything else asks `variantModule(...)`.
 * Read from the sources: no comparison with a variant name ("=== 'diff'", "case 'diffv2':", …)
 * outside that folder. src/eval is not read: it compares experiment arm keys ("halfheads", "v2ctl",
 * and arms named after variants), which are not variants.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { VARIANTS } from '../src/model/variants/index.ts';

const root = resolve(import.meta.dirname, '..');
const EXEMPT = ['src/model/variants', 'src/eval'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (EXEMPT.includes(relative(root, path))) continue;
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

const names = VARIANTS.join('|');
/** x === 'diff', 'diff' !== x, case 'diff': (either quote). */
const NAME_TEST = new RegExp(
  `(?:[!=]==\\s*(['"])(?:${names})\\1)|(?:(['"])(?:${names})\\2\\s*[!=]==)|(?:case\\s+(['"])(?:${names})\\3)`,
);

/** Every line of `text` that tests a variant name, as "line: text". */
function nameTests(text: string): string[] {
  return text.split('\n').flatMap((line, i) => (NAME_TEST.test(line) ? [`${i + 1}: ${line.trim()}`] : []));
}

test('no source outside src/model/variants tests a variant name', () => {
  const found = sources(join(root, 'src')).flatMap((file) =>
    nameTests(readFileSync(file, 'utf8')).map((hit) => `${relative(root, file)}:${hit}`),
  );
  assert.deepEqual(found, []);
});

test('the rule sees a test of a variant name (and not a config that names one)', () => {
  assert.equal(nameTests('if (c.variant === \'diff\') x();\nswitch (v) { case "diffv2": }').length, 2);
  assert.equal(nameTests("const b = 'baseline' !== v;").length, 1);
  assert.deepEqual(nameTests("const c = { variant: 'baseline' };\nmatchedConfig(b, 'diffv2');"), []);
  assert.ok(sources(join(root, 'src')).some((f) => f.endsWith('interchange/hf-config.ts')));
});
