/** Forwarding many sequences of different lengths through a model in right-padded batches. */
import type { Floats } from '../core/backend.ts';

/** A model's forward pass: tokens [batch, seq] → logits [batch, seq, vocab]. */
export type Forward = (tokens: Int32Array, batch: number, seq: number) => Floats;

/** Forward sequences of different lengths in right-padded batches (padding cannot affect a causal model). */
export function forwardPadded(
  forward: Forward,
  sequences: readonly Int32Array[],
  vocab: number,
  batchSize: number,
  visit: (index: number, logits: Floats, offset: number) => void,
): void {
  for (let first = 0; first < sequences.length; first += batchSize) {
    const group = sequences.slice(first, first + batchSize);
    const T = Math.max(...group.map((s) => s.length));
    const tokens = new Int32Array(group.length * T);
    for (let b = 0; b < group.length; b++) tokens.set(group[b], b * T);
    const logits = forward(tokens, group.length, T);
    for (let b = 0; b < group.length; b++) visit(first + b, logits, b * T * vocab);
  }
}
