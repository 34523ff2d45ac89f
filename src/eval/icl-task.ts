/**
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
import { pick, shuffle } from './draws.ts';
import { tokenise, tokenRange } from './tokenised.ts';

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
export const demoLine = (word: string, label: string) => `${demoPrompt(word)}${label}\n`;

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
