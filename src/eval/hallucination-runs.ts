/**
 * The hallucination task's data, evaluation set, probes and runs: DIFF V1, the baseline and DIFF V2
 * trained on the same examples with the same budget (answer-only loss), each at its variant's best
 * swept learning rate, every seed; per run, computed once after training and cached in its record:
 *   hallucination-answers    per evaluation item its kind, length, outcome code and answer probability;
 *   hallucination-probabilities  per item the teacher-forced probability of " none." and of each
 *                            fact's value (in order of appearance): a graded view of the same choice;
 *   hallucination-attention  the answer query's attention shares (attention-probe.ts): on the asked
 *                            fact (present questions) and on the near-miss fact (near-miss questions).
 */
import { Rng } from '../core/rng.ts';
import type { Variant } from '../model/config.ts';
import type { LanguageModel } from '../model/lm.ts';
import { type Tokenizer, trainTokenizer } from '../tokenizer/index.ts';
import { armRuns } from './arm-runs.ts';
import { type AttentionProbe, attentionShares } from './attention-probe.ts';
import type { EvalContext } from './context.ts';
import { taskBase } from './data.ts';
import { magicNumber } from './draws.ts';
import { countTokens, type Sentence } from './filler.ts';
import {
  candidateProbabilities,
  classifyAnswer,
  greedyAnswers,
  type Outcome,
} from './hallucination-score.ts';
import {
  ADJECTIVES,
  answerText,
  evalAsks,
  factText,
  type HallucinationExample,
  hallucinationTrainingExamples,
  makeHallucinationExample,
  NONE,
  NOUNS,
  type Question,
  questionText,
} from './hallucination-task.ts';
import { bestLrs } from './lr-sweep.ts';
import { itemOf, type NeedleItem } from './needle-score.ts';
import type { Probe } from './run-record.ts';
import type { TaskData } from './run-spec.ts';
import type { ProducedRuns } from './section-runs.ts';
import { type Tokenised, tokenise, tokenRange } from './tokenised.ts';
import { VARIANT_ORDER } from './variant-labels.ts';

const DATA_SEED = 20261202;
const EVAL_SEED = 1717;
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

export interface HallucinationItem {
  example: HallucinationExample;
  question: Question;
  tokens: Tokenised;
  /** Token ids up to (excluding) the answer. */
  prompt: Int32Array;
}

/** The evaluation set: per length `perLength` one-question items with the plan's kind shares (held-out filler). */
export function hallucinationEvalSet(ctx: EvalContext): HallucinationItem[] {
  return ctx.once('hallucination-eval', () => {
    const { tokenizer, pools } = hallucinationBase(ctx);
    const p = ctx.plan.hallucination;
    const rng = new Rng(EVAL_SEED);
    const items: HallucinationItem[] = [];
    for (const length of p.lengths)
      for (const ask of evalAsks(rng, p.perLength, p.shares)) {
        const example = makeHallucinationExample(
          rng,
          pools.held,
          tokenizer,
          { facts: p.facts, tokens: length, digits: p.digits },
          [ask],
        );
        const tokens = tokenise(tokenizer, example.text);
        const question = example.questions[0];
        const [first] = tokenRange(tokens, question.answerStart, question.answerEnd);
        items.push({ example, question, tokens, prompt: tokens.ids.slice(0, first) });
      }
    return items;
  });
}

/** The item as the attention probe reads it: the target fact (asked or near-miss) is its "answer needle". */
export function probeItem(tokenizer: Tokenizer, item: HallucinationItem): NeedleItem {
  const { example, question } = item;
  if (question.fact < 0) throw new RangeError('hallucination task: an absent question has no target fact');
  const target = example.facts[question.fact];
  const depth = (100 * target.start) / question.start; // the target's place in the context, in percent
  return itemOf(tokenizer, {
    spec: {
      n: example.facts.length,
      r: 1,
      depth: 25 * Math.round(depth / 25),
      tokens: example.spec.tokens,
      digits: 0,
    },
    text: example.text,
    needles: example.facts.map((f) => ({
      city: `${f.key.adj} ${f.key.noun}`,
      number: f.value,
      start: f.start,
      end: f.end,
    })),
    answers: [{ needle: question.fact, start: question.answerStart, end: question.answerEnd }],
    question: { start: question.start, end: question.answerEnd },
  });
}

/** Kind codes of the stored items: p present, a absent, w near-miss by a word, c near-miss by a letter. */
export const kindCode = (q: Question) =>
  q.kind === 'present' ? 'p' : q.kind === 'absent' ? 'a' : q.nearMiss === 'char' ? 'c' : 'w';

