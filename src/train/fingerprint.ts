/**
 * What a run was trained on, by content: the size and SHA-256 of each data file (and of the text
 * when it is not a file, e.g. the embedded default corpus) and of the tokenizer. A checkpoint records
 * them; `--resume` compares content, never the spelling of paths (`./d/x.txt` and `d/x.txt` are one
 * file; a file whose content changed is refused, by name).
 */
import { existsSync, statSync } from 'node:fs';
import { type FileFingerprint, fileFingerprint, sha256 } from '../io/checksum.ts';
import type { Corpus } from './corpus.ts';

export interface DataFingerprint extends FileFingerprint {
  /** The file as it was given (or a description of the text), for messages only. */
  source: string;
}

/** One fingerprint per file the corpus was read from, plus one of the text when a source is no file. */
export function corpusFingerprints(corpus: Corpus): DataFingerprint[] {
  const isFile = (s: string) => existsSync(s) && statSync(s).isFile();
  const files = corpus.sources.filter(isFile).map((source) => ({ source, ...fileFingerprint(source) }));
  if (files.length === corpus.sources.length) return files;
  const others = corpus.sources.filter((s) => !isFile(s));
  return [...files, { source: others.join(', '), bytes: corpus.bytes, sha256: sha256(corpus.text) }];
}

const describe = (f: DataFingerprint) => `${f.bytes} bytes, sha256 ${f.sha256.slice(0, 12)}…`;
const isFingerprint = (x: unknown): x is DataFingerprint =>
  typeof x === 'object' && x !== null && typeof (x as DataFingerprint).sha256 === 'string';

/**
 * Why the data differs from what the checkpoint recorded (one line), or undefined when the content
 * is the same. Entries that are plain strings (text or examples given by hash, and checkpoints of
 * earlier versions that recorded paths) are compared as strings.
 */
export function dataChange(recorded: unknown, now: readonly unknown[]): string | undefined {
  if (!Array.isArray(recorded)) return `data was ${JSON.stringify(recorded)}, now ${JSON.stringify(now)}`;
  if (!recorded.every(isFingerprint) || !now.every(isFingerprint)) {
    return JSON.stringify(recorded) === JSON.stringify(now)
      ? undefined
      : `data was ${JSON.stringify(recorded)}, now ${JSON.stringify(now)}`;
  }
  const names = (list: readonly DataFingerprint[]) => list.map((f) => f.source).join(', ');
  if (recorded.length !== now.length)
    return `the data was ${recorded.length} file(s) (${names(recorded)}), now ${now.length} (${names(now)})`;
  for (let i = 0; i < now.length; i++) {
    const [was, is] = [recorded[i], now[i] as DataFingerprint];
    if (was.bytes !== is.bytes || was.sha256 !== is.sha256) {
      const renamed = was.source === is.source ? '' : ` (recorded as ${was.source})`;
      return `the content of ${is.source}${renamed} changed since the checkpoint: it was ${describe(was)}, now ${describe(is)}`;
    }
  }
  return undefined;
}
