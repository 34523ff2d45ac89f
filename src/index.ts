/**
 * The library API of diff-transformer under Node: the browser entry (src/browser.ts) plus what reads
 * and writes files or picks a backend on this machine (native addon, model folders, training).
 */

export { backendNames, createBackend } from './backends/index.ts';
export * from './browser.ts';
export { writeFileAtomic } from './io/atomic-write.ts';
export { loadModelFolder, ModelFolderError, readConfigFile, saveModelFolder } from './io/model-folder.ts';
export { readSafetensorsFile, writeSafetensorsFile } from './io/safetensors.ts';
export { compare } from './train/compare.ts';
export { exampleFromIds, type TrainingExample } from './train/examples.ts';
export { getPreset, PRESETS, presetConfig } from './train/presets.ts';
export { type TrainOptions, type TrainResult, train } from './train/trainer.ts';
