/**
 * Samplers (greedy, temperature, top-k, top-p, seed) and generation: cached and uncached decoding
 * give identical tokens for every variant, grouped-query configs included; streaming is lossless.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createJsBackend } from '../src/backends/js/index.ts';
import { Rng } from '../src/core/rng.ts';
import { generateText, generateTokens } from '../src/generate/generate.ts';
import { argmax, sampleToken, validateSampler } from '../src/generate/sampler.ts';
import { matchedConfig, parseConfig } from '../src/model/config.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { initParameters, parameterShapes } from '../src/model/parameters.ts';
import { trainTokenizer } from '../src/tokenizer/index.ts';

describe('sampler', () => {
  const logits = Float32Array.of(0.5, 2.0, -1.0, 1.5, 0.0);

  test('temperature 0, top-k 1 and a tiny top-p are all greedy', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 20; i++) {
      assert.equal(sampleToken(logits, { temperature: 0 }, rng), 1);
      assert.equal(sampleToken(logits, { topK: 1 }, rng), 1);
      assert.equal(sampleToken(logits, { topP: 0.01 }, rng), 1);
    }
  });

  test('temperature 1 draws follow the softmax', () => {
    const rng = new Rng(2);
    const counts = new Array(5).fill(0);
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 1 }, rng)]++;
    const z = Array.from(logits, Math.exp).reduce((a, b) => a + b);
    Array.from(logits).forEach((l, i) => {
      assert.ok(Math.abs(counts[i] / n - Math.exp(l) / z) < 0.015, `token ${i}`);
    });
  });

  test('top-k and top-p never leave their candidate set; the same seed gives the same draws', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 30 }),
        fc.integer({ min: 1, max: 5 }),
        fc.nat(),
        (values, k, seed) => {
          const l = Float32Array.from(values);
          const ranked = Array.from(l.keys()).sort((a, b) => l[b] - l[a] || a - b);
          const id = sampleToken(l, { topK: k, temperature: 1.3 }, new Rng(seed));
          assert.ok(ranked.slice(0, k).includes(id));
          assert.equal(sampleToken(l, { topK: k, temperature: 1.3 }, new Rng(seed)), id);
          assert.equal(sampleToken(l, { topP: 1e-9 }, new Rng(seed)), argmax(l));
        },
      ),
    );
  });

  test('bad settings are refused with the flag name', () => {
    assert.throws(() => validateSampler({ temperature: -1 }), /temperature must be/);
    assert.throws(() => validateSampler({ topK: 1.5 }), /topK must be/);
    assert.throws(() => validateSampler({ topP: 0 }), /topP must be/);
  });
});

const baseline = parseConfig({
  variant: 'baseline',
  vocab_size: 300,
  d_model: 32,
  n_layers: 2,
  ffn_hidden: 40,
  n_heads: 4,
  n_kv_heads: 2,
  head_dim: 8,
});

describe('KV cache: identical tokens to recomputation', () => {
  for (const variant of ['diff', 'baseline', 'diffv2'] as const) {
    for (const kv of [2, 4]) {
      test(`${variant}, ${kv === 2 ? 'grouped-query' : 'multi-head'}`, () => {
        const config = matchedConfig({ ...baseline, n_kv_heads: kv }, variant);
        const backend = createJsBackend();
        const params = initParameters(config, backend, new Rng(11));
        for (const p of params.values()) for (let i = 0; i < p.length; i++) p[i] *= 20; // peaky, varied predictions
        const model = new LanguageModel(config, params, backend);
        for (const sampler of [
          { temperature: 0 },
          { temperature: 1, topP: 0.9, seed: 4 },
          { temperature: 0.7, topK: 5, seed: 9 },
        ]) {
          const o = { maxTokens: 24, ...sampler };
          const cached = [...generateTokens(model, [5, 17, 42], { ...o, useCache: true })];
          const fresh = [...generateTokens(model, [5, 17, 42], { ...o, useCache: false })];
          assert.equal(cached.length, 24);
          assert.deepEqual(cached, fresh);
        }
      });
    }
  }
});

test('generateText streams lossless pieces and stops at the end-of-text token', () => {
  const tokenizer = trainTokenizer('the whale, the sea, the ship and the captain '.repeat(20), {
    vocabSize: 300,
  });
  const config = matchedConfig({ ...baseline, vocab_size: tokenizer.vocabSize }, 'diff');
  const backend = createJsBackend();
  const model = new LanguageModel(config, initParameters(config, backend, new Rng(1)), backend);
  const pieces: string[] = [];
  const { text, ids } = generateText(
    model,
    tokenizer,
    'the whale',
    { maxTokens: 30, temperature: 1, seed: 2 },
    (p) => pieces.push(p),
  );
  assert.equal(pieces.join(''), text);
  assert.equal(text, tokenizer.decode(ids));
  // A model that always predicts end-of-text stops at once.
  const head = model.params.get('lm_head.weight')!;
  head.fill(0);
  for (let i = 0; i < config.d_model; i++)
    head[tokenizer.endOfTextId * config.d_model + i] = 100 * model.params.get('model.norm.weight')![i];
  const stopped = generateText(model, tokenizer, 'the whale', { maxTokens: 30, temperature: 0 });
  assert.ok(stopped.ids.length < 30);
  assert.throws(() => generateText(model, tokenizer, '', { maxTokens: 3 }), /the prompt must not be empty/);
});

describe('per-token work of KV-cached decoding (the guard against per-token re-validation or copies)', () => {
  for (const variant of ['diff', 'baseline', 'diffv2'] as const) {
    test(`${variant}: each new token makes the same backend calls, reads each weight matrix once, holds the weights once`, () => {
      const config = matchedConfig({ ...baseline, n_kv_heads: 2 }, variant);
      const js = createJsBackend();
      const calls = new Map<string, number>();
      let weightFloats = 0;
      let holds = 0;
      const counted = new Proxy(js, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver);
          if (typeof value !== 'function' || typeof key !== 'string') return value;
          return (...args: unknown[]) => {
            calls.set(key, (calls.get(key) ?? 0) + 1);
            if (key === 'linearForward') weightFloats += (args[1] as Float32Array).length;
            return value.apply(target, args);
          };
        },
      });
      counted.holdWeights = () => {
        holds++;
        return () => {};
      };
      const model = new LanguageModel(config, initParameters(config, js, new Rng(3)), counted);
      const run = (maxTokens: number) => {
        calls.clear();
        weightFloats = 0;
        holds = 0;
        const n = [...generateTokens(model, [5, 17, 42], { maxTokens, temperature: 0 })].length;
        assert.equal(n, maxTokens);
        return { calls: new Map(calls), weightFloats, holds };
      };
      const [a, b, c] = [run(4), run(8), run(12)];
      assert.deepEqual([a.holds, b.holds, c.holds], [1, 1, 1], 'holdWeights once per generation');
      for (const key of new Set([...a.calls.keys(), ...c.calls.keys()])) {
        const [x, y, z] = [a, b, c].map((r) => r.calls.get(key) ?? 0);
        assert.equal(z - y, y - x, `${key}: calls per token not constant (${x}, ${y}, ${z})`);
      }
      for (const key of ['sumOfSquares', 'adamwUpdate', 'linearBackward'])
        assert.ok(!c.calls.has(key), `${key} called during generation`);
      let matrices = 0; // the linear layers' weights: every matrix but an untied embedding table
      for (const [name, shape] of parameterShapes(config))
        if (shape.length === 2 && (name !== 'model.embed_tokens.weight' || config.tie_embeddings))
          matrices += shape[0] * shape[1];
      const perToken = (c.weightFloats - b.weightFloats) / 4;
      assert.equal(perToken, matrices, 'every weight matrix read exactly once per token');
    });
  }
});
