/**
 * Scoring of the needle task: an answer counts as correct when greedy decoding after "is" reproduces
 * " NUMBER." token for token; this is computed in one forward pass by teacher forcing (greedy decoding
 * reproduces a token sequence exactly when the argmax at every position of it, given the sequence so
 * far, is its next token), and earlier answers are given.
 */
import type { Floats } from '../core/backend.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { type Forward, forwardPadded } from './forward-padded.ts';
import type { NeedleExample } from './needle-task.ts';
import { type Tokenised, tokenise, tokenRange } from './tokenised.ts';

export interface NeedleItem {
  example: NeedleExample;
  tokens: Tokenised;
  /** Token ranges [first, last] of each asked answer " NUMBER." */
  answers: Array<[number, number]>;
  /** Token ranges of the needle sentences (in order of appearance). */
  needles: Array<[number, number]>;
  /** Token range of the question lines. */
  question: [number, number];
}

export function itemOf(tokenizer: Tokenizer, example: NeedleExample): NeedleItem {
  const tokens = tokenise(tokenizer, example.text);
  return {
    example,
    tokens,
    answers: example.answers.map((a) => tokenRange(tokens, a.start, a.end)),
    needles: example.needles.map((s) => tokenRange(tokens, s.start, s.end)),
    question: tokenRange(tokens, example.question.start, example.question.end),
  };
}

/**
 * Whether greedy decoding from position first−1 reproduces tokens [first, last] of the sequence:
 * the argmax of the logits at every position p ∈ [first−1, last−1] is ids[p + 1].
 * logits: [T, V] of this sequence (a row block of a batch).
 */
export function greedyReproduces(
  logits: Floats,
  offset: number,
  vocab: number,
  ids: Int32Array,
  first: number,
  last: number,
): boolean {
  for (let p = first - 1; p < last; p++) {
    const row = offset + p * vocab;
    let best = 0;
    for (let v = 1; v < vocab; v++) if (logits[row + v] > logits[row + best]) best = v;
    if (best !== ids[p + 1]) return false;
  }
  return true;
}

/** Per item, whether each asked answer is reproduced by greedy decoding. */
export function scoreNeedles(forward: Forward, vocab: number, items: readonly NeedleItem[]): boolean[][] {
  const out: boolean[][] = [];
  forwardPadded(
    forward,
    items.map((it) => it.tokens.ids),
    vocab,
    16,
    (i, logits, offset) => {
      const it = items[i];
      out[i] = it.answers.map(([first, last]) =>
        greedyReproduces(logits, offset, vocab, it.tokens.ids, first, last),
      );
    },
  );
  return out;
}

/** Mean accuracy over all answers of the items selected by `keep`. */
export function accuracy(
  items: readonly NeedleItem[],
  scores: boolean[][],
  keep = (_: NeedleItem) => true,
): number {
  let right = 0;
  let total = 0;
  items.forEach((it, i) => {
    if (!keep(it)) return;
    for (const ok of scores[i]) {
      right += ok ? 1 : 0;
      total++;
    }
  });
  return total ? right / total : Number.NaN;
}
