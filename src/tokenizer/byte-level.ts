/**
 * GPT-2 byte-level helpers shared by the trainer, the encoder and the tokenizer.json codec.
 *
 * Contract:
 * - `BYTE_TO_CHAR[b]` is the printable one-character string GPT-2 (and Hugging Face's ByteLevel
 *   pre-tokenizer/decoder) uses for byte `b`; `CHAR_TO_BYTE` is its inverse. Printable Latin-1 bytes
 *   (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) map to themselves, the other 68 bytes map to U+0100.. in byte order
 *   (so the space 0x20 becomes `Ġ`, the newline 0x0A becomes `Ċ`). No mapped char is a space.
 * - `preTokenize(text)` splits text exactly like Hugging Face's ByteLevel pre-tokenizer with
 *   `add_prefix_space: false, use_regex: true` as implemented by `@huggingface/tokenizers` (same
 *   JavaScript regex, `u` flag). The pieces always concatenate back to `text`. Note: the Rust crate
 *   compiles the same pattern with Oniguruma, whose `\s` differs from JavaScript's for a few rare
 *   code points (e.g. U+FEFF, U+0085); for all other text the split is identical.
 * - `utf8Encode` / `bytesToTokenString` / `tokenStringToBytes` convert between text, bytes and the
 *   byte-level token strings stored in tokenizer.json. Lone surrogates are encoded as U+FFFD
 *   (EF BF BD), exactly like `TextEncoder`.
 */

function buildByteToChar(): string[] {
  const map: string[] = new Array(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    map[b] = String.fromCharCode(printable(b) ? b : next++);
  }
  return map;
}

export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The GPT-2 pre-tokenisation pattern, as used by Hugging Face's ByteLevel pre-tokenizer. */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Split `text` into pre-tokens (words); `preTokenize(t).join('') === t` for every string. */
export function preTokenize(text: string): string[] {
  return text.match(GPT2_PATTERN) ?? [];
}

const encoder = new TextEncoder();

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A decoder that, like Hugging Face's ByteLevel decoder, keeps a leading BOM and maps bad bytes to U+FFFD. */
export function newUtf8Decoder(): InstanceType<typeof TextDecoder> {
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
}

export function bytesToTokenString(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** Inverse of `bytesToTokenString`; returns undefined if a char is not a byte-level char. */
export function tokenStringToBytes(token: string): Uint8Array | undefined {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token[i]);
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}
