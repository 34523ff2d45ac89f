/**
 * Training end to end through the real CLI: the validation loss falls; a run killed with SIGKILL
 * in the middle of writing a checkpoint resumes to exactly the losses of an uninterrupted run; bad
 * input gives one clear line, a non-zero exit, and overwrites nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { readMetrics } from '../src/train/metrics.ts';
import { runCli, smallCorpus, tempDir } from './cli-helpers.ts';

const corpus = smallCorpus();
/** A small, fast run of the nano preset. */
const base = (out: string, extra: string[] = []) => [
  'train',
  '--preset',
  'nano',
  '--data',
  corpus,
  '--out',
  out,
  '--batch',
  '4',
  '--seq',
  '32',
  '--vocab',
  '300',
  '--backend',
  'js',
  ...extra,
];

test('a short run learns: validation loss falls, and the folder is a complete model folder', () => {
  const out = join(tempDir(), 'run');
  const r = runCli(base(out, ['--variant', 'diff', '--steps', '40', '--eval-every', '10', '--lr', '0.005']));
  assert.equal(r.status, 0, r.stderr);
  const vals = readMetrics(out)
    .filter((m) => m.val_loss !== undefined)
    .map((m) => m.val_loss!);
  assert.equal(vals.length, 4);
  assert.ok(vals[3] < vals[0] - 0.1, `validation loss should fall: ${vals.join(' → ')}`);
  assert.ok(vals[0] < Math.log(300) - 1, 'far below the uniform-guess loss ln(300) after 10 steps');
  for (const f of [
    'config.json',
    'model.safetensors',
    'tokenizer.json',
    'metrics.jsonl',
    'checkpoint.safetensors',
  ]) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  const records = readMetrics(out);
  assert.equal(records.length, 40);
  assert.equal(records[0].lambda?.length, 2, 'V1 logs λ per layer');
  assert.match(r.stdout, /diff: \d+ parameters, 40 steps, val loss/);
  const model = loadModelFolder(out, createJsBackend());
  assert.equal(model.config.vocab_size, 300);
  const gen = runCli(['generate', '--model', out, '--prompt', 'Call me', '--max-tokens', '5', '--seed', '3']);
  assert.equal(gen.status, 0, gen.stderr);
  assert.ok(gen.stdout.length > 0);
});

describe('resume after kill -9 equals an uninterrupted run', () => {
  for (const variant of ['diff', 'diffv2', 'baseline']) {
    test(variant, () => {
      const flags = [
        '--variant',
        variant,
        '--steps',
        '8',
        '--save-every',
        '3',
        '--eval-every',
        '4',
        '--seed',
        '5',
      ];
      const whole = join(tempDir(), 'whole');
      assert.equal(runCli(base(whole, flags)).status, 0);

      const killed = join(tempDir(), 'killed');
      // Killed during the 2nd checkpoint write (step 6), after the temp file, before the rename.
      const crash = runCli(base(killed, flags), {
        DIFF_TRANSFORMER_KILL_BEFORE_RENAME: 'checkpoint.safetensors:2',
      });
      assert.equal(crash.signal, 'SIGKILL');
      const survivor = loadCheckpoint(killed, createJsBackend());
      assert.equal(survivor.state.step, 3, 'the previous checkpoint is intact and loadable');

      const resumed = runCli(base(killed, [...flags, '--resume']));
      assert.equal(resumed.status, 0, resumed.stderr);
      const a = readMetrics(whole);
      const b = readMetrics(killed);
      assert.deepEqual(
        b.map((m) => [m.step, m.train_loss, m.val_loss, m.lambda]),
        a.map((m) => [m.step, m.train_loss, m.val_loss, m.lambda]),
      );
      assert.deepEqual(
        readFileSync(join(killed, 'model.safetensors')),
        readFileSync(join(whole, 'model.safetensors')),
      );
    });
  }
});

describe('bad input: one clear line, non-zero exit, nothing overwritten', () => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      'unknown flag',
      ['train', '--variant', 'diff', '--preset', 'nano', '--out', 'x', '--bogus'],
      /unknown option '--bogus'/,
    ],
    [
      'missing --out',
      ['train', '--variant', 'diff', '--preset', 'nano'],
      /required option '--out <dir>' not specified/,
    ],
    [
      'bad variant',
      ['train', '--variant', 'gpt', '--preset', 'nano', '--out', 'x'],
      /expected one of diff, baseline, diffv2/,
    ],
    [
      'bad preset',
      ['train', '--variant', 'diff', '--preset', 'huge', '--out', tempDir()],
      /unknown preset "huge"/,
    ],
    [
      'non-integer steps',
      ['train', '--variant', 'diff', '--preset', 'nano', '--out', 'x', '--steps', 'abc'],
      /--steps must be an integer/,
    ],
    [
      'missing data',
      [
        'train',
        '--variant',
        'diff',
        '--preset',
        'nano',
        '--out',
        join(tempDir(), 'o'),
        '--data',
        '/no/such/file',
      ],
      /does not exist/,
    ],
    [
      'resume without checkpoint',
      ['train', '--variant', 'diff', '--preset', 'nano', '--out', tempDir(), '--resume'],
      /holds no checkpoint/,
    ],
    [
      'generate from a missing folder',
      ['generate', '--model', '/no/such/model', '--prompt', 'x'],
      /does not exist/,
    ],
    ['info on a folder that is not a model', ['info', '--model', tempDir()], /config\.json is missing/],
  ];
  for (const [name, args, pattern] of cases) {
    test(name, () => {
      const r = runCli(args);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    });
  }

  test('empty corpus', () => {
    const empty = join(tempDir(), 'empty.txt');
    writeFileSync(empty, '  \n\n');
    const r = runCli([
      'train',
      '--variant',
      'diff',
      '--preset',
      'nano',
      '--out',
      join(tempDir(), 'o'),
      '--data',
      empty,
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /empty/);
  });

  test('an existing run is not overwritten without --resume', () => {
    const out = tempDir();
    writeFileSync(join(out, 'config.json'), 'precious');
    const r = runCli(base(out, ['--variant', 'diff', '--steps', '2']));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /is not empty: pass --resume/);
    assert.equal(readFileSync(join(out, 'config.json'), 'utf8'), 'precious');
  });

  test('resume with different settings is refused', () => {
    const out = join(tempDir(), 'run');
    assert.equal(runCli(base(out, ['--variant', 'diff', '--steps', '2'])).status, 0);
    const r = runCli(base(out, ['--variant', 'diff', '--steps', '2', '--lr', '0.1', '--resume']));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot resume with different settings: lr was 0\.003, now 0\.1/);
  });

  test('divergence (NaN/Inf) stops with a clear message and keeps the last good checkpoint', () => {
    const out = join(tempDir(), 'run');
    mkdirSync(out);
    const r = runCli(
      base(out, ['--variant', 'baseline', '--steps', '30', '--save-every', '1', '--lr', '1e30']),
    );
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /training diverged at step (\d+): loss .*; the checkpoint of step \d+ in .* is kept, unchanged/,
    );
    const step = Number(/step (\d+)/.exec(r.stderr)![1]);
    const kept = loadCheckpoint(out, createJsBackend());
    assert.equal(kept.state.step, step - 1);
    for (const p of kept.params.values()) assert.ok(p.every(Number.isFinite));
  });
});
