/**
 * The files of a model folder, named once for every reader and writer (the CLI, `serve`, the
 * experiments, the web app): `config.json` (SPEC §5), `model.safetensors` (SPEC §6), the trained
 * `tokenizer.json` and the training log `metrics.jsonl`. No file-system access here, so the browser
 * entry can export it.
 */
export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const TOKENIZER_FILE = 'tokenizer.json';
export const METRICS_FILE = 'metrics.jsonl';

/** Every file a model folder may hold, in the order they are listed to users. */
export const MODEL_FOLDER_FILES = [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, METRICS_FILE] as const;
