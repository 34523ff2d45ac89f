/**
 * The contextual-hallucination experiment: the task generator (present, absent and near-miss keys;
 * a near-miss differs by exactly one letter or one word; "none" never collides with a value; answers
 * and training targets), the scoring (greedy answers and their probability, the split of
 * hallucinations, rates, calibration) on synthetic outputs, and `eval hallucination --quick` end to
 * end (cached runs with their probes, the section's files, a rebuild from the cache alone).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { IGNORE_TARGET } from '../src/core/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { corpusSentences, countTokens } from '../src/eval/filler.ts';
import { hallucinationClaim } from '../src/eval/hallucination.ts';
import {
  answerOf,
  calibration,
  candidateProbabilities,
  classifyAnswer,
  greedyAnswers,
  isRight,
  type Outcome,
  rates,
} from '../src/eval/hallucination-score.ts';
import {
  ADJECTIVES,
  type Ask,
  answerText,
  charNeighbours,
  evalAsks,
  factText,
  type HallucinationExample,
  hallucinationTrainingExamples,
  keyText,
  letterDistance,
  makeHallucinationExample,
  NONE,
  NOUNS,
  type Question,
  questionText,
} from '../src/eval/hallucination-task.ts';
import { defaultSettings, runExperiment } from '../src/eval/report.ts';
import { tokenise, tokenRange } from '../src/eval/tokenised.ts';
import { trainTokenizer } from '../src/tokenizer/index.ts';
import { loadCorpus } from '../src/train/corpus.ts';
import { tempDir } from './cli-helpers.ts';

const text = loadCorpus().text.slice(0, 60_000);
const tokenizer = trainTokenizer(
  `${text}\n${NOUNS.map((n, i) => `${factText({ adj: ADJECTIVES[i % ADJECTIVES.length], noun: n }, '42')}\n${questionText({ adj: 'red', noun: n })}${answerText(NONE)}\n`).join('')}`,
  { vocabSize: 360 },
);
const pool = countTokens(tokenizer, corpusSentences(text));

/** Words at which two keys differ, and letters at which their texts differ (∞ for different lengths). */
const wordsApart = (a: Question['key'], b: Question['key']) =>
  (a.adj !== b.adj ? 1 : 0) + (a.noun !== b.noun ? 1 : 0);

const ASKS: Ask[] = [
  { kind: 'present' },
  { kind: 'absent' },
  { kind: 'nearMiss', nearMiss: 'word' },
  { kind: 'nearMiss', nearMiss: 'char' },
];

