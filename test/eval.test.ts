/**
 * The experiments (src/eval): the probe equals the model (logits and loss, every variant and ablation,
 * every backend), the quantiser, the needle task's generator and greedy scorer, the power-law fit,
 * the in-context task, and `report --quick` end to end (every expected file, finite numbers, the
 * same numbers on a rerun) through the commands registered on a fresh commander program.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { backendNames, createBackend } from '../src/backends/index.ts';
import { IGNORE_TARGET } from '../src/core/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { registerEvalCommands } from '../src/eval/command.ts';
import { EXPERIMENTS } from '../src/eval/experiment.ts';
import { corpusSentences, countTokens } from '../src/eval/filler.ts';
import {
  classify,
  ICL_LABELS,
  ICL_WORDS_PER_EPISODE,
  iclPrompt,
  iclTrainingExamples,
  labelTokens,
  makeIclEpisode,
} from '../src/eval/icl-task.ts';
import { greedyReproduces } from '../src/eval/needle-score.ts';
import { CITIES, makeNeedleExample, needleTrainingExamples } from '../src/eval/needle-task.ts';
import { probeForward, probeLoss } from '../src/eval/probe.ts';
import { quantizeInPlace, quantizeRowsInPlace, quantizeWeights } from '../src/eval/quantize.ts';
import { fitPowerLaw, sizeForLoss, tokensToReach } from '../src/eval/scaling.ts';
import { tokenise, tokenRange } from '../src/eval/tokenised.ts';
import { type ModelConfig, matchedConfig, parseConfig } from '../src/model/config.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { initParameters, parameterShapes } from '../src/model/parameters.ts';
import { trainTokenizer } from '../src/tokenizer/index.ts';
import { loadCorpus } from '../src/train/corpus.ts';
import { tempDir } from './cli-helpers.ts';
import { relativeError } from './helpers.ts';

const baseline: ModelConfig = parseConfig({
  variant: 'baseline',
  vocab_size: 61,
  d_model: 32,
  n_layers: 2,
  ffn_hidden: 48,
  n_heads: 4,
  n_kv_heads: 2,
  head_dim: 8,
});

/** A random model with larger-than-init weights, so attention is far from uniform. */
function randomModel(config: ModelConfig, backendName: string, seed = 3): LanguageModel {
  const backend = createBackend(backendName);
  const params = initParameters(config, backend, new Rng(seed));
  const rng = new Rng(seed + 100);
  for (const [name, p] of params) {
    if (p.length > 64) for (let i = 0; i < p.length; i++) p[i] *= 8;
    else if (name.endsWith('norm.weight') || name.endsWith('layernorm.weight'))
      for (let i = 0; i < p.length; i++) p[i] = 1 + 0.3 * rng.normal();
  }
  return new LanguageModel(config, params, backend);
}

const configs: Array<[string, ModelConfig]> = [
  ['baseline (GQA)', baseline],
  ['DIFF V1 (GQA)', matchedConfig(baseline, 'diff')],
  ['DIFF V2 (GQA)', matchedConfig(baseline, 'diffv2')],
  ['DIFF V1 w/o per-head norm', { ...matchedConfig(baseline, 'diff'), subln: false }],
  ['DIFF V1, λ_init 0.5', { ...matchedConfig(baseline, 'diff'), lambda_init: 0.5 }],
];

