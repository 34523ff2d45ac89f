/**
 * Choosing the next token from logits, kept apart from the model (as llama2.c does).
 *
 * - temperature 0 → greedy (argmax); otherwise logits are divided by the temperature (below 1
 *   sharpens, above 1 flattens) before the softmax;
 * - top-k keeps the k most likely tokens; top-p (nucleus) keeps the smallest set of most likely
 *   tokens whose probability reaches p; both renormalise what they keep;
 * - the draw uses a seeded `Rng`, so the same seed gives the same text.
 */
import type { Floats } from '../core/backend.ts';
import type { Rng } from '../core/rng.ts';

export interface SamplerOptions {
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined = all). */
  topK?: number;
  /** Keep the smallest most-likely set with total probability ≥ p (1 or undefined = all). */
  topP?: number;
}

export function validateSampler(o: SamplerOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) {
    throw new RangeError(`temperature must be a number ≥ 0, found ${o.temperature}`);
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0))
    throw new RangeError(`topK must be an integer ≥ 0, found ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1))
    throw new RangeError(`topP must be in (0, 1], found ${o.topP}`);
}

export function argmax(logits: Floats | number[]): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Sample a token id from one row of logits [V]. */
export function sampleToken(logits: Floats, o: SamplerOptions, rng: Rng): number {
  const temperature = o.temperature ?? 1;
  if (temperature === 0) return argmax(logits);
  const V = logits.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  const probs = new Float64Array(V);
  let sum = 0;
  for (let i = 0; i < V; i++) {
    probs[i] = Math.exp((logits[i] - max) / temperature);
    sum += probs[i];
  }
  // Candidates by decreasing logit (ties by id, so the order is deterministic and agrees with argmax).
  let order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  if (o.topK && o.topK < V) order = order.slice(0, o.topK);
  if (o.topP !== undefined && o.topP < 1) {
    let mass = 0;
    let keep = 0;
    while (keep < order.length && mass < o.topP * sum) mass += probs[order[keep++]];
    order = order.slice(0, Math.max(1, keep));
  }
  let kept = 0;
  for (const id of order) kept += probs[id];
  let u = rng.uniform() * kept;
  for (const id of order) {
    u -= probs[id];
    if (u < 0) return id;
  }
  return order[order.length - 1];
}