describe('hallucination task', () => {
  test('the word lists: every noun has a one-letter neighbour, adjectives differ by at least two letters', () => {
    for (const n of NOUNS) assert.ok(charNeighbours(n).length >= 1, n);
    for (const a of ADJECTIVES)
      for (const b of ADJECTIVES) if (a !== b) assert.ok(letterDistance(a, b) >= 2, `${a} / ${b}`);
    assert.equal(new Set(NOUNS).size, NOUNS.length);
    assert.ok(!NOUNS.includes(NONE) && !ADJECTIVES.includes(NONE));
  });

  test('present, absent and near-miss questions ask the key they claim to, with the right answer', () => {
    const rng = new Rng(1);
    const seen = { present: 0, absent: 0, word: 0, char: 0 };
    for (let trial = 0; trial < 200; trial++) {
      const facts = 1 + (trial % 5);
      const ex = makeHallucinationExample(rng, pool, tokenizer, { facts, tokens: 90, digits: 2 }, ASKS);
      assert.equal(ex.facts.length, facts);
      assert.equal(new Set(ex.facts.map((f) => f.key.adj)).size, facts, 'distinct adjectives');
      assert.equal(new Set(ex.facts.map((f) => f.key.noun)).size, facts, 'distinct nouns');
      assert.equal(new Set(ex.facts.map((f) => f.value)).size, facts, 'distinct values');
      for (const f of ex.facts) {
        assert.equal(ex.text.slice(f.start, f.end), factText(f.key, f.value));
        assert.match(f.value, /^[1-9]\d$/);
        assert.notEqual(f.value, NONE);
      }
      assert.equal(new Set(ex.questions.map((q) => keyText(q.key))).size, ASKS.length, 'distinct asked keys');
      for (const q of ex.questions) {
        assert.equal(ex.text.slice(q.start, q.answerStart), questionText(q.key));
        assert.equal(ex.text.slice(q.answerStart, q.answerEnd), answerText(q.answer));
        const same = ex.facts.filter((f) => keyText(f.key) === keyText(q.key));
        const oneWord = ex.facts.filter((f) => wordsApart(f.key, q.key) === 1);
        if (q.kind === 'present') {
          seen.present++;
          assert.equal(same.length, 1, 'the asked key is in the context once');
          assert.equal(ex.facts[q.fact], same[0]);
          assert.equal(q.answer, same[0].value);
          continue;
        }
        assert.equal(same.length, 0, `${q.kind}: the asked key is not in the context`);
        assert.equal(q.answer, NONE);
        if (q.kind === 'absent') {
          seen.absent++;
          assert.equal(q.fact, -1);
          assert.ok(
            ex.facts.every((f) => wordsApart(f.key, q.key) === 2),
            'absent: no word shared',
          );
          continue;
        }
        assert.equal(oneWord.length, 1, 'exactly one near-miss fact');
        const near = ex.facts[q.fact];
        assert.equal(near, oneWord[0]);
        const d = letterDistance(keyText(near.key), keyText(q.key));
        if (q.nearMiss === 'char') {
          seen.char++;
          assert.equal(d, 1, `${keyText(near.key)} / ${keyText(q.key)}: one letter apart`);
          assert.equal(near.key.adj, q.key.adj);
        } else {
          seen.word++;
          assert.ok(d >= 2, `${keyText(near.key)} / ${keyText(q.key)}: a whole word apart`);
          assert.equal(near.key.noun, q.key.noun);
        }
        for (const f of ex.facts) if (f !== near) assert.equal(wordsApart(f.key, q.key), 2);
      }
    }
    assert.deepEqual(seen, { present: 200, absent: 200, word: 200, char: 200 });
  });

  test('"none" never collides with a value, as text or as tokens', () => {
    const none = tokenizer.encode(answerText(NONE)).join(',');
    for (let v = 10; v <= 99; v++) {
      assert.notEqual(answerText(String(v)), answerText(NONE));
      assert.notEqual(tokenizer.encode(answerText(String(v))).join(','), none, `value ${v}`);
      assert.notEqual(answerOf(answerText(String(v))), NONE);
    }
  });

  test('contexts are about the asked length; asks that cannot fit the facts are one clear error', () => {
    const rng = new Rng(2);
    for (const tokens of [100, 160]) {
      const ex = makeHallucinationExample(rng, pool, tokenizer, { facts: 3, tokens, digits: 2 }, [ASKS[0]]);
      const n = tokenizer.encode(ex.text).length;
      assert.ok(n <= tokens + 8 && n >= tokens - 60, `${n} tokens for ${tokens}`);
    }
    // facts alone longer than the target: no filler at all
    const short = makeHallucinationExample(rng, pool, tokenizer, { facts: 3, tokens: 10, digits: 2 }, [
      ASKS[0],
    ]);
    assert.equal(
      short.text,
      `${short.facts.map((f) => factText(f.key, f.value)).join('')}\n${questionText(short.questions[0].key)}${answerText(short.questions[0].answer)}\n`,
    );
    assert.throws(
      () =>
        makeHallucinationExample(rng, pool, tokenizer, { facts: 1, tokens: 60, digits: 2 }, [
          ASKS[0],
          ASKS[0],
        ]),
      /2 distinct questions \(present, present\) do not fit 1 facts/,
    );
  });

  test('evaluation asks have exact shares; training examples score exactly the answers', () => {
    const asks = evalAsks(new Rng(3), 40, { present: 2, absent: 1, nearMiss: 1 });
    const count = (k: string) => asks.filter((a) => a.kind === k).length;
    assert.deepEqual([count('present'), count('absent'), count('nearMiss')], [20, 10, 10]);
    assert.equal(asks.filter((a) => a.nearMiss === 'char').length, 5);
    const examples = hallucinationTrainingExamples(new Rng(4), pool, tokenizer, {
      count: 10,
      lengths: [50, 90],
      facts: 3,
      digits: 2,
      questions: 3,
      shares: { present: 2, absent: 1, nearMiss: 1 },
      seq: 128,
    });
    assert.equal(examples.length, 10);
    for (const ex of examples) {
      assert.ok(ex.inputs.length <= 128);
      const lines = tokenizer.decode([...ex.inputs]).split('\n');
      const asked = lines.filter((l) => l.startsWith('Q: '));
      assert.equal(asked.length, 3);
      const scored = [...ex.targets].filter((t) => t !== IGNORE_TARGET);
      assert.equal(tokenizer.decode(scored), asked.map((l) => l.slice(l.lastIndexOf(' is') + 3)).join(''));
    }
  });
});

