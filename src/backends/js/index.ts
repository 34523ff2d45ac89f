/**
 * The `js` backend: plain, readable TypeScript loops over Float32Array (or Float64Array for
 * finite-difference checks). It is the oracle every faster backend is tested against.
 */
import type { Backend, Floats, Precision } from '../../core/backend.ts';
import { attentionBackward, attentionForward } from './attention.ts';
import {
  addInPlace,
  crossEntropy,
  embeddingBackward,
  embeddingForward,
  scaleInPlace,
  swigluBackward,
  swigluForward,
} from './elementwise.ts';
import { linearBackward, linearForward } from './linear.ts';
import { rmsNormBackward, rmsNormForward } from './norm.ts';
import { rope } from './rope.ts';

export function createJsBackend(precision: Precision = 'f32'): Backend {
  const alloc =
    precision === 'f64'
      ? (n: number): Floats => new Float64Array(n)
      : (n: number): Floats => new Float32Array(n);
  return {
    name: precision === 'f64' ? 'js-f64' : 'js',
    precision,
    zeros: alloc,
    fromArray: (values) => (precision === 'f64' ? Float64Array.from(values) : Float32Array.from(values)),
    embeddingForward: (table, tokens, dim) => embeddingForward(alloc, table, tokens, dim),
    embeddingBackward,
    rmsNormForward: (x, w, rows, dim, eps) => rmsNormForward(alloc, x, w, rows, dim, eps),
    rmsNormBackward: (dy, x, w, rstd, rows, dim, dw) => rmsNormBackward(alloc, dy, x, w, rstd, rows, dim, dw),
    linearForward: (x, w, rows, inDim, outDim) => linearForward(alloc, x, w, rows, inDim, outDim),
    linearBackward: (dy, x, w, rows, inDim, outDim, dw, wantDx) =>
      linearBackward(alloc, dy, x, w, rows, inDim, outDim, dw, wantDx),
    rope,
    attentionForward: (q, k, v, geometry, combine) => attentionForward(alloc, q, k, v, geometry, combine),
    attentionBackward: (context, dOut) => attentionBackward(alloc, context, dOut),
    swigluForward: (gate, up) => swigluForward(alloc, gate, up),
    swigluBackward: (dh, gate, up) => swigluBackward(alloc, dh, gate, up),
    crossEntropy: (logits, targets, rows, vocab) => crossEntropy(alloc, logits, targets, rows, vocab),
    addInPlace,
    scaleInPlace,
  };
}
