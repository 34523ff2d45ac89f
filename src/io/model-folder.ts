/**
 * Model folders on disk, readable like a Hugging Face model folder: `config.json` (SPEC §5) and
 * `model.safetensors` (float32, the parameter names of SPEC §6), plus `tokenizer.json` once trained.
 * This is the file-system side (existence checks, reading, atomic writes); what the files' contents
 * mean and how they are checked is src/io/model-folder-content.ts, shared with the browser.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../core/backend.ts';
import { configToJSON, type ModelConfig } from '../model/config.ts';
import { LanguageModel } from '../model/lm.ts';
import { type ParameterSet, parameterShapes } from '../model/parameters.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { describeNonFinite, findNonFinite } from './finite.ts';
import { CONFIG_FILE, WEIGHTS_FILE } from './folder-files.ts';
import { ModelFolderError, parametersFromTensors, parseConfigText } from './model-folder-content.ts';
import { type NamedTensor, readSafetensorsFile, writeSafetensorsFile } from './safetensors.ts';

export { CONFIG_FILE, ModelFolderError, parametersFromTensors, WEIGHTS_FILE };

export function readConfigFile(dir: string): ModelConfig {
  if (!existsSync(dir)) throw new ModelFolderError(`model folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory())
    throw new ModelFolderError(
      `${dir} is not a folder (expected a model folder with ${CONFIG_FILE} and ${WEIGHTS_FILE})`,
    );
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path))
    throw new ModelFolderError(`${dir} is not a model folder: ${CONFIG_FILE} is missing`);
  return parseConfigText(readFileSync(path, 'utf8'), path);
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
