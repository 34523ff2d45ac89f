/**
 * The model worker: loads one model with the library's own code and answers generation and
 * attention-map requests, so the page never blocks. Generation yields to the event loop after every
 * token, so a "stop" message is seen between tokens.
 *
 * Backend: model/backend-choice.ts (wasm with up to MAX_WASM_THREADS threads when cross-origin
 * isolated, else one thread; js without WebAssembly SIMD). `?backend=js` (or `wasm`) in the page's
 * address chooses one.
 */
import {
  type Backend,
  CONFIG_FILE,
  generateTokens,
  TOKENIZER_FILE,
  WEIGHTS_FILE,
} from 'diff-transformer/browser';
import { chooseBackend } from './model/backend-choice.ts';
import {
  buildModel,
  type LoadedModel,
  ModelLoadError,
  notAModelMessage,
  parseModelConfig,
  REQUIRED_FILES,
} from './model/load.ts';
import type {
  BackendChoice,
  BackendInfo,
  ModelSource,
  Request,
  Response,
  WireLayerMaps,
} from './model/protocol.ts';

/** Kernel threads per model (each panel has its own worker and its own threads). */
const MAX_WASM_THREADS = 4;

const scope = self as unknown as {
  postMessage(message: Response, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
};

let loaded: LoadedModel | undefined;
let stopRequested = false;

const post = (message: Response, transfer: Transferable[] = []) => scope.postMessage(message, transfer);

// One turn of the event loop through a message port: unlike setTimeout(0), which browsers clamp to
// 4 ms once nested, this does not cap the generation speed.
const turns = new MessageChannel();
const waiting: (() => void)[] = [];
turns.port1.onmessage = () => waiting.shift()?.();
const nextTurn = () =>
  new Promise<void>((done) => {
    waiting.push(done);
    turns.port2.postMessage(null);
  });

let chosen: Promise<{ backend: Backend; info: BackendInfo }> | undefined;

async function readFile(source: ModelSource, file: string, binary: true): Promise<Uint8Array>;
async function readFile(source: ModelSource, file: string, binary: false): Promise<string>;
async function readFile(source: ModelSource, file: string, binary: boolean): Promise<Uint8Array | string> {
  if (source.kind === 'files') {
    const f = source.files[file];
    if (!f) throw new ModelLoadError(notAModelMessage(source.name, Object.keys(source.files)));
    return binary ? new Uint8Array(await f.arrayBuffer()) : await f.text();
  }
  let response: globalThis.Response;
  try {
    response = await fetch(source.base + file);
  } catch (error) {
    throw new ModelLoadError(`cannot fetch ${file} of ${source.name}: ${(error as Error).message}`);
  }
  if (response.status === 404)
    throw new ModelLoadError(`${source.name} is not a complete model folder: ${file} is missing`);
  if (!response.ok)
    throw new ModelLoadError(`cannot fetch ${file} of ${source.name}: HTTP ${response.status}`);
  return binary ? new Uint8Array(await response.arrayBuffer()) : await response.text();
}

async function load(req: number, source: ModelSource, choice: BackendChoice): Promise<void> {
  const started = performance.now();
  loaded = undefined;
  chosen ??= chooseBackend(choice, MAX_WASM_THREADS);
  const { backend, info: backendInfo } = await chosen;
  if (source.kind === 'files') {
    const names = Object.keys(source.files);
    if (REQUIRED_FILES.some((f) => !names.includes(f)))
      throw new ModelLoadError(notAModelMessage(source.name, names));
  }
  post({ type: 'progress', req, message: 'reading config.json' });
  const configText = await readFile(source, CONFIG_FILE, false);
  // Parse the config first: a model too large for the browser is refused before its weights are read.
  const { parameters } = parseModelConfig(configText);
  post({ type: 'progress', req, message: 'reading tokenizer.json' });
  const tokenizerText = await readFile(source, TOKENIZER_FILE, false);
  post({
    type: 'progress',
    req,
    message: `reading model.safetensors (${(parameters / 1e6).toFixed(2)}M parameters)`,
  });
  const weights = await readFile(source, WEIGHTS_FILE, true);
  loaded = buildModel(configText, weights, tokenizerText, backend);
  post({
    type: 'loaded',
    req,
    info: {
      name: source.name,
      config: loaded.config,
      parameters: loaded.parameters,
      loadMs: performance.now() - started,
      backend: backendInfo,
    },
  });
}

function requireModel(): LoadedModel {
  if (!loaded) throw new Error('no model is loaded');
  return loaded;
}

async function generate(req: number, prompt: string, o: Request & { type: 'generate' }): Promise<void> {
  const { model, tokenizer } = requireModel();
  if (prompt.length === 0) throw new Error('the prompt is empty');
  const ids = tokenizer.encode(prompt);
  post({ type: 'prompt', req, ids });
  const started = performance.now();
  const stream = tokenizer.createStreamDecoder();
  const out: number[] = [];
  stopRequested = false;
  let reason: 'end of text' | 'max tokens' | 'stopped' = 'max tokens';
  const tokens = generateTokens(model, ids, { ...o.options, stopId: tokenizer.endOfTextId });
  for (;;) {
    await nextTurn();
    if (stopRequested) {
      reason = 'stopped';
      break;
    }
    const next = tokens.next();
    if (next.done) {
      if (out.length < o.options.maxTokens) reason = 'end of text';
      break;
    }
    out.push(next.value);
    post({ type: 'token', req, id: next.value, piece: stream.push(next.value) });
  }
  const rest = stream.flush();
  if (rest) post({ type: 'token', req, id: -1, piece: rest });
  post({ type: 'done', req, ids: out, reason, ms: performance.now() - started });
}

function maps(req: number, m: Request & { type: 'maps' }): void {
  const { model, tokenizer } = requireModel();
  let ids = m.ids ?? tokenizer.encode(m.text ?? '');
  if (ids.length === 0) throw new Error('nothing to attend over: the prompt is empty');
  const truncated = ids.length > m.maxTokens;
  if (truncated) ids = ids.slice(0, m.maxTokens);
  const started = performance.now();
  const result = model.forward(Int32Array.from(ids), 1, ids.length, { maps: true });
  const wire: WireLayerMaps[] = [];
  const transfer: Transferable[] = [];
  for (const layer of result.maps ?? []) {
    const copy: WireLayerMaps = {};
    for (const key of ['a1', 'a2', 'diff', 'lambda', 'p'] as const) {
      const value = layer[key];
      if (value) {
        const f32 = Float32Array.from(value);
        copy[key] = f32;
        transfer.push(f32.buffer);
      }
    }
    wire.push(copy);
  }
  const labels = ids.map((id) => tokenizer.decode([id]));
  post(
    {
      type: 'maps',
      req,
      ids,
      labels,
      maps: wire,
      lambdas: result.lambdas ?? null,
      truncated,
      ms: performance.now() - started,
    },
    transfer,
  );
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'stop') {
    stopRequested = true;
    return;
  }
  const run = async () => {
    if (message.type === 'load') await load(message.req, message.source, message.backend ?? 'auto');
    else if (message.type === 'generate') await generate(message.req, message.prompt, message);
    else if (message.type === 'maps') maps(message.req, message);
  };
  run().catch((error: Error) => post({ type: 'error', req: message.req, message: error.message }));
};
