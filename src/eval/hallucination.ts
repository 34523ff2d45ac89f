/**
 * The contextual-hallucination section (issue 17; paper §3.6, Tables 4–5): on the hallucination
 * task (hallucination-task.ts) DIFF V1, the baseline and DIFF V2, every seed, are scored per context
 * length on present keys (accuracy, wrong "none"), on absent and near-miss keys (hallucination rate,
 * split by where the value comes from), on calibration (reliability bins, ECE of the greedy answer's
 * probability) and on where the answer query attends (asked fact vs near-miss fact). The paper's
 * claim "fewer contextual hallucinations" is judged on the hallucination rate over absent and
 * near-miss questions: "matches" when the Welch 95% interval of DIFF − baseline is below zero, "does
 * not match" when above, "equivalent" only when TOST puts the 90% interval inside ±TOST_MARGIN,
 * else "inconclusive".
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { writeChart } from '../report/plot.ts';
import type { LayerShares } from './attention-probe.ts';
import type { EvalContext } from './context.ts';
import type { Claim, ExperimentResult } from './experiment.ts';
import { band, ci, diffCi, fmt, table } from './format.ts';
import {
  answersOf,
  MEASURES,
  type Measure,
  PROBABILITY_MEASURES,
  rightAnswers,
  runRates,
} from './hallucination-measures.ts';
import { type HallucinationAttention, hallucinationRuns } from './hallucination-runs.ts';
import { calibration, type Rates } from './hallucination-score.ts';
import { bestLrs } from './lr-sweep.ts';
import { writeJson, writeRuns } from './results-files.ts';
import type { RunRecord } from './run-record.ts';
import { sectionRuns } from './section-runs.ts';
import { formatInterval, mean, meanInterval, tost, welch } from './stats.ts';
import { LABELS, VARIANT_ORDER } from './variant-labels.ts';
import { directional } from './verdicts.ts';

/** Half the paper's XSum gap in hallucination-free rate (0.53 vs 0.44), as an absolute rate. */
export const TOST_MARGIN = 0.045;

const TITLE = 'Contextual hallucination: answering from the context, "none" when the answer is not there';
const CLAIMS: Array<Pick<Claim, 'claim' | 'paper'>> = [
  {
    claim: 'DIFF V1 hallucinates less than the baseline when the asked key is not in the context',
    paper: 'fewer contextual hallucinations (XSum hallucination-free 0.53 vs 0.44)',
  },
  {
    claim: 'DIFF V2 hallucinates less than the baseline when the asked key is not in the context',
    paper: 'fewer contextual hallucinations (XSum hallucination-free 0.53 vs 0.44)',
  },
];

const attentionOf = (r: RunRecord) => r.probes['hallucination-attention'] as HallucinationAttention;
const net = (l: LayerShares) => l.positive.answer - l.negative.answer;

/**
 * The hallucination claim of one DIFF variant against the baseline. A rate of abstention means
 * something only for models that read the context: unless both answer present keys above the copy
 * baseline 1/F (lower end of the 95% interval), the verdict is "inconclusive" whatever the rates (a
 * model that always says "none" never hallucinates).
 */
export function hallucinationClaim(
  i: number,
  label: string,
  hall: { diff: number[]; base: number[] },
  accuracy: { diff: number[]; base: number[] },
  copyBaseline: number,
): Claim {
  const { diff, base } = hall;
  const w = welch(diff, base);
  const t = tost(diff, base, TOST_MARGIN);
  const reads = [accuracy.diff, accuracy.base].every((a) => meanInterval(a).lo > copyBaseline);
  let verdict = directional(w, -1);
  if (verdict === 'inconclusive' && t.equivalent) verdict = 'equivalent';
  if (!reads) verdict = 'inconclusive';
  const tostText = `TOST ±${TOST_MARGIN} (half the paper's 0.09 XSum gap): 90% interval ${formatInterval(t.interval)}${t.equivalent ? ', inside' : ', not inside'}`;
  const readText = reads
    ? ''
    : `; not judged: present-key accuracy ${label} ${ci(accuracy.diff)}, baseline ${ci(accuracy.base)} is not above the 1/${Math.round(1 / copyBaseline)} copy baseline for both, so the models do not read the facts and their abstention says nothing`;
  return {
    ...CLAIMS[i],
    ours: `hallucination rate ${label} ${ci(diff)} vs baseline ${ci(base)}; ${label} − baseline = ${formatInterval(w)}; ${tostText}${readText}`,
    verdict,
    p: verdict === 'equivalent' ? t.p : w.p,
  };
}

