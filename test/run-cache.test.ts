// The run cache's names: a run's id changes with its data, also between data sets of the same size
// within one process (the report builds every task's data in one process).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Backend } from '../src/core/backend.ts';
import { size } from '../src/eval/plan.ts';
import { RunCache } from '../src/eval/run-cache.ts';
import type { RunSpec, TaskData } from '../src/eval/run-spec.ts';
import type { Tokenizer } from '../src/tokenizer/index.ts';

const tokenizer = { toJSON: () => ({ model: 'test' }) } as unknown as Tokenizer;
const example = (...ids: number[]) => ({ inputs: Int32Array.from(ids), targets: Int32Array.from(ids) });
const examples = (...ids: number[]): TaskData => ({
  tokenizer,
  examples: { train: [example(...ids)], val: [example(1)] },
});

const spec: RunSpec = {
  task: 'icl',
  size: size('t', 16, 1, 2, 8),
  variant: 'diff',
  seed: 1,
  training: { steps: 1, batch: 1, seq: 4, lr: 1e-3, evalEvery: 1 },
};

test('run ids differ for data sets of the same size in one cache, and are stable per data set', () => {
  const out = mkdtempSync(join(tmpdir(), 'run-cache-'));
  try {
    const cache = new RunCache({
      out,
      quick: true,
      train: false,
      backend: { name: 'js' } as Backend,
      commit: 'test',
      log: () => {},
    });
    const a = examples(1, 2, 3);
    const b = examples(3, 2, 1); // as many examples and tokens as a, other tokens
    const idA = cache.runId(spec, a);
    assert.notEqual(cache.runId(spec, b), idA);
    assert.equal(cache.runId(spec, a), idA);
    assert.equal(cache.runId(spec, examples(1, 2, 3)), idA, 'equal data, equal id');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
