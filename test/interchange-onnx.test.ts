/**
 * ONNX export of every variant: logits from onnxruntime-node equal the library's (max |Δ| < 1e-4)
 * without a cache, with the cache fed back token by token, with left padding, and with float16
 * weights (against the library on the same float16-rounded weights); transformers.js `generate`
 * (greedy) on the exported folder gives our greedy tokens, token for token, for every variant.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { AutoModelForCausalLM, env, Tensor } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { createBackend } from '../src/backends/index.ts';
import { generateTokens } from '../src/generate/generate.ts';
import { buildOnnxDecoder, type OnnxDecoder } from '../src/interchange/onnx-decoder.ts';
import { exportOnnxFolder } from '../src/interchange/onnx-folder.ts';
import { halfBits } from '../src/interchange/onnx-graph.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { type ParameterSet, parameterShapes } from '../src/model/parameters.ts';
import { runCli, tempDir } from './cli-helpers.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const cases = ['reference', 'extra'].flatMap((root) =>
  readdirSync(join(repoRoot, 'test/fixtures', root), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(repoRoot, 'test/fixtures', root, e.name)),
);
const js = createBackend('js');
const TOLERANCE = 1e-4;
const caseName = (dir: string) => dir.replace(`${repoRoot}/test/fixtures/`, '');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const int64 = (values: number[], dims: number[]) =>
  new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);

/** One run of the decoder: tokens [B][T] at positions, with the mask and the cache given. */
async function run(
  session: ort.InferenceSession,
  decoder: OnnxDecoder,
  tokens: number[][],
  o: { mask?: number[][]; positions?: number[][]; past?: Record<string, ort.Tensor> } = {},
) {
  const B = tokens.length;
  const T = tokens[0].length;
  const pastLength = o.past ? (Object.values(o.past)[0].dims[2] as number) : 0;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64(tokens.flat(), [B, T]),
    attention_mask: int64(o.mask?.flat() ?? new Array(B * (pastLength + T)).fill(1), [B, pastLength + T]),
    position_ids: int64(o.positions?.flat() ?? tokens.flatMap((row) => row.map((_, t) => pastLength + t)), [
      B,
      T,
    ]),
  };
  for (const input of decoder.inputs.slice(3)) {
    const shape = input.shape.map((d) => (typeof d === 'number' ? d : d === 'batch_size' ? B : 0));
    feeds[input.name] = o.past?.[input.name] ?? new ort.Tensor('float32', new Float32Array(0), shape);
  }
  const out = await session.run(feeds);
  const present: Record<string, ort.Tensor> = {};
  for (const [name, value] of Object.entries(out))
    if (name.startsWith('present.')) present[name.replace('present.', 'past_key_values.')] = value;
  return { logits: out.logits.data as Float32Array, present };
}

const inputsOf = (dir: string): number[][] =>
  JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')).tokens.map((row: number[]) => row.slice(0, -1));

function libraryLogits(model: LanguageModel, tokens: number[][]): Float32Array {
  return Float32Array.from(
    model.forward(Int32Array.from(tokens.flat()), tokens.length, tokens[0].length).logits,
  );
}

describe('ONNX decoder on onnxruntime-node equals the library', () => {
  test('the fixtures cover all three variants', () => {
    const variants = new Set(cases.map((dir) => loadModelFolder(dir, js).config.variant));
    assert.deepEqual([...variants].sort(), ['baseline', 'diff', 'diffv2']);
  });

  for (const dir of cases) {
    test(`${caseName(dir)}: no cache, cache token by token, left padding`, async () => {
      const model = loadModelFolder(dir, js);
      const decoder = buildOnnxDecoder(model.config, model.params);
      const session = await ort.InferenceSession.create(decoder.bytes);
      const tokens = inputsOf(dir);
      const V = model.config.vocab_size;
      const want = libraryLogits(model, tokens);
      const full = await run(session, decoder, tokens);
      assert.ok(maxAbsDiff(full.logits, want) < TOLERANCE, `no cache: ${maxAbsDiff(full.logits, want)}`);

      // prefix of 3, then one token at a time through the cache
      const T = tokens[0].length;
      const B = tokens.length;
      let step = await run(
        session,
        decoder,
        tokens.map((row) => row.slice(0, 3)),
      );
      for (let t = 3; t < T; t++) {
        step = await run(
          session,
          decoder,
          tokens.map((row) => [row[t]]),
          { past: step.present },
        );
        for (let b = 0; b < B; b++) {
          const at = want.subarray((b * T + t) * V, (b * T + t + 1) * V);
          const got = step.logits.subarray(b * V, (b + 1) * V);
          assert.ok(maxAbsDiff(got, at) < TOLERANCE, `cache step ${t}: ${maxAbsDiff(got, at)}`);
        }
      }

      // left padding: row 1 is row 0's last T − 2 tokens behind two pad positions
      const short = tokens[0].slice(2);
      const padded = [tokens[0], [0, 0, ...short]];
      const mask = [new Array(T).fill(1), [0, 0, ...short.map(() => 1)]];
      const positions = [tokens[0].map((_, t) => t), [0, 0, ...short.map((_, t) => t)]];
      const withPad = await run(session, decoder, padded, { mask, positions });
      const alone = libraryLogits(model, [short]);
      const got = withPad.logits.subarray((T + 2) * V, 2 * T * V);
      assert.ok(maxAbsDiff(got, alone) < TOLERANCE, `left padding: ${maxAbsDiff(got, alone)}`);
    });
  }

  test('float16 matrices: equal to the library on the same rounded weights, about half the file', async () => {
    for (const dir of cases) {
      const model = loadModelFolder(dir, js);
      const fp32 = buildOnnxDecoder(model.config, model.params);
      const fp16 = buildOnnxDecoder(model.config, model.params, { fp16: true });
      // each matrix element takes 2 bytes instead of 4, less at most 100 bytes for each matrix's Cast node
      const matrices = [...parameterShapes(model.config).values()].filter((shape) => shape.length === 2);
      const elements = matrices.reduce((sum, [rows, cols]) => sum + rows * cols, 0);
      const saved = fp32.bytes.length - fp16.bytes.length;
      assert.ok(
        saved > 2 * elements - 100 * matrices.length,
        `saved ${saved} bytes on ${elements} matrix elements`,
      );
      const rounded = new LanguageModel(model.config, matricesRoundedToHalf(model.config, model.params), js);
      const tokens = inputsOf(dir);
      const session = await ort.InferenceSession.create(fp16.bytes);
      const got = (await run(session, fp16, tokens)).logits;
      const diff = maxAbsDiff(got, libraryLogits(rounded, tokens));
      assert.ok(diff < TOLERANCE, `${caseName(dir)} fp16: ${diff}`);
    }
  });
});

