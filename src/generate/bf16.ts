/**
 * bfloat16 weights for generation: the upper 16 bits of a float32 (8 exponent bits, 7 mantissa
 * bits), rounded to nearest, ties to even. Decoding reads every weight once per token, so weights
 * of half the bytes halve the memory traffic that bounds it; products still sum in float32.
 */
import { bf16Bits, bf16ToFloat32, holdBf16Bits } from '../core/bf16.ts';
import { LanguageModel } from '../model/lm.ts';
import type { ParameterSet } from '../model/parameters.ts';

/** Weight storage for generation: float32 as trained, or bfloat16 converted at load. */
export type WeightDtype = 'f32' | 'bf16';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['f32', 'bf16'];

export { bf16Bits, bf16ToFloat32 };

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
    holdBf16Bits(stored, bits);
    params.set(name, stored);
  }
  return new LanguageModel(model.config, params, model.backend);
}