/** A hand-made example: facts "red cat" 42, "blue dog" 17, "gold box" 58; one question. */
function handExample(kind: Question['kind'], fact: number): [HallucinationExample, Question] {
  const facts = [
    { key: { adj: 'red', noun: 'cat' }, value: '42', start: 0, end: 0 },
    { key: { adj: 'blue', noun: 'dog' }, value: '17', start: 0, end: 0 },
    { key: { adj: 'gold', noun: 'box' }, value: '58', start: 0, end: 0 },
  ];
  const question: Question = {
    kind,
    key:
      kind === 'present'
        ? facts[0].key
        : kind === 'nearMiss'
          ? { adj: 'red', noun: 'car' }
          : { adj: 'pink', noun: 'pen' },
    fact,
    answer: kind === 'present' ? '42' : NONE,
    start: 0,
    answerStart: 0,
    answerEnd: 0,
  };
  return [{ spec: { facts: 3, tokens: 0, digits: 2 }, text: '', facts, questions: [question] }, question];
}

describe('hallucination scoring', () => {
  test('answers are classified by where the value comes from', () => {
    const cases: Array<[Question['kind'], number, string, Outcome]> = [
      ['present', 0, ' 42.\n', 'a'],
      ['present', 0, ' none.', 'n'],
      ['present', 0, ' 17.', 'c'],
      ['present', 0, ' 99.', 'o'],
      ['present', 0, ' the', 'x'],
      ['nearMiss', 0, ' 42.', 'm'],
      ['nearMiss', 0, ' 58.', 'c'],
      ['nearMiss', 0, ' none.', 'n'],
      ['nearMiss', 0, ' 77.', 'o'],
      ['absent', -1, ' 17.', 'c'],
      ['absent', -1, ' 31.', 'o'],
      ['absent', -1, ' none.', 'n'],
      ['absent', -1, ' nonee.', 'x'],
    ];
    for (const [kind, fact, answer, expected] of cases) {
      const [ex, q] = handExample(kind, fact);
      assert.equal(classifyAnswer(answer, ex, q), expected, `${kind} ${JSON.stringify(answer)}`);
    }
    assert.ok(isRight('present', 'a') && !isRight('present', 'n'));
    assert.ok(isRight('absent', 'n') && isRight('nearMiss', 'n') && !isRight('nearMiss', 'm'));
  });

  test('rates split hallucinations into near-miss, other context values and values not in the context', () => {
    const kinds: Question['kind'][] = [
      'present',
      'present',
      'present',
      'present',
      'absent',
      'absent',
      'absent',
      'absent',
      'nearMiss',
      'nearMiss',
      'nearMiss',
      'nearMiss',
      'nearMiss',
    ];
    const outcomes: Outcome[] = ['a', 'a', 'n', 'c', 'n', 'c', 'o', 'x', 'n', 'n', 'm', 'm', 'c'];
    const r = rates(kinds, outcomes);
    assert.equal(r.presentAccuracy, 2 / 4);
    assert.equal(r.falseNone, 1 / 4);
    assert.deepEqual(r.absent, { hallucination: 3 / 4, context: 1 / 4, outside: 2 / 4 });
    assert.deepEqual(r.nearMiss, { hallucination: 3 / 5, nearMiss: 2 / 5, context: 1 / 5, outside: 0 });
    assert.equal(r.hallucination, 6 / 9);
    assert.deepEqual(r.counts, { present: 4, absent: 4, nearMiss: 5 });
    assert.ok(Number.isNaN(rates(['absent'], ['n']).presentAccuracy), 'no present item: NaN');
  });

  test('calibration: reliability bins and the expected calibration error', () => {
    const c = calibration([0.05, 0.15, 0.95, 0.95, 1, 0.55], [false, true, true, true, false, true]);
    assert.equal(c.bins.length, 10);
    assert.deepEqual(
      c.bins.map((b) => b.count),
      [1, 1, 0, 0, 0, 1, 0, 0, 0, 3],
    );
    const top = c.bins[9];
    assert.ok(Math.abs(top.confidence - 2.9 / 3) < 1e-12 && Math.abs(top.accuracy - 2 / 3) < 1e-12);
    const expected = (1 / 6) * 0.05 + (1 / 6) * 0.85 + (1 / 6) * 0.45 + (3 / 6) * Math.abs(2 / 3 - 2.9 / 3);
    assert.ok(Math.abs(c.ece - expected) < 1e-12, `${c.ece} vs ${expected}`);
    assert.equal(calibration([1, 1], [true, true]).ece, 0, 'right and sure: calibrated');
    assert.throws(() => calibration([1.5], [true]), /probability 1.5 outside \[0, 1\]/);
  });

  test('greedy answers follow the argmax up to the first "." with the product of its probabilities', () => {
    // A fake model over 4 tokens "a", "b", ".", "x": after a prompt ending in 0 it writes "b" then ".".
    const V = 4;
    const decode = (ids: number[]) => ids.map((i) => 'ab.x'[i]).join('');
    const forward = (tokens: Int32Array, batch: number, seq: number) => {
      const logits = new Float32Array(batch * seq * V);
      for (let b = 0; b < batch; b++)
        for (let t = 0; t < seq; t++) {
          const row = (b * seq + t) * V;
          const prev = tokens[b * seq + t];
          if (prev === 0)
            logits[row + 1] = Math.log(3); // p(b) = 3/6 with three other tokens at 1
          else if (prev === 1)
            logits[row + 2] = Math.log(7); // p(.) = 7/10
          else logits[row + 3] = 5;
        }
      return logits;
    };
    const [a, b] = greedyAnswers(
      forward,
      V,
      [Int32Array.from([3, 0]), Int32Array.from([0, 3])],
      decode,
      3,
      1,
    );
    assert.equal(a.text, 'b.');
    assert.ok(Math.abs(a.probability - 0.5 * 0.7) < 1e-6, `${a.probability}`);
    assert.equal(b.text, 'xxx', 'no "." within maxTokens: stops there');
    const [[pb, px], [pa]] = candidateProbabilities(
      forward,
      V,
      [Int32Array.from([3, 0]), Int32Array.from([1])],
      [[[1, 2], [3]], [[2]]],
      2,
    );
    assert.ok(Math.abs(pb - 0.5 * 0.7) < 1e-6, `p("b.") = ${pb}`);
    assert.ok(Math.abs(px - 1 / 6) < 1e-6, `p("x") = ${px}`);
    assert.ok(Math.abs(pa - 0.7) < 1e-6, `p(".") = ${pa}`);
  });
});

