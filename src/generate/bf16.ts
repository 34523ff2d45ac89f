/**
 * bfloat16 weights for generation: the upper 16 bits of a float32 (8 exponent bits, 7 mantissa
 * bits), rounded to nearest, ties to even. Decoding reads every weight once per token, so weights
 * of half the bytes halve the memory traffic that bounds it; products still sum in float32.
 */
import type { Floats } from '../core/backend.ts';
import { LanguageModel } from '../model/lm.ts';
import type { ParameterSet } from '../model/parameters.ts';

/** Weight storage for generation: float32 as trained, or bfloat16 converted at load. */
export type WeightDtype = 'f32' | 'bf16';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['f32', 'bf16'];

/** The bits of the arrays of bf16Model()'s parameters, computed once when the model is made. */
const bitsOfRounded = new WeakMap<Floats, Uint16Array>();

/** bf16Bits(x), from the cache when x is a parameter of a bf16Model() (converted once, at load). */
export function heldBf16Bits(x: Floats): Uint16Array {
  return bitsOfRounded.get(x) ?? bf16Bits(x);
}

/** The bfloat16 bits of each value (round to nearest even; NaN stays a NaN, ±∞ stays ±∞). */
export function bf16Bits(x: Floats): Uint16Array {
  const f = x instanceof Float32Array ? x : Float32Array.from(x);
  const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0)
      out[i] = (b >>> 16) | 0x40; // quiet NaN
    else out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** float32 values of bfloat16 bits. */
export function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return new Float32Array(u.buffer);
}

/**
 * The same model with every parameter rounded to bfloat16 (new arrays; the original is unchanged),
 * for inference: its weights must not change afterwards, since their bfloat16 bits are computed
 * here, once, for backends that hold them in 16 bits (see GenerateOptions.dtype).
 */
export function bf16Model(model: LanguageModel): LanguageModel {
  const params: ParameterSet = new Map();
  for (const [name, value] of model.params) {
    const bits = bf16Bits(value);
    const rounded = bf16ToFloat32(bits);
    const stored = value instanceof Float32Array ? rounded : model.backend.fromArray(rounded);
    bitsOfRounded.set(stored, bits);
    params.set(name, stored);
  }
  return new LanguageModel(model.config, params, model.backend);
}
