/**
 * The hallucination task's evaluation set, probes and runs (its data: hallucination-data.ts): DIFF
 * V1, the baseline and DIFF V2 trained on the same examples with the same budget (answer-only loss),
 * each at its variant's best swept learning rate, every seed; per run, computed once after training and cached in its record:
 *   hallucination-answers    per evaluation item its kind, length, outcome code and answer probability;
 *   hallucination-probabilities  per item the teacher-forced probability of " none." and of each
 *                            fact's value (in order of appearance): a graded view of the same choice;
 *   hallucination-attention  the answer query's attention shares (attention-probe.ts): on the asked
 *                            fact (present questions) and on the near-miss fact (near-miss questions).
 */
import { Rng } from '../core/rng.ts';
import type { Variant } from '../model/config.ts';
import type { LanguageModel } from '../model/lm.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { armRuns } from './arm-runs.ts';
import { type AttentionProbe, attentionShares } from './attention-probe.ts';
import type { EvalContext } from './context.ts';
import { hallucinationBase, hallucinationData } from './hallucination-data.ts';
import {
  candidateProbabilities,
  classifyAnswer,
  greedyAnswers,
  type Outcome,
} from './hallucination-score.ts';
import {
  answerText,
  evalAsks,
  type HallucinationExample,
  makeHallucinationExample,
  NONE,
  type Question,
  type QuestionKind,
} from './hallucination-task.ts';
import { bestLrs } from './lr-sweep.ts';
import { itemOf, type NeedleItem } from './needle-score.ts';
import type { Probe } from './run-record.ts';
import type { ProducedRuns } from './section-runs.ts';
import { type Tokenised, tokenise, tokenRange } from './tokenised.ts';
import { VARIANT_ORDER } from './variant-labels.ts';

const EVAL_SEED = 1717;

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
/** The question kind of a stored kind code. */
export const KIND_OF: Record<string, QuestionKind> = {
  p: 'present',
  a: 'absent',
  w: 'nearMiss',
  c: 'nearMiss',
};

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