describe('probe', () => {
  const B = 2;
  const T = 13;
  const rng = new Rng(9);
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(61));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(61));
  for (const backendName of backendNames()) {
    for (const [name, config] of configs) {
      test(`${name}, ${backendName}: logits and loss equal the model's`, () => {
        const model = randomModel(config, backendName);
        const want = model.forward(tokens, B, T).logits;
        const got = probeForward(model, tokens, B, T, { collectLogits: true, collectHidden: true });
        const err = relativeError(got.logits, want);
        assert.ok(err < 2e-5, `probe logits differ from LanguageModel.forward: relative error ${err}`);
        const loss = model.loss(tokens, targets, B, T);
        assert.ok(Math.abs(probeLoss(model, tokens, targets, B, T) - loss) < 1e-5 * loss);
        assert.ok(Math.abs(probeLoss(model, tokens, targets, B, T, { logitBits: 32 }) - loss) < 1e-5 * loss);
        // Collected activations: one array per layer of the expected size.
        const qHeads = config.variant === 'baseline' ? config.n_heads : 2 * config.n_heads;
        assert.equal(got.attentionLogits!.length, config.n_layers);
        assert.equal(got.attentionLogits![0].length, B * qHeads * ((T * (T + 1)) / 2));
        assert.equal(got.hidden!.length, config.n_layers);
        assert.equal(got.hidden![0].length, B * T * config.d_model);
        // Quantised logits change the loss, a little at 16 bits and more at 2.
        const l16 = probeLoss(model, tokens, targets, B, T, { logitBits: 16 });
        const l2 = probeLoss(model, tokens, targets, B, T, { logitBits: 2 });
        assert.ok(Math.abs(l16 - loss) < 1e-3 * loss, `16-bit logits: ${l16} vs ${loss}`);
        assert.ok(
          Math.abs(l2 - loss) > Math.abs(l16 - loss),
          '2-bit logits change the loss more than 16-bit',
        );
      });
    }
  }

  test('the hidden state after the last layer gives the logits through the final norm and head', () => {
    const model = randomModel(matchedConfig(baseline, 'diff'), 'js');
    const r = probeForward(model, tokens, B, T, { collectHidden: true });
    const last = model.backend.fromArray(r.hidden![1]);
    const h = model.backend.rmsNormForward(last, model.params.get('model.norm.weight')!, B * T, 32, 1e-5).y;
    const logits = model.backend.linearForward(h, model.params.get('lm_head.weight')!, B * T, 32, 61);
    assert.ok(relativeError(logits, r.logits) < 1e-6);
  });
});

describe('quantiser', () => {
  test('absmax to 3 bits: 7 levels spanning ±max|x|', () => {
    const x = Float64Array.of(1, -0.5, 0.26, 0.1, -1);
    quantizeInPlace(x, 3);
    assert.deepEqual(Array.from(x), [1, -1 / 3, 1 / 3, 0, -1]);
  });

  test('error at most half a step, at most 2^b − 1 levels; 32 bits and all-zero tensors unchanged', () => {
    const rng = new Rng(5);
    for (const bits of [2, 4, 6, 8, 16]) {
      const x = Float64Array.from({ length: 1000 }, () => rng.normal() * 3);
      const q = x.slice();
      quantizeInPlace(q, bits);
      const max = Math.max(...x.map(Math.abs));
      const step = max / (2 ** (bits - 1) - 1);
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs(q[i] - x[i]) <= step / 2 + 1e-12);
      assert.ok(new Set(q).size <= 2 ** bits - 1);
    }
    const x = Float64Array.of(0.123, -4.5);
    quantizeInPlace(x, 32);
    assert.deepEqual(Array.from(x), [0.123, -4.5]);
    const z = new Float64Array(4);
    quantizeInPlace(z, 4);
    assert.deepEqual(Array.from(z), [0, 0, 0, 0]);
    assert.throws(() => quantizeInPlace(z, 1), /bits ≥ 2/);
  });

  test('per row: each row has its own scale', () => {
    const x = Float32Array.of(1, 0.5, 100, 50);
    quantizeRowsInPlace(x, 2, 2, 2);
    assert.deepEqual(Array.from(x), [1, 1, 100, 100]);
  });

  test('quantizeWeights copies, quantises matrices per row and keeps vectors', () => {
    const model = randomModel(matchedConfig(baseline, 'diff'), 'js');
    const q = quantizeWeights(model.config, model.params, model.backend, 4);
    for (const [name, shape] of parameterShapes(model.config)) {
      const before = model.params.get(name)!;
      const after = q.get(name)!;
      assert.notEqual(after, before, 'a copy');
      if (shape.length === 1) assert.deepEqual(Array.from(after), Array.from(before), `${name} unchanged`);
      else {
        const row = Array.from(after.subarray(0, shape[1]));
        assert.ok(new Set(row).size <= 15, `${name}: ≤ 15 levels per row`);
      }
    }
  });
});

