/** The browser app's pure modules: colour scales, heatmap SVG, charts, metrics parsing, model loading. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import { Rng } from '../src/core/rng.ts';
import { writeSafetensors } from '../src/io/safetensors.ts';
import { configToJSON, parseConfig } from '../src/model/config.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { initParameters, parameterShapes } from '../src/model/parameters.ts';
import {
  divergingScale,
  extent,
  formatValue,
  interpolate,
  sequentialScale,
  textColorOn,
  toHex,
} from '../src/report/color-scale.ts';
import { escapeAttribute, escapeXml, labelStride } from '../src/report/heatmap-grid.ts';
import { trainTokenizer } from '../src/tokenizer/index.ts';
import {
  buildModel,
  MAX_BROWSER_PARAMETERS,
  missingFiles,
  notAModelMessage,
  parseModelConfig,
} from '../web/src/model/load.ts';
import {
  downsample,
  lambdaBarsSvg,
  linearScale,
  lineChartSvg,
  linePath,
  niceTicks,
  parseMetrics,
  trainingCurves,
} from '../web/src/render/chart.ts';
import {
  cellSize,
  headSlice,
  headsOf,
  heatmapSvg,
  legendSvg,
  rowEntries,
  tokenLabel,
} from '../web/src/render/heatmap.ts';

test('colour scales: sequential from white, diverging white at 0, clamped, symmetric', () => {
  const seq = sequentialScale(0.5);
  assert.equal(toHex(seq.color(0)), '#ffffff');
  assert.equal(toHex(seq.color(0.5)), '#67001f');
  assert.deepEqual(seq.color(2), seq.color(0.5)); // clamped
  assert.deepEqual(seq.color(-1), seq.color(0));
  const div = divergingScale(2);
  assert.equal(div.min, -2);
  assert.equal(toHex(div.color(0)), '#f7f7f7');
  assert.equal(toHex(div.color(2)), '#67001f');
  assert.equal(toHex(div.color(-2)), '#053061');
  // Symmetry: equal distances from 0 land on mirrored stops.
  const pos = div.color(1);
  const neg = div.color(-1);
  assert.ok(pos[0] > pos[2] && neg[2] > neg[0], 'positive is red, negative is blue');
  // The positive half of the diverging scale is the sequential scale.
  assert.deepEqual(divergingScale(1).color(1), sequentialScale(1).color(1));
  // Degenerate domains fall back to 1 instead of dividing by zero.
  assert.equal(sequentialScale(0).max, 1);
  assert.equal(divergingScale(Number.NaN).max, 1);
  assert.deepEqual(
    interpolate(
      [
        [0, 0, 0],
        [255, 255, 255],
      ],
      Number.NaN,
    ),
    [0, 0, 0],
  );
  assert.deepEqual(
    interpolate(
      [
        [0, 0, 0],
        [200, 100, 0],
      ],
      0.5,
    ),
    [100, 50, 0],
  );
});

test('colour helpers: extent, readable text colour, value labels', () => {
  assert.equal(extent([Float32Array.of(0.1, 0.7), [0.2]]), Math.fround(0.7));
  assert.equal(extent([[-3, 1]], true), 3);
  assert.equal(extent([]), 0);
  assert.equal(textColorOn([255, 255, 255]), '#111111');
  assert.equal(textColorOn([103, 0, 31]), '#ffffff');
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(0.12345), '0.123');
  assert.equal(formatValue(-0.5), '-0.5');
  assert.equal(formatValue(0.00002), '2.0e-5');
});

test('heatmap: head slices of [B, H, T, S] maps', () => {
  const map = Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => i); // H = 2, T = S = 3
  assert.equal(headsOf(map.length, 3, 3), 2);
  assert.deepEqual(Array.from(headSlice(map, 2, 3, 3, 1)), [9, 10, 11, 12, 13, 14, 15, 16, 17]);
  assert.throws(() => headSlice(map, 2, 3, 3, 2), /out of range/);
  assert.throws(() => headSlice(map, 4, 3, 3, 0), /not \[B, 4, 3, 3\]/);
});

test('heatmap: token labels make whitespace visible and stay short', () => {
  assert.equal(tokenLabel(' the'), '␣the');
  assert.equal(tokenLabel('\n'), '↵');
  assert.equal(tokenLabel('\t\u0001'), '⇥�');
  assert.equal(tokenLabel(''), '∅');
  assert.equal(tokenLabel('abcdefghijkl', 5), 'abcd…');
  assert.equal(escapeXml(`<a & "b" 'c'>`), `&lt;a &amp; "b" 'c'&gt;`);
  assert.equal(escapeAttribute(`<a & "b" 'c'>`), `&lt;a &amp; &quot;b&quot; 'c'&gt;`);
  assert.equal(labelStride(12), 1);
  assert.equal(labelStride(4), 3);
  assert.equal(cellSize(10, 500), 28);
  assert.equal(cellSize(100, 500), 5);
  assert.equal(cellSize(1000, 500), 4);
});

test('heatmap SVG: one cell per causal pair, exact values, colours, labels, escaping', () => {
  const T = 4;
  const values = Float32Array.from({ length: T * T }, (_, i) => (i % 5) / 10 - 0.1);
  const scale = divergingScale(0.3);
  const labels = ['<s>', ' a', 'b', '&'];
  const svg = heatmapSvg({
    name: 'diff',
    values,
    rows: T,
    cols: T,
    scale,
    rowLabels: labels,
    colLabels: labels,
    cell: 10,
  });
  const cells = [
    ...svg.matchAll(
      /<rect x="[\d.]+" y="[\d.]+" width="10" height="10" fill="(#[0-9a-f]{6})" data-r="(\d+)" data-c="(\d+)" data-v="([^"]+)"/g,
    ),
  ];
  assert.equal(cells.length, (T * (T + 1)) / 2);
  for (const [, fill, r, c, v] of cells) {
    assert.ok(Number(c) <= Number(r), 'no cell above the diagonal');
    assert.equal(Number(v), values[Number(r) * T + Number(c)], 'the exact float32 value');
    assert.equal(fill, toHex(scale.color(Number(v))));
  }
  assert.match(svg, /data-map="diff"/);
  assert.match(svg, /class="hm-mask"/);
  assert.match(svg, />&lt;s&gt;</);
  assert.ok(!svg.includes('<s>'), 'labels are escaped');
  // Non-causal (V2's λ strip): every cell, no mask; cached keys (S > T) widen the causal band.
  const strip = heatmapSvg({
    name: 'lambda',
    values: [0.1, 0.2],
    rows: 2,
    cols: 1,
    causal: false,
    scale: sequentialScale(1),
    rowLabels: [],
    cell: 8,
  });
  assert.equal([...strip.matchAll(/data-v=/g)].length, 2);
  assert.ok(!strip.includes('hm-mask'));
  const cached = heatmapSvg({
    name: 'p',
    values: new Float32Array(2 * 3),
    rows: 2,
    cols: 3,
    scale: sequentialScale(1),
    rowLabels: ['a', 'b'],
    cell: 8,
  });
  assert.equal([...cached.matchAll(/data-v=/g)].length, 2 + 3);
  assert.throws(
    () => heatmapSvg({ name: 'x', values: [1], rows: 2, cols: 2, scale, rowLabels: [], cell: 5 }),
    /1 values for 2 × 2/,
  );
  // Large cells print their values.
  const big = heatmapSvg({
    name: 'p',
    values: [1],
    rows: 1,
    cols: 1,
    scale: sequentialScale(1),
    rowLabels: ['x'],
    cell: 32,
  });
  assert.match(big, /class="hm-value"[^>]*>1</);
});

test('legend: gradient with min, 0 and max ticks', () => {
  const svg = legendSvg(divergingScale(0.25), 'A1 − λ·A2');
  assert.match(svg, /<linearGradient/);
  assert.equal([...svg.matchAll(/<stop /g)].length, 11);
  for (const tick of ['-0.25', '>0<', '0.25']) assert.ok(svg.includes(tick), tick);
  assert.ok(svg.includes('#053061') && svg.includes('#67001f'));
  assert.ok(!legendSvg(sequentialScale(1), 'p').includes('>0.5<'));
});

test('row entries: where one query attends, sorted, causal', () => {
  const a = [1, 0, 0, 0.2, 0.8, 0, 0.1, 0.6, 0.3]; // 3 × 3
  const b = [9, 9, 9, 1, 2, 9, 3, 4, 5];
  assert.deepEqual(rowEntries([a, b], 2, 3, 3), [
    { col: 1, values: [0.6, 4] },
    { col: 2, values: [0.3, 5] },
    { col: 0, values: [0.1, 3] },
  ]);
  assert.deepEqual(rowEntries([a, b], 1, 3, 3, 1, 1), [{ col: 1, values: [0.8, 2] }]);
  assert.deepEqual(rowEntries([a], 0, 3, 3), [{ col: 0, values: [1] }]);
});

test('charts: nice ticks, scales, paths with gaps, down-sampling', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(3.7, 6.2, 5), [4, 4.5, 5, 5.5, 6]);
  assert.deepEqual(niceTicks(0, 300, 5), [0, 100, 200, 300]);
  assert.deepEqual(niceTicks(2, 2), [2]);
  assert.deepEqual(niceTicks(Number.NaN, 1), []);
  const s = linearScale(0, 10, 100, 200);
  assert.equal(s(5), 150);
  assert.equal(linearScale(1, 1, 0, 10)(7), 5);
  const id = (v: number) => v;
  assert.equal(
    linePath(
      [
        [0, 1],
        [1, 2],
        [2, Number.NaN],
        [3, 4],
      ],
      id,
      id,
    ),
    'M0,1L1,2M3,4',
  );
  assert.equal(linePath([], id, id), '');
  const pts = Array.from({ length: 1001 }, (_, i) => [i, i] as const);
  const few = downsample(pts, 11);
  assert.equal(few.length, 11);
  assert.deepEqual(few[0], [0, 0]);
  assert.deepEqual(few[10], [1000, 1000]);
  assert.equal(downsample(pts.slice(0, 5), 11).length, 5);
});

test('charts: line chart SVG with series, legend, and an empty state', () => {
  const svg = lineChartSvg({
    title: 'Loss',
    series: [
      {
        label: 'train',
        color: '#123456',
        points: [
          [1, 6],
          [2, 5],
          [3, 4.5],
        ],
      },
      { label: 'validation', color: '#654321', points: [[3, 4.7]], dots: true },
    ],
    xLabel: 'step',
  });
  assert.equal([...svg.matchAll(/<path class="series"/g)].length, 2);
  assert.match(svg, /stroke="#123456"/);
  assert.match(svg, /<circle /);
  assert.match(svg, />validation</);
  assert.match(svg, />step</);
  assert.match(lineChartSvg({ title: 'λ', series: [] }), /no data/);
  const bars = lambdaBarsSvg([0.6, -0.1], 0, [0.2, 0.36]);
  assert.match(bars, /class="lambda-row current" data-layer="0" data-lambda="0.6"/);
  assert.match(bars, />-0\.1000</);
  assert.equal([...bars.matchAll(/class="lambda-init"/g)].length, 2);
});

test('metrics.jsonl: torn lines skipped, curves per layer', () => {
  const text = [
    '{"step":1,"train_loss":6,"lr":0.1,"lambda":[0.2,0.3]}',
    '',
    '{"step":2,"train_loss":5,"val_loss":5.5,"lambda":[0.25,0.35]}',
    '{"step":3,"train_lo',
  ].join('\n');
  const records = parseMetrics(text);
  assert.equal(records.length, 2);
  const curves = trainingCurves(records);
  assert.deepEqual(curves.train, [
    [1, 6],
    [2, 5],
  ]);
  assert.deepEqual(curves.val, [[2, 5.5]]);
  assert.deepEqual(curves.lambda, [
    [
      [1, 0.2],
      [2, 0.25],
    ],
    [
      [1, 0.3],
      [2, 0.35],
    ],
  ]);
  assert.deepEqual(trainingCurves(parseMetrics('{"step":1,"train_loss":3}')).lambda, []);
});

test('model loading in the browser: clear messages for what is not a usable model', () => {
  assert.deepEqual(missingFiles(['config.json', 'notes.txt']), ['model.safetensors', 'tokenizer.json']);
  assert.match(
    notAModelMessage('photos', ['a.jpg', 'b.jpg']),
    /photos is not a model folder: expected config\.json.*found a\.jpg, b\.jpg/,
  );
  assert.match(
    notAModelMessage('run', ['config.json', 'model.safetensors']),
    /not a complete model folder: tokenizer\.json is missing/,
  );
  assert.throws(() => parseModelConfig('{oops'), /config\.json is not valid JSON/);
  assert.throws(
    () => parseModelConfig('{"variant":"gpt"}'),
    /not a model of this project: .*variant must be one of/,
  );
  const huge = {
    variant: 'baseline',
    vocab_size: 50000,
    d_model: 2048,
    n_layers: 24,
    ffn_hidden: 5504,
    n_heads: 16,
    n_kv_heads: 16,
    head_dim: 128,
  };
  assert.throws(() => parseModelConfig(JSON.stringify(huge)), /too large for the browser \(limit 200M\)/);
  assert.equal(MAX_BROWSER_PARAMETERS, 200_000_000);
});

test('model loading in the browser: builds the same model as the library; bad tokenizer and weights refused', () => {
  const tokenizer = trainTokenizer('the cat sat on the mat. the cat ate the rat.', { vocabSize: 270 });
  const config = parseConfig({
    variant: 'diff',
    vocab_size: tokenizer.vocabSize,
    d_model: 16,
    n_layers: 1,
    ffn_hidden: 24,
    n_heads: 2,
    n_kv_heads: 2,
    head_dim: 4,
  });
  const params = initParameters(config, createJsBackend(), new Rng(3));
  const tensors = new Map(
    [...parameterShapes(config)].map(([name, shape]) => [
      name,
      { shape, data: params.get(name) as Float32Array },
    ]),
  );
  const weights = writeSafetensors(tensors);
  const configText = JSON.stringify(configToJSON(config));
  const tokText = JSON.stringify(tokenizer.toJSON());
  const loaded = buildModel(configText, weights, tokText);
  assert.equal(loaded.config.variant, 'diff');
  const ids = Int32Array.from(tokenizer.encode('the cat'));
  assert.deepEqual(
    loaded.model.forward(ids, 1, ids.length).logits,
    new LanguageModel(config, params, createJsBackend()).forward(ids, 1, ids.length).logits,
  );
  assert.throws(
    () => buildModel(configText, weights, '{"model":{}}'),
    /the tokenizer failed to load: tokenizer\.json/,
  );
  const other = trainTokenizer('abc abd abe', { vocabSize: 259 });
  assert.throws(
    () => buildModel(configText, weights, JSON.stringify(other.toJSON())),
    new RegExp(`tokenizer does not fit the model: .* 259 tokens.* vocab_size ${tokenizer.vocabSize}`),
  );
  tensors.delete('lm_head.weight');
  assert.throws(
    () => buildModel(configText, writeSafetensors(tensors), tokText),
    /does not match its diff config: missing lm_head\.weight/,
  );
  assert.throws(() => buildModel(configText, Uint8Array.of(1, 2), tokText), /invalid safetensors/);
  const poisoned = new Map(
    [...parameterShapes(config)].map(([name, shape]) => [
      name,
      { shape, data: Float32Array.from(params.get(name) as Float32Array) },
    ]),
  );
  poisoned.get('model.norm.weight')!.data[0] = Number.POSITIVE_INFINITY;
  assert.throws(
    () => buildModel(configText, writeSafetensors(poisoned), tokText),
    /model\.safetensors: model\.norm\.weight holds 1 NaN or infinite value .*unusable/,
  );
});
