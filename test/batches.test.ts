/** Tests for src/train/batches.ts: seeded sampling, exact resume, and fixed evaluation windows. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BatchSampler, evaluationBatches } from '../src/train/batches.ts';

const tokens = Int32Array.from({ length: 500 }, (_, i) => (i * 7919) % 1009);

function draw(sampler: BatchSampler, n: number) {
  return Array.from({ length: n }, () => sampler.next());
}

describe('BatchSampler', () => {
  test('is deterministic for a seed and differs for another seed', () => {
    const a = draw(new BatchSampler(tokens, 4, 16, 1), 5);
    const b = draw(new BatchSampler(tokens, 4, 16, 1), 5);
    const c = draw(new BatchSampler(tokens, 4, 16, 2), 5);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test('rows are contiguous windows; targets are inputs shifted by one', () => {
    const seq = 16;
    const sampler = new BatchSampler(tokens, 8, seq, 3);
    for (const { inputs, targets } of draw(sampler, 10)) {
      assert.equal(inputs.length, 8 * seq);
      assert.equal(targets.length, 8 * seq);
      for (let row = 0; row < 8; row++) {
        const x = inputs.subarray(row * seq, (row + 1) * seq);
        const y = targets.subarray(row * seq, (row + 1) * seq);
        assert.deepEqual(x.subarray(1), y.subarray(0, seq - 1));
        // positions in `tokens` are identified through the unique ids (i*7919 mod 1009 is injective here)
        const start = tokens.indexOf(x[0]);
        assert.ok(start >= 0 && start + seq < tokens.length);
        assert.deepEqual(x, tokens.subarray(start, start + seq));
        assert.deepEqual(y, tokens.subarray(start + 1, start + seq + 1));
      }
    }
  });

  test('can start at every position, including the last full window', () => {
    const small = Int32Array.from({ length: 6 }, (_, i) => i);
    const sampler = new BatchSampler(small, 64, 3, 9);
    const starts = new Set(Array.from(sampler.next().inputs.filter((_, i) => i % 3 === 0)));
    assert.deepEqual([...starts].sort(), [0, 1, 2]);
  });

  test('a sampler restored from state() continues with exactly the same batches', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 6 }),
        (seed, before) => {
          const original = new BatchSampler(tokens, 3, 8, seed);
          draw(original, before);
          const state = JSON.parse(JSON.stringify(original.state()));
          assert.equal(state.drawn, before);
          const restored = BatchSampler.restore(tokens, 3, 8, state);
          assert.deepEqual(draw(restored, 4), draw(original, 4));
          assert.deepEqual(restored.state(), original.state());
        },
      ),
      { numRuns: 50 },
    );
  });

  test('rejects too few tokens for one window', () => {
    assert.throws(() => new BatchSampler(new Int32Array(16), 2, 16, 0), /seq\+1/);
  });
});

describe('evaluationBatches', () => {
  const ids = Int32Array.from({ length: 101 }, (_, i) => i);

  test('covers the tokens in order with non-overlapping windows, last batch partial', () => {
    const batches = evaluationBatches(ids, 3, 10, 100);
    // (101 - 1) / 10 = 10 windows → batches of 3, 3, 3, 1
    assert.deepEqual(
      batches.map((b) => b.count),
      [3, 3, 3, 1],
    );
    const inputs: number[] = [];
    const targets: number[] = [];
    for (const b of batches) {
      assert.equal(b.inputs.length, 30);
      assert.equal(b.targets.length, 30);
      inputs.push(...b.inputs.subarray(0, b.count * 10));
      targets.push(...b.targets.subarray(0, b.count * 10));
    }
    assert.deepEqual(inputs, Array.from(ids.subarray(0, 100)));
    assert.deepEqual(targets, Array.from(ids.subarray(1, 101)));
  });

  test('is limited to maxBatches and is the same every call', () => {
    const batches = evaluationBatches(ids, 2, 10, 2);
    assert.equal(batches.length, 2);
    assert.equal(batches[1].inputs[10], 30);
    assert.deepEqual(evaluationBatches(ids, 2, 10, 2), batches);
  });

  test('drops a final window without its last target', () => {
    const batches = evaluationBatches(ids.subarray(0, 100), 4, 10, 10);
    assert.equal(
      batches.reduce((n, b) => n + b.count, 0),
      9,
    );
  });
});