describe('needle task', () => {
  const text = loadCorpus().text.slice(0, 80_000);
  const tokenizer = trainTokenizer(
    `${text}\n${CITIES.map((c) => ` The magic number of ${c} is 123.\nQ: The magic number of ${c} is`).join('')}`,
    { vocabSize: 400 },
  );
  const pool = countTokens(tokenizer, corpusSentences(text));

  test('examples hold N needles, ask R of them, put the answer needle at its depth and about the asked length', () => {
    const rng = new Rng(1);
    for (const depth of [0, 50, 100]) {
      const ex = makeNeedleExample(rng, pool, tokenizer, { n: 4, r: 2, depth, tokens: 150, digits: 3 });
      assert.equal(ex.needles.length, 4);
      assert.equal(ex.answers.length, 2);
      assert.equal(new Set(ex.needles.map((n) => n.city)).size, 4, 'distinct cities');
      for (const n of ex.needles) {
        assert.equal(ex.text.slice(n.start, n.end), ` The magic number of ${n.city} is ${n.number}.`);
        assert.match(n.number, /^[1-9]\d\d$/);
      }
      for (const a of ex.answers) {
        const needle = ex.needles[a.needle];
        assert.equal(ex.text.slice(a.start, a.end), ` ${needle.number}.`);
        assert.ok(ex.text.slice(0, a.start).endsWith(`Q: The magic number of ${needle.city} is`));
      }
      const answerNeedle = ex.needles[ex.answers[0].needle];
      if (depth === 0) assert.equal(answerNeedle.start, 0, 'depth 0%: before the first filler sentence');
      if (depth === 100)
        assert.equal(ex.text[answerNeedle.end], '\n', 'depth 100%: after the last filler sentence');
      const length = tokenizer.encode(ex.text).length;
      assert.ok(length >= 150 && length < 230, `length ${length} ≈ 150 tokens`);
    }
  });

  test('token ranges of character spans decode to the span', () => {
    const ex = makeNeedleExample(new Rng(2), pool, tokenizer, {
      n: 2,
      r: 2,
      depth: 25,
      tokens: 80,
      digits: 3,
    });
    const t = tokenise(tokenizer, ex.text);
    for (const a of ex.answers) {
      const [first, last] = tokenRange(t, a.start, a.end);
      assert.equal(
        tokenizer.decode(Array.from(t.ids.subarray(first, last + 1))),
        ex.text.slice(a.start, a.end),
      );
    }
  });

  test('training examples fit the sequence and score exactly the answers " NUMBER."', () => {
    const examples = needleTrainingExamples(new Rng(3), pool, tokenizer, {
      count: 12,
      lengths: [60, 100],
      maxNeedles: 4,
      digits: 3,
      seq: 160,
    });
    assert.equal(examples.length, 12);
    for (const ex of examples) {
      assert.ok(ex.inputs.length <= 160);
      const text = tokenizer.decode([...ex.inputs]); // all but the final newline
      const asked = text.split('\n').filter((l) => l.startsWith('Q: '));
      assert.ok(asked.length >= 1, 'every needle is asked');
      // the scored targets decode to the answers, in order
      const scored = [...ex.targets].filter((t) => t !== IGNORE_TARGET);
      const answers = asked.map((l) => l.slice(l.lastIndexOf(' is') + 3)).join('');
      assert.equal(tokenizer.decode(scored), answers);
    }
    assert.throws(
      () =>
        needleTrainingExamples(new Rng(3), pool, tokenizer, {
          count: 2,
          lengths: [60, 100],
          maxNeedles: 4,
          digits: 3,
          seq: 20,
        }),
      /rarely fit seq 20/,
    );
  });

  test('teacher-forced scoring agrees with greedy decoding', () => {
    const config = parseConfig({
      ...matchedConfig({ ...baseline, vocab_size: tokenizer.vocabSize }, 'diff'),
    });
    const model = randomModel(config, 'js', 11);
    const ex = makeNeedleExample(new Rng(3), pool, tokenizer, {
      n: 2,
      r: 1,
      depth: 50,
      tokens: 60,
      digits: 3,
    });
    const t = tokenise(tokenizer, ex.text);
    const [first, last] = tokenRange(t, ex.answers[0].start, ex.answers[0].end);
    const prefix = Array.from(t.ids.subarray(0, first));
    const greedy = model.greedy(prefix, last - first + 1);
    const ids = Int32Array.from([...prefix, ...greedy]);
    const V = config.vocab_size;
    const logits = model.forward(ids, 1, ids.length).logits;
    assert.ok(greedyReproduces(logits, 0, V, ids, first, last), 'the greedy continuation is reproduced');
    const wrong = ids.slice();
    wrong[last] = (wrong[last] + 1) % V;
    assert.ok(!greedyReproduces(logits, 0, V, wrong, first, last), 'any other last token is not');
    const right = greedyReproduces(model.forward(t.ids, 1, t.ids.length).logits, 0, V, t.ids, first, last);
    assert.equal(
      right,
      greedy.every((g, i) => g === t.ids[first + i]),
    );
  });
});

