/**
 * The `wasm` backend (WebAssembly SIMD kernels over shared memory, worker threads) against the `js`
 * oracle, op by op, forward and backward, on random float32 inputs — odd sizes, grouped-query ratios,
 * cached decoding (seqQ < seqK), lengths no multiple of a tile, every differential combine — with one
 * and with two threads; whole models of every variant; the reference fixtures through a
 * LanguageModel on the wasm backend; the committed module is the one the build script makes; and a
 * process using the backend exits by itself.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import { createWasmBackend, wasmAvailable } from '../src/backends/wasm/index.ts';
import type { AttentionGeometry, Backend, DifferentialCombine, Floats } from '../src/core/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { attentionGeometry } from '../src/model/attention.ts';
import { type ModelConfig, parseConfig } from '../src/model/config.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { initParameters } from '../src/model/parameters.ts';
import { relativeError } from './helpers.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const oracle = createJsBackend('f32');
const TOL = 2e-5;

function randomF32(rng: Rng, length: number, scale = 1): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.normal() * scale;
  return out;
}

function close(
  name: string,
  got: Floats | number | null | undefined,
  want: Floats | number | null | undefined,
  tol = TOL,
) {
  if (typeof want === 'number' || typeof got === 'number') {
    assert.equal(typeof got, 'number', `${name}: expected a number`);
    assert.equal(typeof want, 'number', `${name}: oracle gave no number`);
    const err = Math.abs((got as number) - (want as number)) / Math.max(1, Math.abs(want as number));
    assert.ok(err < tol, `${name}: ${got} vs ${want} (error ${err.toExponential(2)})`);
    return;
  }
  if (want == null) {
    assert.ok(got == null, `${name}: expected nothing`);
    return;
  }
  assert.ok(got, `${name}: missing`);
  assert.ok(got instanceof Float32Array, `${name}: not a Float32Array`);
  assert.equal(got.length, want.length, `${name}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < got.length; i++) assert.ok(Number.isFinite(got[i]), `${name}[${i}] = ${got[i]}`);
  const err = relativeError(got, want);
  assert.ok(err < tol, `${name}: relative error ${err.toExponential(2)} ≥ ${tol}`);
}

function gqa(
  batch: number,
  seqQ: number,
  seqK: number,
  qHeads: number,
  kvHeads: number,
  d: number,
): AttentionGeometry {
  const map = Int32Array.from({ length: qHeads }, (_, j) => Math.floor(j / (qHeads / kvHeads)));
  return {
    batch,
    seqQ,
    seqK,
    qHeads,
    kHeads: kvHeads,
    vHeads: kvHeads,
    qkDim: d,
    vDim: d,
    kHeadOf: map,
    vHeadOf: map,
  };
}

function modelGeometry(
  variant: ModelConfig['variant'],
  heads: number,
  kvHeads: number,
  d: number,
  b: number,
  t: number,
  s: number,
) {
  return attentionGeometry(
    { variant, n_heads: heads, n_kv_heads: kvHeads, head_dim: d } as ModelConfig,
    b,
    t,
    s,
  );
}

const attentionCases: Array<[string, AttentionGeometry, DifferentialCombine['kind']]> = [
  ['one row', gqa(1, 1, 1, 1, 1, 4), 'none'],
  ['MHA, odd dims', gqa(2, 7, 7, 3, 3, 5), 'none'],
  ['GQA 3:1', gqa(2, 9, 9, 3, 1, 6), 'none'],
  ['GQA 2:1, T=37', gqa(1, 37, 37, 4, 2, 8), 'none'],
  ['T=70, d=16', gqa(2, 70, 70, 2, 1, 16), 'none'],
  ['cached T=1, S=19', gqa(2, 1, 19, 4, 2, 8), 'none'],
  ['cached T=5, S=41', gqa(1, 5, 41, 2, 2, 12), 'none'],
  ['cached T=33, S=100, d=7', gqa(1, 33, 100, 2, 1, 7), 'none'],
  ['V1 scalar', modelGeometry('diff', 2, 2, 8, 2, 11, 11), 'scalar'],
  ['V1 scalar, GQA 3:1, T=35', modelGeometry('diff', 3, 1, 6, 1, 35, 35), 'scalar'],
  ['V1 scalar, cached T=3, S=20', modelGeometry('diff', 2, 1, 8, 2, 3, 20), 'scalar'],
  ['V1 scalar, model shape T=128', modelGeometry('diff', 2, 2, 32, 2, 128, 128), 'scalar'],
  ['V2 token', modelGeometry('diffv2', 2, 2, 8, 2, 13, 13), 'token'],
  ['V2 token, GQA 2:1, T=49', modelGeometry('diffv2', 2, 1, 16, 1, 49, 49), 'token'],
  ['V2 token, cached T=2, S=17', modelGeometry('diffv2', 3, 1, 4, 2, 2, 17), 'token'],
  ['V2 token, 8 heads, T=130', modelGeometry('diffv2', 4, 2, 32, 1, 130, 130), 'token'],
  // flash tiling and pair fusion edge cases: one row, many key tiles per row, seqK ≫ seqQ, odd widths,
  // pairs sharing key/value heads across GQA groups, and pairs whose heads read different value heads
  ['plain, T=1, S=300 (many key tiles)', gqa(1, 1, 300, 2, 1, 8), 'none'],
  ['plain, T=130, d=3', gqa(1, 130, 130, 2, 2, 3), 'none'],
  ['V1 scalar, T=1, S=1', modelGeometry('diff', 1, 1, 4, 1, 1, 1), 'scalar'],
  ['V1 scalar, GQA 2:1, T=70, S=200', modelGeometry('diff', 4, 2, 8, 1, 70, 200), 'scalar'],
  ['V1 scalar, d=5, T=33', modelGeometry('diff', 2, 1, 5, 2, 33, 33), 'scalar'],
  ['V2 token, T=1, S=150 (decoding)', modelGeometry('diffv2', 2, 1, 8, 2, 1, 150), 'token'],
  ['V2 token, GQA 4:1, d=6, T=65', modelGeometry('diffv2', 4, 2, 6, 1, 65, 65), 'token'],
  ['scalar pairs over different value heads', gqa(2, 9, 12, 4, 4, 8), 'scalar'],
  ['token pairs over different value heads', gqa(1, 40, 70, 4, 4, 8), 'token'],
];

function combineFor(kind: DifferentialCombine['kind'], g: AttentionGeometry, rng: Rng): DifferentialCombine {
  if (kind === 'none') return { kind };
  if (kind === 'scalar') return { kind, lambda: 0.3 + 0.2 * rng.uniform() };
  return {
    kind,
    lambda: Float32Array.from({ length: g.batch * g.seqQ * (g.qHeads / 2) }, () => rng.uniform()),
  };
}

test('wasmAvailable: true here (Node 20 has SIMD, threads and shared memory)', () => {
  assert.equal(wasmAvailable(), true);
});

test('the committed kernels.wasm is what scripts/build-wasm.mjs builds', () => {
  const out = execFileSync(process.execPath, [join(repoRoot, 'scripts/build-wasm.mjs'), '--check'], {
    encoding: 'utf8',
  });
  assert.match(out, /up to date/);
});

test('a process using the threaded backend exits by itself', () => {
  const script = `
    import { createWasmBackend } from './src/backends/wasm/index.ts';
    const b = createWasmBackend({ threads: 2 });
    const x = new Float32Array(256 * 256).fill(1);
    const y = b.linearForward(x, x, 256, 256, 256);
    console.log(b.threads, y[0]);`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(child.status, 0, `exit status ${child.status} ${child.signal ?? ''}: ${child.stderr}`);
  assert.equal(child.stdout.trim(), '2 256');
});

for (const threads of [1, 2]) {
  describe(`wasm backend (${threads} thread${threads > 1 ? 's' : ''}) matches js`, () => {
    const backend = createWasmBackend({ threads });
    const rng = new Rng(777 + threads);

    test('reports its thread count and float32', () => {
      assert.equal(backend.threads, threads);
      assert.equal(backend.precision, 'f32');
      assert.equal(backend.name, 'wasm');
      assert.deepEqual([...backend.zeros(3)], [0, 0, 0]);
      close('fromArray', backend.fromArray([1, -2.5]), Float32Array.of(1, -2.5));
    });

    test('embedding forward and backward', () => {
      for (const [V, D, N] of [
        [5, 3, 4],
        [50, 37, 129],
        [300, 128, 1000],
      ]) {
        const table = randomF32(rng, V * D);
        const tokens = Int32Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 1 : rng.int(V)));
        close('embed', backend.embeddingForward(table, tokens, D), oracle.embeddingForward(table, tokens, D));
        const dOut = randomF32(rng, N * D);
        const a = randomF32(rng, V * D);
        const b = a.slice();
        backend.embeddingBackward(dOut, tokens, D, a);
        oracle.embeddingBackward(dOut, tokens, D, b);
        close('dTable', a, b);
      }
      assert.throws(
        () => backend.embeddingForward(randomF32(rng, 15), Int32Array.of(5), 3),
        /outside the vocabulary/,
      );
    });

    test('RMSNorm forward and backward', () => {
      for (const [rows, dim] of [
        [1, 2],
        [3, 7],
        [65, 129],
        [1024, 128],
      ]) {
        const x = randomF32(rng, rows * dim, 2);
        const w = randomF32(rng, dim);
        const f = backend.rmsNormForward(x, w, rows, dim, 1e-5);
        const o = oracle.rmsNormForward(x, w, rows, dim, 1e-5);
        close('y', f.y, o.y);
        close('rstd', f.rstd, o.rstd);
        const dy = randomF32(rng, rows * dim);
        const dwA = randomF32(rng, dim);
        const dwB = dwA.slice();
        close(
          'dx',
          backend.rmsNormBackward(dy, x, w, o.rstd, rows, dim, dwA),
          oracle.rmsNormBackward(dy, x, w, o.rstd, rows, dim, dwB),
        );
        close('dw', dwA, dwB);
      }
    });

    test('linear forward and backward (dw accumulates, wantDx on/off, f64 operands)', () => {
      for (const [rows, inDim, outDim] of [
        [1, 1, 1],
        [1, 17, 5],
        [7, 13, 5],
        [33, 65, 17],
        [130, 67, 129],
        [256, 128, 344],
        [300, 513, 70],
      ]) {
        const x = randomF32(rng, rows * inDim);
        const w = randomF32(rng, outDim * inDim, 0.1);
        close(
          `y ${rows}×${inDim}→${outDim}`,
          backend.linearForward(x, w, rows, inDim, outDim),
          oracle.linearForward(x, w, rows, inDim, outDim),
        );
        const dy = randomF32(rng, rows * outDim);
        for (const wantDx of [true, false]) {
          const dwA = randomF32(rng, outDim * inDim);
          const dwB = dwA.slice();
          close(
            'dx',
            backend.linearBackward(dy, x, w, rows, inDim, outDim, dwA, wantDx),
            oracle.linearBackward(dy, x, w, rows, inDim, outDim, dwB, wantDx),
          );
          close('dw', dwA, dwB);
        }
      }
      const [rows, inDim, outDim] = [5, 9, 4];
      const x = Float64Array.from(randomF32(rng, rows * inDim));
      const w = Float64Array.from(randomF32(rng, outDim * inDim));
      const dy = randomF32(rng, rows * outDim);
      const dwA = new Float64Array(outDim * inDim).fill(0.5);
      const dwB = dwA.slice();
      close(
        'y (f64)',
        backend.linearForward(x, w, rows, inDim, outDim),
        oracle.linearForward(x, w, rows, inDim, outDim),
      );
      close(
        'dx (f64)',
        backend.linearBackward(dy, x, w, rows, inDim, outDim, dwA, true),
        oracle.linearBackward(dy, x, w, rows, inDim, outDim, dwB, true),
      );
      assert.ok(relativeError(dwA, dwB) < TOL, 'dw (f64 accumulator)');
    });

    test('RoPE forward and inverse, in place', () => {
      for (const [B, T, H, d, pos0] of [
        [1, 1, 1, 2, 0],
        [2, 7, 3, 6, 5],
        [2, 33, 4, 32, 100],
        [1, 5, 2, 10, 1000],
      ]) {
        const x = randomF32(rng, B * T * H * d);
        for (const inverse of [false, true]) {
          const a = x.slice();
          const b = x.slice();
          backend.rope(a, B, T, H, d, pos0, 10000, inverse);
          oracle.rope(b, B, T, H, d, pos0, 10000, inverse);
          close(`rope ${B},${T},${H},${d}`, a, b);
        }
      }
    });

    test('SwiGLU forward and backward (including saturated gates)', () => {
      for (const n of [1, 13, 5000, 100_003]) {
        const gate = randomF32(rng, n, 3);
        if (n > 4) gate.set([60, -60, 0, -100]);
        const up = randomF32(rng, n);
        close('h', backend.swigluForward(gate, up), oracle.swigluForward(gate, up));
        const dh = randomF32(rng, n);
        const a = backend.swigluBackward(dh, gate, up);
        const b = oracle.swigluBackward(dh, gate, up);
        close('dGate', a.dGate, b.dGate);
        close('dUp', a.dUp, b.dUp);
      }
    });

    test('cross-entropy (including extreme logits)', () => {
      for (const [rows, V, scale] of [
        [1, 1, 1],
        [3, 7, 1],
        [65, 257, 3],
        [1024, 256, 1],
        [4, 50, 80],
      ]) {
        const logits = randomF32(rng, rows * V, scale);
        const targets = Int32Array.from({ length: rows }, () => rng.int(V));
        const a = backend.crossEntropy(logits, targets, rows, V);
        const b = oracle.crossEntropy(logits, targets, rows, V);
        close('loss', a.loss, b.loss, 1e-5);
        close('dLogits', a.dLogits, b.dLogits);
      }
      assert.throws(
        () => backend.crossEntropy(randomF32(rng, 6), Int32Array.of(0, 3), 2, 3),
        /outside the vocabulary/,
      );
    });

    test('addInPlace and scaleInPlace', () => {
      const a = randomF32(rng, 1001);
      const b = randomF32(rng, 1001);
      const x = a.slice();
      const y = a.slice();
      backend.addInPlace(x, b);
      oracle.addInPlace(y, b);
      backend.scaleInPlace(x, -0.37);
      oracle.scaleInPlace(y, -0.37);
      close('add, scale', x, y, 1e-7);
    });

    for (const [label, g, kind] of attentionCases) {
      test(`attention forward and backward: ${label}`, () => {
        const q = randomF32(rng, g.batch * g.seqQ * g.qHeads * g.qkDim);
        const k = randomF32(rng, g.batch * g.seqK * g.kHeads * g.qkDim);
        const v = randomF32(rng, g.batch * g.seqK * g.vHeads * g.vDim);
        const combine = combineFor(kind, g, rng);
        const a = backend.attentionForward(q, k, v, g, combine, true);
        const b = oracle.attentionForward(q, k, v, g, combine, true);
        close('out', a.out, b.out);
        close('probs', a.probs, b.probs);
        const plain = backend.attentionForward(q, k, v, g, combine, false);
        close('out (no probs)', plain.out, b.out);
        const dOut = randomF32(rng, b.out.length);
        const da = backend.attentionBackward(plain.context, dOut);
        const db = oracle.attentionBackward(b.context, dOut);
        close('dq', da.dq, db.dq);
        close('dk', da.dk, db.dk);
        close('dv', da.dv, db.dv);
        if (kind === 'none') assert.equal(da.dLambda, undefined);
        else close('dLambda', da.dLambda as Floats | number, db.dLambda as Floats | number);
      });
    }

    test('attention rejects inconsistent shapes', () => {
      const g = gqa(1, 4, 4, 2, 1, 4);
      assert.throws(() =>
        backend.attentionForward(
          new Float32Array(3),
          new Float32Array(16),
          new Float32Array(16),
          g,
          { kind: 'none' },
          false,
        ),
      );
    });

    for (const variant of ['baseline', 'diff', 'diffv2'] as const) {
      test(`whole model, ${variant}: loss, logits and every gradient`, () => {
        const config = parseConfig({
          variant,
          vocab_size: 61,
          d_model: 48,
          n_layers: 2,
          ffn_hidden: 70,
          n_heads: variant === 'diff' ? 2 : 4,
          n_kv_heads: variant === 'diff' ? 1 : 2,
          head_dim: 12,
          tie_embeddings: variant === 'baseline',
        });
        const [B, T] = [3, 37];
        const run = (be: Backend) => {
          const model = new LanguageModel(config, initParameters(config, be, new Rng(9)), be);
          const inputs = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % config.vocab_size);
          const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % config.vocab_size);
          return model.lossAndGradients(inputs, targets, B, T);
        };
        const a = run(backend);
        const b = run(oracle);
        close('loss', a.loss, b.loss, 1e-5);
        close('logits', a.logits, b.logits, 1e-4);
        for (const [name, want] of b.grads) close(`grad ${name}`, a.grads.get(name), want, 1e-4);
      });
    }
  });
}

describe('reference fixtures through a LanguageModel on the wasm backend', () => {
  const roots = [join(repoRoot, 'test/fixtures/reference'), join(repoRoot, 'test/fixtures/extra')];
  const cases = roots
    .filter((root) => existsSync(root))
    .flatMap((root) =>
      readdirSync(root, { withFileTypes: true })
        .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'case.json')))
        .map((e) => join(root, e.name)),
    );
  const backend = createWasmBackend({ threads: 2 });

  test('cases are found', () => assert.ok(cases.length >= 3));

  for (const dir of cases) {
    test(dir.replace(`${repoRoot}/`, ''), () => {
      const model = loadModelFolder(dir, backend);
      const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as {
        tokens: number[][];
        loss: number;
        greedy: { prompt: number[]; continuation: number[] };
      };
      const expected = readSafetensorsFile(join(dir, 'expected.safetensors')).tensors;
      const B = spec.tokens.length;
      const T = spec.tokens[0].length - 1;
      const inputs = Int32Array.from(spec.tokens.flatMap((row) => row.slice(0, -1)));
      const targets = Int32Array.from(spec.tokens.flatMap((row) => row.slice(1)));
      const check = (name: string, got: Floats | undefined, want: Float32Array) => {
        assert.ok(got, `${name}: not produced`);
        assert.equal(got.length, want.length, name);
        const err = relativeError(got, want);
        assert.ok(err < 1e-4, `${name}: relative error ${err.toExponential(2)}`);
      };
      const { loss, grads, logits } = model.lossAndGradients(inputs, targets, B, T);
      check('logits', logits, expected.get('logits')!.data);
      assert.ok(Math.abs(loss - spec.loss) < 1e-5, `loss ${loss} vs ${spec.loss}`);
      const { maps } = model.forward(inputs, B, T, { maps: true });
      let checked = 1;
      for (const [name, tensor] of expected) {
        if (name.startsWith('grad.')) check(name, grads.get(name.slice(5)), tensor.data);
        else if (name.startsWith('attn.')) {
          const [, layer, kind] = name.split('.');
          check(name, maps![Number(layer)][kind as 'a1'], tensor.data);
        } else continue;
        checked++;
      }
      assert.equal(checked, expected.size, 'every expected tensor is checked');
      const { prompt, continuation } = spec.greedy;
      assert.deepEqual(model.greedy(prompt, continuation.length, false), continuation, 'greedy, recomputed');
      assert.deepEqual(model.greedy(prompt, continuation.length, true), continuation, 'greedy, KV cache');
    });
  }
});

test('dispose stops the workers; the backend keeps working on the calling thread', () => {
  const backend = createWasmBackend({ threads: 2 });
  const rng = new Rng(5);
  const x = randomF32(rng, 200 * 96);
  const w = randomF32(rng, 64 * 96);
  backend.dispose();
  close('y after dispose', backend.linearForward(x, w, 200, 96, 64), oracle.linearForward(x, w, 200, 96, 64));
  const again = createWasmBackend({ threads: 2 });
  close('y, new runtime', again.linearForward(x, w, 200, 96, 64), oracle.linearForward(x, w, 200, 96, 64));
  again.dispose();
});