export async function runHallucination(ctx: EvalContext): Promise<ExperimentResult> {
  const { all, planned, pending } = sectionRuns(await hallucinationRuns(ctx), {
    name: 'hallucination',
    title: TITLE,
    claims: CLAIMS,
    lrsUnknown: 'the learning-rate sweep is not cached',
  });
  if (pending) return pending;
  const dir = ctx.dir('hallucination');
  writeRuns(dir, [...all.values()].flat());
  const p = ctx.plan.hallucination;
  const lrs = (await bestLrs(ctx))!;
  const values = (v: Variant, m: Measure) => all.get(v)!.map(m);
  const byLength = (v: Variant, L: number, pick: (r: Rates) => number) =>
    all.get(v)!.map((r) => pick(runRates(r, L)));

  const header = ['', ...VARIANT_ORDER.map((v) => LABELS[v])];
  const overall = MEASURES.map((m) => [m.label, ...VARIANT_ORDER.map((v) => ci(values(v, m.of)))]);
  const graded = PROBABILITY_MEASURES.map((m) => [
    m.label,
    ...VARIANT_ORDER.map((v) => ci(values(v, m.of))),
    diffCi(values('diff', m.of), values('baseline', m.of)),
    diffCi(values('diffv2', m.of), values('baseline', m.of)),
  ]);
  const diffs = MEASURES.filter((m) => !m.label.startsWith('…')).map((m) => [
    m.label,
    diffCi(values('diff', m.of), values('baseline', m.of)),
    diffCi(values('diffv2', m.of), values('baseline', m.of)),
  ]);
  const lengthRows = p.lengths.flatMap((L) => [
    [`${L}: hallucination`, ...VARIANT_ORDER.map((v) => ci(byLength(v, L, (r) => r.hallucination)))],
    [`${L}: accuracy, present`, ...VARIANT_ORDER.map((v) => ci(byLength(v, L, (r) => r.presentAccuracy)))],
  ]);
  const layers = ctx.plan.hallucination.size.n_layers;
  const attentionRows = Array.from({ length: layers }, (_, l) =>
    VARIANT_ORDER.flatMap((v) => {
      const rs = all.get(v)!;
      const asked = rs.map((r) => net(attentionOf(r).asked.layers[l]));
      const near = rs.map((r) => net(attentionOf(r).nearMiss.layers[l]));
      return [
        [
          `layer ${l + 1}, ${LABELS[v]}`,
          ci(asked),
          ci(near),
          diffCi(asked, near),
          ci(rs.map((r) => attentionOf(r).asked.layers[l].positive.answer)),
          ci(rs.map((r) => attentionOf(r).nearMiss.layers[l].positive.answer)),
        ],
      ];
    }),
  ).flat();

  const halluCurve = (pick: (r: Rates) => number) =>
    VARIANT_ORDER.map((v) => ({
      name: LABELS[v],
      points: p.lengths.map((L) => band(L, byLength(v, L, pick))),
    }));
  await writeChart(
    join(dir, 'hallucination-vs-length'),
    halluCurve((r) => r.hallucination),
    {
      title: 'Hallucination rate (absent + near-miss keys) vs context length, 95% intervals over seeds',
      xLabel: 'context length (tokens)',
      yLabel: 'share answering a value, not "none"',
    },
  );
  await writeChart(
    join(dir, 'accuracy-vs-length'),
    halluCurve((r) => r.presentAccuracy),
    {
      title: 'Accuracy on present keys vs context length, 95% intervals over seeds',
      xLabel: 'context length (tokens)',
      yLabel: 'share answering the asked value',
    },
  );
  const pooled = (v: Variant) => {
    const rs = all.get(v)!.map(answersOf);
    const probs = rs.flatMap((a) => a.probabilities);
    const right = rs.flatMap(rightAnswers);
    return calibration(probs, right);
  };
  await writeChart(
    join(dir, 'reliability'),
    [
      {
        name: 'perfect calibration',
        points: [
          { x: 0, y: 0 },
          { x: 1, y: 1 },
        ],
      },
      ...VARIANT_ORDER.map((v) => ({
        name: LABELS[v],
        points: pooled(v)
          .bins.filter((b) => b.count > 0)
          .map((b) => ({ x: b.confidence, y: b.accuracy })),
      })),
    ],
    {
      title: 'Reliability: share right vs probability of the greedy answer (10 bins, all seeds pooled)',
      xLabel: 'answer probability (bin mean)',
      yLabel: 'share of right answers',
    },
  );

  const hall = (v: Variant) => values(v, (r) => runRates(r).hallucination);
  const acc = (v: Variant) => values(v, (r) => runRates(r).presentAccuracy);
  const claims = (['diff', 'diffv2'] as const).map((v, i) =>
    hallucinationClaim(
      i,
      LABELS[v],
      { diff: hall(v), base: hall('baseline') },
      { diff: acc(v), base: acc('baseline') },
      1 / p.facts,
    ),
  );
  const counts = runRates(all.get('baseline')![0]).counts;
  const summary = {
    plan: p,
    lrs,
    seeds: ctx.seeds,
    counts,
    measures: Object.fromEntries(
      VARIANT_ORDER.map((v) => [
        v,
        Object.fromEntries([...MEASURES, ...PROBABILITY_MEASURES].map((m) => [m.key, values(v, m.of)])),
      ]),
    ),
    byLength: Object.fromEntries(
      VARIANT_ORDER.map((v) => [
        v,
        Object.fromEntries(
          p.lengths.map((L) => [
            L,
            {
              hallucination: byLength(v, L, (r) => r.hallucination),
              presentAccuracy: byLength(v, L, (r) => r.presentAccuracy),
            },
          ]),
        ),
      ]),
    ),
    reliability: Object.fromEntries(VARIANT_ORDER.map((v) => [v, pooled(v)])),
    claims,
  };
  writeJson(join(dir, 'results.json'), summary);

  const verdictLine = claims
    .map((c) => `${c.claim.split(' hallucinates')[0]}: **${c.verdict}** (${c.ours.split('; ')[1]})`)
    .join('; ');
  const markdown = [
    `Each context is corpus filler with ${p.facts} facts " The code of the ADJECTIVE NOUN is ${'N'.repeat(p.digits)}." (distinct adjectives, nouns and values), then one question "Q: The code of the KEY is" answered " VALUE." or " none.". The asked key is **present** (the key of a fact), **absent** (sharing no word with any fact) or a **near-miss** (not in the context while one fact's key differs from it by one word — the adjective — or by one letter of the noun, e.g. cat → car; half each). Shares present : absent : near-miss = ${p.shares.present} : ${p.shares.absent} : ${p.shares.nearMiss}, in training and evaluation. Size ${p.size.name} (d ${p.size.d_model}, ${p.size.n_layers} layers), ${p.training.steps} steps × ${p.training.batch} contexts of up to ${p.training.seq} tokens with ${p.questions} questions each, answer-only loss, identical examples for every variant; each variant at its best swept rate (DIFF V1 ${lrs.diff}, baseline ${lrs.baseline}, DIFF V2 ${lrs.diffv2}); ${ctx.seeds.length} seed(s).`,
    `Evaluation: ${counts.present + counts.absent + counts.nearMiss} held-out items per model (${counts.present} present, ${counts.absent} absent, ${counts.nearMiss} near-miss; ${p.lengths.length} lengths ${p.lengths.join(', ')} tokens), greedy answers. A **hallucination** is any answer but "none" to an absent or near-miss key; it is split by where the value comes from (the near-miss fact, another fact of the context, not in the context — malformed answers count there). Copying a random fact would give accuracy 1/${p.facts} = ${fmt(1 / p.facts)} on present keys. Calibration: the probability of the greedy answer (product over its tokens) against whether it is right; ECE over 10 equal-width bins. All numbers are mean [95% t interval] over seeds; differences are Welch 95% intervals.`,
    '',
    `Verdict: ${verdictLine}. The paper's claim is about summarisation and QA at 3B parameters judged by GPT-4o; this task tests its mechanism only (answering from the context, abstaining when the answer is not there) at ${p.size.name} size.`,
    '',
    '### Answers per variant (all lengths)',
    '',
    table(header, overall),
    '',
    '### Probabilities of the answers (teacher-forced)',
    '',
    `The probability of " none." and of each fact's value " VALUE." after the question, averaged over the items of a kind: a graded view of the same choice, which shows retrieval (the asked value's share of the probability on context values, against the 1/${p.facts} of a model that cannot tell the facts apart) even where the greedy answer is "none".`,
    '',
    table([...header, 'DIFF V1 − baseline', 'DIFF V2 − baseline'], graded),
    '',
    '### Differences from the baseline',
    '',
    table(['', 'DIFF V1 − baseline', 'DIFF V2 − baseline'], diffs),
    '',
    '### Per context length',
    '',
    table(header, lengthRows),
    '',
    '![hallucination vs length](hallucination/hallucination-vs-length.png)',
    '![accuracy vs length](hallucination/accuracy-vs-length.png)',
    '![reliability](hallucination/reliability.png)',
    '',
    '### Where the answer query attends: asked fact vs near-miss fact',
    '',
    `The query is the last token before the answer; shares from the attention probe (attention-probe.ts) on ${p.probePerLength} present and ${p.probePerLength} near-miss items per length, averaged over heads. "Net" = positive − negative part (DIFF: A1 − λ·A2; baseline: softmax), not divided by 1 − λ. A model that reads keys exactly puts more on the asked fact (present questions) than on a near-miss fact (near-miss questions).`,
    '',
    table(
      [
        'layer, model',
        'net on asked fact',
        'net on near-miss fact',
        'asked − near-miss',
        'positive, asked',
        'positive, near-miss',
      ],
      attentionRows,
    ),
    '',
    `Mean over all runs of the wall time per run: ${fmt(mean([...all.values()].flat().map((r) => r.wallSeconds)), 1)} s.`,
  ].join('\n');
  return {
    name: 'hallucination',
    title: TITLE,
    markdown,
    claims,
    data: summary,
    cached: planned,
    planned,
  };
}
