/**
 * The byte-level BPE `Tokenizer`: encode, decode, streaming decode and tokenizer.json persistence.
 *
 * Contract:
 * - Ids 0..255 are the byte tokens (id = byte value), 256+i is merge i (merges[i] = [left, right]
 *   ids, both < 256+i), and `endOfTextId = 256 + merges.length` is END_OF_TEXT; `vocabSize` counts all.
 * - `encode(text)` pre-tokenises like Hugging Face's ByteLevel pre-tokenizer, UTF-8 encodes each piece
 *   and applies merges lowest rank first, leftmost first (identical to HF's BPE model). It never
 *   emits `endOfTextId`: an "<|endoftext|>" substring in the text is encoded as plain text. (HF's
 *   `Tokenizer.encode` instead maps that substring to the special id; append `endOfTextId` yourself.)
 * - `decode(ids)` returns the UTF-8 decoding of the token bytes, invalid/partial sequences becoming
 *   U+FFFD like `TextDecoder` (a leading BOM is kept). `endOfTextId` decodes to the marker string
 *   "<|endoftext|>", as HF does with `skip_special_tokens: false`; the bytes on each side of it are
 *   decoded separately. `decodeBytes` returns the raw bytes (the marker as its UTF-8 bytes).
 *   `decode(encode(s)) === s` for every well-formed string; lone surrogates come back as U+FFFD.
 * - Invalid ids (not an integer in [0, vocabSize)) throw a RangeError.
 */
import { nodeBuiltin } from '../core/node-builtins.ts';
import { bytesToTokenString, newUtf8Decoder, preTokenize, utf8Encode } from './byte-level.ts';
import { buildTokenizerJSON, parseTokenizerJSON } from './tokenizer-json.ts';

export const END_OF_TEXT = '<|endoftext|>';

const KEY_BASE = 2 ** 24;
const POS_BASE = 2 ** 28;
const CACHE_LIMIT = 100_000;

