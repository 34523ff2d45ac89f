/**
 * README § Architecture, "The variant is asked, not tested": a variant's name is tested only inside
 * src/model/variants/ (its module and the registry); everything else asks `variantModule(...)`.
 * Read from the sources: no comparison with a variant name ("=== 'diff'", "case 'diffv2':", …)
 * outside that folder. src/eval is read by a narrower rule: it compares experiment arm keys ("halfheads",
 * "v2ctl", and the arms named after variants — the reference arm 'baseline' of a table), which are not
 * variants, but it never tests a run's or a config's `.variant` by name.
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

/** x.variant === 'diff', 'diff' !== r.spec.variant (either quote). */
const VARIANT_FIELD_TEST = new RegExp(
  `(?:\\.variant\\s*[!=]==\\s*(['"])(?:${names})\\1)|(?:(['"])(?:${names})\\2\\s*[!=]==\\s*[\\w.]*\\.variant\\b)`,
);

test('src/eval never tests a run or config variant by name (it asks the variant module)', () => {
  const evalFiles = readdirSync(join(root, 'src/eval')).map((f) => join(root, 'src/eval', f));
  const found = evalFiles.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, i) =>
        VARIANT_FIELD_TEST.test(line) ? [`${relative(root, file)}:${i + 1}: ${line.trim()}`] : [],
      ),
  );
  assert.deepEqual(found, []);
  assert.ok(VARIANT_FIELD_TEST.test("rs.filter((r) => r.spec.variant === 'diff')"));
  assert.ok(VARIANT_FIELD_TEST.test("if ('baseline' !== c.variant) {}"));
  assert.ok(!VARIANT_FIELD_TEST.test("k === 'baseline' ? '–' : x"), 'arm keys are not variants');
});

test('the rule sees a test of a variant name (and not a config that names one)', () => {
  assert.equal(nameTests('if (c.variant === \'diff\') x();\nswitch (v) { case "diffv2": }').length, 2);
  assert.equal(nameTests("const b = 'baseline' !== v;").length, 1);
  assert.deepEqual(nameTests("const c = { variant: 'baseline' };\nmatchedConfig(b, 'diffv2');"), []);
  assert.ok(sources(join(root, 'src')).some((f) => f.endsWith('interchange/hf-config.ts')));
});