describe('eval hallucination --quick', () => {
  // runExperiment is what `eval hallucination` runs (src/eval/command.ts), without its stdout lines
  const run = (out: string, train = true) =>
    runExperiment('hallucination', defaultSettings({ quick: true, out, train, backend: 'auto' }));

  test('trains and caches the three variants with their probes, writes the section, and rebuilds it from the cache', async () => {
    const out = join(tempDir(), 'quick');
    await run(out);
    const dir = join(out, 'hallucination');
    for (const f of ['hallucination.md', 'claims.json', 'results.json', 'runs.json'])
      assert.ok(existsSync(join(dir, f)), f);
    for (const plot of ['hallucination-vs-length', 'accuracy-vs-length', 'reliability'])
      for (const ext of ['svg', 'png']) assert.ok(existsSync(join(dir, `${plot}.${ext}`)), `${plot}.${ext}`);
    const records = readdirSync(join(out, 'results'))
      .filter((f) => f.startsWith('hallucination-'))
      .map((f) => JSON.parse(readFileSync(join(out, 'results', f), 'utf8')));
    assert.deepEqual(records.map((r) => r.spec.variant).sort(), ['baseline', 'diff', 'diffv2']);
    for (const r of records) {
      const a = r.probes['hallucination-answers'];
      assert.equal(a.kinds.length, a.outcomes.length);
      assert.equal(a.probabilities.length, a.outcomes.length);
      assert.match(a.kinds, /^[pawc]+$/);
      assert.match(a.outcomes, /^[anmcox]+$/);
      assert.ok(a.probabilities.every((p: number) => p >= 0 && p <= 1));
      const pr = r.probes['hallucination-probabilities'];
      assert.equal(pr.none.length, a.kinds.length);
      assert.ok(pr.facts.every((ps: number[]) => ps.length === 2 && ps.every((x) => x > 0 && x <= 1)));
      const at = r.probes['hallucination-attention'];
      assert.ok(at.asked.items > 0 && at.nearMiss.items > 0);
    }
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    for (const v of ['diff', 'baseline', 'diffv2'])
      for (const [k, xs] of Object.entries(results.measures[v] as Record<string, number[]>))
        assert.ok(xs.length === 1 && xs.every((x) => x >= 0 && x <= 1), `${v} ${k}`);
    const claims = JSON.parse(readFileSync(join(dir, 'claims.json'), 'utf8'));
    assert.equal(claims.length, 2);
    for (const c of claims) assert.equal(c.verdict, 'inconclusive', 'one seed decides nothing');
    await run(out, false);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')), results);
  });

  test('--no-train on an empty cache: pending, no verdict', async () => {
    const out = join(tempDir(), 'empty');
    await run(out, false);
    const claims = JSON.parse(readFileSync(join(out, 'hallucination', 'claims.json'), 'utf8'));
    for (const c of claims) assert.equal(c.verdict, 'pending');
    assert.match(
      readFileSync(join(out, 'hallucination', 'hallucination.md'), 'utf8'),
      /pending: 0 of 3 runs/,
    );
  });
});

