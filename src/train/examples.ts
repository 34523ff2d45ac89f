/**
 * Supervised examples for training on a task rather than on running text: each batch row is ONE
 * example, aligned at position 0 and right-padded, and only the positions chosen by the example are
 * scored (the answers of a question, a label), every other target being IGNORE_TARGET.
 *
 * Contract:
 * - An example is `inputs` and `targets` of equal length (1 … seq); `targets[p]` is the id that
 *   should follow `inputs[0..p]`, or IGNORE_TARGET where position p is not scored.
 * - `exampleFromIds(ids, scored)` makes one from a token sequence and the index ranges [first, last]
 *   of the tokens to predict (token i is predicted at position i − 1; token 0 cannot be).
 * - `ExampleSampler` draws `batch` examples uniformly with replacement from a seeded `Rng`, with the
 *   same `state()`/`restore` contract as `BatchSampler` (a resumed run sees exactly the same batches).
 * - `exampleEvaluationBatches` covers the examples in order (the last batch may be partial).
 * - Padding rows and positions: input 0, target IGNORE_TARGET (a causal model's outputs at real
 *   positions do not depend on what follows them, so padding changes nothing but cost).
 */
import { IGNORE_TARGET } from '../core/backend.ts';
import { nodeBuiltin } from '../core/node-builtins.ts';
import { Rng } from '../core/rng.ts';
import type { Batch, Sampler, SamplerState } from './batches.ts';

export interface TrainingExample {
  inputs: Int32Array;
  targets: Int32Array;
}

/** An example from token ids, scoring the tokens in the inclusive index ranges `scored`. */
export function exampleFromIds(
  ids: ArrayLike<number>,
  scored: ReadonlyArray<[number, number]>,
): TrainingExample {
  if (ids.length < 2) throw new RangeError(`an example needs at least 2 tokens, found ${ids.length}`);
  const n = ids.length - 1;
  const inputs = Int32Array.from({ length: n }, (_, p) => ids[p]);
  const targets = new Int32Array(n).fill(IGNORE_TARGET);
  for (const [first, last] of scored) {
    if (!(first >= 1 && first <= last && last <= n))
      throw new RangeError(`scored range [${first}, ${last}] must lie within tokens 1 … ${n} of the example`);
    for (let i = first; i <= last; i++) targets[i - 1] = ids[i];
  }
  return { inputs, targets };
}

/** Checks every example against the sequence length and vocabulary; returns the scored target count. */
export function checkExamples(
  examples: readonly TrainingExample[],
  seq: number,
  vocab: number,
  what: string,
): number {
  if (examples.length === 0) throw new RangeError(`${what}: no examples`);
  let scored = 0;
  for (const [i, e] of examples.entries()) {
    const n = e.inputs.length;
    if (n < 1 || n > seq)
      throw new RangeError(`${what} example ${i} has ${n} inputs; expected 1 … ${seq} (the sequence length)`);
    if (e.targets.length !== n)
      throw new RangeError(`${what} example ${i} has ${n} inputs but ${e.targets.length} targets`);
    for (let p = 0; p < n; p++) {
      const [x, t] = [e.inputs[p], e.targets[p]];
      if (!(x >= 0 && x < vocab) || !(t === IGNORE_TARGET || (t >= 0 && t < vocab)))
        throw new RangeError(
          `${what} example ${i}, position ${p}: token ${x} or target ${t} outside [0, ${vocab})`,
        );
      if (t !== IGNORE_TARGET) scored++;
    }
  }
  if (scored === 0) throw new RangeError(`${what}: no example has a scored target`);
  return scored;
}

function fill(
  examples: readonly TrainingExample[],
  picks: readonly number[],
  batch: number,
  seq: number,
): Batch {
  const inputs = new Int32Array(batch * seq);
  const targets = new Int32Array(batch * seq).fill(IGNORE_TARGET);
  for (const [row, i] of picks.entries()) {
    inputs.set(examples[i].inputs, row * seq);
    targets.set(examples[i].targets, row * seq);
  }
  return { inputs, targets };
}

export class ExampleSampler implements Sampler {
  private rng: Rng;
  private drawn = 0;

  constructor(
    private readonly examples: readonly TrainingExample[],
    private readonly batch: number,
    private readonly seq: number,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  next(): Batch {
    const picks = Array.from({ length: this.batch }, () => this.rng.int(this.examples.length));
    this.drawn++;
    return fill(this.examples, picks, this.batch, this.seq);
  }

  state(): SamplerState {
    return { rng: this.rng.state(), drawn: this.drawn };
  }

  static restore(
    examples: readonly TrainingExample[],
    batch: number,
    seq: number,
    state: SamplerState,
  ): ExampleSampler {
    const sampler = new ExampleSampler(examples, batch, seq, 0);
    sampler.rng = Rng.fromState(state.rng);
    sampler.drawn = state.drawn;
    return sampler;
  }
}

/** The examples in order, `batch` per batch; at most `maxBatches` batches. */
export function exampleEvaluationBatches(
  examples: readonly TrainingExample[],
  batch: number,
  seq: number,
  maxBatches: number,
): Array<Batch & { count: number }> {
  const total = Math.min(examples.length, batch * maxBatches);
  const out: Array<Batch & { count: number }> = [];
  for (let first = 0; first < total; first += batch) {
    const picks = Array.from({ length: Math.min(batch, total - first) }, (_, i) => first + i);
    out.push({ ...fill(examples, picks, batch, seq), count: picks.length });
  }
  return out;
}

/** A content hash of training and validation examples (names a run's data in its settings). */
export function examplesHash(examples: {
  train: readonly TrainingExample[];
  val: readonly TrainingExample[];
}): string {
  const hash = nodeBuiltin('node:crypto').createHash('sha256'); // fetched here: this module is node-free
  for (const part of [examples.train, examples.val]) {
    hash.update(`${part.length};`);
    for (const e of part) {
      hash.update(new Uint8Array(e.inputs.buffer, e.inputs.byteOffset, e.inputs.byteLength));
      hash.update(new Uint8Array(e.targets.buffer, e.targets.byteOffset, e.targets.byteLength));
    }
  }
  return hash.digest('hex');
}
