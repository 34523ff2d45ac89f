/**
 * `import` and `export --format hf`: whole folders, each written atomically (output-folder.ts).
 *
 * import: a Hugging Face folder of a variant's counterpart (DiffLlama → DIFF V1, Llama → baseline)
 * → our model folder (config.json, float32 model.safetensors), with tokenizer.json /
 * tokenizer_config.json copied when present. export: our folder of such a variant → a folder that
 * transformers' AutoModelForCausalLM loads (config.json, model.safetensors, tokenizer files,
 * generation_config.json).
 */
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createBackend } from '../backends/index.ts';
import { writeFileAtomic } from '../io/atomic-write.ts';
import {
  CONFIG_FILE,
  loadModelFolder,
  readConfigFile,
  saveModelFolder,
  WEIGHTS_FILE,
} from '../io/model-folder.ts';
import { writeSafetensorsFile } from '../io/safetensors.ts';
import type { ModelConfig } from '../model/config.ts';
import { HF_TOKENIZER_CONFIG, Tokenizer } from '../tokenizer/index.ts';
import { TOKENIZER_FILE } from '../train/trainer.ts';
import { configFromHf, configToHf, hfExportObstacle, InterchangeError } from './hf-config.ts';
import { readHfTensors, tensorsFromHf, tensorsToHf } from './hf-weights.ts';
import { writeFolderAtomic } from './output-folder.ts';

export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

/**
 * Copy tokenizer.json and tokenizer_config.json when present; returns the names copied. `ours`: the
 * source is our model folder, whose tokenizer.json goes with HF_TOKENIZER_CONFIG when it has no
 * tokenizer_config.json of its own.
 */
export function copyTokenizerFiles(from: string, to: string, ours = false): string[] {
  const copied: string[] = [];
  for (const file of [TOKENIZER_FILE, TOKENIZER_CONFIG_FILE])
    if (existsSync(join(from, file))) {
      copyFileSync(join(from, file), join(to, file));
      copied.push(file);
    }
  if (ours && copied.includes(TOKENIZER_FILE) && !copied.includes(TOKENIZER_CONFIG_FILE))
    writeFileAtomic(join(to, TOKENIZER_CONFIG_FILE), `${JSON.stringify(HF_TOKENIZER_CONFIG, null, 2)}\n`);
  return copied;
}

/** Our tokenizer of a folder, or why it cannot be read (undefined when there is no tokenizer.json). */
export function readOurTokenizer(dir: string): { tokenizer?: Tokenizer; problem?: string } | undefined {
  const path = join(dir, TOKENIZER_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return { tokenizer: Tokenizer.fromFile(path) };
  } catch (error) {
    return { problem: (error as Error).message.split('\n')[0] };
  }
}

function readHfConfig(dir: string): Record<string, unknown> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new InterchangeError(`--from ${dir} is not a folder (expected a Hugging Face model folder)`);
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path))
    throw new InterchangeError(`${dir} is not a Hugging Face model folder: ${CONFIG_FILE} is missing`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InterchangeError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new InterchangeError(`${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}

export interface ImportResult {
  config: ModelConfig;
  /** The model_type imported, e.g. "diffllama". */
  from: string;
  tensors: number;
  copied: string[];
  warnings: string[];
}

export function importHfFolder(from: string, out: string): ImportResult {
  const source = join(from, CONFIG_FILE);
  const { config, type } = configFromHf(readHfConfig(from), source);
  const params = tensorsFromHf(config, readHfTensors(from), from);
  const warnings: string[] = [];
  let copied: string[] = [];
  writeFolderAtomic(out, (dir) => {
    const data = new Map([...params].map(([name, t]) => [name, t.data]));
    saveModelFolder(dir, { config, params: data }, { source: `huggingface ${type}` });
    copied = copyTokenizerFiles(from, dir);
  });
  const ours = readOurTokenizer(out);
  if (ours?.problem)
    warnings.push(
      `tokenizer.json was copied but is not our byte-level BPE layout (${ours.problem}): generate will refuse it`,
    );
  else if (ours?.tokenizer && ours.tokenizer.vocabSize !== config.vocab_size)
    warnings.push(
      `tokenizer.json has ${ours.tokenizer.vocabSize} tokens but the model has vocab_size ${config.vocab_size}`,
    );
  return { config, from: type, tensors: params.size, copied, warnings };
}

export interface ExportResult {
  config: Record<string, unknown>;
  tensors: number;
  copied: string[];
}

export function exportHfFolder(
  modelDir: string,
  out: string,
  o: { maxPositions?: number } = {},
): ExportResult {
  const obstacle = hfExportObstacle(readConfigFile(modelDir));
  if (obstacle) throw new InterchangeError(`cannot export ${modelDir} to Hugging Face: ${obstacle}`);
  const model = loadModelFolder(modelDir, createBackend('js'));
  const eos = readOurTokenizer(modelDir)?.tokenizer?.endOfTextId;
  const hfConfig = configToHf(model.config, {
    maxPositions: o.maxPositions,
    bosTokenId: eos,
    eosTokenId: eos,
  });
  const tensors = tensorsToHf(model.config, model.params as Map<string, Float32Array>);
  let copied: string[] = [];
  writeFolderAtomic(out, (dir) => {
    writeSafetensorsFile(join(dir, WEIGHTS_FILE), tensors, { format: 'pt' });
    writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(hfConfig, null, 2)}\n`);
    copied = copyTokenizerFiles(modelDir, dir, true);
    if (eos !== undefined)
      writeFileAtomic(
        join(dir, 'generation_config.json'),
        `${JSON.stringify({ bos_token_id: eos, eos_token_id: eos }, null, 2)}\n`,
      );
  });
  return { config: hfConfig, tensors: tensors.size, copied };
}
