/**
 * bfloat16 weights for generation (src/generate/bf16.ts, `generate --dtype bf16`): the rounding
 * (nearest, ties to even; NaN and ∞ kept), the native backend's bf16 product against a float64
 * reference, and greedy decoding of every reference fixture with bf16 weights on every backend equal
 * to float32's for as long as float32's top-2 logit gap leaves room for bf16's rounding.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { backendNames, createBackend } from '../src/backends/index.ts';
import { loadNativeAddon } from '../src/backends/native/addon.ts';
import { bf16Bits, bf16Model, bf16ToFloat32 } from '../src/generate/bf16.ts';
import { generateTokens } from '../src/generate/generate.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const fixtureDirs = ['test/fixtures/reference', 'test/fixtures/extra']
  .map((d) => join(repoRoot, d))
  .filter(existsSync)
  .flatMap((root) =>
    readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'case.json')))
      .map((e) => join(root, e.name)),
  );

describe('bfloat16 rounding', () => {
  test('nearest, ties to even; exact values, ±0, ±∞ and NaN kept', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    const bitsOf = (x: number) => {
      u[0] = x;
      return bf16Bits(f)[0];
    };
    assert.equal(bitsOf(0x3f800000), 0x3f80); // 1.0 exactly
    assert.equal(bitsOf(0x3f807fff), 0x3f80); // below the half: down
    assert.equal(bitsOf(0x3f808001), 0x3f81); // above the half: up
    assert.equal(bitsOf(0x3f808000), 0x3f80); // tie, even below: stays
    assert.equal(bitsOf(0x3f818000), 0x3f82); // tie, odd below: up to even
    assert.equal(bitsOf(0x80000000), 0x8000); // −0
    assert.equal(bitsOf(0x7f800000), 0x7f80); // +∞
    assert.equal(bitsOf(0xff800000), 0xff80); // −∞
    assert.equal(bitsOf(0x7f7fffff), 0x7f80); // the largest float rounds to ∞
    assert.ok(Number.isNaN(bf16ToFloat32(Uint16Array.of(bitsOf(0x7f800001)))[0])); // a NaN stays a NaN
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const back = bf16ToFloat32(bf16Bits(values));
    for (let i = 0; i < values.length; i++)
      assert.ok(Math.abs(back[i] - values[i]) <= Math.abs(values[i]) * 2 ** -8, `value ${values[i]}`);
    assert.deepEqual(bf16Bits(back), bf16Bits(values), 'bf16 values round to themselves');
  });
});

const addon = loadNativeAddon();

describe('native bf16 product', { skip: addon ? false : 'native addon not built' }, () => {
  test('y = x·wᵀ on bf16 weights equals a float64 reference on odd shapes', () => {
    let s = 12345;
    const next = () => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s / 2 ** 31 - 1;
    };
    for (const [m, k, n] of [
      [1, 1, 1],
      [1, 64, 200],
      [1, 300, 37],
      [3, 129, 6],
      [4, 17, 5],
      [7, 13, 5],
      [16, 512, 2048],
    ]) {
      const x = Float32Array.from({ length: m * k }, next);
      const bits = bf16Bits(Float32Array.from({ length: n * k }, next));
      const w = bf16ToFloat32(bits);
      const y = new Float32Array(m * n).fill(Number.NaN);
      addon!.linearForwardBf16(x, bits, m, k, n, y);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let want = 0;
          let scale = 0;
          for (let p = 0; p < k; p++) {
            want += x[i * k + p] * w[j * k + p];
            scale += Math.abs(x[i * k + p] * w[j * k + p]);
          }
          const err = Math.abs(y[i * n + j] - want);
          assert.ok(err <= 1e-6 * (scale + 1), `${m}×${k}×${n} at (${i}, ${j}): ${y[i * n + j]} vs ${want}`);
        }
    }
  });
});

/** Bound on bf16's logit error on these small models (measured: up to 0.026). */
const MAX_LOGIT_ERROR = 0.1;

for (const backendName of backendNames()) {
  describe(`bf16 greedy decoding on the ${backendName} backend`, () => {
    test('equals float32 greedy while the top-2 logit gap allows, on every fixture', () => {
      let compared = 0;
      for (const dir of fixtureDirs) {
        const model = loadModelFolder(dir, createBackend(backendName));
        const bf16 = bf16Model(model);
        const { prompt } = (
          JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { greedy: { prompt: number[] } }
        ).greedy;
        const count = 12;
        const fromBf16 = [
          ...generateTokens(bf16, prompt, { maxTokens: count, temperature: 0, dtype: 'bf16' }),
        ];
        // float32 greedy step by step, with its top-2 gap and bf16's logits on the same prefix
        const sequence = [...prompt];
        for (let i = 0; i < count; i++) {
          const T = sequence.length;
          const V = model.config.vocab_size;
          const f32 = model.forward(Int32Array.from(sequence), 1, T).logits.subarray((T - 1) * V);
          const b16 = bf16.forward(Int32Array.from(sequence), 1, T).logits.subarray((T - 1) * V);
          const order = Array.from(f32.keys()).sort((a, b) => f32[b] - f32[a]);
          let maxDiff = 0;
          for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(f32[v] - b16[v]));
          assert.ok(maxDiff < MAX_LOGIT_ERROR, `${dir}: bf16 logits differ by ${maxDiff} at step ${i}`);
          // every logit moved by at most maxDiff: a top-2 gap beyond twice that cannot flip the argmax
          if (f32[order[0]] - f32[order[1]] <= 2 * maxDiff) break; // too close to call: stop comparing here
          assert.equal(fromBf16[i], order[0], `${dir}: step ${i} (KV-cached bf16 decoding vs float32)`);
          compared++;
          sequence.push(order[0]);
        }
      }
      assert.ok(compared >= 3 * fixtureDirs.length, `only ${compared} tokens were comparable`);
    });
  });
}

describe('native bf16 routing', { skip: addon ? false : 'native addon not built' }, () => {
  test('held with dtype bf16, every linear layer of decoding runs on the bf16 product; released, none', async () => {
    const { createNativeBackend } = await import('../src/backends/native/index.ts');
    const calls = { f32: 0, bf16: 0 };
    const counting = new Proxy(addon!, {
      get(target, key, receiver) {
        if (key === 'linearForward') calls.f32++;
        if (key === 'linearForwardBf16') calls.bf16++;
        return Reflect.get(target, key, receiver);
      },
    });
    const backend = createNativeBackend({ addon: counting });
    const model = bf16Model(loadModelFolder(fixtureDirs[0], backend));
    const tokens = [...generateTokens(model, [1, 2, 3], { maxTokens: 4, temperature: 0, dtype: 'bf16' })];
    assert.equal(tokens.length, 4);
    assert.ok(calls.bf16 > 0 && calls.f32 === 0, `bf16 ${calls.bf16}, float32 ${calls.f32} products`);
    calls.bf16 = 0;
    [...generateTokens(model, [1, 2, 3], { maxTokens: 4, temperature: 0 })];
    assert.ok(calls.f32 > 0 && calls.bf16 === 0, 'after release the float32 product runs again');
  });
});
