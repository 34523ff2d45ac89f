/**
 * The contextual-hallucination task (issue 17): a context of corpus filler with F key–value facts
 * " The code of the KEY is VALUE." (KEY = "ADJECTIVE NOUN", VALUE a number), then questions
 * "Q: The code of the KEY is" answered " VALUE." or, when no fact has that key, " none.". Every
 * question asks one of three kinds of key:
 *   present   the key of a fact of the context (once);
 *   absent    a key sharing no word with any fact of the context;
 *   nearMiss  a key that is not in the context while a fact's key differs from it by one word
 *             ('word': the adjective swapped for another, ≥ 2 characters different) or by one
 *             character ('char': the noun swapped for a noun one letter away, e.g. cat → car).
 * The facts of a context have distinct adjectives, distinct nouns and distinct values, so a near-miss
 * question has exactly one near-miss fact, an absent question none, and a value given as an answer
 * names at most one fact. Values are digits only; "none" is a word, so it never equals a value.
 */
import type { Rng } from '../core/rng.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { TrainingExample } from '../train/examples.ts';
import { answerOnlyExamples } from './answer-examples.ts';
import { intIn, magicNumber, pick, shuffle } from './draws.ts';
import { insertPieces, type Sentence } from './filler.ts';

/** Adjectives of the keys: any two of equal length differ in at least two letters. */
export const ADJECTIVES = [
  'red',
  'blue',
  'green',
  'black',
  'white',
  'brown',
  'pink',
  'gold',
  'silver',
  'purple',
  'orange',
  'yellow',
];

/** Nouns of the keys: each has at least one noun of the list one letter away (its char near-misses). */
export const NOUNS = [
  'cat',
  'car',
  'cap',
  'bat',
  'bag',
  'bar',
  'pin',
  'pen',
  'pan',
  'hat',
  'hut',
  'dog',
  'dot',
  'log',
  'leg',
  'box',
  'fox',
  'map',
  'mat',
  'bell',
  'ball',
  'ring',
  'king',
  'wing',
  'sand',
  'band',
  'hand',
  'rock',
  'sock',
  'lock',
  'cup',
  'pup',
];

/** The answer when the asked key is not in the context. */
export const NONE = 'none';

export type QuestionKind = 'present' | 'absent' | 'nearMiss';
export type NearMissKind = 'char' | 'word';
export const QUESTION_KINDS: readonly QuestionKind[] = ['present', 'absent', 'nearMiss'];

export interface Key {
  adj: string;
  noun: string;
}

export const keyText = (k: Key) => `${k.adj} ${k.noun}`;
export const factText = (k: Key, value: string) => ` The code of the ${keyText(k)} is ${value}.`;
export const questionText = (k: Key) => `Q: The code of the ${keyText(k)} is`;
export const answerText = (value: string) => ` ${value}.`;

/** Letters at which two words of equal length differ (Infinity for different lengths). */
export function letterDistance(a: string, b: string): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d;
}

/** The nouns one letter away from `noun`. */
export const charNeighbours = (noun: string) => NOUNS.filter((n) => letterDistance(n, noun) === 1);

export interface HallucinationSpec {
  /** Facts in the context. */
  facts: number;
  /** Target length of the context and questions in tokens (at most, give or take the questions' estimate: whole sentences of filler). */
  tokens: number;
  /** Digits of the values. */
  digits: number;
}

export interface Fact {
  key: Key;
  value: string;
  /** Character range of the fact sentence in the text. */
  start: number;
  end: number;
}

export interface Question {
  kind: QuestionKind;
  /** For nearMiss questions: whether the near-miss fact's key differs by a word or by a letter. */
  nearMiss?: NearMissKind;
  key: Key;
  /** The fact asked (present) or the near-miss fact (nearMiss), by index into `facts`; −1 for absent. */
  fact: number;
  /** The right answer: the fact's value or NONE. */
  answer: string;
  /** Character range of the question line "Q: … is" and of its answer " VALUE." / " none.". */
  start: number;
  answerStart: number;
  answerEnd: number;
}

export interface HallucinationExample {
  spec: HallucinationSpec;
  text: string;
  /** In order of appearance. */
  facts: Fact[];
  questions: Question[];
}

export interface Ask {
  kind: QuestionKind;
  nearMiss?: NearMissKind;
}