export interface StreamDecoder {
  /** Feeds one id; returns the text completed by it (incomplete UTF-8 is held back). */
  push(id: number): string;
  /** Ends the stream: returns held-back bytes (as U+FFFD when incomplete) and resets. */
  flush(): string;
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly endOfTextId: number;
  /** merges[i] = [left id, right id]; merge i creates id 256 + i. */
  readonly merges: readonly (readonly [number, number])[];
  private readonly tokenBytes: Uint8Array[];
  private readonly pairToId = new Map<number, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(merges: readonly (readonly [number, number])[]) {
    this.tokenBytes = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
    const seen = new Set<string>(this.tokenBytes.map((t) => bytesToTokenString(t)));
    merges.forEach(([a, b], i) => {
      const id = 256 + i;
      for (const part of [a, b]) {
        if (!Number.isInteger(part) || part < 0 || part >= id) {
          throw new RangeError(`Tokenizer: merge ${i} uses id ${part}; it must be an integer in [0, ${id})`);
        }
      }
      const bytes = new Uint8Array(this.tokenBytes[a].length + this.tokenBytes[b].length);
      bytes.set(this.tokenBytes[a]);
      bytes.set(this.tokenBytes[b], this.tokenBytes[a].length);
      const text = bytesToTokenString(bytes);
      if (seen.has(text)) throw new Error(`Tokenizer: merge ${i} duplicates the existing token "${text}"`);
      seen.add(text);
      this.tokenBytes.push(bytes);
      this.pairToId.set(a * KEY_BASE + b, id);
    });
    this.merges = merges.map(([a, b]) => [a, b] as const);
    this.endOfTextId = 256 + merges.length;
    this.vocabSize = this.endOfTextId + 1;
    this.tokenBytes.push(utf8Encode(END_OF_TEXT));
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const piece of preTokenize(text)) {
      let pieceIds = this.cache.get(piece);
      if (pieceIds === undefined) {
        pieceIds = this.bpe(utf8Encode(piece));
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(piece, pieceIds);
      }
      for (const id of pieceIds) ids.push(id);
    }
    return ids;
  }

  decode(ids: readonly number[]): string {
    const decoder = newUtf8Decoder();
    let out = '';
    let start = 0;
    for (let i = 0; i <= ids.length; i++) {
      if (i < ids.length && this.checkId(ids[i]) !== this.endOfTextId) continue;
      if (i > start) out += decoder.decode(this.decodeBytes(ids.slice(start, i)));
      if (i < ids.length) out += END_OF_TEXT;
      start = i + 1;
    }
    return out;
  }

  decodeBytes(ids: readonly number[]): Uint8Array {
    let length = 0;
    for (const id of ids) length += this.tokenBytes[this.checkId(id)].length;
    const out = new Uint8Array(length);
    let offset = 0;
    for (const id of ids) {
      out.set(this.tokenBytes[id], offset);
      offset += this.tokenBytes[id].length;
    }
    return out;
  }

  createStreamDecoder(): StreamDecoder {
    const decoder = newUtf8Decoder();
    return {
      push: (id: number) => {
        if (this.checkId(id) === this.endOfTextId) return decoder.decode() + END_OF_TEXT;
        return decoder.decode(this.tokenBytes[id], { stream: true });
      },
      flush: () => decoder.decode(),
    };
  }

  /** The byte-level string of a token as stored in tokenizer.json (e.g. "Ġthe"); the marker for END_OF_TEXT. */
  idToToken(id: number): string {
    return this.checkId(id) === this.endOfTextId ? END_OF_TEXT : bytesToTokenString(this.tokenBytes[id]);
  }

  toJSON(): object {
    const tokens = this.tokenBytes.slice(0, this.endOfTextId).map((t) => bytesToTokenString(t));
    return buildTokenizerJSON(tokens, this.merges, END_OF_TEXT);
  }

  static fromJSON(json: unknown): Tokenizer {
    return new Tokenizer(parseTokenizerJSON(json, END_OF_TEXT));
  }

  static fromFile(path: string): Tokenizer {
    let json: unknown;
    try {
      json = JSON.parse(nodeBuiltin('node:fs').readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`Tokenizer.fromFile: cannot read JSON from ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return Tokenizer.fromJSON(json);
  }

  save(path: string): void {
    nodeBuiltin('node:fs').writeFileSync(path, `${JSON.stringify(this.toJSON(), null, 2)}\n`);
  }

  private checkId(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`Tokenizer: invalid token id ${id}; ids are integers in [0, ${this.vocabSize})`);
    }
    return id;
  }

  /** Applies merges to one pre-token's bytes: lowest merge id (rank) first, then leftmost. */
  private bpe(bytes: Uint8Array): number[] {
    const n = bytes.length;
    if (n < 2) return Array.from(bytes);
    const sym = Int32Array.from(bytes);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // Min-heap of candidate merges packed as mergedId * POS_BASE + leftPosition.
    const heap: number[] = [];
    const consider = (pos: number) => {
      const right = next[pos];
      const id = right < 0 ? undefined : this.pairToId.get(sym[pos] * KEY_BASE + sym[right]);
      if (id !== undefined) heapPush(heap, id * POS_BASE + pos);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.length > 0) {
      const entry = heapPop(heap);
      const id = Math.floor(entry / POS_BASE);
      const pos = entry - id * POS_BASE;
      const right = next[pos];
      if (sym[pos] < 0 || right < 0 || this.pairToId.get(sym[pos] * KEY_BASE + sym[right]) !== id) continue;
      sym[pos] = id;
      sym[right] = -1;
      next[pos] = next[right];
      if (next[pos] >= 0) prev[next[pos]] = pos;
      if (prev[pos] >= 0) consider(prev[pos]);
      consider(pos);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
    return out;
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent] <= value) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0];
  const last = heap.pop()!;
  const n = heap.length;
  if (n === 0) return top;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1] < heap[child]) child++;
    if (heap[child] >= last) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}
