/**
 * Hugging Face `tokenizer.json` export and import for our byte-level BPE layout.
 *
 * Contract:
 * - `buildTokenizerJSON` writes a tokenizer.json (format version "1.0") that both the Rust
 *   `tokenizers` crate and `@huggingface/tokenizers` load: model BPE (vocab keyed by byte-level
 *   strings, merges as "left right" strings, which is unambiguous because byte-level strings never
 *   contain a space, and readable by every tokenizers version), ByteLevel pre-tokenizer
 *   (add_prefix_space false, use_regex true), ByteLevel decoder, ByteLevel post-processor
 *   (offsets only; add_prefix_space false, trim_offsets false like GPT-2), no normalizer, and
 *   END_OF_TEXT in `added_tokens` (special, not normalized) and in the vocab at the last id.
 * - `parseTokenizerJSON` accepts exactly that layout (merges as strings or [left, right] arrays) and
 *   returns the merges as id pairs; anything else throws an Error whose message names the offending
 *   field (e.g. `tokenizer.json: model.merges[3] refers to unknown token "xq"`).
 * - `HF_TOKENIZER_CONFIG` is the matching tokenizer_config.json; `clean_up_tokenization_spaces: false`
 *   is needed for HF decode to return exactly our decode (HF's default `true` rewrites " ." etc.).
 */
import { BYTE_TO_CHAR, tokenStringToBytes } from './byte-level.ts';

export const HF_TOKENIZER_CONFIG = Object.freeze({
  tokenizer_class: 'PreTrainedTokenizerFast',
  clean_up_tokenization_spaces: false,
  bos_token: '<|endoftext|>',
  eos_token: '<|endoftext|>',
});

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true };

export function buildTokenizerJSON(
  tokens: readonly string[],
  merges: readonly (readonly [number, number])[],
  special: string,
): object {
  const eotId = tokens.length;
  // Null prototype so that a token such as "__proto__" is stored as an ordinary key.
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, id) => {
    vocab[t] = id;
  });
  vocab[special] = eotId;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: eotId,
        content: special,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: { ...BYTE_LEVEL },
    post_processor: { ...BYTE_LEVEL },
    decoder: { ...BYTE_LEVEL },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${tokens[a]} ${tokens[b]}`),
    },
  };
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

function fail(message: string): never {
  throw new Error(`tokenizer.json: ${message}`);
}

function requireByteLevel(json: Obj, field: 'pre_tokenizer' | 'decoder'): void {
  const part = json[field];
  if (!isObject(part) || part.type !== 'ByteLevel') {
    fail(`${field} must be {"type": "ByteLevel", ...}, got ${JSON.stringify(part) ?? 'nothing'}`);
  }
  if (field === 'pre_tokenizer' && (part.add_prefix_space === true || part.use_regex === false)) {
    fail('pre_tokenizer must have add_prefix_space false and use_regex true');
  }
}

function checkModelOptions(model: Obj): void {
  const mustBeEmpty = ['dropout', 'continuing_subword_prefix', 'end_of_word_suffix'];
  for (const key of mustBeEmpty) {
    if (model[key] !== undefined && model[key] !== null && model[key] !== '') {
      fail(`model.${key} is not supported (must be null), got ${JSON.stringify(model[key])}`);
    }
  }
  for (const key of ['byte_fallback', 'ignore_merges']) {
    if (model[key] === true) fail(`model.${key} is not supported (must be false)`);
  }
}

function parseMerge(entry: unknown, i: number): [string, string] {
  const parts = typeof entry === 'string' ? entry.split(' ') : entry;
  if (!Array.isArray(parts) || parts.length !== 2 || parts.some((p) => typeof p !== 'string' || p === '')) {
    fail(`model.merges[${i}] must be "left right" or ["left", "right"], got ${JSON.stringify(entry)}`);
  }
  return [parts[0], parts[1]];
}

/** Validates a tokenizer.json object and returns its merges as [left id, right id] pairs. */
export function parseTokenizerJSON(json: unknown, special: string): [number, number][] {
  if (!isObject(json)) fail(`expected a JSON object, got ${describe(json)}`);
  const model = json.model;
  if (model === undefined) fail('missing "model"');
  if (!isObject(model)) fail(`"model" must be an object, got ${describe(model)}`);
  if (model.type !== 'BPE') fail(`model.type must be "BPE", got ${JSON.stringify(model.type) ?? 'nothing'}`);
  checkModelOptions(model);
  if (json.normalizer !== undefined && json.normalizer !== null) fail('normalizer must be null');
  requireByteLevel(json, 'pre_tokenizer');
  requireByteLevel(json, 'decoder');

  const vocab = model.vocab;
  if (!isObject(vocab)) fail(`model.vocab must be an object of token → id, got ${describe(vocab)}`);
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id))
      fail(`model.vocab["${token}"] must be an integer id, got ${JSON.stringify(id)}`);
  }
  const idOf = (token: string) => (Object.hasOwn(vocab, token) ? (vocab[token] as number) : undefined);
  for (let b = 0; b < 256; b++) {
    if (idOf(BYTE_TO_CHAR[b]) !== b)
      fail(`model.vocab must map the byte token "${BYTE_TO_CHAR[b]}" to id ${b}`);
  }

  if (!Array.isArray(model.merges)) fail(`model.merges must be an array, got ${describe(model.merges)}`);
  const merges = model.merges.map((entry, i): [number, number] => {
    const [left, right] = parseMerge(entry, i);
    const ids = [left, right].map((token) => {
      const id = idOf(token);
      if (id === undefined) fail(`model.merges[${i}] refers to unknown token "${token}"`);
      if (id >= 256 + i) fail(`model.merges[${i}] uses token "${token}" (id ${id}) before it is created`);
      return id;
    });
    const merged = left + right;
    if (idOf(merged) !== 256 + i || tokenStringToBytes(merged) === undefined) {
      fail(
        `model.merges[${i}] must create token "${merged}" with id ${256 + i}, got ${idOf(merged) ?? 'none'}`,
      );
    }
    return [ids[0], ids[1]];
  });

  const eotId = 256 + merges.length;
  const inVocab = idOf(special);
  if (inVocab !== undefined && inVocab !== eotId)
    fail(`model.vocab["${special}"] must be ${eotId}, got ${inVocab}`);
  const expectedSize = inVocab === undefined ? eotId : eotId + 1;
  const size = Object.keys(vocab).length;
  if (size !== expectedSize) {
    fail(
      `model.vocab has ${size} entries; expected ${expectedSize} (256 bytes + ${merges.length} merges + ${special})`,
    );
  }

  const added = json.added_tokens;
  if (!Array.isArray(added)) fail(`added_tokens must be an array, got ${describe(added)}`);
  const eot = added.find((t) => isObject(t) && t.content === special);
  if (!isObject(eot) || eot.id !== eotId || eot.special !== true) {
    fail(`added_tokens must contain {"content": "${special}", "id": ${eotId}, "special": true}`);
  }
  if (added.length !== 1) fail(`added_tokens must contain only "${special}", got ${added.length} entries`);
  return merges;
}
