// A strict TypeScript user of the installed package, type-checked against the shipped .d.ts (Node).
import {
  createBackend,
  generateText,
  type LanguageModel,
  loadModelFolder,
  type ModelConfig,
  Tokenizer,
  trainTokenizer,
} from 'diff-transformer';

const model: LanguageModel = loadModelFolder('model', createBackend('auto'));
const config: ModelConfig = model.config;
const width: number = config.d_model;
const tokenizer: Tokenizer = Tokenizer.fromFile('model/tokenizer.json');
const { text } = generateText(model, tokenizer, 'Call me', { maxTokens: 4, temperature: 0 });
const trained: Tokenizer = trainTokenizer('some text', { vocabSize: 260 });
// @ts-expect-error: loadModelFolder takes a folder path (the types are real, not any)
loadModelFolder(42, createBackend());
// @ts-expect-error: a config has no field of that name
config.dmodel;
export const used = [width, text, trained.vocabSize];
