/**
 * The hallucination task's data, built once per session: its own tokenizer (trained on the needle
 * tokenizer's corpus text plus sample facts and questions), the sentence pools recounted with it,
 * and the training and validation examples every variant trains on (answer-only loss).
 */
import { Rng } from '../core/rng.ts';
import { type Tokenizer, trainTokenizer } from '../tokenizer/index.ts';
import type { EvalContext } from './context.ts';
import { taskBase } from './data.ts';
import { magicNumber } from './draws.ts';
import { countTokens, type Sentence } from './filler.ts';
import {
  ADJECTIVES,
  answerText,
  factText,
  hallucinationTrainingExamples,
  NONE,
  NOUNS,
  questionText,
} from './hallucination-task.ts';
import type { TaskData } from './run-spec.ts';

const DATA_SEED = 20261202;
/** About the tokens of one question line with its answer. */
const QUESTION_TOKENS = 10;

/**
 * The task's tokenizer and sentence pools: BPE with the plan's vocabulary trained on the needle
 * tokenizer's corpus text (taskBase's pools) plus sample facts and questions of this task, so keys,
 * values and "none" tokenise compactly; the pools' sentences recounted with it.
 */
export function hallucinationBase(ctx: EvalContext): {
  tokenizer: Tokenizer;
  pools: { train: Sentence[]; held: Sentence[] };
} {
  return ctx.once('hallucination-base', () => {
    const { pools } = taskBase(ctx);
    const rng = new Rng(DATA_SEED + 1);
    const p = ctx.plan.hallucination;
    let text = '';
    for (const s of pools.train) {
      if (text.length > 300_000) break;
      text += s.text;
    }
    let sample = '';
    for (let i = 0; i < 3000; i++) {
      const key = { adj: ADJECTIVES[rng.int(ADJECTIVES.length)], noun: NOUNS[rng.int(NOUNS.length)] };
      const value = rng.uniform() < 0.3 ? NONE : magicNumber(rng, p.digits);
      sample += `${factText(key, magicNumber(rng, p.digits))}\n${questionText(key)}${answerText(value)}\n`;
    }
    const tokenizer = trainTokenizer(`${text}\n${sample}`, { vocabSize: ctx.plan.vocab });
    const recount = (xs: Sentence[]) =>
      countTokens(
        tokenizer,
        xs.map((x) => x.text),
      );
    return { tokenizer, pools: { train: recount(pools.train), held: recount(pools.held) } };
  });
}

/** Training examples from the first 90% of the corpus sentences, validation from the rest. */
export function hallucinationData(ctx: EvalContext): TaskData {
  return ctx.taskData('hallucination', () => {
    const { tokenizer, pools } = hallucinationBase(ctx);
    const p = ctx.plan.hallucination;
    const rng = new Rng(DATA_SEED);
    const make = (pool: Sentence[], count: number) =>
      hallucinationTrainingExamples(rng, pool, tokenizer, {
        count,
        // the evaluation's lengths hold one question: the training contexts get room for the others
        lengths: [Math.min(...p.lengths), Math.max(...p.lengths) + (p.questions - 1) * QUESTION_TOKENS],
        facts: p.facts,
        digits: p.digits,
        questions: p.questions,
        shares: p.shares,
        seq: p.training.seq,
      });
    return {
      tokenizer,
      examples: { train: make(pools.train, p.trainExamples), val: make(pools.held, p.valExamples) },
    };
  });
}
