/**
 * Hugging Face interchange: folders in the DiffLlama and Llama layouts written by
 * tools/make-hf-fixtures.py (an independent float64 PyTorch reference of those layouts) must import
 * to models whose logits and greedy tokens match the reference; ours → HF → ours and HF → ours → HF
 * must be bit-exact wherever no folding is involved; whatever we cannot represent is refused with
 * the field named, and no output folder is ever left half-written.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { createBackend } from '../src/backends/index.ts';
import { InterchangeError } from '../src/interchange/hf-config.ts';
import { exportHfFolder, importHfFolder } from '../src/interchange/hf-folder.ts';
import { loadModelFolder, readConfigFile, saveModelFolder } from '../src/io/model-folder.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../src/io/safetensors.ts';
import { Tokenizer } from '../src/tokenizer/index.ts';
import { runCli, tempDir } from './cli-helpers.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const hfRoot = join(repoRoot, 'test/fixtures/hf');
const hfCases = readdirSync(hfRoot).filter((n) => existsSync(join(hfRoot, n, 'case.json')));
const ourCases = ['reference', 'extra'].flatMap((root) =>
  readdirSync(join(repoRoot, 'test/fixtures', root), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(repoRoot, 'test/fixtures', root, e.name)),
);
const js = createBackend('js');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function logitsOf(dir: string, tokens: number[][]): Float32Array {
  const model = loadModelFolder(dir, js);
  const flat = Int32Array.from(tokens.flat());
  return Float32Array.from(model.forward(flat, tokens.length, tokens[0].length).logits);
}

describe('import of Hugging Face folders (float64 reference of their layouts)', () => {
  test('the fixtures cover DiffLlama and Llama, F32/BF16/F16, sharded and tied', () => {
    assert.deepEqual(hfCases.sort(), [
      'diffllama-gqa-f32',
      'diffllama-mha-bf16-sharded',
      'llama-gqa-tied-f16',
    ]);
  });
  for (const name of hfCases) {
    test(`${name}: logits within 1e-4 and the same greedy tokens`, () => {
      const from = join(hfRoot, name);
      const out = join(tempDir('dt-import-'), 'model');
      const r = importHfFolder(from, out);
      const hfType = JSON.parse(readFileSync(join(from, 'config.json'), 'utf8')).model_type;
      assert.equal(r.config.variant, hfType === 'diffllama' ? 'diff' : 'baseline');
      const spec = JSON.parse(readFileSync(join(from, 'case.json'), 'utf8'));
      const want = readSafetensorsFile(join(from, 'expected.safetensors')).tensors.get('logits')!.data;
      const diff = maxAbsDiff(logitsOf(out, spec.tokens), want);
      assert.ok(diff < 1e-4, `max |Δ logit| ${diff}`);
      const model = loadModelFolder(out, js);
      assert.deepEqual(
        model.greedy(spec.greedy.prompt, spec.greedy.continuation.length),
        spec.greedy.continuation,
      );
    });
  }

  test('HF → ours → HF gives back every tensor bit for bit', () => {
    for (const name of hfCases) {
      const from = join(hfRoot, name);
      const work = tempDir('dt-hf-roundtrip-');
      importHfFolder(from, join(work, 'ours'));
      exportHfFolder(join(work, 'ours'), join(work, 'hf'));
      const original = readHfFolderTensors(from);
      const back = readSafetensorsFile(join(work, 'hf', 'model.safetensors')).tensors;
      assert.deepEqual([...back.keys()].sort(), [...original.keys()].sort(), name);
      for (const [key, t] of original) {
        assert.deepEqual(back.get(key)!.shape, t.shape, `${name} ${key}`);
        assert.ok(bitEqual(back.get(key)!.data, t.data), `${name} ${key} differs`);
      }
      const config = JSON.parse(readFileSync(join(work, 'hf', 'config.json'), 'utf8'));
      const source = JSON.parse(readFileSync(join(from, 'config.json'), 'utf8'));
      for (const field of [
        'model_type',
        'num_attention_heads',
        'num_key_value_heads',
        'head_dim',
        'hidden_size',
      ])
        assert.equal(config[field], source[field], `${name} ${field}`);
    }
  });
});

function readHfFolderTensors(dir: string) {
  const files = readdirSync(dir).filter((f) => f.startsWith('model') && f.endsWith('.safetensors'));
  return new Map(files.flatMap((f) => [...readSafetensorsFile(join(dir, f)).tensors]));
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

describe('export to Hugging Face', () => {
  const exportable = ourCases.filter((dir) => readConfigFile(dir).variant !== 'diffv2');

  test('ours → HF → ours: bit-exact except the folded o_proj; logits unchanged to float32 rounding', () => {
    assert.ok(exportable.length >= 5, `expected several exportable fixtures, found ${exportable.length}`);
    let worst = 0;
    for (const dir of exportable) {
      const work = tempDir('dt-export-');
      exportHfFolder(dir, join(work, 'hf'));
      importHfFolder(join(work, 'hf'), join(work, 'ours'));
      const before = readSafetensorsFile(join(dir, 'model.safetensors')).tensors;
      const after = readSafetensorsFile(join(work, 'ours', 'model.safetensors')).tensors;
      const c = readConfigFile(dir);
      for (const [name, t] of before) {
        const back = after.get(name)!.data;
        if (name.endsWith('subln.weight'))
          assert.ok(
            back.every((v) => v === 1),
            name,
          );
        else if (c.variant === 'diff' && name.endsWith('out_proj.weight')) {
          // o_proj columns carry the per-head norm's weight: out[r, h·2d + c] = w[r, h·2d + c]·subln[c]
          const subln = before.get(name.replace('out_proj', 'subln'))!.data;
          const cols = t.shape[1];
          assert.ok(
            back.every((v, i) => v === Math.fround(t.data[i] * subln[(i % cols) % subln.length])),
            name,
          );
        } else assert.ok(bitEqual(back, t.data), `${dir} ${name} differs`);
      }
      const tokens = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')).tokens.map((row: number[]) =>
        row.slice(0, -1),
      );
      const want = logitsOf(dir, tokens);
      worst = Math.max(worst, maxAbsDiff(logitsOf(join(work, 'ours'), tokens), want));
    }
    assert.ok(worst < 1e-5, `max |Δ logit| after the round trip ${worst}`);
  });

  test('the HF config counts single maps and names the DiffLlama fields', () => {
    const work = tempDir('dt-export-config-');
    const dir = join(repoRoot, 'test/fixtures/reference/diff-small');
    exportHfFolder(dir, join(work, 'hf'));
    const c = readConfigFile(dir);
    const hf = JSON.parse(readFileSync(join(work, 'hf', 'config.json'), 'utf8'));
    assert.equal(hf.model_type, 'diffllama');
    assert.deepEqual(hf.architectures, ['DiffLlamaForCausalLM']);
    assert.equal(hf.num_attention_heads, 2 * c.n_heads);
    assert.equal(hf.num_key_value_heads, 2 * c.n_kv_heads);
    assert.equal(hf.hidden_size, c.d_model);
    assert.equal(hf.rms_norm_eps, c.norm_eps);
    assert.equal(hf.rope_scaling, null);
    const tensors = readSafetensorsFile(join(work, 'hf', 'model.safetensors')).tensors;
    assert.deepEqual(tensors.get('model.layers.0.self_attn.o_proj.weight')!.shape, [c.d_model, c.d_model]);
    assert.ok(![...tensors.keys()].some((n) => n.includes('subln') || n.includes('out_proj')));
  });

  test('V2, a constant λ_init, no per-head norm, or subln_eps ≠ norm_eps are refused with the reason', () => {
    const work = tempDir('dt-export-refuse-');
    assert.throws(
      () => exportHfFolder(join(repoRoot, 'test/fixtures/reference/diffv2-small'), join(work, 'a')),
      /DIFF V2 has no Hugging Face counterpart/,
    );
    const model = loadModelFolder(join(repoRoot, 'test/fixtures/reference/diff-small'), js);
    const variants: [Record<string, unknown>, RegExp][] = [
      [{ subln_eps: 1e-6 }, /subln_eps 0.000001 must equal norm_eps 0.00001/],
      [{ lambda_init: 0.8 }, /constant lambda_init 0.8/],
    ];
    for (const [change, message] of variants) {
      const dir = join(work, `m${Object.keys(change)[0]}`);
      saveModelFolder(dir, { config: { ...model.config, ...change }, params: model.params });
      assert.throws(() => exportHfFolder(dir, join(work, 'out')), message);
      assert.ok(!existsSync(join(work, 'out')));
    }
  });
});

/** A copy of an HF fixture with its config changed and (optionally) tensors added. */
function mutated(name: string, change: Record<string, unknown>, extraTensors: Record<string, number[]> = {}) {
  const dir = join(tempDir('dt-hf-bad-'), name);
  cpSync(join(hfRoot, name), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...change }));
  if (Object.keys(extraTensors).length) {
    const { tensors } = readSafetensorsFile(join(dir, 'model.safetensors'));
    for (const [key, shape] of Object.entries(extraTensors))
      tensors.set(key, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    writeSafetensorsFile(join(dir, 'model.safetensors'), tensors);
  }
  return dir;
}

