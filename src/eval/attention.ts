/**
 * Experiment 3, attention allocation on the needle task (paper §3.4, Table 3, Fig. 1): where the
 * attention of the query position goes. The query position is the last token before the first asked
 * answer (the "is" of "Q: The magic number of CITY is"). Per layer and head, its attention row is
 *   baseline: softmax(QKᵀ/√d);
 *   DIFF V1:  (A1 − λ·A2) / (1 − λ), the differential map scaled so that the row sums to 1 as a
 *             softmax row does (the per-head norm that follows removes the overall scale);
 *   DIFF V2:  (A1 − λₜ·A2) / (1 − λₜ) with the query token's own λ of that head.
 * The answer share is the row's sum over the answer needle's sentence, the noise share its sum over
 * the filler (every position outside the needle sentences and the question lines); both are averaged
 * over heads, layers and examples. Entries of a differential row can be negative.
 */
import { join } from 'node:path';
import type { Floats } from '../core/backend.ts';
import type { LayerMaps } from '../model/attention.ts';
import type { Variant } from '../model/config.ts';
import type { LanguageModel } from '../model/lm.ts';
import { writeChart } from '../report/plot.ts';
import {
  allRuns,
  type Claim,
  compareSamples,
  type EvalContext,
  type ExperimentResult,
  fmt,
  LABELS,
  mean,
  pm,
  table,
  VARIANT_ORDER,
  writeHeatmap,
  writeJson,
  writeRuns,
} from './common.ts';
import { type NeedleItem, needleEvalSet, needleModels } from './retrieval.ts';

/** The normalised attention row of head h at query position t (length t+1), per the definitions above. */
export function attentionRow(
  variant: Variant,
  maps: LayerMaps,
  heads: number,
  seq: number,
  h: number,
  t: number,
): Float64Array {
  const row = new Float64Array(t + 1);
  const at = (m: Floats, u: number) => m[(h * seq + t) * seq + u];
  if (variant === 'baseline') {
    for (let u = 0; u <= t; u++) row[u] = at(maps.p!, u);
  } else {
    const lambda = variant === 'diff' ? maps.lambda![0] : maps.lambda![t * heads + h];
    for (let u = 0; u <= t; u++) row[u] = (at(maps.a1!, u) - lambda * at(maps.a2!, u)) / (1 - lambda);
  }
  return row;
}

export interface Allocation {
  answer: number;
  otherNeedles: number;
  noise: number;
  /** Mean row over heads and layers (for plots). */
  row: Float64Array;
}

/** Attention allocation of one example (batch of one), averaged over heads and layers. */
export function allocation(model: LanguageModel, item: NeedleItem): Allocation {
  const ids = item.tokens.ids;
  const T = ids.length;
  const { maps } = model.forward(ids, 1, T, { maps: true });
  const t = item.answers[0][0] - 1;
  const kind = new Uint8Array(t + 1); // 0 noise, 1 answer needle, 2 other needle, 3 question
  item.needles.forEach(([a, b], i) => {
    for (let u = a; u <= Math.min(b, t); u++) kind[u] = i === item.example.answers[0].needle ? 1 : 2;
  });
  for (let u = item.question[0]; u <= t; u++) kind[u] = 3;
  const heads = model.config.n_heads;
  const sums = [0, 0, 0, 0];
  const meanRow = new Float64Array(t + 1);
  let count = 0;
  for (const m of maps!) {
    for (let h = 0; h < heads; h++) {
      const row = attentionRow(model.config.variant, m, heads, T, h, t);
      for (let u = 0; u <= t; u++) {
        sums[kind[u]] += row[u];
        meanRow[u] += row[u];
      }
      count++;
    }
  }
  for (let u = 0; u <= t; u++) meanRow[u] /= count;
  return { answer: sums[1] / count, otherNeedles: sums[2] / count, noise: sums[0] / count, row: meanRow };
}

