/**
 * The job protocol of the wasm backend has one definition, src/backends/wasm/kernel-layout.ts, which
 * both the AssemblyScript kernels (assembly/kernels.ts) and the TypeScript wrapper import: it stays a
 * file both compilers accept; neither side spells an op code, control word or argument slot as a
 * number or defines one of its own; and jobArgs, the only way to give a job its words, refuses a
 * missing, repeated or unknown slot. That the committed modules are built from this definition (and
 * compute what the wrapper expects) is checked in wasm-backend.test.ts: the build check and the
 * parity suites on the threaded jobs.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { jobArgs } from '../src/backends/wasm/job-args.ts';
import * as layout from '../src/backends/wasm/kernel-layout.ts';

const root = resolve(import.meta.dirname, '..');
const layoutFile = join(root, 'src/backends/wasm/kernel-layout.ts');
const kernelsFile = join(root, 'assembly/kernels.ts');
const wasmDir = join(root, 'src/backends/wasm');
/** The TypeScript side: every source of the backend but the layout itself. */
const wrapperFiles = readdirSync(wasmDir)
  .filter((name) => name.endsWith('.ts') && name !== 'kernel-layout.ts')
  .map((name) => join(wasmDir, name));

const names = new Map(Object.entries(layout));
const opNames = [...names.keys()].filter((name) => name.startsWith('OP_'));

/** Source text without comments (strings stay: none of the rules below looks inside them). */
function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');
}

/** The first argument of every call of `fn` in `text` (definitions, `fn(name: type`, left out). */
function firstArguments(text: string, fn: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(new RegExp(`\\b${fn}\\(\\s*([^,():\\s]+)\\s*([,):])`, 'g')))
    if (m[2] !== ':') found.push(m[1]);
  return found;
}

test('kernel-layout.ts holds nothing but integer constants (TypeScript and AssemblyScript alike)', () => {
  const statements = code(layoutFile)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  assert.ok(statements.length > 40, `${statements.length} statements`);
  for (const statement of statements)
    assert.match(statement, /^export const [A-Z][A-Z0-9_]* = \d+;$/, 'only `export const NAME = <integer>;`');
  for (const [name, value] of names) assert.ok(Number.isInteger(value), `${name} = ${value}`);
});

test('the layout is consistent: distinct op codes and control words, every job fits its words', () => {
  const ops = opNames.map((name) => names.get(name));
  assert.equal(new Set(ops).size, ops.length, 'op codes are distinct');
  const words = [layout.CLAIM, layout.DONE, layout.GEN, layout.NCHUNK, layout.OP, layout.STOP];
  assert.equal(new Set(words).size, words.length, 'control words are distinct');
  for (const word of words) assert.ok(word >= 0 && word < layout.ARGS, `control word ${word} before ARGS`);
  assert.ok(layout.ARGS + layout.ARG_WORDS <= layout.CTRL_WORDS, 'the argument words lie in the views');
  const counts = [...names].filter(([name]) => name.endsWith('_ARG_COUNT'));
  assert.ok(counts.length >= 9, `${counts.length} argument counts`);
  for (const [name, count] of counts) assert.ok(count <= layout.ARG_WORDS, `${name} = ${count}`);
});

