/**
 * Building a model from the bytes of a model folder, in the browser (or anywhere without a file
 * system): config.json → parseConfig, model.safetensors → readSafetensors, tokenizer.json →
 * Tokenizer.fromJSON. Every failure is a `ModelLoadError` whose message says what to do.
 *
 * The library's loader (`loadModelFolder` / `parametersFromTensors` in src/io/model-folder.ts) reads
 * files with node:fs and is not part of the browser entry, so the name and shape check it does is
 * repeated here in a few lines.
 */
import {
  type Backend,
  CONFIG_FILE,
  countParameters,
  createJsBackend,
  LanguageModel,
  type ModelConfig,
  type ParameterSet,
  parameterShapes,
  parseConfig,
  readSafetensors,
  TOKENIZER_FILE,
  Tokenizer,
  tensorMismatches,
  WEIGHTS_FILE,
} from 'diff-transformer/browser';

/** Larger models are refused: the js backend would need minutes per token and gigabytes of memory. */
export const MAX_BROWSER_PARAMETERS = 200_000_000;

export const REQUIRED_FILES = [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] as const;

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** Which of the required files are missing from a set of file names (a picked or dropped folder). */
export function missingFiles(names: Iterable<string>): string[] {
  const present = new Set(names);
  return REQUIRED_FILES.filter((f) => !present.has(f));
}

/** The message for a folder that lacks some of the required files. */
export function notAModelMessage(folder: string, names: readonly string[]): string {
  const missing = missingFiles(names);
  if (!missing.includes(CONFIG_FILE) || missing.length < REQUIRED_FILES.length)
    return `${folder} is not a complete model folder: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing`;
  const shown = names.slice(0, 6).join(', ') + (names.length > 6 ? ', …' : '');
  return `${folder} is not a model folder: expected ${REQUIRED_FILES.join(', ')}; found ${names.length ? shown : 'no files'}`;
}

/** Parse and check config.json; refuses models too large for the browser. */
export function parseModelConfig(
  text: string,
  source = CONFIG_FILE,
): { config: ModelConfig; parameters: number } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${source} is not valid JSON (${(error as Error).message})`);
  }
  let config: ModelConfig;
  try {
    config = parseConfig(json, source);
  } catch (error) {
    throw new ModelLoadError(`not a model of this project: ${(error as Error).message}`);
  }
  const parameters = countParameters(config).total;
  if (parameters > MAX_BROWSER_PARAMETERS)
    throw new ModelLoadError(
      `this model has ${(parameters / 1e6).toFixed(0)}M parameters: too large for the browser (limit ${MAX_BROWSER_PARAMETERS / 1e6}M). Use the command line: diff-transformer generate --model DIR`,
    );
  return { config, parameters };
}

export function parseTokenizer(text: string, config: ModelConfig, source = TOKENIZER_FILE): Tokenizer {
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromJSON(JSON.parse(text));
  } catch (error) {
    throw new ModelLoadError(`the tokenizer failed to load: ${source}: ${(error as Error).message}`);
  }
  if (tokenizer.vocabSize !== config.vocab_size)
    throw new ModelLoadError(
      `the tokenizer does not fit the model: ${source} has ${tokenizer.vocabSize} tokens, config.json says vocab_size ${config.vocab_size}`,
    );
  return tokenizer;
}

/** Weights from safetensors bytes, checked by name and shape against the config. */
export function parseWeights(bytes: Uint8Array, config: ModelConfig, source = WEIGHTS_FILE): ParameterSet {
  let tensors: ReturnType<typeof readSafetensors>['tensors'];
  try {
    tensors = readSafetensors(bytes, source).tensors;
  } catch (error) {
    throw new ModelLoadError((error as Error).message);
  }
  const { missing, unexpected, misshapen } = tensorMismatches(config, tensors);
  const problems = [
    ...missing.map((name) => `missing ${name}`),
    ...misshapen,
    ...unexpected.map((name) => `unexpected ${name}`),
  ];
  if (problems.length) {
    const shown =
      problems.slice(0, 4).join('; ') + (problems.length > 4 ? `; … (${problems.length} problems)` : '');
    throw new ModelLoadError(`${source} does not match its ${config.variant} config: ${shown}`);
  }
  const params: ParameterSet = new Map();
  for (const name of parameterShapes(config).keys()) params.set(name, tensors.get(name)!.data);
  return params;
}

export interface LoadedModel {
  model: LanguageModel;
  tokenizer: Tokenizer;
  config: ModelConfig;
  parameters: number;
}

/** The model on `backend` (default: the js backend, float32). */
export function buildModel(
  configText: string,
  weights: Uint8Array,
  tokenizerText: string,
  backend: Backend = createJsBackend('f32'),
): LoadedModel {
  const { config, parameters } = parseModelConfig(configText);
  const tokenizer = parseTokenizer(tokenizerText, config);
  const params = parseWeights(weights, config);
  return { model: new LanguageModel(config, params, backend), tokenizer, config, parameters };
}
