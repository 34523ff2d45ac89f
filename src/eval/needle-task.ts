/**
 * The multi-needle retrieval task (paper §3.4, Table 2, Fig. 5): a haystack of sentences from the
 * corpus with N needles "The magic number of CITY is NUMBER." inserted between sentences; R of them
 * are then asked, one line each, "Q: The magic number of CITY is" followed by the answer " NUMBER."
 * The first asked needle (the answer needle) sits at a chosen depth: 0% = before the first filler
 * sentence, 100% = after the last one; the other needles at random places. Lengths are approximate
 * (whole sentences; needles and questions count, so many needles make a short context longer).
 * Training examples ask every needle, in random order. Scoring: needle-score.ts.
 */
import type { Rng } from '../core/rng.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { TrainingExample } from '../train/examples.ts';
import { answerOnlyExamples } from './answer-examples.ts';
import { intIn, magicNumber, pick, shuffle } from './draws.ts';
import { insertPieces, type Sentence } from './filler.ts';

export const CITIES = [
  'Paris',
  'London',
  'Rome',
  'Berlin',
  'Madrid',
  'Vienna',
  'Prague',
  'Dublin',
  'Lisbon',
  'Oslo',
  'Athens',
  'Cairo',
  'Tokyo',
  'Delhi',
  'Lima',
  'Quito',
  'Havana',
  'Boston',
  'Denver',
  'Chicago',
  'Seattle',
  'Austin',
  'Dallas',
  'Toronto',
  'Sydney',
  'Perth',
  'Nairobi',
  'Lagos',
  'Moscow',
  'Warsaw',
  'Geneva',
  'Milan',
];

export interface NeedleSpec {
  /** Needles in the haystack. */
  n: number;
  /** Needles asked (≤ n). */
  r: number;
  /** Depth of the answer needle in percent (0 … 100). */
  depth: number;
  /** Target length of the example in tokens (approximate: whole sentences). */
  tokens: number;
  /** Digits of the magic numbers. */
  digits: number;
}

export interface NeedleExample {
  spec: NeedleSpec;
  text: string;
  /** Character ranges of the needle sentences, in order of appearance. */
  needles: Array<{ city: string; number: string; start: number; end: number }>;
  /** Character ranges of the asked answers " NUMBER." in the question lines, in order asked. */
  answers: Array<{ needle: number; start: number; end: number }>;
  /** Character range of the question lines. */
  question: { start: number; end: number };
}

/** A needle sentence and the question that asks it. */
export const needleText = (city: string, number: string) => ` The magic number of ${city} is ${number}.`;
export const needleQuestion = (city: string) => `Q: The magic number of ${city} is`;

/** One example of the multi-needle task. */
export function makeNeedleExample(
  rng: Rng,
  pool: readonly Sentence[],
  tokenizer: Tokenizer,
  spec: NeedleSpec,
): NeedleExample {
  const { n, r, depth, digits } = spec;
  if (!(r >= 1 && r <= n && n <= CITIES.length))
    throw new RangeError(`needle task: need 1 ≤ R ≤ N ≤ ${CITIES.length}, found N=${n}, R=${r}`);
  const cities = shuffle(rng, CITIES.slice()).slice(0, n);
  const numbers = cities.map(() => magicNumber(rng, digits));
  const needleTokens = cities.reduce((s, c, i) => s + tokenizer.encode(needleText(c, numbers[i])).length, 0);
  const questionTokens = r * (tokenizer.encode(needleQuestion(cities[0])).length + digits + 2);
  const budget = spec.tokens - needleTokens - questionTokens;
  const filler: string[] = [];
  let used = 0;
  while (used < budget || filler.length === 0) {
    const s = pick(rng, pool);
    filler.push(s.text);
    used += s.tokens;
  }
  // Needle i goes into slot i (0 = before the first filler sentence, filler.length = after the last).
  const slots = cities.map(() => rng.int(filler.length + 1));
  const asked = shuffle(
    rng,
    cities.map((_, i) => i),
  ).slice(0, r);
  slots[asked[0]] = Math.round((depth / 100) * filler.length);
  // Within a slot, the answer needle goes first up to 50% depth and last beyond (so 0% is the very
  // beginning of the context and 100% the very end, right before the question).
  const tie = (i: number) => (i === asked[0] ? (depth <= 50 ? -1 : 1) : 0);
  const order = cities.map((_, i) => i).sort((a, b) => slots[a] - slots[b] || tie(a) - tie(b) || a - b);
  const pieces = cities.map((c, i) => needleText(c, numbers[i]));
  const { text: context, placed } = insertPieces(filler, pieces, slots, order);
  const needles: NeedleExample['needles'] = placed.map(({ piece: i, start, end }) => ({
    city: cities[i],
    number: numbers[i],
    start,
    end,
  }));
  const needleIndex = new Map(placed.map(({ piece }, k) => [piece, k]));
  let text = `${context}\n`;
  const qStart = text.length;
  const answers: NeedleExample['answers'] = [];
  for (const i of asked) {
    text += needleQuestion(cities[i]);
    const answer = ` ${numbers[i]}.`;
    answers.push({ needle: needleIndex.get(i)!, start: text.length, end: text.length + answer.length });
    text += `${answer}\n`;
  }
  return { spec, text, needles, answers, question: { start: qStart, end: text.length } };
}

/**
 * Training examples of the needle task, one per batch row: N ∈ {1, 2, 4, 6} (up to `maxNeedles`),
 * every needle asked in random order, random depths and lengths, scored on the answers " NUMBER."
 * only (the filler and the needles themselves are unpredictable; the answers are what is learned).
 * Examples longer than `seq` tokens are drawn again.
 */
export function needleTrainingExamples(
  rng: Rng,
  pool: readonly Sentence[],
  tokenizer: Tokenizer,
  o: { count: number; lengths: [number, number]; maxNeedles: number; digits: number; seq: number },
): TrainingExample[] {
  const counts = [1, 2, 4, 6].filter((c) => c <= o.maxNeedles);
  return answerOnlyExamples(tokenizer, 'needle task', o, () => {
    const n = pick(rng, counts);
    return makeNeedleExample(rng, pool, tokenizer, {
      n,
      r: n,
      depth: rng.uniform() * 100,
      tokens: intIn(rng, o.lengths),
      digits: o.digits,
    });
  });
}
