/**
 * Finite-difference checks (float64) of the backward of every op of the Backend interface.
 * Each op output is reduced to a scalar L = Σ r ⊙ out with a random r, so dL/dout = r.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import {
  type AttentionGeometry,
  type DifferentialCombine,
  type Floats,
  IGNORE_TARGET,
} from '../src/core/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { randomArray } from './helpers.ts';

const backend = createJsBackend('f64');
const rng = new Rng(7);
const rand = (n: number, scale = 1) => randomArray(n, () => rng.normal(), scale);
const dotWith = (r: Floats, out: Floats) => {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * r[i];
  return s;
};

/** Compare an analytic gradient with central differences of f at every entry of x. */
function expectGradient(
  name: string,
  f: () => number,
  x: Floats,
  analytic: ArrayLike<number>,
  eps = 1e-6,
): void {
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const saved = x[i];
    x[i] = saved + eps;
    const up = f();
    x[i] = saved - eps;
    const down = f();
    x[i] = saved;
    const numeric = (up - down) / (2 * eps);
    // relative error, with an absolute floor for the rounding noise of the difference quotient (~1e-9)
    const err = Math.abs(numeric - analytic[i]) / (Math.abs(numeric) + Math.abs(analytic[i]) + 1e-2);
    worst = Math.max(worst, err);
  }
  assert.ok(worst < 1e-6, `${name}: worst relative gradient error ${worst.toExponential(2)}`);
}

test('embedding backward', () => {
  const [V, D] = [5, 3];
  const table = rand(V * D);
  const tokens = Int32Array.of(1, 4, 1, 0);
  const r = rand(tokens.length * D);
  const f = () => dotWith(r, backend.embeddingForward(table, tokens, D));
  const dTable = backend.zeros(V * D);
  backend.embeddingBackward(r, tokens, D, dTable);
  expectGradient('dTable', f, table, dTable);
  assert.throws(() => backend.embeddingForward(table, Int32Array.of(5), D), /outside the vocabulary/);
});

test('RMSNorm backward (input and weight)', () => {
  const [rows, dim, eps] = [3, 7, 1e-5];
  const x = rand(rows * dim);
  const w = rand(dim);
  const r = rand(rows * dim);
  const f = () => dotWith(r, backend.rmsNormForward(x, w, rows, dim, eps).y);
  const { rstd } = backend.rmsNormForward(x, w, rows, dim, eps);
  const dw = backend.zeros(dim);
  const dx = backend.rmsNormBackward(r, x, w, rstd, rows, dim, dw);
  expectGradient('dx', f, x, dx);
  expectGradient('dw', f, w, dw);
});

test('linear backward (input and weight)', () => {
  const [rows, inDim, outDim] = [4, 5, 3];
  const x = rand(rows * inDim);
  const w = rand(outDim * inDim);
  const r = rand(rows * outDim);
  const f = () => dotWith(r, backend.linearForward(x, w, rows, inDim, outDim));
  const dw = backend.zeros(w.length);
  const dx = backend.linearBackward(r, x, w, rows, inDim, outDim, dw, true)!;
  expectGradient('dx', f, x, dx);
  expectGradient('dw', f, w, dw);
});

test('RoPE backward is the inverse rotation, and RoPE matches the interleaved formula', () => {
  const [B, T, H, d, pos0, theta] = [2, 3, 2, 6, 5, 500];
  const x = rand(B * T * H * d);
  const r = rand(x.length);
  const f = () => {
    const y = x.slice();
    backend.rope(y, B, T, H, d, pos0, theta, false);
    return dotWith(r, y);
  };
  const dx = r.slice();
  backend.rope(dx, B, T, H, d, pos0, theta, true);
  expectGradient('dx', f, x, dx);
  // Pair j of the row at position p is rotated by p·θ^(−2j/d).
  const y = x.slice();
  backend.rope(y, B, T, H, d, pos0, theta, false);
  const [t, j] = [2, 1];
  const angle = (pos0 + t) * theta ** ((-2 * j) / d);
  const off = t * H * d + 2 * j; // b = 0, head 0
  assert.ok(Math.abs(y[off] - (x[off] * Math.cos(angle) - x[off + 1] * Math.sin(angle))) < 1e-12);
});