describe('import refuses what we cannot represent, naming the field', () => {
  const cases: [string, string, Record<string, unknown>, Record<string, number[]>, RegExp][] = [
    ['activation', 'llama-gqa-tied-f16', { hidden_act: 'gelu' }, {}, /hidden_act "gelu" is not supported/],
    [
      'attention bias',
      'llama-gqa-tied-f16',
      { attention_bias: true },
      {},
      /attention_bias true is not supported/,
    ],
    ['mlp bias', 'llama-gqa-tied-f16', { mlp_bias: true }, {}, /mlp_bias true is not supported/],
    [
      'rope scaling',
      'diffllama-gqa-f32',
      { rope_scaling: { rope_type: 'linear', factor: 2 } },
      {},
      /rope_scaling .* is not supported/,
    ],
    [
      'odd head count',
      'diffllama-gqa-f32',
      { num_key_value_heads: 1 },
      {},
      /num_attention_heads 4 and num_key_value_heads 1 must both be even/,
    ],
    [
      'other model',
      'llama-gqa-tied-f16',
      { model_type: 'mistral' },
      {},
      /model_type "mistral" cannot be imported/,
    ],
    [
      'head_dim mismatch',
      'llama-gqa-tied-f16',
      { head_dim: 16 },
      {},
      /num_attention_heads·head_dim = 4·16 ≠ hidden_size 32/,
    ],
    [
      'bias tensors',
      'diffllama-gqa-f32',
      {},
      { 'model.layers.0.self_attn.q_proj.bias': [32] },
      /tensors we cannot represent: model\.layers\.0\.self_attn\.q_proj\.bias/,
    ],
    [
      'untied lm_head',
      'diffllama-gqa-f32',
      { tie_word_embeddings: true },
      {},
      /tie_word_embeddings is true but lm_head.weight differs/,
    ],
  ];
  for (const [what, name, change, tensors, message] of cases) {
    test(what, () => {
      const from = mutated(name, change, tensors);
      const out = join(from, '..', 'out');
      assert.throws(
        () => importHfFolder(from, out),
        (e: Error) => e instanceof InterchangeError && message.test(e.message),
      );
      assert.ok(!existsSync(out), 'no output folder after a refusal');
    });
  }

  test('a missing shard, a mislabelled shard and a non-empty --out are refused; nothing is left behind', () => {
    const name = 'diffllama-mha-bf16-sharded';
    const from = mutated(name, {});
    const index = JSON.parse(readFileSync(join(from, 'model.safetensors.index.json'), 'utf8'));
    const first = Object.keys(index.weight_map)[0];
    index.weight_map[first] = 'model-00002-of-00002.safetensors';
    writeFileSync(join(from, 'model.safetensors.index.json'), JSON.stringify(index));
    const parent = join(from, '..');
    assert.throws(
      () => importHfFolder(from, join(parent, 'out')),
      /model-00002-of-00002\.safetensors lacks model\.embed_tokens\.weight \(listed in model\.safetensors\.index\.json\)/,
    );
    index.weight_map[first] = 'model-00009-of-00009.safetensors';
    writeFileSync(join(from, 'model.safetensors.index.json'), JSON.stringify(index));
    assert.throws(
      () => importHfFolder(from, join(parent, 'out')),
      /lists model-00009-of-00009\.safetensors, which is missing/,
    );
    const busy = join(parent, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'keep.txt'), 'mine');
    assert.throws(() => importHfFolder(join(hfRoot, 'diffllama-gqa-f32'), busy), /exists and is not empty/);
    assert.deepEqual(readdirSync(busy), ['keep.txt']);
    assert.deepEqual(readdirSync(parent).sort(), [name, 'busy'].sort(), 'no temporary folders left');
  });
});

