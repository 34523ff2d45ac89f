/**
 * Building a model from the bytes of a model folder, in the browser (or anywhere without a file
 * system): config.json → parseConfig, model.safetensors → readSafetensors, tokenizer.json →
 * Tokenizer.fromJSON. Every failure is an error whose message says what to do (`ModelLoadError`, or the
 * library's `ModelFolderError` for weights that do not fit their config).
 *
 * The weights are checked by the library's own check (`parametersFromTensors`, the one
 * `loadModelFolder` uses), listing the first few problems so that the message fits the page.
 */
import {
  type Backend,
  CONFIG_FILE,
  countParameters,
  createJsBackend,
  LanguageModel,
  type ModelConfig,
  type ParameterSet,
  parametersFromTensors,
  parseConfig,
  readSafetensors,
  TOKENIZER_FILE,
  Tokenizer,
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

/** Weights from safetensors bytes on `backend`, checked by name, shape and finiteness against the config. */
export function parseWeights(
  bytes: Uint8Array,
  config: ModelConfig,
  backend: Backend,
  source = WEIGHTS_FILE,
): ParameterSet {
  let tensors: ReturnType<typeof readSafetensors>['tensors'];
  try {
    tensors = readSafetensors(bytes, source).tensors;
  } catch (error) {
    throw new ModelLoadError((error as Error).message);
  }
  return parametersFromTensors(config, tensors, backend, source, 'first');
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
  const params = parseWeights(weights, config, backend);
  return { model: new LanguageModel(config, params, backend), tokenizer, config, parameters };
}
