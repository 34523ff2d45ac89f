/**
 * Every reference case (a model folder plus the answers of the float64 PyTorch reference) must be
 * reproduced: logits, loss, the gradient of every parameter, every attention map and the greedy
 * continuation. Cases are discovered, never named: the copy in test/fixtures/reference, the shared
 * folder ../shared/fixtures/reference when present, and the folder named by $REFERENCE_FIXTURES.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { backendNames, createBackend } from '../src/backends/index.ts';
import type { Floats } from '../src/core/backend.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { relativeError } from './helpers.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const roots = [
  join(repoRoot, 'test/fixtures/reference'), // copy of the shared cases
  join(repoRoot, 'test/fixtures/extra'), // GQA ratios, depths, tied, odd lengths (tools/make-reference-cases.py)
  resolve(repoRoot, '../shared/fixtures/reference'),
];
if (process.env.REFERENCE_FIXTURES) roots.push(resolve(process.env.REFERENCE_FIXTURES));

function discoverCases(): string[] {
  const cases: string[] = [];
  for (const root of roots) {
    if (!existsSync(root)) {
      if (root === process.env.REFERENCE_FIXTURES)
        throw new Error(`REFERENCE_FIXTURES folder ${root} does not exist`);
      continue;
    }
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      if (entry.isDirectory() && existsSync(join(root, entry.name, 'case.json')))
        cases.push(join(root, entry.name));
    }
  }
  return cases.sort();
}

interface Case {
  tokens: number[][];
  loss: number;
  greedy: { prompt: number[]; continuation: number[] };
}

const TOLERANCE = 1e-4;
const cases = discoverCases();

test('reference cases are discovered', () => {
  assert.ok(cases.length >= 3, `expected at least the 3 bundled cases, found ${cases.length}`);
});

for (const backendName of backendNames()) {
  describe(`reference fixtures on the ${backendName} backend`, () => {
    for (const dir of cases) {
      test(dir.replace(`${repoRoot}/`, ''), () => {
        const model = loadModelFolder(dir, createBackend(backendName));
        const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as Case;
        const expected = readSafetensorsFile(join(dir, 'expected.safetensors')).tensors;
        const B = spec.tokens.length;
        const T = spec.tokens[0].length - 1;
        const inputs = Int32Array.from(spec.tokens.flatMap((row) => row.slice(0, -1)));
        const targets = Int32Array.from(spec.tokens.flatMap((row) => row.slice(1)));

        const errors: Array<[string, number]> = [];
        const check = (name: string, got: Floats | undefined, want: Float32Array) => {
          assert.ok(got, `${name}: not produced`);
          assert.equal(got.length, want.length, `${name}: ${got.length} values, expected ${want.length}`);
          const err = relativeError(got, want);
          errors.push([name, err]);
          assert.ok(err < TOLERANCE, `${name}: relative error ${err.toExponential(2)} ≥ ${TOLERANCE}`);
        };

        const { loss, grads, logits } = model.lossAndGradients(inputs, targets, B, T);
        check('logits', logits, expected.get('logits')!.data);
        assert.ok(Math.abs(loss - spec.loss) < 1e-5, `loss ${loss} vs ${spec.loss}`);

        const { maps } = model.forward(inputs, B, T, { maps: true });
        let mapCount = 0;
        for (const [name, tensor] of expected) {
          if (name.startsWith('grad.')) check(name, grads.get(name.slice(5)), tensor.data);
          else if (name.startsWith('attn.')) {
            const [, layer, kind] = name.split('.');
            check(name, maps![Number(layer)][kind as 'a1'], tensor.data);
            mapCount++;
          }
        }
        assert.equal(grads.size + mapCount + 1, expected.size, 'every expected tensor is checked');

        const { prompt, continuation } = spec.greedy;
        assert.deepEqual(
          model.greedy(prompt, continuation.length, false),
          continuation,
          'greedy, recomputed',
        );
        assert.deepEqual(model.greedy(prompt, continuation.length, true), continuation, 'greedy, KV cache');

        const [worstName, worst] = errors.reduce((a, b) => (b[1] > a[1] ? b : a));
        console.log(
          `# ${backendName} ${dir.split('/').pop()}: worst relative error ${worst.toExponential(2)} (${worstName}), loss error ${Math.abs(loss - spec.loss).toExponential(2)}`,
        );
      });
    }
  });
}
