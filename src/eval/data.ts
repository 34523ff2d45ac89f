/**
 * The experiments' data, built once per session: the language-modelling corpus (the plan's named
 * corpus: SOTU in full mode, Moby Dick in quick mode) with its tokenizer and validation windows, and the synthetic needle and in-context tasks with a tokenizer of
 * their own (trained on corpus text plus task text, so numbers, city names and labels tokenize well).
 * Every random choice is seeded: the same plan gives the same texts.
 */
import { Rng } from '../core/rng.ts';
import type { LanguageModel } from '../model/lm.ts';
import { trainTokenizer } from '../tokenizer/index.ts';
import { evaluationBatches } from '../train/batches.ts';
import { loadCorpus, splitTokens } from '../train/corpus.ts';
import type { EvalContext } from './context.ts';
import { magicNumber } from './draws.ts';
import { corpusSentences, countTokens, type Sentence } from './filler.ts';
import {
  CATEGORIES,
  demoLine,
  ICL_LABELS,
  iclLineTokens,
  iclTrainingExamples,
  labelTokens,
} from './icl-task.ts';
import { CITIES, needleQuestion, needleText, needleTrainingExamples } from './needle-task.ts';
import type { TaskData } from './run-spec.ts';

const DATA_SEED = 20241007;

function corpusText(ctx: EvalContext): string {
  return ctx.once('corpus', () => {
    const text = loadCorpus([ctx.plan.corpus]).text;
    return Number.isFinite(ctx.plan.corpusChars) ? text.slice(0, ctx.plan.corpusChars) : text;
  });
}

/** The corpus and a BPE tokenizer trained on it; sets the final validation of language models. */
export function lmData(ctx: EvalContext): TaskData & { text: string } {
  return ctx.taskData('lm', () => {
    const text = corpusText(ctx);
    ctx.cache.lmFinalValidation = (seq) => finalValidation(ctx, seq);
    return { text, tokenizer: trainTokenizer(text, { vocabSize: ctx.plan.vocab }) };
  });
}

const FINAL_BATCH = 16;

/** Mean loss over the first `plan.valTokens` held-out tokens (non-overlapping windows of `seq`). */
function finalValidation(ctx: EvalContext, seq: number) {
  const batches = lmValidation(ctx, seq, Math.ceil(ctx.plan.valTokens / (FINAL_BATCH * seq)), FINAL_BATCH);
  const tokens = batches.reduce((s, b) => s + b.count * seq, 0);
  return {
    tokens,
    loss: (m: LanguageModel) => {
      let total = 0;
      for (const b of batches) {
        const n = b.count * seq;
        total += m.loss(b.inputs.subarray(0, n), b.targets.subarray(0, n), b.count, seq) * n;
      }
      return total / tokens;
    },
  };
}

/** Validation windows of the corpus (the last 10% of its tokens, as in training). */
export function lmValidation(ctx: EvalContext, seq: number, batches: number, batch = 8) {
  return ctx.once(`lm-val-${seq}-${batches}-${batch}`, () => {
    const { text, tokenizer } = lmData(ctx);
    const ids = Int32Array.from(tokenizer.encode(text));
    const { val } = splitTokens(ids, 0.1, seq + 1);
    return evaluationBatches(val, batch, seq, batches);
  });
}

/** The tokenizer of the synthetic tasks and the sentence pools (training: first 90%, evaluation: last 10%). */
export function taskBase(ctx: EvalContext) {
  return ctx.once('task-base', () => {
    const text = corpusText(ctx);
    const rng = new Rng(DATA_SEED);
    let sample = '';
    for (let i = 0; i < 3000; i++) {
      const city = CITIES[rng.int(CITIES.length)];
      sample += `${needleText(city, magicNumber(rng, ctx.plan.needle.digits))}\n${needleQuestion(city)}`;
    }
    const words = Object.values(CATEGORIES).flat();
    for (let i = 0; i < 3000; i++)
      sample += demoLine(words[rng.int(words.length)], ICL_LABELS[rng.int(ICL_LABELS.length)]);
    const tokenizer = trainTokenizer(`${text.slice(0, 300_000)}\n${sample}`, { vocabSize: ctx.plan.vocab });
    const sentences = corpusSentences(text);
    const cut = Math.floor(sentences.length * 0.9);
    const pools: { train: Sentence[]; held: Sentence[] } = {
      train: countTokens(tokenizer, sentences.slice(0, cut)),
      held: countTokens(tokenizer, sentences.slice(cut)),
    };
    return { tokenizer, pools };
  });
}

/** Needle-task examples: training filler from the first 90% of the sentences, validation from the rest. */
export function needleData(ctx: EvalContext): TaskData {
  return ctx.taskData('needle', () => {
    const { tokenizer, pools } = taskBase(ctx);
    const p = ctx.plan.needle;
    const rng = new Rng(DATA_SEED + 1);
    const make = (pool: Sentence[], count: number) =>
      needleTrainingExamples(rng, pool, tokenizer, {
        count,
        lengths: [Math.min(...p.lengths), Math.max(...p.lengths)],
        maxNeedles: Math.max(...p.configs.map(([n]) => n)),
        digits: p.digits,
        seq: p.training.seq,
      });
    return {
      tokenizer,
      examples: { train: make(pools.train, p.trainExamples), val: make(pools.held, p.valExamples) },
    };
  });
}

/** The largest number of demonstrations whose episode fits the in-context task's context. */
export function iclMaxShots(ctx: EvalContext): number {
  const { tokenizer } = taskBase(ctx);
  return Math.max(1, Math.floor(ctx.plan.icl.context / iclLineTokens(tokenizer)) - 1);
}

export function iclData(ctx: EvalContext): TaskData {
  return ctx.taskData('icl', () => {
    const { tokenizer } = taskBase(ctx);
    labelTokens(tokenizer); // fails early if the labels are not distinguishable by their first token
    const p = ctx.plan.icl;
    const rng = new Rng(DATA_SEED + 2);
    const make = (count: number) =>
      iclTrainingExamples(rng, tokenizer, { count, maxShots: iclMaxShots(ctx), seq: p.training.seq });
    return { tokenizer, examples: { train: make(p.trainExamples), val: make(p.valExamples) } };
  });
}