/**
 * A key of the given kind for a context whose facts have `keys`, and the fact it refers to (−1 for
 * absent keys); undefined when the context has none (e.g. a letter near-miss when every noun's
 * neighbours are taken).
 */
export function askedKey(
  rng: Rng,
  keys: readonly Key[],
  ask: Ask,
  exclude: readonly Key[] = [],
): [Key, number] | undefined {
  const usedAdj = new Set(keys.map((k) => k.adj));
  const usedNoun = new Set(keys.map((k) => k.noun));
  const taken = (k: Key) => exclude.some((e) => e.adj === k.adj && e.noun === k.noun);
  for (let attempt = 0; attempt < 200; attempt++) {
    if (ask.kind === 'present') {
      const f = rng.int(keys.length);
      if (!taken(keys[f])) return [keys[f], f];
      continue;
    }
    if (ask.kind === 'absent') {
      const k = {
        adj: pick(
          rng,
          ADJECTIVES.filter((a) => !usedAdj.has(a)),
        ),
        noun: pick(
          rng,
          NOUNS.filter((n) => !usedNoun.has(n)),
        ),
      };
      if (!taken(k)) return [k, -1];
      continue;
    }
    const f = rng.int(keys.length);
    const near = keys[f];
    let k: Key;
    if (ask.nearMiss === 'char') {
      const nouns = charNeighbours(near.noun).filter((n) => !usedNoun.has(n));
      if (!nouns.length) continue;
      k = { adj: near.adj, noun: pick(rng, nouns) };
    } else {
      k = {
        adj: pick(
          rng,
          ADJECTIVES.filter((a) => !usedAdj.has(a)),
        ),
        noun: near.noun,
      };
    }
    if (!taken(k)) return [k, f];
  }
  return undefined;
}

/** Keys of F facts (distinct adjectives and nouns) and the asked keys, redrawn until every ask is possible. */
function drawKeys(
  rng: Rng,
  F: number,
  asks: readonly Ask[],
): { keys: Key[]; asked: Array<[Key, number, Ask]> } {
  for (let attempt = 0; attempt < 100; attempt++) {
    const adjs = shuffle(rng, ADJECTIVES.slice()).slice(0, F);
    const nouns = shuffle(rng, NOUNS.slice()).slice(0, F);
    const keys = adjs.map((adj, i) => ({ adj, noun: nouns[i] }));
    const asked: Array<[Key, number, Ask]> = [];
    for (const ask of asks) {
      const found = askedKey(
        rng,
        keys,
        ask,
        asked.map(([k]) => k),
      );
      if (!found) break;
      asked.push([...found, ask]);
    }
    if (asked.length === asks.length) return { keys, asked };
  }
  throw new RangeError(
    `hallucination task: ${asks.length} distinct questions (${asks.map((a) => a.kind).join(', ')}) do not fit ${F} facts`,
  );
}

/**
 * One example: F facts with distinct adjectives, nouns and values at random places in filler
 * sentences from `pool`, then one question per entry of `asks`, each asking a different key.
 */
