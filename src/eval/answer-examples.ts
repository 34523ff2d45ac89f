/**
 * Training examples of the retrieval-style tasks (needle, hallucination), one per batch row, scored
 * on the answers only: each drawn example's text is tokenised, an example longer than the sequence
 * is drawn again, and a task whose examples rarely fit is one clear error.
 */
import type { Tokenizer } from '../tokenizer/index.ts';
import { exampleFromIds, type TrainingExample } from '../train/examples.ts';
import { tokenise, tokenRange } from './tokenised.ts';

/** A drawn example: its text and the character ranges of its answers. */
export interface AnsweredText {
  text: string;
  answers: ReadonlyArray<{ start: number; end: number }>;
}

/**
 * `o.count` examples from `draw`, each fitting `o.seq` tokens (`o.lengths`, the range of the drawn
 * lengths, only names the range in the error); `task` names the task in the error.
 */
export function answerOnlyExamples(
  tokenizer: Tokenizer,
  task: string,
  o: { count: number; lengths: [number, number]; seq: number },
  draw: () => AnsweredText,
): TrainingExample[] {
  const out: TrainingExample[] = [];
  let rejected = 0;
  while (out.length < o.count) {
    const { text, answers } = draw();
    const tokens = tokenise(tokenizer, text);
    if (tokens.ids.length - 1 > o.seq) {
      if (++rejected > 10 * o.count + 100)
        throw new RangeError(`${task}: examples of ${o.lengths.join('–')} tokens rarely fit seq ${o.seq}`);
      continue;
    }
    out.push(
      exampleFromIds(
        tokens.ids,
        answers.map((a) => tokenRange(tokens, a.start, a.end)),
      ),
    );
  }
  return out;
}
