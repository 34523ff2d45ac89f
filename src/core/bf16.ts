/**
 * bfloat16 numbers: the upper 16 bits of a float32 (8 exponent bits, 7 mantissa bits), rounded to
 * nearest, ties to even; and the bits held for arrays already rounded at load (src/generate/bf16.ts),
 * which backends that store weights in 16 bits read instead of converting again.
 */
import type { Floats } from './backend.ts';

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

/** Remember the bfloat16 bits of an array of already-rounded values (read by heldBf16Bits). */
export function holdBf16Bits(x: Floats, bits: Uint16Array): void {
  bitsOfRounded.set(x, bits);
}