describe('the import and export commands', () => {
  test('import copies the tokenizer; export writes a transformers-loadable folder; errors are one line', () => {
    const work = tempDir('dt-cli-interchange-');
    const from = join(work, 'hf');
    cpSync(join(hfRoot, 'diffllama-gqa-f32'), from, { recursive: true });
    const tokenizer = new Tokenizer([]);
    const config = JSON.parse(readFileSync(join(from, 'config.json'), 'utf8'));
    writeFileSync(join(from, 'config.json'), JSON.stringify({ ...config, vocab_size: tokenizer.vocabSize }));
    // give the model our 257-token byte tokenizer: embeddings padded with rows of the existing ones
    const { tensors } = readSafetensorsFile(join(from, 'model.safetensors'));
    for (const key of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const t = tensors.get(key)!;
      const data = new Float32Array(tokenizer.vocabSize * t.shape[1]);
      for (let i = 0; i < data.length; i++) data[i] = t.data[i % t.data.length];
      tensors.set(key, { shape: [tokenizer.vocabSize, t.shape[1]], data });
    }
    writeSafetensorsFile(join(from, 'model.safetensors'), tensors);
    writeFileSync(join(from, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()));

    const imported = runCli(['import', '--from', from, '--out', join(work, 'ours')]);
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(
      imported.stdout,
      /diffllama → diff, 2 layers, d_model 32, 2 heads \(1 kv\) × 8, vocab 257: 31 tensors, copied tokenizer\.json/,
    );
    assert.equal(imported.stderr, '');
    const generated = runCli([
      'generate',
      '--model',
      join(work, 'ours'),
      '--prompt',
      'Call me',
      '--max-tokens',
      '4',
      '--temperature',
      '0',
      '--backend',
      'js',
    ]);
    assert.equal(generated.status, 0, generated.stderr);

    const exported = runCli([
      'export',
      '--model',
      join(work, 'ours'),
      '--format',
      'hf',
      '--out',
      join(work, 'back'),
    ]);
    assert.equal(exported.status, 0, exported.stderr);
    assert.deepEqual(readdirSync(join(work, 'back')).sort(), [
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const generation = JSON.parse(readFileSync(join(work, 'back', 'generation_config.json'), 'utf8'));
    assert.equal(generation.eos_token_id, tokenizer.endOfTextId);

    const refused = runCli(['import', '--from', join(work, 'nowhere'), '--out', join(work, 'x')]);
    assert.equal(refused.status, 1);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.match(refused.stderr, /--from .*nowhere is not a folder/);
  });
});