// the token ranges of the answers decode to the answers (as the scorer and the trainer rely on)
test('answer token ranges decode to " VALUE." / " none."', () => {
  const ex = makeHallucinationExample(new Rng(5), pool, tokenizer, { facts: 3, tokens: 80, digits: 2 }, ASKS);
  const t = tokenise(tokenizer, ex.text);
  for (const q of ex.questions) {
    const [first, last] = tokenRange(t, q.answerStart, q.answerEnd);
    assert.equal(tokenizer.decode([...t.ids.subarray(first, last + 1)]), answerText(q.answer));
  }
});

test('the verdict: judged only for models that read the facts; "equivalent" only from TOST', () => {
  const seeds = (m: number) => [m - 0.01, m, m + 0.01, m - 0.005, m + 0.005];
  const reads = { diff: seeds(0.8), base: seeds(0.8) };
  const lower = hallucinationClaim(0, 'DIFF V1', { diff: seeds(0.1), base: seeds(0.3) }, reads, 1 / 3);
  assert.equal(lower.verdict, 'matches');
  const higher = hallucinationClaim(0, 'DIFF V1', { diff: seeds(0.3), base: seeds(0.1) }, reads, 1 / 3);
  assert.equal(higher.verdict, 'does not match');
  const same = hallucinationClaim(0, 'DIFF V1', { diff: seeds(0.2), base: seeds(0.2) }, reads, 1 / 3);
  assert.equal(same.verdict, 'equivalent');
  // models that always say "none": no hallucination, no retrieval — nothing to judge
  const zero = [0, 0, 0, 0, 0];
  const mute = hallucinationClaim(
    0,
    'DIFF V1',
    { diff: zero, base: zero },
    { diff: zero, base: zero },
    1 / 3,
  );
  assert.equal(mute.verdict, 'inconclusive');
  assert.match(mute.ours, /not judged: present-key accuracy/);
});