export function makeHallucinationExample(
  rng: Rng,
  pool: readonly Sentence[],
  tokenizer: Tokenizer,
  spec: HallucinationSpec,
  asks: readonly Ask[],
): HallucinationExample {
  const F = spec.facts;
  if (!(F >= 1 && F < ADJECTIVES.length && F < NOUNS.length))
    throw new RangeError(`hallucination task: need 1 ≤ facts < ${ADJECTIVES.length}, found ${F}`);
  if (spec.digits < 1 || 9 * 10 ** (spec.digits - 1) < F)
    throw new RangeError(`hallucination task: ${spec.digits} digit(s) cannot give ${F} distinct values`);
  const { keys, asked } = drawKeys(rng, F, asks);
  const values: string[] = [];
  while (values.length < F) {
    const v = magicNumber(rng, spec.digits);
    if (!values.includes(v)) values.push(v);
  }
  const factTokens = keys.reduce((s, k, i) => s + tokenizer.encode(factText(k, values[i])).length, 0);
  const questionTokens = asks.length * (tokenizer.encode(questionText(keys[0])).length + spec.digits + 2);
  const budget = spec.tokens - factTokens - questionTokens;
  // Filler sentences that fit the budget, until 50 draws in a row do not (none when facts fill it).
  const filler: string[] = [];
  let used = 0;
  for (let misses = 0; misses < 50; ) {
    const s = pick(rng, pool);
    if (used + s.tokens > budget) misses++;
    else {
      filler.push(s.text);
      used += s.tokens;
      misses = 0;
    }
  }
  // Fact i goes into a random slot (0 = before the first filler sentence, filler.length = after the last).
  const slots = keys.map(() => rng.int(filler.length + 1));
  const order = keys.map((_, i) => i).sort((a, b) => slots[a] - slots[b] || a - b);
  const pieces = keys.map((k, i) => factText(k, values[i]));
  const { text: context, placed } = insertPieces(filler, pieces, slots, order);
  const facts: Fact[] = placed.map(({ piece: i, start, end }) => ({
    key: keys[i],
    value: values[i],
    start,
    end,
  }));
  const position = new Map(placed.map(({ piece }, k) => [piece, k])); // key index → index in order of appearance
  let text = `${context}\n`;
  const questions: Question[] = [];
  for (const [key, f, ask] of asked) {
    const start = text.length;
    text += questionText(key);
    const fact = f < 0 ? -1 : position.get(f)!;
    const answer = ask.kind === 'present' ? facts[fact].value : NONE;
    const piece = answerText(answer);
    questions.push({
      kind: ask.kind,
      ...(ask.kind === 'nearMiss' ? { nearMiss: ask.nearMiss } : {}),
      key,
      fact,
      answer,
      start,
      answerStart: text.length,
      answerEnd: text.length + piece.length,
    });
    text += `${piece}\n`;
  }
  return { spec, text, facts, questions };
}

/** Shares of the question kinds (present, absent, near-miss); near-misses are half by word, half by letter. */
export interface KindShares {
  present: number;
  absent: number;
  nearMiss: number;
}

/** A question kind drawn with the given shares. */
export function drawAsk(rng: Rng, shares: KindShares): Ask {
  const total = shares.present + shares.absent + shares.nearMiss;
  const u = rng.uniform() * total;
  if (u < shares.present) return { kind: 'present' };
  if (u < shares.present + shares.absent) return { kind: 'absent' };
  return { kind: 'nearMiss', nearMiss: rng.uniform() < 0.5 ? 'word' : 'char' };
}

/**
 * The asks of an evaluation set of `count` items: exact shares (rounded), near-misses alternating
 * word / char, in a seeded random order.
 */
export function evalAsks(rng: Rng, count: number, shares: KindShares): Ask[] {
  const total = shares.present + shares.absent + shares.nearMiss;
  const present = Math.round((count * shares.present) / total);
  const absent = Math.round((count * shares.absent) / total);
  const asks: Ask[] = [];
  for (let i = 0; i < present; i++) asks.push({ kind: 'present' });
  for (let i = 0; i < absent; i++) asks.push({ kind: 'absent' });
  for (let i = 0; asks.length < count; i++)
    asks.push({ kind: 'nearMiss', nearMiss: i % 2 ? 'char' : 'word' });
  return shuffle(rng, asks);
}

/**
 * Training examples, one per batch row: `questions` questions per context, kinds drawn with
 * `shares` (at most `facts` present ones), lengths uniform in `lengths`, scored on the answers only
 * (" VALUE." / " none.").
 * Examples longer than `seq` tokens are drawn again.
 */
export function hallucinationTrainingExamples(
  rng: Rng,
  pool: readonly Sentence[],
  tokenizer: Tokenizer,
  o: {
    count: number;
    lengths: [number, number];
    facts: number;
    digits: number;
    questions: number;
    shares: KindShares;
    seq: number;
  },
): TrainingExample[] {
  return answerOnlyExamples(tokenizer, 'hallucination task', o, () => {
    // at most F present questions (each asks a different fact); the others redrawn among the rest
    let present = 0;
    const asks = Array.from({ length: o.questions }, () => {
      const ask = drawAsk(rng, present < o.facts ? o.shares : { ...o.shares, present: 0 });
      if (ask.kind === 'present') present++;
      return ask;
    });
    const ex = makeHallucinationExample(
      rng,
      pool,
      tokenizer,
      { facts: o.facts, tokens: intIn(rng, o.lengths), digits: o.digits },
      asks,
    );
    return { text: ex.text, answers: ex.questions.map((q) => ({ start: q.answerStart, end: q.answerEnd })) };
  });
}
