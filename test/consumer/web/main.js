// A page built by Vite against the installed package's browser entry: loads the model folder served
// under model/, runs forward and a greedy continuation on the js and the wasm backend (unshared memory,
// one thread: the page is not cross-origin isolated), and leaves the results in document.body.dataset.
import {
  createJsBackend,
  createWasmBackend,
  generateTokens,
  LanguageModel,
  parameterShapes,
  parseConfig,
  readSafetensors,
} from 'diff-transformer/browser';
import kernelsUrl from 'diff-transformer/kernels.wasm?url';

async function run() {
  const get = (path) =>
    fetch(path).then((r) => (r.ok ? r : Promise.reject(new Error(`${path}: ${r.status}`))));
  const kase = await (await get('model/case.json')).json();
  const config = parseConfig(await (await get('model/config.json')).json());
  const { tensors } = readSafetensors(
    new Uint8Array(await (await get('model/model.safetensors')).arrayBuffer()),
  );
  const kernels = await (await get(kernelsUrl)).arrayBuffer();
  const params = new Map([...parameterShapes(config).keys()].map((name) => [name, tensors.get(name).data]));
  const batch = kase.tokens.length;
  const seq = kase.tokens[0].length - 1;
  const inputs = Int32Array.from(kase.tokens.flatMap((row) => row.slice(0, -1)));
  const out = {};
  for (const [name, backend] of [
    ['js', createJsBackend()],
    ['wasm', createWasmBackend({ bytes: kernels, shared: false })],
  ]) {
    const model = new LanguageModel(config, params, backend);
    const { logits } = model.forward(inputs, batch, seq);
    const greedy = [...generateTokens(model, kase.greedy.prompt, { maxTokens: 8, temperature: 0 })];
    out[name] = { backend: backend.name, logits: Array.from(logits), greedy };
  }
  return out;
}

run().then(
  (out) => {
    document.body.dataset.result = JSON.stringify(out);
  },
  (error) => {
    document.body.dataset.error = String(error?.stack ?? error);
  },
);
