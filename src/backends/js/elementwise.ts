/** Embedding lookup, SwiGLU, cross-entropy and small elementwise helpers of the `js` backend. */
import { countScoredTargets, type Floats, IGNORE_TARGET } from '../../core/backend.ts';

type Alloc = (length: number) => Floats;

/** table [V, D], tokens [N] → [N, D] */
export function embeddingForward(alloc: Alloc, table: Floats, tokens: Int32Array, dim: number): Floats {
  const vocab = table.length / dim;
  const out = alloc(tokens.length * dim);
  for (let n = 0; n < tokens.length; n++) {
    const id = tokens[n];
    if (!(id >= 0 && id < vocab))
      throw new RangeError(`token id ${id} at position ${n} is outside the vocabulary [0, ${vocab})`);
    out.set(table.subarray(id * dim, (id + 1) * dim), n * dim);
  }
  return out;
}

export function embeddingBackward(dOut: Floats, tokens: Int32Array, dim: number, dTable: Floats): void {
  for (let n = 0; n < tokens.length; n++) {
    const rowOff = tokens[n] * dim;
    const off = n * dim;
    for (let i = 0; i < dim; i++) dTable[rowOff + i] += dOut[off + i];
  }
}

/** h = silu(g) ⊙ u with silu(g) = g·σ(g) */
export function swigluForward(alloc: Alloc, gate: Floats, up: Floats): Floats {
  const h = alloc(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    h[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
  return h;
}

/** dsilu/dg = σ(g)·(1 + g·(1 − σ(g))) */
export function swigluBackward(
  alloc: Alloc,
  dh: Floats,
  gate: Floats,
  up: Floats,
): { dGate: Floats; dUp: Floats } {
  const dGate = alloc(gate.length);
  const dUp = alloc(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    const sig = 1 / (1 + Math.exp(-g));
    dUp[i] = dh[i] * g * sig;
    dGate[i] = dh[i] * up[i] * sig * (1 + g * (1 - sig));
  }
  return { dGate, dUp };
}

/** Mean over scored rows of −log softmax(logits)[target]; dLogits = (softmax − onehot) / scored. */
export function crossEntropy(
  alloc: Alloc,
  logits: Floats,
  targets: Int32Array,
  rows: number,
  vocab: number,
): { loss: number; dLogits: Floats } {
  const scored = countScoredTargets(targets, rows, vocab);
  const dLogits = alloc(rows * vocab);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const target = targets[r];
    if (target === IGNORE_TARGET) continue;
    const off = r * vocab;
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < vocab; v++) if (logits[off + v] > max) max = logits[off + v];
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[off + v] - max);
    const logSum = Math.log(sum) + max;
    total += logSum - logits[off + target];
    for (let v = 0; v < vocab; v++) dLogits[off + v] = Math.exp(logits[off + v] - logSum) / scored;
    dLogits[off + target] -= 1 / scored;
  }
  return { loss: scored > 0 ? total / scored : 0, dLogits };
}

export function addInPlace(a: Floats, b: Floats): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}

export function scaleInPlace(x: Floats, c: number): void {
  for (let i = 0; i < x.length; i++) x[i] *= c;
}
