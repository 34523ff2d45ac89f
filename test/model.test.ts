/**
 * The model family: config validation, λ_init, parameter matching, whole-model gradients against
 * finite differences (float64, grouped-query and tied configs), and KV-cache equivalence.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import { Rng } from '../src/core/rng.ts';
import { loadModelFolder, saveModelFolder } from '../src/io/model-folder.ts';
import {
  lambdaInit,
  type ModelConfig,
  matchedConfig,
  parseConfig,
  type Variant,
} from '../src/model/config.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { countParameters, initParameters } from '../src/model/parameters.ts';
import { relativeError } from './helpers.ts';

const baseline: ModelConfig = parseConfig({
  variant: 'baseline',
  vocab_size: 11,
  d_model: 16,
  n_layers: 2,
  ffn_hidden: 20,
  n_heads: 4,
  n_kv_heads: 2,
  head_dim: 4,
});

describe('config', () => {
  test('names the offending field', () => {
    const bad = { ...baseline, variant: 'diff', d_model: 48, n_heads: 5, n_kv_heads: 5 };
    assert.throws(() => parseConfig(bad), /d_model 48 ≠ 2·n_heads·head_dim = 40/);
    assert.throws(() => parseConfig({ ...baseline, n_kv_heads: 3 }), /n_kv_heads 3 must divide n_heads 4/);
    assert.throws(() => parseConfig({ ...baseline, head_dim: 3, d_model: 12 }), /head_dim must be even/);
    assert.throws(
      () => parseConfig({ ...baseline, vocab_size: 0 }),
      /vocab_size must be a positive integer, found 0/,
    );
    assert.throws(() => parseConfig({ ...baseline, n_layers: 2.5 }), /n_layers must be a positive integer/);
    assert.throws(
      () => parseConfig({ ...baseline, variant: 'gpt' }),
      /variant must be one of diff, baseline, diffv2, found "gpt"/,
    );
    assert.throws(() => parseConfig({ ...baseline, dmodel: 3 }), /unknown field "dmodel"/);
    assert.throws(() => parseConfig({ ...baseline, rope_theta: -1 }), /rope_theta must be a positive number/);
    const { ffn_hidden: _, ...noFfn } = baseline;
    assert.throws(() => parseConfig(noFfn), /missing field ffn_hidden/);
    assert.throws(() => parseConfig([]), /expected a JSON object, found an array/);
  });

  test('subln_init sets the initial per-head norm weight (DIFF V1 only), kept by the model folder', () => {
    const quiet = parseConfig({ ...matchedConfig(baseline, 'diff'), subln_init: 0.05 });
    const backend = createJsBackend();
    const params = initParameters(quiet, backend, new Rng(1));
    const subln = [...params].filter(([name]) => name.includes('.subln.'));
    assert.ok(
      subln.length === quiet.n_layers && subln.every(([, w]) => w.every((x) => Math.abs(x - 0.05) < 1e-7)),
    );
    const other = [...params].filter(([name]) => name.endsWith('layernorm.weight'));
    assert.ok(other.length > 0 && other.every(([, w]) => w.every((x) => x === 1)), 'other norms stay at 1');
    assert.throws(() => parseConfig({ ...baseline, subln_init: 0.5 }), /apply to variant diff only/);
    assert.throws(() => parseConfig({ ...quiet, subln_init: 0 }), /subln_init must be a positive number/);
    const dir = mkdtempSync(join(tmpdir(), 'dt-subln-init-'));
    saveModelFolder(dir, { config: quiet, params });
    assert.equal(loadModelFolder(dir, backend).config.subln_init, 0.05);
  });

  test('ablation fields: per-head norm off, constant λ_init (DIFF V1 only)', () => {
    const diff = matchedConfig(baseline, 'diff');
    const ablated = parseConfig({ ...diff, subln: false, lambda_init: 0.5 });
    assert.equal(
      countParameters(diff).total - countParameters(ablated).total,
      2 * diff.head_dim * diff.n_layers,
    );
    assert.throws(() => parseConfig({ ...baseline, subln: false }), /apply to variant diff only/);
    assert.throws(() => parseConfig({ ...diff, lambda_init: 'x' }), /lambda_init must be a number/);
    // A model folder keeps the ablation fields.
    const dir = mkdtempSync(join(tmpdir(), 'dt-ablation-'));
    const backend = createJsBackend();
    saveModelFolder(dir, { config: ablated, params: initParameters(ablated, backend, new Rng(1)) });
    assert.deepEqual(loadModelFolder(dir, backend).config, ablated);
  });

  test('fills defaults and ignores Hugging Face bookkeeping keys', () => {
    const c = parseConfig({ ...baseline, rope_theta: undefined, model_type: 'llama', _name_or_path: 'x' });
    assert.equal(c.rope_theta, 10000);
    assert.equal(c.norm_eps, 1e-5);
    assert.equal(c.tie_embeddings, false);
  });

  test('λ_init follows 0.8 − 0.6·exp(−0.3·depth)', () => {
    assert.equal(lambdaInit(0), 0.8 - 0.6);
    assert.ok(Math.abs(lambdaInit(1) - 0.35550907) < 1e-8);
    assert.ok(Math.abs(lambdaInit(2) - 0.47071301) < 1e-8);
    assert.ok(Math.abs(lambdaInit(60) - 0.8) < 1e-7);
  });

  test('DIFF V1 built from a baseline: half the heads, exactly 6·head_dim more parameters per layer', () => {
    for (const tie of [false, true]) {
      const base = { ...baseline, tie_embeddings: tie };
      const diff = matchedConfig(base, 'diff');
      assert.equal(diff.n_heads, 2);
      assert.equal(diff.n_kv_heads, 1);
      parseConfig(diff);
      const extra = countParameters(diff).total - countParameters(base).total;
      assert.equal(extra, 6 * base.head_dim * base.n_layers);
      assert.equal(countParameters(diff).byGroup.lambda, 4 * base.head_dim * base.n_layers);
    }
    assert.throws(
      () => matchedConfig({ ...baseline, n_heads: 3, n_kv_heads: 3, d_model: 12 }, 'diff'),
      /must both be even/,
    );
  });
});

/** Small configs covering grouped queries, tied embeddings and a non-default RoPE base. */
function variants(): Array<[string, ModelConfig]> {
  const tied = { ...baseline, tie_embeddings: true, rope_theta: 321 };
  return [
    ['baseline GQA', baseline],
    ['diff GQA', matchedConfig(baseline, 'diff')],
    ['diffv2 GQA', matchedConfig(baseline, 'diffv2')],
    ['diff tied', matchedConfig(tied, 'diff')],
    ['diffv2 tied', matchedConfig(tied, 'diffv2')],
    ['diff MHA', { ...matchedConfig(baseline, 'diff'), n_kv_heads: 2 }],
    [
      'diff ablation: no per-head norm, constant λ_init 0.5',
      { ...matchedConfig(baseline, 'diff'), subln: false, lambda_init: 0.5 },
    ],
  ];
}

