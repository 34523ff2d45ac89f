/**
 * Training checkpoints on disk: everything a resumed run needs — weights, AdamW moments, step, data
 * sampler state, the run's settings and the fingerprints of its data and tokenizer (checkpoint-content.ts)
 * — in ONE safetensors file (`checkpoint.safetensors`, every tensor checksummed), written atomically
 * (temporary file, fsync, rename), so a kill at any moment leaves the previous checkpoint whole and
 * loadable. The trainer writes the model folder's `model.safetensors` first and the checkpoint last,
 * both recording the step. Loading refuses a damaged file (checksum) and NaN/Inf values, naming the tensor.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../core/backend.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.ts';
import type { ParameterSet } from '../model/parameters.ts';
import type { AdamWState } from './adamw.ts';
import {
  CheckpointError,
  checkpointContent,
  type RestoredCheckpoint,
  type RunState,
  restoreCheckpoint,
} from './checkpoint-content.ts';

export { CheckpointError, type RunState } from './checkpoint-content.ts';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

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
  const { tensors, metadata } = checkpointContent(params, optimiser, state);
  writeSafetensorsFile(checkpointPath(dir), tensors, metadata);
}

export function loadCheckpoint(dir: string, backend: Backend): RestoredCheckpoint {
  const path = checkpointPath(dir);
  if (!existsSync(path)) throw new CheckpointError(`nothing to resume: ${path} does not exist`);
  return restoreCheckpoint(readSafetensorsFile(path), backend, path);
}