export interface AnswersProbe {
  kinds: string;
  lengths: number[];
  outcomes: string;
  probabilities: number[];
}

export interface HallucinationAttention {
  /** Present questions: the "answer" share is the asked fact's. */
  asked: AttentionProbe;
  /** Near-miss questions: the "answer" share is the near-miss fact's. */
  nearMiss: AttentionProbe;
}

function maxAnswerTokens(tokenizer: Tokenizer, digits: number): number {
  const widest = [answerText(NONE), answerText('9'.repeat(digits)), answerText('1'.repeat(digits))];
  return Math.max(...widest.map((t) => tokenizer.encode(t).length)) + 1;
}

export function answersProbe(ctx: EvalContext, model: LanguageModel): AnswersProbe {
  const items = hallucinationEvalSet(ctx);
  const { tokenizer } = hallucinationBase(ctx);
  const answers = greedyAnswers(
    (t, b, T) => model.forward(t, b, T).logits,
    model.config.vocab_size,
    items.map((it) => it.prompt),
    (ids) => tokenizer.decode(ids),
    maxAnswerTokens(tokenizer, ctx.plan.hallucination.digits),
  );
  const outcomes: Outcome[] = answers.map((a, i) =>
    classifyAnswer(a.text, items[i].example, items[i].question),
  );
  return {
    kinds: items.map((it) => kindCode(it.question)).join(''),
    lengths: items.map((it) => it.example.spec.tokens),
    outcomes: outcomes.join(''),
    probabilities: answers.map((a) => Number(a.probability.toPrecision(5))),
  };
}

export interface ProbabilitiesProbe {
  /** [item] probability of " none." */
  none: number[];
  /** [item][fact] probability of " VALUE." of each fact of the context (order of appearance) */
  facts: number[][];
  /** [item] the asked (present) or near-miss fact's index into `facts`; −1 for absent keys */
  target: number[];
}

function probabilitiesProbe(ctx: EvalContext, model: LanguageModel): ProbabilitiesProbe {
  const items = hallucinationEvalSet(ctx);
  const { tokenizer } = hallucinationBase(ctx);
  const none = tokenizer.encode(answerText(NONE));
  const probs = candidateProbabilities(
    (t, b, T) => model.forward(t, b, T).logits,
    model.config.vocab_size,
    items.map((it) => it.prompt),
    items.map((it) => [none, ...it.example.facts.map((f) => tokenizer.encode(answerText(f.value)))]),
  );
  const round = (x: number) => Number(x.toPrecision(4));
  return {
    none: probs.map((p) => round(p[0])),
    facts: probs.map((p) => p.slice(1).map(round)),
    target: items.map((it) => it.question.fact),
  };
}

function attentionProbe(ctx: EvalContext, model: LanguageModel): HallucinationAttention {
  const { tokenizer } = hallucinationBase(ctx);
  const p = ctx.plan.hallucination;
  const items = hallucinationEvalSet(ctx);
  const probed = (kind: Question['kind']) =>
    p.lengths.flatMap((L) =>
      items
        .filter((it) => it.example.spec.tokens === L && it.question.kind === kind)
        .slice(0, p.probePerLength)
        .map((it) => probeItem(tokenizer, it)),
    );
  return {
    asked: attentionShares(model, probed('present')),
    nearMiss: attentionShares(model, probed('nearMiss')),
  };
}

function hallucinationProbes(ctx: EvalContext): Record<string, Probe> {
  return {
    'hallucination-answers': (model) => answersProbe(ctx, model),
    'hallucination-attention': (model) => attentionProbe(ctx, model),
    'hallucination-probabilities': (model) => probabilitiesProbe(ctx, model),
  };
}

/** The hallucination-task models of every variant × seed; undefined entries are not cached (or lrs unknown). */
export async function hallucinationRuns(ctx: EvalContext): Promise<ProducedRuns<Variant>> {
  const lrs = await bestLrs(ctx);
  if (!lrs) return { runs: new Map(), planned: VARIANT_ORDER.length * ctx.seeds.length, lrsKnown: false };
  const p = ctx.plan.hallucination;
  return armRuns(ctx, {
    task: 'hallucination',
    size: p.size,
    arms: VARIANT_ORDER,
    data: hallucinationData(ctx),
    training: (arm) => ({ ...p.training, lr: lrs[arm.variant] }),
    probes: () => hallucinationProbes(ctx),
  });
}
