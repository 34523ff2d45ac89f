/**
 * Model folders, readable like a Hugging Face model folder: `config.json` (SPEC §5) and
 * `model.safetensors` (float32, the parameter names of SPEC §6), plus `tokenizer.json` once trained.
 * Loading checks that exactly the expected tensors are present with the expected shapes and lists
 * every missing, unexpected or misshapen tensor in one error, and refuses NaN/Inf weights, naming the
 * first tensor that holds them.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../core/backend.ts';
import { configToJSON, type ModelConfig, parseConfig } from '../model/config.ts';
import { nonFiniteLambda } from '../model/lambda-check.ts';
import { LanguageModel } from '../model/lm.ts';
import { type ParameterSet, parameterShapes, tensorMismatches } from '../model/parameters.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { describeNonFinite, findNonFinite } from './finite.ts';
import { CONFIG_FILE, WEIGHTS_FILE } from './folder-files.ts';
import { type NamedTensor, readSafetensorsFile, writeSafetensorsFile } from './safetensors.ts';

export { CONFIG_FILE, WEIGHTS_FILE };

export class ModelFolderError extends Error {
  override name = 'ModelFolderError';
}

export function readConfigFile(dir: string): ModelConfig {
  if (!existsSync(dir)) throw new ModelFolderError(`model folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory())
    throw new ModelFolderError(
      `${dir} is not a folder (expected a model folder with ${CONFIG_FILE} and ${WEIGHTS_FILE})`,
    );
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path))
    throw new ModelFolderError(`${dir} is not a model folder: ${CONFIG_FILE} is missing`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ModelFolderError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  return parseConfig(json, path);
}

/** Check names and shapes against the config; returns the parameters in canonical order. */
export function parametersFromTensors(
  config: ModelConfig,
  tensors: Map<string, NamedTensor>,
  backend: Backend,
  source: string,
): ParameterSet {
  const { missing, unexpected, misshapen } = tensorMismatches(config, tensors);
  const problems = [
    missing.length ? `missing tensors: ${missing.join(', ')}` : '',
    unexpected.length ? `unexpected tensors: ${unexpected.join(', ')}` : '',
    misshapen.length ? `wrong shapes: ${misshapen.join('; ')}` : '',
  ].filter(Boolean);
  if (problems.length)
    throw new ModelFolderError(
      `${source} does not match its ${config.variant} config: ${problems.join(' | ')}`,
    );
  const nonFinite = findNonFinite([...tensors].map(([name, t]) => [name, t.data]));
  const bad = nonFinite
    ? describeNonFinite(nonFinite)
    : nonFiniteLambda(config, { get: (name) => tensors.get(name)?.data });
  if (bad) throw new ModelFolderError(`${source}: ${bad}: these weights are unusable`);
  const params: ParameterSet = new Map();
  for (const name of parameterShapes(config).keys()) {
    const data = tensors.get(name)!.data;
    params.set(name, backend.precision === 'f32' ? data : backend.fromArray(data));
  }
  return params;
}

export function loadModelFolder(dir: string, backend: Backend): LanguageModel {
  const config = readConfigFile(dir);
  const weights = join(dir, WEIGHTS_FILE);
  if (!existsSync(weights))
    throw new ModelFolderError(`${dir} is not a complete model folder: ${WEIGHTS_FILE} is missing`);
  const { tensors } = readSafetensorsFile(weights);
  return new LanguageModel(config, parametersFromTensors(config, tensors, backend, weights), backend);
}

/** Write config.json and model.safetensors atomically (each file is replaced whole or not at all). */
export function saveModelFolder(
  dir: string,
  model: { config: ModelConfig; params: ParameterSet },
  metadata?: Record<string, string>,
): void {
  mkdirSync(dir, { recursive: true });
  const shapes = parameterShapes(model.config);
  const tensors = new Map<string, NamedTensor>();
  for (const [name, shape] of shapes) {
    const value = model.params.get(name);
    if (!value) throw new ModelFolderError(`cannot save: parameter ${name} is missing`);
    tensors.set(name, { shape, data: value instanceof Float32Array ? value : Float32Array.from(value) });
  }
  const bad = findNonFinite([...tensors].map(([name, t]) => [name, t.data]));
  if (bad) throw new ModelFolderError(`cannot save the model to ${dir}: ${describeNonFinite(bad)}`);
  writeSafetensorsFile(join(dir, WEIGHTS_FILE), tensors, { format: 'pt', ...metadata });
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(configToJSON(model.config), null, 2)}\n`);
}
