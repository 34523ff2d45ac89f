/**
 * Training checkpoints: everything a resumed run needs — weights, AdamW moments, step, data
 * sampler state, the run's settings and the fingerprints of its data and tokenizer — in ONE
 * safetensors file (`checkpoint.safetensors`, every tensor checksummed), written atomically
 * (temporary file, fsync, rename), so a kill at any moment leaves the previous checkpoint whole and
 * loadable. The trainer writes the model folder's `model.safetensors` first and the checkpoint last,
 * both recording the step. Loading refuses a damaged file (checksum) and NaN/Inf values, naming the tensor.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../core/backend.ts';
import type { FileFingerprint } from '../io/checksum.ts';
import { describeNonFinite, findNonFinite } from '../io/finite.ts';
import { type NamedTensor, readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.ts';
import type { ModelConfig } from '../model/config.ts';
import { type ParameterSet, parameterShapes } from '../model/parameters.ts';
import type { AdamWState } from './adamw.ts';
import type { SamplerState } from './batches.ts';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

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

export function checkpointPath(dir: string): string {
  return join(dir, CHECKPOINT_FILE);
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(checkpointPath(dir));
}

export function saveCheckpoint(
  dir: string,
  params: ParameterSet,
  optimiser: AdamWState,
  state: RunState,
): void {
  const shapes = parameterShapes(state.config);
  const tensors = new Map<string, NamedTensor>();
  const asF32 = (x: ArrayLike<number>) => (x instanceof Float32Array ? x : Float32Array.from(x));
  for (const [name, shape] of shapes) {
    tensors.set(`param.${name}`, { shape, data: asF32(params.get(name)!) });
    tensors.set(`adam_m.${name}`, { shape, data: asF32(optimiser.m.get(name)!) });
    tensors.set(`adam_v.${name}`, { shape, data: asF32(optimiser.v.get(name)!) });
  }
  const metadata = { run_state: JSON.stringify({ ...state, adam_step: optimiser.step }) };
  writeSafetensorsFile(checkpointPath(dir), tensors, metadata);
}

export function loadCheckpoint(
  dir: string,
  backend: Backend,
): { params: ParameterSet; optimiser: AdamWState; state: RunState } {
  const path = checkpointPath(dir);
  if (!existsSync(path)) throw new CheckpointError(`nothing to resume: ${path} does not exist`);
  const { tensors, metadata } = readSafetensorsFile(path);
  let parsed: RunState & { adam_step: number };
  try {
    parsed = JSON.parse(metadata.run_state ?? '');
  } catch {
    throw new CheckpointError(`${path}: the run state in its metadata is missing or not JSON`);
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
        throw new CheckpointError(`${path}: tensor ${prefix}${name} is missing or has the wrong size`);
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
    if (bad) throw new CheckpointError(`${path}: ${describeNonFinite({ ...bad, name: prefix + bad.name })}`);
  }
  const { adam_step, ...state } = parsed;
  return { params, optimiser: { step: adam_step, m, v }, state };
}