test('the kernels read every control word, op code and argument slot by its layout name', () => {
  const text = code(kernelsFile);
  const imported = text.match(/import\s*\{([^}]*)\}\s*from\s*'\.\.\/src\/backends\/wasm\/kernel-layout'/);
  assert.ok(imported, 'assembly/kernels.ts imports src/backends/wasm/kernel-layout');
  const importedNames = imported[1]
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  for (const name of importedNames) assert.ok(names.has(name), `${name} is in the layout`);

  const slots = ['argI', 'argP', 'argF'].flatMap((fn) => firstArguments(text, fn));
  assert.ok(slots.length > 50, `${slots.length} argument reads found`);
  for (const slot of slots) assert.ok(importedNames.includes(slot), `arg…(${slot}): a slot of the layout`);

  const compared = [...text.matchAll(/\bop\s*==\s*(\w+)/g)].map((m) => m[1]);
  assert.deepEqual(new Set(compared), new Set(opNames), 'runChunk dispatches every op code by its name');

  // the control block only through the layout (its byte addresses derived from CTRL and the words)
  assert.doesNotMatch(text, /\bCTRL\s*\+\s*\d/, 'no control word as a byte offset');
  for (const m of text.matchAll(/\b(?:const|let)\s+([A-Z][A-Z0-9_]*)\s*(?::\s*\w+)?\s*=\s*([^;]+);/g)) {
    assert.ok(!names.has(m[1]), `${m[1]} is defined in the layout`);
    assert.ok(!m[1].startsWith('OP_') || m[1] === 'OP_AT', `op code ${m[1]} outside the layout`);
    if (m[1].endsWith('_AT')) assert.match(m[2], /^<usize>CTRL \+ \(<usize>[A-Z]+ << 2\)$/, m[1]);
  }
});

test('the wrapper passes op codes and argument slots by their layout names', () => {
  let jobs = 0;
  let pairs = 0;
  for (const file of wrapperFiles) {
    const text = code(file);
    const where = file.slice(root.length + 1);
    for (const m of text.matchAll(/\b(?:const|let)\s+([A-Z][A-Z0-9_]*)\s*(?::\s*\w+)?\s*=\s*\d/g))
      assert.ok(
        !names.has(m[1]) && !/^OP_|_ARG$|_ARGS$/.test(m[1]),
        `${where}: ${m[1]} belongs in the layout`,
      );
    for (const op of [...firstArguments(text, 'job'), ...firstArguments(text, 'elementwise')]) {
      jobs++;
      assert.ok(op === 'op' || opNames.includes(op), `${where}: a job of op ${op}`);
    }
    for (const count of firstArguments(text, 'jobArgs'))
      assert.ok(
        count === 'argCount' || (count.endsWith('_ARG_COUNT') && names.has(count)),
        `${where}: jobArgs(${count}, …)`,
      );
    assert.doesNotMatch(text, /\[\s*\d+\s*,[^\]\n]*\]/, `${where}: a slot given as a number`);
    for (const m of text.matchAll(/\[\s*([A-Z][A-Z0-9]*_[A-Z0-9_]+)\s*,/g)) {
      pairs++;
      assert.ok(names.has(m[1]), `${where}: [${m[1]}, …] is not a slot of the layout`);
    }
  }
  assert.ok(jobs >= 9, `${jobs} jobs found`);
  assert.ok(pairs > 60, `${pairs} slot pairs found`);
});

test('jobArgs puts each value at its slot and refuses a missing, repeated or unknown slot', () => {
  const { PACK_B_ARG_COUNT: count, PACK_B_B, PACK_B_BP, PACK_B_K, PACK_B_LDB, PACK_B_N, PACK_B_NN } = layout;
  const given = [
    [PACK_B_BP, 50],
    [PACK_B_N, 30],
    [PACK_B_B, 0],
    [PACK_B_K, 40],
    [PACK_B_NN, 20],
    [PACK_B_LDB, 10],
  ] as const;
  const all = [...given, [layout.PACK_B_PANELS_PER_CHUNK, 60]] as const;
  const words = jobArgs(count, all);
  assert.equal(words.length, count);
  for (const [slot, value] of all) assert.equal(words[slot], value);
  assert.throws(
    () => jobArgs(count, given),
    new RegExp(`slots not given: ${layout.PACK_B_PANELS_PER_CHUNK}$`),
  );
  assert.throws(() => jobArgs(count, [...all.slice(1), [PACK_B_N, 1]]), /slot \d+ is given twice/);
  assert.throws(() => jobArgs(count, [...given, [count, 1]]), /outside/);
  assert.throws(() => jobArgs(layout.ARG_WORDS + 1, []), /argument words/);
});