test('SwiGLU backward', () => {
  const gate = rand(9);
  const up = rand(9);
  const r = rand(9);
  const f = () => dotWith(r, backend.swigluForward(gate, up));
  const { dGate, dUp } = backend.swigluBackward(r, gate, up);
  expectGradient('dGate', f, gate, dGate);
  expectGradient('dUp', f, up, dUp);
});

test('cross-entropy gradient', () => {
  const [rows, V] = [3, 6];
  const logits = rand(rows * V, 2);
  const targets = Int32Array.of(0, 5, 2);
  const f = () => backend.crossEntropy(logits, targets, rows, V).loss;
  expectGradient('dLogits', f, logits, backend.crossEntropy(logits, targets, rows, V).dLogits);
  const masked = Int32Array.of(0, IGNORE_TARGET, 2);
  const g = () => backend.crossEntropy(logits, masked, rows, V).loss;
  expectGradient('dLogits (a row ignored)', g, logits, backend.crossEntropy(logits, masked, rows, V).dLogits);
  assert.throws(
    () => backend.crossEntropy(logits, Int32Array.of(0, 6, 2), rows, V),
    /outside the vocabulary/,
  );
});

/** Random attention geometry with grouped heads; seqK > seqQ exercises the cached-prefix offset. */
function geometry(
  qHeads: number,
  kHeads: number,
  vHeads: number,
  seqQ: number,
  seqK: number,
  vDim: number,
): AttentionGeometry {
  const kHeadOf = new Int32Array(qHeads);
  const vHeadOf = new Int32Array(qHeads);
  for (let j = 0; j < qHeads; j++) {
    kHeadOf[j] = Math.floor((j * kHeads) / qHeads);
    vHeadOf[j] = Math.floor((j * vHeads) / qHeads);
  }
  return { batch: 2, seqQ, seqK, qHeads, kHeads, vHeads, qkDim: 4, vDim, kHeadOf, vHeadOf };
}

for (const kind of ['none', 'scalar', 'token'] as const) {
  for (const [seqQ, seqK] of [
    [5, 5],
    [2, 5],
  ]) {
    test(`attention backward, combine ${kind}, ${seqQ} queries over ${seqK} keys`, () => {
      const g = geometry(4, 2, 1, seqQ, seqK, 6);
      const q = rand(g.batch * seqQ * g.qHeads * g.qkDim);
      const k = rand(g.batch * seqK * g.kHeads * g.qkDim);
      const v = rand(g.batch * seqK * g.vHeads * g.vDim);
      const lambdaTok = rand(g.batch * seqQ * 2, 0.5);
      const scalar = { value: 0.37 };
      const combine = (): DifferentialCombine =>
        kind === 'none'
          ? { kind }
          : kind === 'scalar'
            ? { kind, lambda: scalar.value }
            : { kind, lambda: lambdaTok };
      const outLength =
        kind === 'none' ? g.batch * seqQ * g.qHeads * g.vDim : (g.batch * seqQ * g.qHeads * g.vDim) / 2;
      const r = rand(outLength);
      const f = () => dotWith(r, backend.attentionForward(q, k, v, g, combine(), false).out);
      const fwd = backend.attentionForward(q, k, v, g, combine(), true);
      const grads = backend.attentionBackward(fwd.context, r);
      expectGradient('dq', f, q, grads.dq);
      expectGradient('dk', f, k, grads.dk);
      expectGradient('dv', f, v, grads.dv);
      if (kind === 'token') expectGradient('dλ', f, lambdaTok, grads.dLambda as Floats);
      if (kind === 'scalar') {
        const box = Float64Array.of(scalar.value);
        const fs = () => {
          scalar.value = box[0];
          return f();
        };
        expectGradient('dλ', fs, box, [grads.dLambda as number]);
      }
      // Causality and normalisation of the maps: zero above the diagonal, rows sum to 1.
      const probs = fwd.probs!;
      for (let row = 0; row < g.batch * g.qHeads * seqQ; row++) {
        const t = row % seqQ;
        let sum = 0;
        for (let s = 0; s < seqK; s++) {
          const p = probs[row * seqK + s];
          if (s > t + seqK - seqQ) assert.equal(p, 0);
          sum += p;
        }
        assert.ok(Math.abs(sum - 1) < 1e-12);
      }
    });
  }
}
