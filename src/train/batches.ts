/**
 * Batches of token windows for training and evaluation.
 *
 * Contract:
 * - A window is seq+1 consecutive ids `tokens[start .. start+seq]`; its first seq ids are the
 *   inputs and its last seq ids the targets (the inputs shifted left by one).
 * - `BatchSampler` draws `batch` windows at uniformly random starts from a seeded `Rng`. Its
 *   `state()` is JSON-safe, and `BatchSampler.restore` continues with exactly the same batches.
 * - `evaluationBatches` returns fixed, non-overlapping windows (starts 0, seq, 2·seq, …) covering the
 *   tokens in order, so validation loss is comparable across steps and runs. The last batch may be
 *   partial: its pad rows are zeros and are not included in `count`.
 * - Inputs and targets are row-major `[batch*seq]` arrays.
 */
import { Rng } from '../core/rng.ts';

export interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
}

export interface SamplerState {
  rng: number[];
  /** Number of batches drawn so far. */
  drawn: number;
}

/** A seeded source of training batches whose state can be saved and restored exactly. */
export interface Sampler {
  next(): Batch;
  state(): SamplerState;
}

export class BatchSampler implements Sampler {
  private readonly tokens: Int32Array;
  private readonly batch: number;
  private readonly seq: number;
  private rng: Rng;
  private drawn = 0;

  constructor(tokens: Int32Array, batch: number, seq: number, seed: number) {
    checkShape(tokens, batch, seq);
    this.tokens = tokens;
    this.batch = batch;
    this.seq = seq;
    this.rng = new Rng(seed);
  }

  /** The next batch of `batch` random windows. */
  next(): Batch {
    const { tokens, batch, seq } = this;
    const inputs = new Int32Array(batch * seq);
    const targets = new Int32Array(batch * seq);
    const starts = tokens.length - seq; // valid starts are 0 .. tokens.length - seq - 1
    for (let row = 0; row < batch; row++) {
      const start = this.rng.int(starts);
      copyWindow(tokens, start, seq, inputs, targets, row);
    }
    this.drawn++;
    return { inputs, targets };
  }

  state(): SamplerState {
    return { rng: this.rng.state(), drawn: this.drawn };
  }

  static restore(tokens: Int32Array, batch: number, seq: number, state: SamplerState): BatchSampler {
    const sampler = new BatchSampler(tokens, batch, seq, 0);
    sampler.rng = Rng.fromState(state.rng);
    sampler.drawn = state.drawn;
    return sampler;
  }
}

/** Fixed evaluation batches over `tokens` in order; at most `maxBatches` of them. */
export function evaluationBatches(
  tokens: Int32Array,
  batch: number,
  seq: number,
  maxBatches: number,
): Array<Batch & { count: number }> {
  checkShape(tokens, batch, seq);
  const windows = Math.min(Math.floor((tokens.length - 1) / seq), batch * Math.max(0, maxBatches));
  const out: Array<Batch & { count: number }> = [];
  for (let first = 0; first < windows; first += batch) {
    const count = Math.min(batch, windows - first);
    const inputs = new Int32Array(batch * seq);
    const targets = new Int32Array(batch * seq);
    for (let row = 0; row < count; row++) copyWindow(tokens, (first + row) * seq, seq, inputs, targets, row);
    out.push({ inputs, targets, count });
  }
  return out;
}

function copyWindow(
  tokens: Int32Array,
  start: number,
  seq: number,
  inputs: Int32Array,
  targets: Int32Array,
  row: number,
): void {
  inputs.set(tokens.subarray(start, start + seq), row * seq);
  targets.set(tokens.subarray(start + 1, start + seq + 1), row * seq);
}

function checkShape(tokens: Int32Array, batch: number, seq: number): void {
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`batch must be a positive integer, found ${batch}`);
  if (!Number.isInteger(seq) || seq < 1) throw new RangeError(`seq must be a positive integer, found ${seq}`);
  if (tokens.length < seq + 1) {
    throw new RangeError(`need at least seq+1 = ${seq + 1} tokens for one window, found ${tokens.length}`);
  }
}
