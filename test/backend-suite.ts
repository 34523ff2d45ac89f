/**
 * The parity suite every fast backend must pass against the `js` oracle, op by op, forward and
 * backward, on random float32 inputs: odd sizes, grouped-query ratios, cached decoding (seqQ < seqK),
 * lengths that are no multiple of any tile size, and every differential combine kind. Then whole
 * models of all three variants, loss and every gradient. Used by backend-parity.test.ts (every
 * registered backend) and wasm-backend.test.ts (the single-threaded wasm runtime).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import {
  type AttentionGeometry,
  type Backend,
  type DifferentialCombine,
  type Floats,
  IGNORE_TARGET,
} from '../src/core/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { attentionGeometry } from '../src/model/attention.ts';
import { type ModelConfig, parseConfig } from '../src/model/config.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { initParameters } from '../src/model/parameters.ts';
import { adamwUpdate } from '../src/train/adamw.ts';
import { relativeError } from './helpers.ts';

const oracle = createJsBackend('f32');
/** Relative (norm-wise) error allowed between two float32 implementations of the same op. */
const TOL = 2e-5;

export function randomF32(rng: Rng, length: number, scale = 1): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.normal() * scale;
  return out;
}

export function close(
  name: string,
  got: Floats | number | null | undefined,
  want: Floats | number | null | undefined,
  tol = TOL,
) {
  if (typeof want === 'number' || typeof got === 'number') {
    assert.equal(typeof got, 'number', `${name}: expected a number, got ${typeof got}`);
    assert.equal(typeof want, 'number', `${name}: oracle gave ${typeof want}`);
    const err = Math.abs((got as number) - (want as number)) / Math.max(1, Math.abs(want as number));
    assert.ok(err < tol, `${name}: ${got} vs ${want} (error ${err.toExponential(2)})`);
    return;
  }
  if (want == null) {
    assert.ok(got == null, `${name}: expected nothing, got a value`);
    return;
  }
  assert.ok(got, `${name}: missing`);
  assert.equal(got.length, want.length, `${name}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < got.length; i++) assert.ok(Number.isFinite(got[i]), `${name}[${i}] = ${got[i]}`);
  const err = relativeError(got, want);
  assert.ok(err < tol, `${name}: relative error ${err.toExponential(2)} ≥ ${tol}`);
}

interface AttentionCase {
  label: string;
  g: AttentionGeometry;
  combine: 'none' | 'scalar' | 'token';
}

/** A plain/GQA geometry: query head j reads key/value head floor(j / rep). */
function gqa(
  batch: number,
  seqQ: number,
  seqK: number,
  qHeads: number,
  kvHeads: number,
  d: number,
): AttentionGeometry {
  const map = new Int32Array(qHeads);
  for (let j = 0; j < qHeads; j++) map[j] = Math.floor(j / (qHeads / kvHeads));
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
  batch: number,
  seqQ: number,
  seqK: number,
) {
  const c = { variant, n_heads: heads, n_kv_heads: kvHeads, head_dim: d } as ModelConfig;
  return attentionGeometry(c, batch, seqQ, seqK);
}

const attentionCases: AttentionCase[] = [
  { label: 'single row', g: gqa(1, 1, 1, 1, 1, 4), combine: 'none' },
  { label: 'MHA, odd dims', g: gqa(2, 7, 7, 3, 3, 5), combine: 'none' },
  { label: 'GQA 3:1', g: gqa(2, 9, 9, 3, 1, 6), combine: 'none' },
  { label: 'GQA 2:1, T=37 (no tile multiple)', g: gqa(1, 37, 37, 4, 2, 8), combine: 'none' },
  { label: 'long, T=70', g: gqa(2, 70, 70, 2, 1, 16), combine: 'none' },
  { label: 'cached decoding T=1, S=19', g: gqa(2, 1, 19, 4, 2, 8), combine: 'none' },
  { label: 'cached decoding T=5, S=41', g: gqa(1, 5, 41, 2, 2, 12), combine: 'none' },
  { label: 'cached, T=33, S=100', g: gqa(1, 33, 100, 2, 1, 8), combine: 'none' },
  { label: 'DIFF V1 scalar λ', g: modelGeometry('diff', 2, 2, 8, 2, 11, 11), combine: 'scalar' },
  {
    label: 'DIFF V1 scalar λ, GQA 3:1, T=35',
    g: modelGeometry('diff', 3, 1, 6, 1, 35, 35),
    combine: 'scalar',
  },
  {
    label: 'DIFF V1 scalar λ, cached T=3, S=20',
    g: modelGeometry('diff', 2, 1, 8, 2, 3, 20),
    combine: 'scalar',
  },
  { label: 'DIFF V2 token λ', g: modelGeometry('diffv2', 2, 2, 8, 2, 13, 13), combine: 'token' },
  {
    label: 'DIFF V2 token λ, GQA 2:1, T=49',
    g: modelGeometry('diffv2', 2, 2, 16, 1, 49, 49),
    combine: 'token',
  },
  {
    label: 'DIFF V2 token λ, cached T=2, S=17',
    g: modelGeometry('diffv2', 3, 1, 4, 2, 2, 17),
    combine: 'token',
  },
  {
    label: 'DIFF V2 token λ, 8 heads, T=130',
    g: modelGeometry('diffv2', 4, 2, 32, 1, 130, 130),
    combine: 'token',
  },
  // flash tiling and pair fusion edge cases: one row, many key tiles per row, seqK ≫ seqQ, odd widths,
  // pairs sharing key/value heads across GQA groups, and pairs whose heads read different value heads
  { label: 'DIFF V1, model shape T=128', g: modelGeometry('diff', 2, 2, 32, 2, 128, 128), combine: 'scalar' },
  { label: 'cached, T=33, S=100, d=7', g: gqa(1, 33, 100, 2, 1, 7), combine: 'none' },
  { label: 'plain, T=1, S=300 (many key tiles)', g: gqa(1, 1, 300, 2, 1, 8), combine: 'none' },
  { label: 'plain, T=130, d=3', g: gqa(1, 130, 130, 2, 2, 3), combine: 'none' },
  { label: 'DIFF V1, T=1, S=1', g: modelGeometry('diff', 1, 1, 4, 1, 1, 1), combine: 'scalar' },
  {
    label: 'DIFF V1, GQA 2:1, T=70, S=200',
    g: modelGeometry('diff', 4, 2, 8, 1, 70, 200),
    combine: 'scalar',
  },
  { label: 'DIFF V1, d=5, T=33', g: modelGeometry('diff', 2, 1, 5, 2, 33, 33), combine: 'scalar' },
  {
    label: 'DIFF V2, T=1, S=150 (decoding)',
    g: modelGeometry('diffv2', 2, 1, 8, 2, 1, 150),
    combine: 'token',
  },
  {
    label: 'DIFF V2, GQA 4:1, d=6, T=65',
    g: modelGeometry('diffv2', 4, 2, 6, 1, 65, 65),
    combine: 'token',
  },
  { label: 'scalar pairs over different value heads', g: gqa(2, 9, 12, 4, 4, 8), combine: 'scalar' },
  { label: 'token pairs over different value heads', g: gqa(1, 40, 70, 4, 4, 8), combine: 'token' },
];

function combineFor(kind: AttentionCase['combine'], g: AttentionGeometry, rng: Rng): DifferentialCombine {
  if (kind === 'none') return { kind };
  if (kind === 'scalar') return { kind, lambda: 0.3 + 0.2 * rng.uniform() };
  const lambda = new Float32Array(g.batch * g.seqQ * (g.qHeads / 2));
  for (let i = 0; i < lambda.length; i++) lambda[i] = rng.uniform();
  return { kind, lambda };
}

/** Register the parity tests of `backend` under `label`. */
export function describeBackendParity(label: string, backend: Backend): void {
  describe(label, () => {
    const rng = new Rng(12345);

    test('zeros / fromArray', () => {
      assert.equal(backend.precision, 'f32');
      const z = backend.zeros(5);
      assert.equal(z.length, 5);
      assert.ok(z.every((x) => x === 0));
      close('fromArray', backend.fromArray([1, 2.5, -3]), Float32Array.of(1, 2.5, -3));
    });

    test('embedding forward and backward (accumulating, repeated ids)', () => {
      for (const [V, D, N] of [
        [5, 3, 4],
        [50, 37, 129],
        [300, 128, 1000],
      ]) {
        const table = randomF32(rng, V * D);
        const tokens = Int32Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 1 : rng.int(V)));
        close(
          `embed fwd ${V}×${D}`,
          backend.embeddingForward(table, tokens, D),
          oracle.embeddingForward(table, tokens, D),
        );
        const dOut = randomF32(rng, N * D);
        const start = randomF32(rng, V * D);
        const a = start.slice();
        const b = start.slice();
        backend.embeddingBackward(dOut, tokens, D, a);
        oracle.embeddingBackward(dOut, tokens, D, b);
        close(`embed bwd ${V}×${D}`, a, b);
      }
      assert.throws(
        () => backend.embeddingForward(randomF32(rng, 15), Int32Array.of(5), 3),
        /outside the vocabulary/,
      );
      assert.throws(
        () => backend.embeddingForward(randomF32(rng, 15), Int32Array.of(-1), 3),
        /outside the vocabulary/,
      );
    });

    test('RMSNorm forward and backward', () => {
      // (dim 1 is left out: its dx is exactly 0 in exact arithmetic, so only rounding noise is compared)
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
        close(`rms y ${rows}×${dim}`, f.y, o.y);
        close(`rms rstd ${rows}×${dim}`, f.rstd, o.rstd);
        const dy = randomF32(rng, rows * dim);
        const start = randomF32(rng, dim);
        const dwA = start.slice();
        const dwB = start.slice();
        close(
          `rms dx ${rows}×${dim}`,
          backend.rmsNormBackward(dy, x, w, o.rstd, rows, dim, dwA),
          oracle.rmsNormBackward(dy, x, w, o.rstd, rows, dim, dwB),
        );
        close(`rms dw ${rows}×${dim}`, dwA, dwB);
      }
    });

    test('linear forward and backward (dw accumulates, wantDx on/off)', () => {
      for (const [rows, inDim, outDim] of [
        [1, 1, 1],
        [1, 17, 5],
        [2, 333, 1030],
        [3, 512, 301],
        [7, 13, 5],
        [33, 65, 17],
        [130, 67, 129],
        [256, 128, 344],
      ]) {
        const x = randomF32(rng, rows * inDim);
        const w = randomF32(rng, outDim * inDim, 0.1);
        close(
          `linear y ${rows}×${inDim}→${outDim}`,
          backend.linearForward(x, w, rows, inDim, outDim),
          oracle.linearForward(x, w, rows, inDim, outDim),
        );
        const dy = randomF32(rng, rows * outDim);
        for (const wantDx of [true, false]) {
          const start = randomF32(rng, outDim * inDim);
          const dwA = start.slice();
          const dwB = start.slice();
          const dxA = backend.linearBackward(dy, x, w, rows, inDim, outDim, dwA, wantDx);
          const dxB = oracle.linearBackward(dy, x, w, rows, inDim, outDim, dwB, wantDx);
          close(`linear dx ${rows}×${inDim}→${outDim} (${wantDx})`, dxA, dxB);
          close(`linear dw ${rows}×${inDim}→${outDim} (${wantDx})`, dwA, dwB);
        }
      }
    });

    test('linear accepts Float64Array inputs and accumulators', () => {
      const [rows, inDim, outDim] = [5, 9, 4];
      const x = Float64Array.from(randomF32(rng, rows * inDim));
      const w = Float64Array.from(randomF32(rng, outDim * inDim));
      close(
        'linear y (f64 in)',
        backend.linearForward(x, w, rows, inDim, outDim),
        oracle.linearForward(x, w, rows, inDim, outDim),
      );
      const dy = randomF32(rng, rows * outDim);
      const dwA = new Float64Array(outDim * inDim);
      const dwB = new Float64Array(outDim * inDim);
      close(
        'linear dx (f64 dw)',
        backend.linearBackward(dy, x, w, rows, inDim, outDim, dwA, true),
        oracle.linearBackward(dy, x, w, rows, inDim, outDim, dwB, true),
      );
      close('linear dw (f64 dw)', dwA, dwB);
    });

    test('RoPE forward and inverse, in place', () => {
      for (const [B, T, H, d, pos0] of [
        [1, 1, 1, 2, 0],
        [2, 7, 3, 6, 5],
        [2, 33, 4, 32, 100],
      ]) {
        const x = randomF32(rng, B * T * H * d);
        for (const inverse of [false, true]) {
          const a = x.slice();
          const b = x.slice();
          backend.rope(a, B, T, H, d, pos0, 10000, inverse);
          oracle.rope(b, B, T, H, d, pos0, 10000, inverse);
          close(`rope ${B},${T},${H},${d} pos0=${pos0} inverse=${inverse}`, a, b);
        }
      }
    });

    test('SwiGLU forward and backward (including large gates)', () => {
      for (const n of [1, 13, 5000, 100_003]) {
        const gate = randomF32(rng, n, 3);
        if (n > 4) gate.set([60, -60, 0, -100]);
        const up = randomF32(rng, n);
        close(`swiglu h ${n}`, backend.swigluForward(gate, up), oracle.swigluForward(gate, up));
        const dh = randomF32(rng, n);
        const a = backend.swigluBackward(dh, gate, up);
        const b = oracle.swigluBackward(dh, gate, up);
        close(`swiglu dGate ${n}`, a.dGate, b.dGate);
        close(`swiglu dUp ${n}`, a.dUp, b.dUp);
      }
    });

    test('cross-entropy loss and gradient (including extreme logits)', () => {
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
        close(`xent loss ${rows}×${V}×${scale}`, a.loss, b.loss, 1e-5);
        close(`xent dLogits ${rows}×${V}×${scale}`, a.dLogits, b.dLogits);
      }
      assert.throws(
        () => backend.crossEntropy(randomF32(rng, 6), Int32Array.of(0, 3), 2, 3),
        /outside the vocabulary/,
      );
      assert.throws(
        () => backend.crossEntropy(randomF32(rng, 6), Int32Array.of(0, -2), 2, 3),
        /outside the vocabulary/,
      );
    });

    test('cross-entropy with ignored targets scores only the other rows', () => {
      for (const [rows, V] of [
        [5, 7],
        [300, 257],
      ]) {
        const logits = randomF32(rng, rows * V, 2);
        const targets = Int32Array.from({ length: rows }, (_, r) =>
          r % 3 === 1 ? IGNORE_TARGET : rng.int(V),
        );
        const a = backend.crossEntropy(logits, targets, rows, V);
        close(
          `xent ignored ${rows}×${V} vs oracle`,
          a.dLogits,
          oracle.crossEntropy(logits, targets, rows, V).dLogits,
        );
        // The same as the cross-entropy of the scored rows alone.
        const kept = [...targets.keys()].filter((r) => targets[r] !== IGNORE_TARGET);
        const subLogits = new Float32Array(kept.length * V);
        for (const [i, r] of kept.entries()) subLogits.set(logits.subarray(r * V, (r + 1) * V), i * V);
        const sub = backend.crossEntropy(
          subLogits,
          Int32Array.from(kept, (r) => targets[r]),
          kept.length,
          V,
        );
        close(`xent ignored ${rows}×${V} loss`, a.loss, sub.loss, 1e-5);
        for (const [i, r] of kept.entries())
          close(
            `xent ignored row ${r}`,
            a.dLogits.subarray(r * V, (r + 1) * V),
            sub.dLogits.subarray(i * V, (i + 1) * V),
          );
        for (let r = 0; r < rows; r++)
          if (targets[r] === IGNORE_TARGET)
            assert.ok(
              a.dLogits.subarray(r * V, (r + 1) * V).every((x) => x === 0),
              `row ${r} gradient is zero`,
            );
      }
      const none = backend.crossEntropy(randomF32(rng, 6), Int32Array.of(IGNORE_TARGET, IGNORE_TARGET), 2, 3);
      assert.equal(none.loss, 0);
      assert.ok(none.dLogits.every((x) => x === 0));
    });

    test('fused AdamW update and Σ x² (when the backend has them) equal the reference', () => {
      for (const n of [1, 7, 300_001]) {
        const [p, g, m, v] = [1, 1, 0.01, 0.001].map((s) => randomF32(rng, n, s));
        for (let i = 0; i < n; i++) v[i] = Math.abs(v[i]);
        if (backend.sumOfSquares) {
          let expected = 0;
          for (let i = 0; i < n; i++) expected += g[i] * g[i];
          close(`Σ g² ${n}`, backend.sumOfSquares(g), expected, 1e-9);
        }
        if (!backend.adamwUpdate) continue;
        const h = {
          lr: 3e-3,
          beta1: 0.9,
          beta2: 0.95,
          eps: 1e-8,
          decay: 1 - 3e-4,
          c1: 1 - 0.9 ** 3,
          c2: 1 - 0.95 ** 3,
        };
        const ours = [p, m, v].map((x) => x.slice());
        const ref = [p, m, v].map((x) => x.slice());
        backend.adamwUpdate(ours[0], g, ours[1], ours[2], h);
        adamwUpdate(ref[0], g, ref[1], ref[2], h);
        for (const [i, name] of ['p', 'm', 'v'].entries())
          assert.deepEqual(ours[i], ref[i], `AdamW ${name} (${n}) equals the reference to the bit`);
      }
    });

    test('addInPlace and scaleInPlace', () => {
      for (const n of [1, 7, 300_001]) {
        const a = randomF32(rng, n);
        const b = randomF32(rng, n);
        const x = a.slice();
        const y = a.slice();
        backend.addInPlace(x, b);
        oracle.addInPlace(y, b);
        close(`add ${n}`, x, y, 1e-7);
        backend.scaleInPlace(x, -0.37);
        oracle.scaleInPlace(y, -0.37);
        close(`scale ${n}`, x, y, 1e-7);
      }
    });

    for (const c of attentionCases) {
      test(`attention forward and backward: ${c.label}`, () => {
        const { g } = c;
        const q = randomF32(rng, g.batch * g.seqQ * g.qHeads * g.qkDim);
        const k = randomF32(rng, g.batch * g.seqK * g.kHeads * g.qkDim);
        const v = randomF32(rng, g.batch * g.seqK * g.vHeads * g.vDim);
        const combine = combineFor(c.combine, g, rng);
        const a = backend.attentionForward(q, k, v, g, combine, true);
        const b = oracle.attentionForward(q, k, v, g, combine, true);
        close('out', a.out, b.out);
        close('probs', a.probs, b.probs);
        const noProbs = backend.attentionForward(q, k, v, g, combine, false);
        close('out (no probs)', noProbs.out, b.out);
        const dOut = randomF32(rng, b.out.length);
        const da = backend.attentionBackward(a.context, dOut);
        const db = oracle.attentionBackward(b.context, dOut);
        close('dq', da.dq, db.dq);
        close('dk', da.dk, db.dk);
        close('dv', da.dv, db.dv);
        if (c.combine === 'none') assert.equal(da.dLambda, undefined);
        else close('dLambda', da.dLambda as Floats | number, db.dLambda as Floats | number);
        // the context of a forward without maps serves the backward as well
        const dc = backend.attentionBackward(noProbs.context, dOut);
        close('dq (no probs)', dc.dq, db.dq);
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
          const params = initParameters(config, be, new Rng(9));
          const model = new LanguageModel(config, params, be);
          const inputs = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % config.vocab_size);
          const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % config.vocab_size);
          return model.lossAndGradients(inputs, targets, B, T);
        };
        const b = run(oracle);
        // twice: a backend with scratch memory (withScratch) sizes it in the first step and runs the
        // second in it; the first step's logits and gradients must survive the second
        const first = run(backend);
        const kept = {
          logits: Float32Array.from(first.logits),
          grads: [...first.grads].map(([n, g]) => [n, g.slice()]),
        };
        const second = run(backend);
        for (const [label, a] of [
          ['first step', first],
          ['second step', second],
        ] as const) {
          close(`${label}: loss`, a.loss, b.loss, 1e-5);
          close(`${label}: logits`, a.logits, b.logits, 1e-4);
          for (const [pname, want] of b.grads)
            close(`${label}: grad ${pname}`, a.grads.get(pname), want, 1e-4);
        }
        assert.deepEqual(
          Float32Array.from(first.logits),
          kept.logits,
          'the logits of the first step are untouched',
        );
        for (const [pname, g] of kept.grads) assert.deepEqual(first.grads.get(pname as string), g);
      });
    }
  });
}
