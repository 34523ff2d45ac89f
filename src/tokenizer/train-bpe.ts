/**
 * Byte-level BPE training.
 *
 * Contract: `trainTokenizer(text, { vocabSize })` returns a `Tokenizer` whose ids 0..255 are the
 * 256 byte tokens, 256..256+m-1 are the m learned merges in merge order, and 256+m is END_OF_TEXT.
 * `vocabSize` counts all of them and must be an integer in [257, 2^24]. Training stops early (no
 * error) when no remaining pair occurs at least twice; the tokenizer's `vocabSize` is then the
 * actual, smaller size. Empty training text (no characters at all) is an error.
 *
 * Algorithm: the text is pre-tokenised (GPT-2 regex, see byte-level.ts) and identical words are
 * counted once. Pair counts are kept in a map, together with a pair → words index, and updated
 * incrementally for only the words that contain the merged pair; a lazy max-heap picks the next pair.
 *
 * Deterministic tie-breaking: the most frequent pair wins; among equally frequent pairs the one with
 * the smallest left token id wins, then the smallest right token id (the same rule as the Hugging Face
 * Rust trainer, applied to our ids). A pair whose concatenated bytes already form an existing token
 * (possible via a different split, e.g. "ab"+"c" vs "a"+"bc") is never merged, so every id has a
 * distinct byte string and a tokenizer.json vocab can represent it.
 */
import { preTokenize, utf8Encode } from './byte-level.ts';
import { PairHeap } from './pair-heap.ts';
import { Tokenizer } from './tokenizer.ts';

export interface TrainTokenizerOptions {
  vocabSize: number;
  /** Called after every merge with (merges done, merges targeted = vocabSize - 257). */
  onProgress?: (merges: number, total: number) => void;
}

const KEY_BASE = 2 ** 24;
export const MAX_VOCAB_SIZE = KEY_BASE;

const pairKey = (a: number, b: number) => a * KEY_BASE + b;

/** Counts pre-tokenised words; returns their byte sequences and counts. */
function countWords(texts: readonly string[]): { words: number[][]; counts: number[] } {
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const piece of preTokenize(text)) wordCounts.set(piece, (wordCounts.get(piece) ?? 0) + 1);
  }
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [word, count] of wordCounts) {
    words.push(Array.from(utf8Encode(word)));
    counts.push(count);
  }
  return { words, counts };
}

/** Learns up to `maxMerges` merges (pairs of ids); merge i creates id 256 + i. */
export function learnMerges(
  texts: readonly string[],
  maxMerges: number,
  onProgress?: (merges: number, total: number) => void,
): [number, number][] {
  const { words, counts } = countWords(texts);
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addPair = (key: number, delta: number, word: number) => {
    const c = (pairCounts.get(key) ?? 0) + delta;
    if (c === 0) pairCounts.delete(key);
    else pairCounts.set(key, c);
    if (delta > 0) {
      const list = pairWords.get(key);
      if (list === undefined) pairWords.set(key, [word]);
      else if (list[list.length - 1] !== word) list.push(word);
    }
  };
  for (let w = 0; w < words.length; w++) {
    const syms = words[w];
    for (let i = 0; i + 1 < syms.length; i++) addPair(pairKey(syms[i], syms[i + 1]), counts[w], w);
  }
  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  // Byte strings (one char per byte) of every token, to refuse merges that would duplicate a token.
  const tokenText: string[] = Array.from({ length: 256 }, (_, b) => String.fromCharCode(b));
  const known = new Set(tokenText);
  const merges: [number, number][] = [];

  while (merges.length < maxMerges) {
    const top = heap.pop();
    if (top === undefined) break;
    const live = pairCounts.get(top.key) ?? 0;
    if (live !== top.count) {
      if (live > 0) heap.push(live, top.key); // stale entry: requeue with the live count
      continue;
    }
    if (live < 2) break;
    const a = Math.floor(top.key / KEY_BASE);
    const b = top.key % KEY_BASE;
    const text = tokenText[a] + tokenText[b];
    if (known.has(text)) continue; // would duplicate an existing token: never merge this pair
    const id = 256 + merges.length;
    merges.push([a, b]);
    tokenText.push(text);
    known.add(text);

    const created = new Set<number>();
    for (const w of pairWords.get(top.key) ?? []) {
      const syms = words[w];
      const cnt = counts[w];
      const out: number[] = [];
      let changed = false;
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          changed = true;
          addPair(top.key, -cnt, w);
          if (out.length > 0) {
            const prev = out[out.length - 1];
            addPair(pairKey(prev, a), -cnt, w);
            addPair(pairKey(prev, id), cnt, w);
            created.add(pairKey(prev, id));
          }
          if (i + 2 < syms.length) {
            const next = syms[i + 2];
            addPair(pairKey(b, next), -cnt, w);
            addPair(pairKey(id, next), cnt, w);
            created.add(pairKey(id, next));
          }
          out.push(id);
          i++;
        } else {
          out.push(syms[i]);
        }
      }
      if (changed) words[w] = out;
    }
    pairWords.delete(top.key); // the pair can never occur again
    for (const key of created) {
      const c = pairCounts.get(key);
      if (c !== undefined) heap.push(c, key);
    }
    onProgress?.(merges.length, maxMerges);
  }
  return merges;
}

export function trainTokenizer(text: string | string[], options: TrainTokenizerOptions): Tokenizer {
  const { vocabSize, onProgress } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < 257 || vocabSize > MAX_VOCAB_SIZE) {
    throw new RangeError(
      `trainTokenizer: vocabSize must be an integer in [257, ${MAX_VOCAB_SIZE}] (256 byte tokens + ` +
        `merges + 1 END_OF_TEXT token), got ${vocabSize}`,
    );
  }
  const texts = typeof text === 'string' ? [text] : text;
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
    throw new TypeError('trainTokenizer: text must be a string or an array of strings');
  }
  if (texts.every((t) => t.length === 0)) {
    throw new Error(
      'trainTokenizer: training text is empty; provide at least some text to learn merges from',
    );
  }
  return new Tokenizer(learnMerges(texts, vocabSize - 257, onProgress));
}
