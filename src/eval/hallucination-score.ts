import { type Forward, forwardPadded } from './forward-padded.ts';
import { type HallucinationExample, NONE, type Question } from './hallucination-task.ts';

export type Outcome = 'a' | 'n' | 'm' | 'c' | 'o' | 'x';

/**
 * Teacher-forced probability of each candidate continuation of each prompt: the product over the
 * candidate's tokens of the model's softmax probability of that token given the prompt and the
 * candidate's earlier tokens. out[i][j] for prompt i, candidate j.
 */
export function candidateProbabilities(
  forward: Forward,
  vocab: number,
  prompts: readonly Int32Array[],
  candidates: ReadonlyArray<ReadonlyArray<readonly number[]>>,
  batch = 16,
): number[][] {
  const sequences: Int32Array[] = [];
  const owner: Array<[number, number]> = [];
  prompts.forEach((p, i) => {
    for (const [j, c] of candidates[i].entries()) {
      sequences.push(Int32Array.from([...p, ...c]));
      owner.push([i, j]);
    }
  });
  const out = prompts.map((_, i) => candidates[i].map(() => 0));
  forwardPadded(forward, sequences, vocab, batch, (k, logits, offset) => {
    const [i, j] = owner[k];
    const start = prompts[i].length;
    let logp = 0;
    for (let t = start; t < sequences[k].length; t++) {
      const row = offset + (t - 1) * vocab;
      let max = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < vocab; v++) max = Math.max(max, logits[row + v]);
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v] - max);
      logp += logits[row + sequences[k][t]] - max - Math.log(sum);
    }
    out[i][j] = Math.exp(logp);
  });
  return out;
}

export interface GreedyAnswer {
  text: string;
  probability: number;
}

/**
 * Greedy answers of every prompt (token ids ending right before the answer), decoded in batches of
 * `batch` (each step one forward pass over prompt + answer so far; finished prompts drop out).
 */
export function greedyAnswers(
  forward: Forward,
  vocab: number,
  prompts: readonly Int32Array[],
  decode: (ids: number[]) => string,
  maxTokens: number,
  batch = 16,
): GreedyAnswer[] {
  const answers = prompts.map(() => ({ ids: [] as number[], probability: 1, done: false }));
  for (let step = 0; step < maxTokens; step++) {
    const open = answers.map((_, i) => i).filter((i) => !answers[i].done);
    if (!open.length) break;
    const sequences = open.map((i) => Int32Array.from([...prompts[i], ...answers[i].ids]));
    forwardPadded(forward, sequences, vocab, batch, (j, logits, offset) => {
      const a = answers[open[j]];
      const row = offset + (sequences[j].length - 1) * vocab;
      let best = 0;
      for (let v = 1; v < vocab; v++) if (logits[row + v] > logits[row + best]) best = v;
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v] - logits[row + best]);
      a.ids.push(best);
      a.probability /= sum;
      if (decode(a.ids).includes('.')) a.done = true;
    });
  }
  return answers.map((a) => ({ text: decode(a.ids), probability: a.probability }));
}

/** The answer proper: the text before the first "." (or all of it), trimmed. */
export const answerOf = (text: string) => text.split('.')[0].trim();

/** The outcome of an answer to `question` about the facts of `example`. */
export function classifyAnswer(text: string, example: HallucinationExample, question: Question): Outcome {
  const answer = answerOf(text);
  if (answer === NONE) return 'n';
  if (!/^\d+$/.test(answer)) return 'x';
  const fact = example.facts.findIndex((f) => f.value === answer);
  if (fact < 0) return 'o';
  if (fact === question.fact) return question.kind === 'present' ? 'a' : 'm';
  return 'c';
}

/** Whether the outcome is the right answer to a question of this kind. */
export const isRight = (kind: Question['kind'], o: Outcome) => (kind === 'present' ? o === 'a' : o === 'n');

export interface Rates {
  /** Present questions: the asked value given. */
  presentAccuracy: number;
  /** Present questions: "none" given. */
  falseNone: number;
  /** Absent and near-miss questions together: a value (or anything but "none") given. */
  hallucination: number;
  /** Absent questions: anything but "none"; split by where the value comes from. */
  absent: { hallucination: number; context: number; outside: number };
  /** Near-miss questions: anything but "none"; the near-miss value, another context value, other. */
  nearMiss: { hallucination: number; nearMiss: number; context: number; outside: number };
  counts: { present: number; absent: number; nearMiss: number };
}

/** Rates of a set of items (kind and outcome per item); NaN where a kind has no item. */
export function rates(kinds: readonly Question['kind'][], outcomes: readonly Outcome[]): Rates {
  const share = (kind: Question['kind'], test: (o: Outcome) => boolean) => {
    let n = 0;
    let k = 0;
    kinds.forEach((q, i) => {
      if (q !== kind) return;
      n++;
      if (test(outcomes[i])) k++;
    });
    return n ? k / n : Number.NaN;
  };
  const outside = (o: Outcome) => o === 'o' || o === 'x';
  const wrongNone = kinds.filter((k) => k !== 'present').length;
  const hallucinated = kinds.filter((k, i) => k !== 'present' && outcomes[i] !== 'n').length;
  return {
    presentAccuracy: share('present', (o) => o === 'a'),
    falseNone: share('present', (o) => o === 'n'),
    hallucination: wrongNone ? hallucinated / wrongNone : Number.NaN,
    absent: {
      hallucination: share('absent', (o) => o !== 'n'),
      context: share('absent', (o) => o === 'c' || o === 'a' || o === 'm'),
      outside: share('absent', outside),
    },
    nearMiss: {
      hallucination: share('nearMiss', (o) => o !== 'n'),
      nearMiss: share('nearMiss', (o) => o === 'm'),
      context: share('nearMiss', (o) => o === 'c' || o === 'a'),
      outside: share('nearMiss', outside),
    },
    counts: {
      present: kinds.filter((k) => k === 'present').length,
      absent: kinds.filter((k) => k === 'absent').length,
      nearMiss: kinds.filter((k) => k === 'nearMiss').length,
    },
  };
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean probability of the answers in the bin (NaN when empty). */
  confidence: number;
  /** Share of right answers in the bin (NaN when empty). */
  accuracy: number;
}

/**
 * Reliability bins (equal width over [0, 1]; probability 1 goes into the last bin) and the expected
 * calibration error ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b|.
 */
export function calibration(
  probabilities: readonly number[],
  right: readonly boolean[],
  bins = 10,
): { bins: ReliabilityBin[]; ece: number } {
  if (probabilities.length !== right.length)
    throw new RangeError(`calibration: ${probabilities.length} probabilities but ${right.length} outcomes`);
  const sums = Array.from({ length: bins }, () => ({ count: 0, p: 0, right: 0 }));
  probabilities.forEach((p, i) => {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`calibration: probability ${p} outside [0, 1]`);
    const b = Math.min(bins - 1, Math.floor(p * bins));
    sums[b].count++;
    sums[b].p += p;
    sums[b].right += right[i] ? 1 : 0;
  });
  const N = probabilities.length;
  let ece = 0;
  const out = sums.map((s, b) => {
    const confidence = s.count ? s.p / s.count : Number.NaN;
    const accuracy = s.count ? s.right / s.count : Number.NaN;
    if (s.count) ece += (s.count / N) * Math.abs(accuracy - confidence);
    return { lo: b / bins, hi: (b + 1) / bins, count: s.count, confidence, accuracy };
  });
  return { bins: out, ece: N ? ece : Number.NaN };
}
