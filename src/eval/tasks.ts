/**
 * The synthetic tasks of the experiments, their generators and scorers.
 *
 * Multi-needle retrieval (paper §3.4, Table 2, Fig. 5): a haystack of sentences from the corpus with
 * N needles "The magic number of CITY is NUMBER." inserted between sentences; R of them are then asked,
 * one line each, "Q: The magic number of CITY is" followed by the answer " NUMBER." The first asked
 * needle (the answer needle) sits at a chosen depth: 0% = before the first filler sentence, 100% =
 * after the last one; the other needles at random places. Lengths are approximate (whole sentences;
 * needles and questions count, so many needles make a short context longer). Training examples ask
 * every needle, in random order. An answer counts as correct when greedy
 * decoding after "is" reproduces " NUMBER." token for token; this is computed in one forward pass by
 * teacher forcing (greedy decoding reproduces a token sequence exactly when the argmax at every
 * position of it, given the sequence so far, is its next token), and earlier answers are given.
 *
 * Many-shot in-context classification (paper §3.5, Fig. 6–7): words of K fixed categories (animals,
 * colours, foods, tools); per episode the categories get K distinct labels drawn from a pool of 24
 * (the letters A–X) and two words of each category are in play, so the label of a word can only be
 * read off the demonstrations "WORD=LABEL". After k demonstrations the query "WORD=" is classified
 * by the argmax over the episode's K labels' first tokens (constrained decoding). The query word is
 * among the demonstrations (copy its label) or not (only its category can tell: generalisation).
 * Labels drawn from a pool rather than a fixed set of K matter for learning: with K fixed labels a
 * small model sits at the uniform guess (loss ln K) for thousands of steps, while labels that must be
 * found in the context are learned like the needle task's numbers.
 */
import type { Floats } from '../core/backend.ts';
import type { Rng } from '../core/rng.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { exampleFromIds, type TrainingExample } from '../train/examples.ts';

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

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** Fisher–Yates shuffle, in place. */
export function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

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

const needleText = (city: string, number: string) => ` The magic number of ${city} is ${number}.`;
const questionText = (city: string) => `Q: The magic number of ${city} is`;

export function magicNumber(rng: Rng, digits: number): string {
  const low = 10 ** (digits - 1);
  return String(low + rng.int(9 * low));
}

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
  const questionTokens = r * (tokenizer.encode(questionText(cities[0])).length + digits + 2);
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
  let text = '';
  const needles: NeedleExample['needles'] = [];
  const needleIndex = new Map<number, number>();
  let next = 0;
  for (let slot = 0; slot <= filler.length; slot++) {
    while (next < order.length && slots[order[next]] === slot) {
      const i = order[next++];
      const piece = needleText(cities[i], numbers[i]);
      needleIndex.set(i, needles.length);
      needles.push({
        city: cities[i],
        number: numbers[i],
        start: text.length,
        end: text.length + piece.length,
      });
      text += piece;
    }
    if (slot < filler.length) text += filler[slot];
  }
  text += '\n';
  const qStart = text.length;
  const answers: NeedleExample['answers'] = [];
  for (const i of asked) {
    text += questionText(cities[i]);
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
  const out: TrainingExample[] = [];
  const counts = [1, 2, 4, 6].filter((c) => c <= o.maxNeedles);
  let rejected = 0;
  while (out.length < o.count) {
    const n = pick(rng, counts);
    const ex = makeNeedleExample(rng, pool, tokenizer, {
      n,
      r: n,
      depth: rng.uniform() * 100,
      tokens: o.lengths[0] + rng.int(o.lengths[1] - o.lengths[0] + 1),
      digits: o.digits,
    });
    const tokens = tokenise(tokenizer, ex.text);
    if (tokens.ids.length - 1 > o.seq) {
      if (++rejected > 10 * o.count + 100)
        throw new RangeError(
          `needle task: examples of ${o.lengths.join('–')} tokens rarely fit seq ${o.seq}`,
        );
      continue;
    }
    out.push(
      exampleFromIds(
        tokens.ids,
        ex.answers.map((a) => tokenRange(tokens, a.start, a.end)),
      ),
    );
  }
  return out;
}

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

/** Forward sequences of different lengths in right-padded batches (padding cannot affect a causal model). */
export function forwardPadded(
  forward: (tokens: Int32Array, batch: number, seq: number) => Floats,
  sequences: readonly Int32Array[],
  vocab: number,
  batchSize: number,
  visit: (index: number, logits: Floats, offset: number) => void,
): void {
  for (let first = 0; first < sequences.length; first += batchSize) {
    const group = sequences.slice(first, first + batchSize);
    const T = Math.max(...group.map((s) => s.length));
    const tokens = new Int32Array(group.length * T);
    for (let b = 0; b < group.length; b++) tokens.set(group[b], b * T);
    const logits = forward(tokens, group.length, T);
    for (let b = 0; b < group.length; b++) visit(first + b, logits, b * T * vocab);
  }
}

// ---------------------------------------------------------------- in-context classification