function tokens(n: number, vocab: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.int(vocab));
}

describe('whole-model gradients match finite differences (float64)', () => {
  for (const [name, config] of variants()) {
    test(name, () => {
      const backend = createJsBackend('f64');
      const params = initParameters(config, backend, new Rng(3));
      // Larger weights than the init so that every path carries signal.
      for (const [pname, p] of params)
        if (!pname.includes('norm')) for (let i = 0; i < p.length; i++) p[i] *= 10;
      const model = new LanguageModel(config, params, backend);
      const [B, T] = [2, 5];
      const inputs = tokens(B * T, config.vocab_size, 1);
      const targets = tokens(B * T, config.vocab_size, 2);
      const { grads } = model.lossAndGradients(inputs, targets, B, T);
      const rng = new Rng(9);
      for (const [pname, p] of params) {
        const g = grads.get(pname)!;
        for (let trial = 0; trial < 3; trial++) {
          const i = rng.int(p.length);
          const saved = p[i];
          const eps = 1e-5;
          p[i] = saved + eps;
          const up = model.loss(inputs, targets, B, T);
          p[i] = saved - eps;
          const down = model.loss(inputs, targets, B, T);
          p[i] = saved;
          const numeric = (up - down) / (2 * eps);
          const err = Math.abs(numeric - g[i]) / (Math.abs(numeric) + Math.abs(g[i]) + 1e-4);
          assert.ok(err < 1e-5, `${pname}[${i}]: analytic ${g[i]} vs numeric ${numeric}`);
        }
      }
    });
  }
});

