/**
 * Autoregressive generation, streamed token by token. With the KV cache (default) the prompt is
 * run once and each new token costs one position; `useCache: false` recomputes the whole prefix
 * every step (the reference the cache is tested against). Stops after `maxTokens` or at `stopId`.
 */
import { Rng } from '../core/rng.ts';
import { type LanguageModel, tokenIds } from '../model/lm.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { WeightDtype } from './bf16.ts';
import { type SamplerOptions, sampleToken, validateSampler } from './sampler.ts';

export interface GenerateOptions extends SamplerOptions {
  maxTokens: number;
  seed?: number;
  useCache?: boolean;
  /** Token id that ends generation (not emitted). */
  stopId?: number;
  /**
   * 'bf16': the linear layers read the weights as bfloat16 where the backend can (native), summing in
   * float32 — half the bytes per token. Meant for a model from bf16Model(), whose weights are already
   * bfloat16 values, so that every backend computes the same model. Default 'f32'.
   */
  dtype?: WeightDtype;
}

/** Yields generated token ids one at a time. */
export function* generateTokens(
  model: LanguageModel,
  prompt: readonly number[],
  o: GenerateOptions,
): Generator<number> {
  validateSampler(o);
  if (o.dtype !== undefined && o.dtype !== 'f32' && o.dtype !== 'bf16')
    throw new RangeError(`dtype must be f32 or bf16, found ${o.dtype}`);
  if (!(Number.isInteger(o.maxTokens) && o.maxTokens >= 0))
    throw new RangeError(`maxTokens must be an integer ≥ 0, found ${o.maxTokens}`);
  if (prompt.length === 0) throw new RangeError('the prompt must encode to at least one token');
  const V = model.config.vocab_size;
  tokenIds(prompt, V);
  const rng = new Rng(o.seed ?? 0);
  const useCache = o.useCache ?? true;
  const cache = useCache ? model.createCache() : undefined;
  const sequence = [...prompt];
  let input = Int32Array.from(prompt);
  // the weights stay put while we generate (and, for bf16, are read in 16 bits where the backend can)
  const release =
    o.dtype === 'bf16'
      ? (model.backend.holdWeights?.(model.params.values(), { dtype: 'bf16' }) ?? (() => {}))
      : model.holdWeights();
  try {
    for (let i = 0; i < o.maxTokens; i++) {
      const { logits } = model.forward(input, 1, input.length, { cache });
      const next = sampleToken(logits.subarray(logits.length - V), o, rng);
      if (next === o.stopId) return;
      yield next;
      sequence.push(next);
      input = useCache ? Int32Array.of(next) : Int32Array.from(sequence);
    }
  } finally {
    release();
  }
}

/** Generate text after `prompt`; `onText` receives each complete piece of text as it is decoded. */
export function generateText(
  model: LanguageModel,
  tokenizer: Tokenizer,
  prompt: string,
  o: GenerateOptions,
  onText?: (piece: string) => void,
): { text: string; ids: number[] } {
  if (prompt.length === 0) throw new RangeError('the prompt must not be empty');
  const stream = tokenizer.createStreamDecoder();
  const ids: number[] = [];
  let text = '';
  const emit = (piece: string) => {
    if (!piece) return;
    text += piece;
    onText?.(piece);
  };
  for (const id of generateTokens(model, tokenizer.encode(prompt), { stopId: tokenizer.endOfTextId, ...o })) {
    ids.push(id);
    emit(stream.push(id));
  }
  emit(stream.flush());
  return { text, ids };
}
