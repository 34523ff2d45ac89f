/**
 * Symmetric absmax quantisation (round to nearest): with qmax = 2^(bits−1) − 1 and
 * scale = max|x| / qmax, each value becomes clamp(round(x / scale), −qmax, qmax) · scale, i.e. the
 * nearest of 2^bits − 1 evenly spaced levels spanning [−max|x|, max|x|]. 32 bits or more (or an
 * all-zero tensor) leaves the values unchanged.
 *
 * - `quantizeInPlace`: one scale for the whole array (per tensor).
 * - `quantizeRowsInPlace`: one scale per row of a [rows, cols] matrix.
 * - `quantizeWeights`: a quantised copy of a model's parameters: every matrix (the embedding, the
 *   linear layers, the output head) per row (per output channel; per token row for the embedding);
 *   vectors (norm weights, V1's λ vectors) are kept in float32.
 */
import type { Backend, Floats } from '../core/backend.ts';
import type { ModelConfig } from '../model/config.ts';
import { LanguageModel } from '../model/lm.ts';
import { type ParameterSet, parameterShapes } from '../model/parameters.ts';

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 2)
    throw new RangeError(`quantisation needs an integer number of bits ≥ 2, found ${bits}`);
}

/** Quantise `x[from, to)` with one absmax scale. */
function quantizeRange(x: Floats | Float64Array, from: number, to: number, bits: number): void {
  if (bits >= 32) return;
  let absmax = 0;
  for (let i = from; i < to; i++) absmax = Math.max(absmax, Math.abs(x[i]));
  if (absmax === 0 || !Number.isFinite(absmax)) return;
  const qmax = 2 ** (bits - 1) - 1;
  const scale = absmax / qmax;
  for (let i = from; i < to; i++) {
    const level = Math.max(-qmax, Math.min(qmax, Math.round(x[i] / scale)));
    x[i] = level * scale;
  }
}

/** Per-tensor absmax quantisation, in place. */
export function quantizeInPlace(x: Floats | Float64Array, bits: number): void {
  checkBits(bits);
  quantizeRange(x, 0, x.length, bits);
}

/** Per-row absmax quantisation of a [rows, cols] matrix, in place. */
export function quantizeRowsInPlace(x: Floats, rows: number, cols: number, bits: number): void {
  checkBits(bits);
  if (rows * cols !== x.length) throw new RangeError(`expected ${rows}×${cols} values, found ${x.length}`);
  for (let r = 0; r < rows; r++) quantizeRange(x, r * cols, (r + 1) * cols, bits);
}

/** A copy of the parameters with every matrix quantised per row; vectors unchanged. */
export function quantizeWeights(
  config: ModelConfig,
  params: ParameterSet,
  backend: Backend,
  bits: number,
): ParameterSet {
  const out: ParameterSet = new Map();
  for (const [name, shape] of parameterShapes(config)) {
    const copy = backend.fromArray(params.get(name)!);
    if (shape.length === 2) quantizeRowsInPlace(copy, shape[0], shape[1], bits);
    out.set(name, copy);
  }
  return out;
}

/** The model itself at 32 bits or more, else a copy whose matrices are quantised per row to `bits`. */
export function withQuantisedWeights(model: LanguageModel, bits: number): LanguageModel {
  if (bits >= 32) return model;
  return new LanguageModel(
    model.config,
    quantizeWeights(model.config, model.params, model.backend, bits),
    model.backend,
  );
}
