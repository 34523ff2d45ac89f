/**
 * Attention allocation on the needle task (paper §3.4, Table 3) and the paper's Figure 1, from the
 * needle-attention and needle-figure1 probes of the needle-task models. Per layer, the shares of the
 * answer query's attention on the answer needle, the other needles and the filler ("noise"), for
 * the positive part (softmax map; DIFF: A1) and the negative part (DIFF: λ·A2) separately, and their
 * net (positive − negative), nothing divided by 1 − λ. Verdicts from the last layer's net shares,
 * DIFF V1 − baseline (Welch 95%): more on the answer (paper: > 0), less on noise (paper: < 0).
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { variantModule } from '../model/variants/index.ts';
import type { AttentionProbe, FigureRows, LayerShares, SpanShares } from './attention-probe.ts';
import type { EvalContext } from './context.ts';
import type { Claim, ExperimentResult } from './experiment.ts';
import { ci, diffCi, table } from './format.ts';
import { writeHeatmap } from './heatmap.ts';
import { needleRuns } from './needle-runs.ts';
import { writeJson, writeRuns } from './results-files.ts';
import type { RunRecord } from './run-record.ts';
import { sectionRuns } from './section-runs.ts';
import { welch } from './stats.ts';
import { LABELS, VARIANT_ORDER } from './variant-labels.ts';
import { directionalClaim } from './verdicts.ts';

const CLAIMS = [
  {
    claim: 'DIFF puts more attention on the answer (net share, last layer)',
    paper: 'answer 0.27–0.40 vs 0.03–0.09',
  },
  {
    claim: 'DIFF puts less attention on noise (net share, last layer)',
    paper: 'noise 0.01–0.02 vs 0.49–0.54',
  },
];

export type Part = 'positive' | 'negative' | 'net';
const SPANS: Array<keyof SpanShares> = ['answer', 'otherNeedles', 'noise'];

export function share(l: LayerShares, part: Part, span: keyof SpanShares): number {
  return part === 'net' ? l.positive[span] - l.negative[span] : l[part][span];
}

/** Per run, the share of `span` in `part` at `layer` (negative index: from the last). */
export function shares(
  runs: readonly RunRecord[],
  layer: number,
  part: Part,
  span: keyof SpanShares,
): number[] {
  return runs.map((r) => {
    const layers = (r.probes['needle-attention'] as AttentionProbe).layers;
    return share(layers[layer < 0 ? layers.length + layer : layer], part, span);
  });
}

export function attentionClaims(diff: readonly RunRecord[], base: readonly RunRecord[]): Claim[] {
  return (['answer', 'noise'] as const).map((span, i) => {
    const a = shares(diff, -1, 'net', span);
    const b = shares(base, -1, 'net', span);
    const w = welch(a, b);
    return directionalClaim(
      CLAIMS[i],
      `last layer, net ${span} share: DIFF V1 ${ci(a, 3)} vs baseline ${ci(b, 3)}; difference ${diffCi(a, b, 3)}`,
      w,
      span === 'answer' ? 1 : -1,
    );
  });
}

/** Figure 1 as a heatmap: a span row (answer red, other needles blue), then per layer positive, negative, net. */
function writeFigure(dir: string, v: Variant, f: FigureRows): string {
  const cols = f.kinds.length;
  const layers = f.positive.length;
  const max = Math.max(1e-9, ...f.positive.flat(), ...f.negative.flat());
  const rows: number[][] = [f.kinds.map((k) => (k === 1 ? max : k === 2 ? -max : 0))];
  const labels = ['spans'];
  for (let l = 0; l < layers; l++) {
    rows.push(
      f.positive[l],
      f.negative[l].map((x) => -x),
      f.positive[l].map((x, u) => x - f.negative[l][u]),
    );
    labels.push(`L${l + 1} +`, `L${l + 1} −`, `L${l + 1} net`);
  }
  const base = join(dir, `figure1-${v}`);
  writeHeatmap(base, rows.flat(), rows.length, cols, {
    title: `Figure 1, ${LABELS[v]} (seed 1): attention of the answer query over the context`,
    caption:
      'top row: answer needle (red), other needles (blue); per layer: positive part, −negative part, net',
    signed: true,
    max,
    rowLabels: labels,
    cell: Math.max(8, Math.min(12, Math.floor(960 / cols))),
  });
  return `figure1-${v}.png`;
}

export async function runAttention(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('attention');
  const title = 'Attention allocation (needle task)';
  const { all, planned, pending } = sectionRuns(await needleRuns(ctx), {
    name: 'attention',
    title,
    claims: CLAIMS,
  });
  if (pending) return pending;
  const rs = (v: Variant) => all.get(v)!;
  writeRuns(dir, VARIANT_ORDER.flatMap(rs));
  const L = (rs('diff')[0].probes['needle-attention'] as AttentionProbe).layers.length;
  const rows: string[][] = [];
  for (let l = 0; l < L; l++)
    for (const part of ['positive', 'negative', 'net'] as const)
      for (const v of VARIANT_ORDER) {
        if (part !== 'positive' && !variantModule(v).differential) continue; // one softmax: no negative part
        rows.push([`L${l + 1} ${part}`, LABELS[v], ...SPANS.map((s) => ci(shares(rs(v), l, part, s), 3))]);
      }
  const figures = VARIANT_ORDER.map((v) =>
    writeFigure(dir, v, rs(v)[0].probes['needle-figure1'] as FigureRows),
  );
  const summary = Object.fromEntries(
    VARIANT_ORDER.map((v) => [v, rs(v).map((r) => r.probes['needle-attention'] as AttentionProbe)]),
  );
  writeJson(join(dir, 'results.json'), summary);
  const items = (rs('diff')[0].probes['needle-attention'] as AttentionProbe).items;
  const markdown = [
    `Needle-task models (${rs('diff').length} seeds per variant), ${items} held-out examples. The answer query is the last token before the first asked answer. Shares: sum of the part's attention over the span, mean over heads and examples; mean [95% t interval] over seeds. Positive part: the softmax map (DIFF: A1, sums to 1); negative part: λ·A2 (sums to λ, negative where λ < 0); net = positive − negative. Nothing is divided by 1 − λ.`,
    '',
    table(['layer, part', 'model', 'answer needle', 'other needles', 'noise (filler)'], rows),
    '',
    ...figures.map((f, i) => `![Figure 1, ${LABELS[VARIANT_ORDER[i]]}](attention/${f})`),
  ].join('\n');
  const claims = attentionClaims(rs('diff'), rs('baseline'));
  return { name: 'attention', title, markdown, claims, data: summary, cached: planned, planned };
}
