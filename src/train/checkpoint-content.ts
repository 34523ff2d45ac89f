/**
 * What a training checkpoint holds, as safetensors tensors and metadata — no file access, so that the
 * browser keeps the same checkpoint (in IndexedDB) that the CLI writes to checkpoint.safetensors
 * (checkpoint.ts): `param.<name>`, `adam_m.<name>`, `adam_v.<name>` as float32, and the run state
 * (step, sampler state, settings, config, tokenizer fingerprint, AdamW step) as JSON in the metadata
 * key `run_state`. Restoring refuses missing or misshapen tensors and NaN/Inf values, naming the tensor.
 */
import type { Backend } from '../core/backend.ts';
import type { FileFingerprint } from '../io/checksum.ts';
import { describeNonFinite, findNonFinite } from '../io/finite.ts';
import type { NamedTensor } from '../io/safetensors.ts';
import type { ModelConfig } from '../model/config.ts';
import { type ParameterSet, parameterShapes } from '../model/parameters.ts';
import type { AdamWState } from './adamw.ts';
import type { SamplerState } from './batches.ts';

/** The settings that must not change across a resume, plus where the run stands. */
export interface RunState {
  step: number;
  sampler: SamplerState;
  settings: Record<string, unknown>;
  config: ModelConfig;
  /** Size and SHA-256 of the run's tokenizer.json (absent in checkpoints of earlier versions). */
  tokenizer?: FileFingerprint;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface CheckpointContent {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

export interface RestoredCheckpoint {
  params: ParameterSet;
  optimiser: AdamWState;
  state: RunState;
}

/** The tensors and metadata of a checkpoint of `params` and `optimiser` at `state`. */
export function checkpointContent(
  params: ParameterSet,
  optimiser: AdamWState,
  state: RunState,
): CheckpointContent {
  const shapes = parameterShapes(state.config);
  const tensors = new Map<string, NamedTensor>();
  const asF32 = (x: ArrayLike<number>) => (x instanceof Float32Array ? x : Float32Array.from(x));
  for (const [name, shape] of shapes) {
    tensors.set(`param.${name}`, { shape, data: asF32(params.get(name)!) });
    tensors.set(`adam_m.${name}`, { shape, data: asF32(optimiser.m.get(name)!) });
    tensors.set(`adam_v.${name}`, { shape, data: asF32(optimiser.v.get(name)!) });
  }
  const metadata = { run_state: JSON.stringify({ ...state, adam_step: optimiser.step }) };
  return { tensors, metadata };
}

/** Weights, AdamW moments and run state from a checkpoint's tensors and metadata (`source` names it in errors). */
export function restoreCheckpoint(
  { tensors, metadata }: { tensors: Map<string, NamedTensor>; metadata: Record<string, string> },
  backend: Backend,
  source: string,
): RestoredCheckpoint {
  let parsed: RunState & { adam_step: number };
  try {
    parsed = JSON.parse(metadata.run_state ?? '');
  } catch {
    throw new CheckpointError(`${source}: the run state in its metadata is missing or not JSON`);
  }
  const params: ParameterSet = new Map();
  const m: ParameterSet = new Map();
  const v: ParameterSet = new Map();
  for (const [name, shape] of parameterShapes(parsed.config)) {
    for (const [prefix, target] of [
      ['param.', params],
      ['adam_m.', m],
      ['adam_v.', v],
    ] as const) {
      const t = tensors.get(prefix + name);
      if (!t || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
        throw new CheckpointError(`${source}: tensor ${prefix}${name} is missing or has the wrong size`);
      }
      target.set(name, backend.precision === 'f32' ? t.data : backend.fromArray(t.data));
    }
  }
  for (const [prefix, set] of [
    ['param.', params],
    ['adam_m.', m],
    ['adam_v.', v],
  ] as const) {
    const bad = findNonFinite(set);
    if (bad)
      throw new CheckpointError(`${source}: ${describeNonFinite({ ...bad, name: prefix + bad.name })}`);
  }
  const { adam_step, ...state } = parsed;
  return { params, optimiser: { step: adam_step, m, v }, state };
}
