/**
 * Training on supervised examples: example construction and validation, the seeded sampler and its
 * exact restore, evaluation batches, and train() on a task only answer-scored training can learn
 * quickly (copy a random key), deterministically.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { IGNORE_TARGET } from '../src/core/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { trainTokenizer } from '../src/tokenizer/index.ts';
import {
  checkExamples,
  ExampleSampler,
  exampleEvaluationBatches,
  exampleFromIds,
  type TrainingExample,
} from '../src/train/examples.ts';
import { readMetrics } from '../src/train/metrics.ts';
import type { Preset } from '../src/train/presets.ts';
import { train } from '../src/train/trainer.ts';
import { tempDir } from './cli-helpers.ts';

const X = IGNORE_TARGET;

describe('examples', () => {
  test('exampleFromIds scores exactly the chosen tokens', () => {
    const e = exampleFromIds(
      [10, 11, 12, 13, 14, 15],
      [
        [2, 3],
        [5, 5],
      ],
    );
    assert.deepEqual([...e.inputs], [10, 11, 12, 13, 14]);
    assert.deepEqual([...e.targets], [X, 12, 13, X, 15]);
    assert.throws(() => exampleFromIds([1, 2, 3], [[0, 1]]), /tokens 1 … 2/);
    assert.throws(() => exampleFromIds([1, 2, 3], [[2, 3]]), /tokens 1 … 2/);
    assert.throws(() => exampleFromIds([1], []), /at least 2 tokens/);
  });

  test('checkExamples names what is wrong', () => {
    const ok = exampleFromIds([1, 2, 3, 4], [[3, 3]]);
    assert.equal(checkExamples([ok, ok], 8, 10, 'training examples'), 2);
    assert.throws(() => checkExamples([], 8, 10, 'training examples'), /training examples: no examples/);
    assert.throws(
      () => checkExamples([ok], 2, 10, 'training examples'),
      /example 0 has 3 inputs; expected 1 … 2/,
    );
    assert.throws(
      () => checkExamples([{ inputs: Int32Array.of(1, 2), targets: Int32Array.of(2) }], 8, 10, 'x'),
      /2 inputs but 1 targets/,
    );
    assert.throws(
      () => checkExamples([exampleFromIds([1, 2, 30], [[2, 2]])], 8, 10, 'x'),
      /target 30 outside/,
    );
    assert.throws(
      () => checkExamples([exampleFromIds([1, 2, 3], [])], 8, 10, 'x'),
      /no example has a scored target/,
    );
  });

  test('the sampler pads with ignored targets and restores to the same batches', () => {
    const examples = [exampleFromIds([1, 2, 3], [[2, 2]]), exampleFromIds([4, 5, 6, 7, 8], [[1, 4]])];
    const a = new ExampleSampler(examples, 3, 6, 9);
    const first = a.next();
    for (let row = 0; row < 3; row++) {
      const inputs = [...first.inputs.subarray(row * 6, row * 6 + 6)];
      const targets = [...first.targets.subarray(row * 6, row * 6 + 6)];
      const short = inputs[0] === 1;
      assert.deepEqual(inputs, short ? [1, 2, 0, 0, 0, 0] : [4, 5, 6, 7, 0, 0]);
      assert.deepEqual(targets, short ? [X, 3, X, X, X, X] : [5, 6, 7, 8, X, X]);
    }
    const saved = a.state();
    const next = [a.next(), a.next()];
    const b = ExampleSampler.restore(examples, 3, 6, JSON.parse(JSON.stringify(saved)));
    assert.deepEqual([b.next(), b.next()], next);
  });

  test('evaluation batches cover the examples in order, the last one partial', () => {
    const examples = Array.from({ length: 5 }, (_, i) => exampleFromIds([i + 1, i + 2], [[1, 1]]));
    const batches = exampleEvaluationBatches(examples, 2, 3, 10);
    assert.deepEqual(
      batches.map((b) => b.count),
      [2, 2, 1],
    );
    assert.deepEqual([...batches[2].inputs], [5, 0, 0, 0, 0, 0]);
    assert.deepEqual([...batches[2].targets], [6, X, X, X, X, X]);
    assert.equal(exampleEvaluationBatches(examples, 2, 3, 1).length, 1);
  });
});

describe('train() on examples', () => {
  // "key K: … recall: K": the answer is a copy of a random key seen earlier in the example. Scored on
  // the answer only, the loss there falls far below the ln(26) of a guess within a few hundred steps.
  const tokenizer = trainTokenizer('key: abcdefghijklmnopqrstuvwxyz. recall:'.repeat(20), { vocabSize: 300 });
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const makeSet = (rng: Rng, n: number): TrainingExample[] =>
    Array.from({ length: n }, () => {
      const key = letters[rng.int(26)];
      const filler = Array.from({ length: 1 + rng.int(4) }, () => letters[rng.int(26)]).join(' ');
      const prefix = tokenizer.encode(`key ${key}. ${filler}. recall:`);
      const answer = tokenizer.encode(` ${key}`);
      const ids = [...prefix, ...answer];
      return exampleFromIds(ids, [[prefix.length, ids.length - 1]]);
    });
  const rng = new Rng(3);
  const examples = { train: makeSet(rng, 400), val: makeSet(rng, 64) };
  const preset: Preset = {
    name: 'test-examples',
    description: 'tiny',
    vocab: tokenizer.vocabSize,
    baseline: {
      variant: 'baseline',
      d_model: 32,
      n_layers: 2,
      ffn_hidden: 64,
      n_heads: 2,
      n_kv_heads: 2,
      head_dim: 16,
      rope_theta: 10000,
      norm_eps: 1e-5,
      subln_eps: 1e-5,
      tie_embeddings: false,
    },
    training: { steps: 300, batch: 16, seq: 24, lr: 1e-2, evalEvery: 100, saveEvery: 150 },
  };

  test('learns to copy the key, scoring only the answer, and repeats itself exactly', async () => {
    const dir = tempDir();
    const o = { variant: 'diff' as const, preset, tokenizer, examples, backend: 'js', quiet: true };
    const first = await train({ ...o, out: join(dir, 'first') });
    assert.ok(
      first.finalValLoss < 0.5,
      `answer loss ${first.finalValLoss} should fall well below ln 26 = 3.26`,
    );
    const again = await train({ ...o, out: join(dir, 'again') });
    assert.equal(again.finalValLoss, first.finalValLoss);
    const losses = (run: string) => readMetrics(join(dir, run)).map((m) => m.train_loss);
    assert.deepEqual(losses('again'), losses('first'));
    assert.ok(losses('first')[0] > 2.5, `the first answer loss ${losses('first')[0]} is about a guess's`);
  });

  test('examples need the tokenizer, and bad examples are refused with their index', async () => {
    const out = join(tempDir(), 'bad');
    await assert.rejects(
      train({ variant: 'diff', preset, examples, out, quiet: true, backend: 'js' }),
      /training on examples needs the tokenizer/,
    );
    const long = exampleFromIds(
      Array.from({ length: 40 }, (_, i) => 5 + i),
      [[39, 39]],
    );
    await assert.rejects(
      train({
        variant: 'diff',
        preset,
        tokenizer,
        examples: { train: [long], val: examples.val },
        out,
        quiet: true,
      }),
      /training examples example 0 has 39 inputs; expected 1 … 24/,
    );
    assert.ok(!existsSync(out), 'nothing was written');
  });
});