describe('KV cache: incremental decoding equals recomputation', () => {
  for (const [name, config] of variants()) {
    test(name, () => {
      const backend = createJsBackend('f64');
      const model = new LanguageModel(config, initParameters(config, backend, new Rng(4)), backend);
      const [B, T] = [2, 7];
      const seq = tokens(B * T, config.vocab_size, 5);
      const full = model.forward(seq, B, T).logits;
      // Feed 3 tokens, then 1, then 3, through one cache.
      const cache = model.createCache();
      const V = config.vocab_size;
      const pieces: number[] = [];
      let start = 0;
      for (const len of [3, 1, 3]) {
        const chunk = new Int32Array(B * len);
        for (let b = 0; b < B; b++) chunk.set(seq.subarray(b * T + start, b * T + start + len), b * len);
        const { logits } = model.forward(chunk, B, len, { cache });
        for (let b = 0; b < B; b++) for (let t = 0; t < len; t++) pieces.push((b * T + start + t) * V);
        const expected = pieces.slice(-B * len).flatMap((off) => Array.from(full.subarray(off, off + V)));
        assert.ok(relativeError(logits, expected) < 1e-12, `chunk at ${start}`);
        start += len;
      }
      assert.equal(cache.length, T);
      const prompt = Array.from(seq.subarray(0, 3));
      assert.deepEqual(model.greedy(prompt, 6, true), model.greedy(prompt, 6, false));
    });
  }
});

test('every variant initialises, runs, and exposes its attention maps', () => {
  const expectedMaps: Record<Variant, string[]> = {
    diff: ['a1', 'a2', 'diff', 'lambda'],
    baseline: ['p'],
    diffv2: ['a1', 'a2', 'diff', 'lambda'],
  };
  for (const variant of ['diff', 'baseline', 'diffv2'] as const) {
    const config = matchedConfig(baseline, variant);
    const backend = createJsBackend();
    const model = new LanguageModel(config, initParameters(config, backend, new Rng(1)), backend);
    const { maps, logits } = model.forward(tokens(6, 11, 3), 1, 6, { maps: true });
    assert.equal(logits.length, 6 * 11);
    assert.equal(maps!.length, 2);
    assert.deepEqual(
      Object.keys(maps![0])
        .filter((k) => maps![0][k as 'a1'] !== undefined)
        .sort(),
      expectedMaps[variant].sort(),
    );
    if (variant === 'diffv2') {
      // The effective signed map: A1 − λ[t, head]·A2 with λ [B, T, H].
      const { a1, a2, diff, lambda } = maps![0];
      const H = config.n_heads;
      for (let i = 0; i < H; i++)
        for (let t = 0; t < 6; t++)
          for (let s = 0; s < 6; s++) {
            const at = (i * 6 + t) * 6 + s;
            assert.equal(diff![at], Math.fround(a1![at] - lambda![t * H + i] * a2![at]));
          }
    }
  }
});

test('a reused gradient set gives the same gradients as a fresh one', () => {
  for (const variant of ['diff', 'baseline', 'diffv2'] as const) {
    const config = matchedConfig(baseline, variant);
    const backend = createJsBackend();
    const model = new LanguageModel(config, initParameters(config, backend, new Rng(2)), backend);
    const [a, b] = [tokens(5, 11, 4), tokens(5, 11, 8)];
    const first = model.lossAndGradients(a, b, 1, 5).grads;
    const fresh = model.lossAndGradients(b, a, 1, 5).grads;
    const reused = model.lossAndGradients(b, a, 1, 5, first).grads;
    assert.equal(reused, first, 'the same set, refilled');
    for (const [name, g] of fresh) assert.deepEqual(reused.get(name), g, `${variant} ${name}`);
  }
});
