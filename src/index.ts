/** The library API of diff-transformer. */
export { backendNames, createBackend } from './backends/index.ts';
export { createJsBackend } from './backends/js/index.ts';
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
export { writeFileAtomic } from './io/atomic-write.ts';
export { loadModelFolder, ModelFolderError, readConfigFile, saveModelFolder } from './io/model-folder.ts';
export {
  readSafetensors,
  readSafetensorsFile,
  SafetensorsError,
  writeSafetensors,
  writeSafetensorsFile,
} from './io/safetensors.ts';
export type { LayerMaps } from './model/attention.ts';
export {
  ConfigError,
  lambdaInit,
  type ModelConfig,
  matchedConfig,
  parseConfig,
  VARIANTS,
  type Variant,
} from './model/config.ts';
export { type ForwardOptions, type ForwardResult, type KvCache, LanguageModel } from './model/lm.ts';
export { countParameters, initParameters, type ParameterSet, parameterShapes } from './model/parameters.ts';
export { END_OF_TEXT, Tokenizer, trainTokenizer } from './tokenizer/index.ts';
export { compare } from './train/compare.ts';
export { exampleFromIds, type TrainingExample } from './train/examples.ts';
export { getPreset, PRESETS, presetConfig } from './train/presets.ts';
export { type TrainOptions, type TrainResult, train } from './train/trainer.ts';
