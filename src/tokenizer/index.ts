/**
 * Public entry point of the byte-level BPE tokenizer (trainer, encoder/decoder, tokenizer.json I/O).
 * See tokenizer.ts for the encode/decode contract and train-bpe.ts for training and tie-breaking.
 */
export { BYTE_TO_CHAR, CHAR_TO_BYTE, GPT2_PATTERN, preTokenize } from './byte-level.ts';
export { END_OF_TEXT, type StreamDecoder, Tokenizer } from './tokenizer.ts';
export { HF_TOKENIZER_CONFIG } from './tokenizer-json.ts';
export { MAX_VOCAB_SIZE, type TrainTokenizerOptions, trainTokenizer } from './train-bpe.ts';
