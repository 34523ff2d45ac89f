/**
 * The browser entry of diff-transformer (`diff-transformer/browser`): everything that runs without a
 * file system — backends js and wasm, the model, generation, safetensors and tokenizer.json from bytes,
 * the training core (src/train/session.ts: the same steps, batches and checkpoints as the CLI), the
 * content check of model folders, and the heatmap parts shared with the report (colours, grid, escaping).
 * Its module graph imports nothing from node:* (test/browser-entry.test.ts checks). The wasm backend
 * needs the bytes of its kernels in a browser: `diff-transformer/kernels.wasm` (SIMD128) and
 * `diff-transformer/kernels-relaxed.wasm` (fused multiply-adds where relaxed SIMD validates).
 */
export { createJsBackend } from './backends/js/index.ts';
export { createWasmBackend, type WasmBackendOptions, wasmAvailable } from './backends/wasm/index.ts';
export {
  type AttentionGeometry,
  type Backend,
  type DifferentialCombine,
  type Floats,
  IGNORE_TARGET,
  type Precision,
} from './core/backend.ts';
export { Rng } from './core/rng.ts';
export { type GenerateOptions, generateText, generateTokens } from './generate/generate.ts';
export { argmax, type SamplerOptions, sampleToken } from './generate/sampler.ts';
export {
  CONFIG_FILE,
  METRICS_FILE,
  MODEL_FOLDER_FILES,
  TOKENIZER_FILE,
  WEIGHTS_FILE,
} from './io/folder-files.ts';
export {
  type MismatchListing,
  ModelFolderError,
  parametersFromTensors,
  parseConfigText,
} from './io/model-folder-content.ts';
export {
  type NamedTensor,
  readSafetensors,
  type SafetensorsContent,
  SafetensorsError,
  writeSafetensors,
} from './io/safetensors.ts';
export type { InspectHooks, LayerMaps } from './model/attention.ts';
export {
  ConfigError,
  configToJSON,
  lambdaInit,
  layerLambdaInit,
  type ModelConfig,
  matchedConfig,
  parseConfig,
  VARIANTS,
  type Variant,
} from './model/config.ts';
export { type ForwardOptions, type ForwardResult, type KvCache, LanguageModel } from './model/lm.ts';
export {
  countParameters,
  initParameters,
  type ParameterSet,
  parameterShapes,
  tensorMismatches,
} from './model/parameters.ts';
export {
  isVariant,
  type MapView,
  type VariantModule,
  variantLabel,
  variantModule,
} from './model/variants/index.ts';
export {
  type ColorScale,
  divergingScale,
  extent,
  formatValue,
  interpolate,
  type Rgb,
  reportScale,
  sequentialScale,
  textColorOn,
  toHex,
  toRgbFunction,
} from './report/color-scale.ts';
export {
  cellRect,
  cellX,
  cellY,
  centreX,
  centreY,
  escapeAttribute,
  escapeXml,
  fitCell,
  type Grid,
  gridBox,
  labelStride,
} from './report/heatmap-grid.ts';
export { END_OF_TEXT, type StreamDecoder, Tokenizer, trainTokenizer } from './tokenizer/index.ts';
export {
  type CheckpointContent,
  CheckpointError,
  checkpointContent,
  type RestoredCheckpoint,
  type RunState,
  restoreCheckpoint,
} from './train/checkpoint-content.ts';
export type { MetricsRecord } from './train/metrics.ts';
export { getPreset, PRESETS, type Preset } from './train/presets.ts';
export {
  DivergedError,
  type RunOptions,
  type RunSettings,
  resolveSettings,
  type TrainingData,
  TrainingError,
  TrainingSession,
  textTrainingData,
} from './train/session.ts';
export { DataError, splitTokens } from './train/token-split.ts';
