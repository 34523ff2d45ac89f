/**
 * The filler of the synthetic tasks' contexts: corpus sentences with their token counts, and the
 * placing of the pieces a task inserts (needles, facts) between them.
 */
import type { Tokenizer } from '../tokenizer/index.ts';

export interface Sentence {
  text: string;
  tokens: number;
}

/** Corpus sentences (whitespace collapsed, 20–200 characters, no digits), each with a leading space. */
export function corpusSentences(text: string): string[] {
  return text
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?])\s+/)
    .map((s) => s.trim())
    .filter((s) => s.length >= 20 && s.length <= 200 && !/\d/.test(s))
    .map((s) => ` ${s}`);
}

export function countTokens(tokenizer: Tokenizer, sentences: string[]): Sentence[] {
  return sentences.map((s) => ({ text: s, tokens: tokenizer.encode(s).length }));
}

/**
 * Filler sentences with pieces inserted: piece i goes before filler sentence slots[i] (slots[i] =
 * filler.length: after the last one), the pieces of one slot in the order of `order` (every piece
 * once). Returns the text and the placed pieces in order of appearance, with their character ranges.
 */
export function insertPieces(
  filler: readonly string[],
  pieces: readonly string[],
  slots: readonly number[],
  order: readonly number[],
): { text: string; placed: Array<{ piece: number; start: number; end: number }> } {
  let text = '';
  const placed: Array<{ piece: number; start: number; end: number }> = [];
  let next = 0;
  for (let slot = 0; slot <= filler.length; slot++) {
    while (next < order.length && slots[order[next]] === slot) {
      const i = order[next++];
      placed.push({ piece: i, start: text.length, end: text.length + pieces[i].length });
      text += pieces[i];
    }
    if (slot < filler.length) text += filler[slot];
  }
  return { text, placed };
}
