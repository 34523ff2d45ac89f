// A strict TypeScript user of the browser entry, type-checked with the DOM library and no Node types.
import {
  createJsBackend,
  createWasmBackend,
  generateTokens,
  LanguageModel,
  type ParameterSet,
  parameterShapes,
  parseConfig,
  readSafetensors,
} from 'diff-transformer/browser';

export async function load(base: string, kernels: ArrayBuffer): Promise<number[]> {
  const config = parseConfig(await (await fetch(`${base}/config.json`)).json());
  const { tensors } = readSafetensors(
    new Uint8Array(await (await fetch(`${base}/model.safetensors`)).arrayBuffer()),
  );
  const params: ParameterSet = new Map();
  for (const name of parameterShapes(config).keys()) params.set(name, tensors.get(name)!.data);
  const backend = kernels.byteLength
    ? createWasmBackend({ bytes: kernels, shared: false })
    : createJsBackend();
  const model = new LanguageModel(config, params, backend);
  // @ts-expect-error: the browser entry has no file-system loader
  import('diff-transformer/browser').then((m) => m.loadModelFolder);
  return [...generateTokens(model, [1, 2, 3], { maxTokens: 4, temperature: 0 })];
}