/**
 * The parameters as the float16 export stores them: matrices rounded to float16 (halfBits decoded by
 * our safetensors reader, an independent F16 decoder), vectors unchanged.
 */
function matricesRoundedToHalf(c: ModelConfig, params: ParameterSet): ParameterSet {
  const out: ParameterSet = new Map(params);
  for (const [name, shape] of parameterShapes(c)) {
    if (shape.length !== 2) continue;
    const value = params.get(name)!;
    const half = halfBits(value);
    const json = JSON.stringify({
      x: { dtype: 'F16', shape: [value.length], data_offsets: [0, half.length] },
    });
    const header = new TextEncoder().encode(json.padEnd(8 * Math.ceil(json.length / 8)));
    const file = new Uint8Array(8 + header.length + half.length);
    new DataView(file.buffer).setBigUint64(0, BigInt(header.length), true);
    file.set(header, 8);
    file.set(half, 8 + header.length);
    out.set(name, readSafetensors(file).tensors.get('x')!.data);
  }
  return out;
}

describe('transformers.js runs the exported folder', () => {
  env.allowRemoteModels = false;
  for (const dir of cases) {
    test(`${caseName(dir)}: generate (greedy) equals our greedy generation token for token`, async () => {
      const out = join(tempDir('dt-onnx-tjs-'), 'onnx');
      exportOnnxFolder(dir, out);
      const model = await AutoModelForCausalLM.from_pretrained(out, { local_files_only: true });
      const prompt = inputsOf(dir)[0].slice(0, 4);
      const count = 20;
      const result = (await model.generate({
        input_ids: new Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]),
        max_new_tokens: count,
        do_sample: false,
      })) as Tensor;
      const theirs = Array.from(result.data as BigInt64Array, Number).slice(prompt.length);
      const ours = [
        ...generateTokens(loadModelFolder(dir, js), prompt, { maxTokens: count, temperature: 0 }),
      ];
      assert.deepEqual(theirs, ours);
      await model.dispose();
    });
  }
});

describe('the export --format onnx command', () => {
  test('writes a transformers.js folder (config says llama; the real config is kept); fp16 variant; refusals', () => {
    const work = tempDir('dt-cli-onnx-');
    const dir = join(repoRoot, 'test/fixtures/reference/diffv2-small');
    const r = runCli(['export', '--model', dir, '--format', 'onnx', '--out', join(work, 'a')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^diffv2: \d+ nodes, \d+ bytes → .*onnx\/model\.onnx\n$/);
    const config = JSON.parse(readFileSync(join(work, 'a', 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'llama');
    assert.equal(config.diff_transformer.variant, 'diffv2');
    const half = runCli([
      'export',
      '--model',
      dir,
      '--format',
      'onnx',
      '--dtype',
      'fp16',
      '--out',
      join(work, 'b'),
    ]);
    assert.equal(half.status, 0, half.stderr);
    const size = (p: string) => statSync(p).size;
    assert.ok(size(join(work, 'b', 'onnx/model_fp16.onnx')) < 0.7 * size(join(work, 'a', 'onnx/model.onnx')));
    const bad = runCli(['export', '--model', dir, '--format', 'tflite', '--out', join(work, 'c')]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--format must be one of hf, onnx, found "tflite"/);
    assert.ok(!existsSync(join(work, 'c')));
  });
});