describe('in-context task', () => {
  test('episodes, prompts, training examples and constrained classification', () => {
    const rng = new Rng(4);
    const e = makeIclEpisode(rng, 12);
    assert.equal(e.demos.length, 12);
    assert.equal(new Set(e.labelOf).size, 4, 'four distinct labels from the pool');
    assert.ok(e.labelOf.every((l) => l >= 0 && l < ICL_LABELS.length));
    const inPlay = new Set([...e.demos, e.query].map((d) => d.word));
    assert.ok(
      inPlay.size <= 4 * ICL_WORDS_PER_EPISODE,
      `at most two words per category in play (${inPlay.size})`,
    );
    const prompt = iclPrompt(e, [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const lines = prompt.split('\n');
    assert.equal(lines.length, 13);
    assert.equal(lines[0], `${e.demos[11].word}=${ICL_LABELS[e.labelOf[e.demos[11].category]]}`);
    assert.equal(lines[12], `${e.query.word}=`);
    const tokenizer = trainTokenizer(`${prompt}${ICL_LABELS.join(' ')}`.repeat(20), { vocabSize: 300 });
    const ids = labelTokens(tokenizer);
    assert.equal(new Set(ids).size, ICL_LABELS.length);
    const logits = new Float32Array(300);
    logits[ids[2]] = 5;
    logits[7] = 9; // not a candidate: ignored
    assert.equal(classify(logits, 0, [ids[0], ids[1], ids[2], ids[3]]), 2);
    // Training examples score exactly the labels: every scored target is a label token.
    const examples = iclTrainingExamples(rng, tokenizer, { count: 20, maxShots: 6, seq: 128 });
    for (const ex of examples) {
      const scored = [...ex.targets].filter((t) => t !== IGNORE_TARGET);
      assert.ok(
        scored.length >= 2 && scored.every((t) => ids.includes(t)),
        'labels, and only labels, are scored',
      );
      assert.equal(scored.length, tokenizer.decode([...ex.inputs]).split('\n').length);
    }
  });
});

describe('power law', () => {
  test('recovers a and b, inverts, and reads tokens off a curve', () => {
    const points = [1e3, 1e4, 1e5].map((x) => ({ x, y: 5 * x ** -0.1 }));
    const law = fitPowerLaw(points);
    assert.ok(Math.abs(law.a - 5) < 1e-9 && Math.abs(law.b - 0.1) < 1e-12 && Math.abs(law.r2 - 1) < 1e-12);
    assert.ok(Math.abs(sizeForLoss(law, 5 * 2e4 ** -0.1) - 2e4) < 1e-6);
    const curve = [
      { tokens: 100, loss: 5 },
      { tokens: 200, loss: 4 },
      { tokens: 300, loss: 3 },
    ];
    assert.equal(tokensToReach(curve, 3.5), 250);
    assert.ok(Number.isNaN(tokensToReach(curve, 2)));
    assert.throws(() => fitPowerLaw([{ x: 1, y: 1 }]), /two distinct sizes/);
  });
});

describe('commands', () => {
  const program = () => {
    const p = new Command('diff-transformer').exitOverride().configureOutput({ writeErr: () => {} });
    registerEvalCommands(p);
    return p;
  };

  test('an unknown experiment name is one line listing the valid names', async () => {
    await assert.rejects(
      program().parseAsync(['node', 'dt', 'eval', 'nope', '--quick', '--out', tempDir()]),
      (e: Error) => {
        assert.equal(e.message, `unknown experiment "nope" (valid names: ${EXPERIMENTS.join(', ')})`);
        return true;
      },
    );
  });

  const quiet = async (args: string[]) => {
    const write = process.stdout.write;
    const werr = process.stderr.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await program().parseAsync(['node', 'dt', ...args]);
    } finally {
      process.stdout.write = write;
      process.stderr.write = werr;
    }
  };

  test('report --no-train on an empty cache: every section pending, no verdict', async () => {
    const out = join(tempDir(), 'empty');
    await quiet(['report', '--quick', '--no-train', '--out', out]);
    const report = readFileSync(join(out, 'REPORT.md'), 'utf8');
    for (const name of EXPERIMENTS) {
      const claims = JSON.parse(readFileSync(join(out, name, 'claims.json'), 'utf8'));
      for (const c of claims) assert.equal(c.verdict, 'pending', `${name}: ${c.claim}`);
    }
    assert.match(report, /pending: 0 of \d+ runs cached/);
    assert.equal(readdirSync(join(out, 'results')).length, 0);
  });

  test('report --quick caches every run with its settings, builds the sections, and a rerun reproduces them', async () => {
    const out = join(tempDir(), 'quick');
    await quiet(['report', '--quick', '--out', out]);
    const report = readFileSync(join(out, 'REPORT.md'), 'utf8');
    for (const heading of ['## Setup', '## Claims', '## 1. Learning-rate sweep', '## 2. Headline comparison'])
      assert.ok(report.includes(heading), heading);
    for (const name of EXPERIMENTS) {
      for (const f of ['claims.json', `${name}.md`])
        assert.ok(existsSync(join(out, name, f)), `${name}/${f}`);
    }
    for (const plot of [
      'lr/loss-vs-lr',
      'headline/val-loss',
      'retrieval/accuracy-vs-needles',
      'attention/figure1-diff',
      'attention/figure1-baseline',
      'attention/figure1-diffv2',
      'quantisation/drop-logits',
      'quantisation/drop-weights',
      'scaling/loss-vs-params',
      'icl/accuracy-vs-shots',
      'lambda/final-lambda',
    ])
      for (const ext of ['svg', 'png']) assert.ok(existsSync(join(out, `${plot}.${ext}`)), `${plot}.${ext}`);
    const records = readdirSync(join(out, 'results')).map((f) =>
      JSON.parse(readFileSync(join(out, 'results', f), 'utf8')),
    );
    assert.ok(records.length >= 20, `${records.length} cached runs`);
    for (const r of records) {
      assert.ok(Number.isFinite(r.finalValLoss) && r.finalValLoss > 0, `${r.id} val loss`);
      assert.ok(
        r.commit && r.backend && r.wallSeconds >= 0 && r.config && r.spec.seed >= 1 && r.curve.length > 0,
      );
    }
    const lm = records.filter((r) => r.spec.task === 'lm');
    assert.ok(
      lm.every((r) => r.valTokens >= 1024),
      'final validation on the held-out tokens',
    );
    const needle = records.filter((r) => r.spec.task === 'needle');
    assert.equal(needle.length, 3);
    for (const r of needle)
      for (const p of ['needle-scores', 'needle-attention', 'needle-figure1', 'needle-quant'])
        assert.ok(p in r.probes, p);
    const icl = records.filter((r) => r.spec.task === 'icl');
    assert.equal(icl.length, 3);
    for (const r of icl) assert.ok('icl-accuracy' in r.probes);
    // one seed: nothing can be decided (λ's universal claim is decided by any run; causes is one summary)
    for (const name of EXPERIMENTS.filter((n) => n !== 'lambda')) {
      const claims = JSON.parse(readFileSync(join(out, name, 'claims.json'), 'utf8'));
      for (const c of claims) assert.equal(c.verdict, 'inconclusive', `${name}: ${c.claim}`);
    }
    const lambda = JSON.parse(readFileSync(join(out, 'lambda', 'claims.json'), 'utf8'));
    assert.ok(['matches', 'does not match'].includes(lambda[0].verdict), lambda[0].verdict);
    // a rebuild from the cache alone gives the same section; a fresh folder retrains to the same numbers
    const again = join(tempDir(), 'again');
    await quiet(['eval', 'headline', '--quick', '--out', again]);
    assert.deepEqual(
      JSON.parse(readFileSync(join(again, 'headline', 'results.json'), 'utf8')),
      JSON.parse(readFileSync(join(out, 'headline', 'results.json'), 'utf8')),
    );
  });
});