export async function runAttention(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('attention');
  ctx.log(' attention: needle-task models');
  const models = await needleModels(ctx);
  writeRuns(dir, allRuns(models.values()));
  const items = needleEvalSet(ctx);
  const depths = ctx.plan.needle.depths;
  // share[v][seed][depth] = {answer, noise}
  const shares = new Map<
    Variant,
    Array<Map<number, { answer: number[]; noise: number[]; other: number[] }>>
  >();
  const loaded = new Map<Variant, LanguageModel>();
  for (const v of VARIANT_ORDER) {
    const perSeed = models.get(v)!.map((run, s) => {
      const model = ctx.load(run);
      if (s === 0) loaded.set(v, model);
      const byDepth = new Map(
        depths.map((d) => [d, { answer: [] as number[], noise: [] as number[], other: [] as number[] }]),
      );
      for (const it of items) {
        const a = allocation(model, it);
        const cell = byDepth.get(it.example.spec.depth)!;
        cell.answer.push(a.answer);
        cell.noise.push(a.noise);
        cell.other.push(a.otherNeedles);
      }
      return byDepth;
    });
    shares.set(v, perSeed);
  }
  const seedMeans = (v: Variant, key: 'answer' | 'noise' | 'other', depth?: number) =>
    shares
      .get(v)!
      .map((byDepth) =>
        mean(
          [...byDepth.entries()]
            .filter(([d]) => depth === undefined || d === depth)
            .flatMap(([, c]) => c[key]),
        ),
      );
  const rows = [...depths.map((d) => d as number | undefined), undefined].map((d) => [
    d === undefined ? 'all' : `${d}%`,
    ...VARIANT_ORDER.flatMap((v) => [pm(seedMeans(v, 'answer', d), 3), pm(seedMeans(v, 'noise', d), 3)]),
  ]);
  const shareTable = table(
    ['answer depth', ...VARIANT_ORDER.flatMap((v) => [`${LABELS[v]} answer`, `${LABELS[v]} noise`])],
    rows,
  );

  // One example for the heatmaps and the row plot: the shortest context, answer at 50% (or the first).
  const shortest = Math.min(...ctx.plan.needle.lengths);
  const example =
    items.find((it) => it.example.spec.tokens === shortest && it.example.spec.depth === 50) ?? items[0];
  const T = example.tokens.ids.length;
  const rowSeries = [];
  for (const v of VARIANT_ORDER) {
    const model = loaded.get(v)!;
    const { maps } = model.forward(example.tokens.ids, 1, T, { maps: true });
    const last = maps![maps!.length - 1];
    const H = model.config.n_heads;
    const head = (m: Floats) => m.subarray(0, T * T); // head 0
    if (v === 'baseline') {
      writeHeatmap(join(dir, 'map-baseline'), head(last.p!), T, T, {
        title: 'Baseline: softmax map (last layer, head 0)',
        signed: false,
        clip: 0.99,
      });
    } else {
      const diff = new Float64Array(T * T);
      for (let t = 0; t < T; t++)
        for (let u = 0; u <= t; u++) {
          const lambda = v === 'diff' ? last.lambda![0] : last.lambda![t * H];
          diff[t * T + u] = last.a1![t * T + u] - lambda * last.a2![t * T + u];
        }
      writeHeatmap(join(dir, `map-${v}-a1`), head(last.a1!), T, T, {
        title: `${LABELS[v]}: A1 (last layer, head 0)`,
        signed: false,
        clip: 0.99,
      });
      writeHeatmap(join(dir, `map-${v}-a2`), head(last.a2!), T, T, {
        title: `${LABELS[v]}: A2 (last layer, head 0)`,
        signed: false,
        clip: 0.99,
      });
      writeHeatmap(join(dir, `map-${v}-diff`), diff, T, T, {
        title: `${LABELS[v]}: A1 − λ·A2 (last layer, head 0)`,
        signed: true,
        clip: 0.99,
      });
    }
    const a = allocation(model, example);
    rowSeries.push({ name: LABELS[v], points: Array.from(a.row, (y, x) => ({ x, y })) });
  }
  const [n0, n1] = example.needles[example.example.answers[0].needle];
  await writeChart(join(dir, 'query-row'), rowSeries, {
    title: `Attention of the query token over the context (answer needle = tokens ${n0}–${n1})`,
    xLabel: 'key position',
    yLabel: 'normalised attention (mean over heads, layers)',
  });

  const ans = (v: Variant) => seedMeans(v, 'answer');
  const noise = (v: Variant) => seedMeans(v, 'noise');
  const cA = compareSamples(ans('diff'), ans('baseline'), false);
  const cN = compareSamples(noise('diff'), noise('baseline'), true);
  const claims: Claim[] = [
    {
      claim: 'DIFF puts more attention on the answer and less on noise',
      paper: 'answer span 0.27–0.40 vs 0.03–0.09; noise context 0.01–0.02 vs 0.49–0.54',
      ours: `answer share DIFF V1 ${fmt(mean(ans('diff')), 3)} vs baseline ${fmt(mean(ans('baseline')), 3)} (V2 ${fmt(mean(ans('diffv2')), 3)}); noise share ${fmt(mean(noise('diff')), 3)} vs ${fmt(mean(noise('baseline')), 3)} (V2 ${fmt(mean(noise('diffv2')), 3)})`,
      verdict:
        ctx.seeds.length < 2
          ? 'inconclusive'
          : cA.better && cN.better
            ? 'matches'
            : cA.better || cN.better
              ? 'partly matches'
              : cA.worse && cN.worse
                ? 'does not match'
                : 'inconclusive',
    },
  ];
  const summary = Object.fromEntries(
    VARIANT_ORDER.map((v) => [
      v,
      {
        answer: ans(v),
        noise: noise(v),
        otherNeedles: seedMeans(v, 'other'),
        byDepth: Object.fromEntries(
          depths.map((d) => [d, { answer: seedMeans(v, 'answer', d), noise: seedMeans(v, 'noise', d) }]),
        ),
      },
    ]),
  );
  writeJson(join(dir, 'results.json'), summary);
  const markdown = [
    `On the ${items.length} retrieval evaluation examples, with the needle-task models: attention of the last question token (the "is" before the first asked number) to the answer needle's sentence and to the filler ("noise"), averaged over heads, layers and examples; mean ± std over ${ctx.seeds.length} seed(s).`,
    "Rows are normalised to sum to 1: the baseline's softmax row as is, DIFF V1's A1 − λ·A2 divided by (1 − λ), DIFF V2's A1 − λₜ·A2 divided by (1 − λₜ) (query token's λ). The rest of the mass goes to the other needles and the question line.",
    '',
    shareTable,
    '',
    '![query row](attention/query-row.png)',
    '',
    `Maps of one example (${T} tokens, answer at depth ${example.example.spec.depth}%), last layer, head 0, seed ${ctx.seeds[0]}:`,
    '',
    '| Baseline | DIFF V1 A1 | DIFF V1 A2 | DIFF V1 A1 − λA2 |',
    '|---|---|---|---|',
    '| ![](attention/map-baseline.png) | ![](attention/map-diff-a1.png) | ![](attention/map-diff-a2.png) | ![](attention/map-diff-diff.png) |',
    '',
    '| DIFF V2 A1 | DIFF V2 A2 | DIFF V2 A1 − λA2 |',
    '|---|---|---|',
    '| ![](attention/map-diffv2-a1.png) | ![](attention/map-diffv2-a2.png) | ![](attention/map-diffv2-diff.png) |',
  ].join('\n');
  return { name: 'attention', title: 'Attention allocation (needle task)', markdown, claims, data: summary };
}
