/** A text's tokens with their byte ranges, to map character ranges (answers, needles) to token ranges. */
import type { Tokenizer } from '../tokenizer/index.ts';

/** Token ids of a text with each token's byte range, for mapping character ranges to token ranges. */
export interface Tokenised {
  ids: Int32Array;
  /** byte offset where token i starts; starts[ids.length] = total bytes */
  starts: number[];
  /** character offset → byte offset */
  byteOf: (char: number) => number;
}

export function tokenise(tokenizer: Tokenizer, text: string): Tokenised {
  const ids = tokenizer.encode(text);
  const starts = [0];
  for (const id of ids) starts.push(starts[starts.length - 1] + tokenizer.decodeBytes([id]).length);
  return {
    ids: Int32Array.from(ids),
    starts,
    byteOf: (char: number) => Buffer.byteLength(text.slice(0, char), 'utf8'),
  };
}

/** The tokens overlapping the character range [start, end): [first, last] inclusive. */
export function tokenRange(t: Tokenised, start: number, end: number): [number, number] {
  const b0 = t.byteOf(start);
  const b1 = t.byteOf(end);
  let first = 0;
  while (first < t.ids.length - 1 && t.starts[first + 1] <= b0) first++;
  let last = first;
  while (last < t.ids.length - 1 && t.starts[last + 1] < b1) last++;
  return [first, last];
}