export const CATEGORIES: Record<string, string[]> = {
  animals: [
    'whale',
    'shark',
    'horse',
    'tiger',
    'eagle',
    'mouse',
    'snake',
    'camel',
    'sheep',
    'goat',
    'otter',
    'zebra',
    'panda',
    'rabbit',
    'wolf',
    'bear',
  ],
  colours: [
    'red',
    'blue',
    'green',
    'yellow',
    'purple',
    'orange',
    'black',
    'white',
    'brown',
    'pink',
    'grey',
    'violet',
    'amber',
    'cyan',
    'crimson',
    'silver',
  ],
  foods: [
    'bread',
    'apple',
    'cheese',
    'rice',
    'bean',
    'honey',
    'butter',
    'grape',
    'lemon',
    'melon',
    'pear',
    'plum',
    'soup',
    'cake',
    'olive',
    'onion',
  ],
  tools: [
    'hammer',
    'saw',
    'drill',
    'wrench',
    'chisel',
    'axe',
    'shovel',
    'rake',
    'knife',
    'needle',
    'ladder',
    'rope',
    'anvil',
    'lever',
    'pliers',
    'spade',
  ],
};
/**
 * The label pool: each episode gives its K categories K distinct labels drawn from it. Single capital
 * letters written right after "=" are one byte token each under GPT-2 pre-tokenisation, so every
 * label's first token is distinct whatever the tokenizer learned.
 */
export const ICL_LABELS = 'ABCDEFGHIJKLMNOPQRSTUVWX'.split('');
/** Words per category in play in one episode (demonstrations and query are drawn from them). */
export const ICL_WORDS_PER_EPISODE = 2;

export interface IclDemo {
  word: string;
  category: number;
}

export interface IclEpisode {
  /** index into ICL_LABELS of each category's label in this episode */
  labelOf: number[];
  demos: IclDemo[];
  query: IclDemo;
}

/** A demonstration's prompt part "WORD=" (its label follows as "LABEL\n"). */
const demoPrompt = (word: string) => `${word}=`;
const demoLine = (word: string, label: string) => `${demoPrompt(word)}${label}\n`;

/**
 * An episode: the K categories get K distinct random labels from the pool, ICL_WORDS_PER_EPISODE
 * random words of each category are in play, and the demonstrations and the query are drawn from
 * those words (so the query word may or may not be among the demonstrations).
 */
export function makeIclEpisode(rng: Rng, shots: number): IclEpisode {
  const names = Object.keys(CATEGORIES);
  const labelOf = shuffle(
    rng,
    ICL_LABELS.map((_, i) => i),
  ).slice(0, names.length);
  const words: IclDemo[] = [];
  for (const [category, name] of names.entries())
    for (const word of shuffle(rng, CATEGORIES[name].slice()).slice(0, ICL_WORDS_PER_EPISODE))
      words.push({ word, category });
  const demos = Array.from({ length: shots }, () => pick(rng, words));
  return { labelOf, demos, query: pick(rng, words) };
}

/** The episode's text up to (excluding) the query's label, in the given demonstration order. */
export function iclPrompt(e: IclEpisode, order?: readonly number[]): string {
  const { text, labels } = iclEpisodeText(e, order);
  return text.slice(0, labels[labels.length - 1].start);
}

/**
 * The whole episode, the query's label included ("… WORD=LABEL\n"), with the
 * character range of every label " LABEL" (the demonstrations', then the query's).
 */
export function iclEpisodeText(
  e: IclEpisode,
  order?: readonly number[],
): { text: string; labels: Array<{ start: number; end: number }> } {
  const idx = order ?? e.demos.map((_, i) => i);
  let text = '';
  const labels: Array<{ start: number; end: number }> = [];
  for (const d of [...idx.map((i) => e.demos[i]), e.query]) {
    text += demoPrompt(d.word);
    const label = ICL_LABELS[e.labelOf[d.category]];
    labels.push({ start: text.length, end: text.length + label.length });
    text += `${label}\n`;
  }
  return { text, labels };
}

/** Tokens of one demonstration line (the longest word), to size episodes to a context. */
export function iclLineTokens(tokenizer: Tokenizer): number {
  let most = 0;
  for (const words of Object.values(CATEGORIES))
    for (const w of words)
      for (const l of ICL_LABELS) most = Math.max(most, tokenizer.encode(demoLine(w, l)).length);
  return most;
}

/**
 * Training examples of the in-context task, one episode per batch row, with 1 … maxShots
 * demonstrations; scored on every label (a demonstration's label is predictable once its category
 * has been seen in the episode, the query's always is unless its category is new).
 */
export function iclTrainingExamples(
  rng: Rng,
  tokenizer: Tokenizer,
  o: { count: number; maxShots: number; seq: number },
): TrainingExample[] {
  const out: TrainingExample[] = [];
  while (out.length < o.count) {
    const { text, labels } = iclEpisodeText(makeIclEpisode(rng, 1 + rng.int(o.maxShots)));
    const tokens = tokenise(tokenizer, text);
    if (tokens.ids.length - 1 > o.seq)
      throw new RangeError(
        `in-context task: an episode of ${tokens.ids.length} tokens does not fit seq ${o.seq}`,
      );
    out.push(
      exampleFromIds(
        tokens.ids,
        labels.map((l) => tokenRange(tokens, l.start, l.end)),
      ),
    );
  }
  return out;
}

/** The first token of each label of the pool as it follows "WORD=" (must differ between labels). */
export function labelTokens(tokenizer: Tokenizer): number[] {
  const ids = ICL_LABELS.map((l) => tokenizer.encode(`=${l}`)[1]);
  if (new Set(ids).size !== ids.length)
    throw new Error(`in-context task: the labels' first tokens are not distinct (${ids.join(', ')})`);
  return ids;
}

/** Constrained classification: the index of the candidate token with the largest logit at `row`. */
export function classify(logits: Floats, row: number, labelIds: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < labelIds.length; i++)
    if (logits[row + labelIds[i]] > logits[row + labelIds[best]]) best = i;
  return best;
}
