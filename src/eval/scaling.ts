/**
 * Experiment 1, scaling (paper §3.2–3.3, Fig. 3): validation loss of DIFF V1, the baseline and DIFF V2
 * at three model sizes (same data, seeds, steps and batch), a power law L(N) = a·N^(−b) fitted to the
 * baseline's (N = non-embedding parameters: the embedding and output head dominate at these sizes
 * and do not scale with depth or width the same way), and the baseline size each DIFF model's loss
 * corresponds to. Also the token view: how many training tokens the baseline needs to reach DIFF's
 * final loss at the main size.
 */
import { join } from 'node:path';
import type { Variant } from '../model/config.ts';
import { type Series, writeChart } from '../report/plot.ts';
import { readMetrics } from '../train/metrics.ts';
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
  type RunRecord,
  table,
  VARIANT_ORDER,
  writeJson,
  writeRuns,
} from './common.ts';
import { lmData } from './data.ts';

export interface PowerLaw {
  a: number;
  b: number;
  /** R² of the fit in log–log space. */
  r2: number;
}

/** Least squares of log y = log a − b·log x. Needs ≥ 2 distinct x. */
export function fitPowerLaw(points: ReadonlyArray<{ x: number; y: number }>): PowerLaw {
  const pts = points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.x) && Number.isFinite(p.y));
  const lx = pts.map((p) => Math.log(p.x));
  const ly = pts.map((p) => Math.log(p.y));
  const mx = mean(lx);
  const my = mean(ly);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < pts.length; i++) {
    sxy += (lx[i] - mx) * (ly[i] - my);
    sxx += (lx[i] - mx) ** 2;
    syy += (ly[i] - my) ** 2;
  }
  if (pts.length < 2 || sxx === 0) throw new Error('power-law fit needs at least two distinct sizes');
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { a: Math.exp(my - slope * mx), b: -slope, r2 };
}

/** The N at which the power law reaches loss L: N = (L / a)^(−1/b). */
export function sizeForLoss(law: PowerLaw, loss: number): number {
  return (loss / law.a) ** (-1 / law.b);
}

/** Tokens at which a (step, val loss) curve first reaches `target` (linear interpolation); NaN if never. */
export function tokensToReach(
  curve: ReadonlyArray<{ tokens: number; loss: number }>,
  target: number,
): number {
  for (let i = 0; i < curve.length; i++) {
    if (curve[i].loss <= target) {
      if (i === 0) return curve[0].tokens;
      const a = curve[i - 1];
      const b = curve[i];
      const f = (a.loss - target) / (a.loss - b.loss);
      return a.tokens + f * (b.tokens - a.tokens);
    }
  }
  return Number.NaN;
}

/** Mean validation-loss curve over the seeds of one variant: (tokens, loss) at each evaluation. */
export function meanCurve(runs: RunRecord[]): Array<{ tokens: number; loss: number }> {
  const curves = runs.map((r) =>
    readMetrics(r.dir)
      .filter((m) => m.val_loss !== undefined)
      .map((m) => ({ step: m.step, loss: m.val_loss! })),
  );
  const tokensPerStep = runs[0].spec.training.batch * runs[0].spec.training.seq;
  return curves[0].map((p, i) => ({
    tokens: p.step * tokensPerStep,
    loss: mean(curves.map((c) => c[i]?.loss ?? Number.NaN)),
  }));
}

export async function runScaling(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('scaling');
  const data = lmData(ctx);
  const plan = ctx.plan.lm;
  const bySize = new Map<string, Map<Variant, RunRecord[]>>();
  for (const size of plan.sizes) {
    ctx.log(` scaling: size ${size.name}`);
    bySize.set(size.name, await ctx.runAll({ task: 'lm', size, training: plan.training }, data));
  }
  writeRuns(dir, allRuns([...bySize.values()].flatMap((m) => [...m.values()])));

  const losses = (size: string, v: Variant) =>
    bySize
      .get(size)!
      .get(v)!
      .map((r) => r.finalValLoss);
  const params = (size: string, v: Variant) => bySize.get(size)!.get(v)![0].nonEmbeddingParameters;
  const law = fitPowerLaw(
    plan.sizes.flatMap((s) => losses(s.name, 'baseline').map((y) => ({ x: params(s.name, 'baseline'), y }))),
  );
  const validFit = law.b > 0 && Number.isFinite(law.b);
  const nMin = params(plan.sizes[0].name, 'baseline');
  const nMax = params(plan.sizes[plan.sizes.length - 1].name, 'baseline');

  const rows: Array<Array<string | number>> = [];
  const ratios: Record<string, Record<string, number>> = { diff: {}, diffv2: {} };
  for (const s of plan.sizes) {
    const row: Array<string | number> = [
      `${s.name} (d ${s.d_model}, ${s.n_layers} layers)`,
      VARIANT_ORDER.map((v) => params(s.name, v).toLocaleString('en-US')).join(' / '),
    ];
    for (const v of VARIANT_ORDER) row.push(pm(losses(s.name, v)));
    for (const v of ['diff', 'diffv2'] as const) {
      const eq = validFit ? sizeForLoss(law, mean(losses(s.name, v))) : Number.NaN;
      ratios[v][s.name] = params(s.name, v) / eq;
      const outside = eq < nMin / 2 || eq > nMax * 2 ? ' (extrapolated)' : '';
      row.push(Number.isFinite(eq) ? `${Math.round(eq).toLocaleString('en-US')}${outside}` : '–');
    }
    rows.push(row);
  }
  const sizeTable = table(
    [
      'size',
      'non-embedding params V1 / base / V2',
      'val loss DIFF V1',
      'val loss Baseline',
      'val loss DIFF V2',
      'baseline params ≡ V1',
      'baseline params ≡ V2',
    ],
    rows,
  );

  // Token view at the main size.
  const main = bySize.get(plan.main)!;
  const curves = new Map(VARIANT_ORDER.map((v) => [v, meanCurve(main.get(v)!)]));
  const finalTokens = plan.training.steps * plan.training.batch * plan.training.seq;
  const tokenRatio = (v: Variant) => {
    const target = mean(main.get(v)!.map((r) => r.finalValLoss));
    const t = tokensToReach(curves.get('baseline')!, target);
    return finalTokens / t;
  };
  const tokenRows = (['diff', 'diffv2'] as const).map((v) => {
    const target = mean(main.get(v)!.map((r) => r.finalValLoss));
    const t = tokensToReach(curves.get('baseline')!, target);
    return [
      LABELS[v],
      fmt(target, 4),
      finalTokens.toLocaleString('en-US'),
      Number.isFinite(t) ? Math.round(t).toLocaleString('en-US') : 'not reached in the budget',
      Number.isFinite(t) ? fmt(finalTokens / t, 2) : `< ${fmt(1, 2)} (baseline never reaches it)`,
    ];
  });
  const tokenTable = table(
    [
      'model',
      'final val loss',
      'its training tokens',
      'baseline tokens to reach it',
      'tokens ratio (model / baseline)',
    ],
    tokenRows,
  );

  // Plots.
  const lossSeries: Series[] = VARIANT_ORDER.map((v) => ({
    name: LABELS[v],
    points: plan.sizes.map((s) => ({ x: params(s.name, v), y: mean(losses(s.name, v)) })),
  }));
  if (validFit) {
    const xs = Array.from({ length: 20 }, (_, i) => nMin * (nMax / nMin) ** (i / 19));
    lossSeries.push({
      name: 'baseline power-law fit',
      points: xs.map((x) => ({ x, y: law.a * x ** -law.b })),
    });
  }
  await writeChart(join(dir, 'loss-vs-params'), lossSeries, {
    title: 'Validation loss vs non-embedding parameters',
    xLabel: 'non-embedding parameters',
    yLabel: 'validation loss (nats/token)',
    logX: true,
    logY: true,
  });
  await writeChart(
    join(dir, 'loss-vs-tokens'),
    VARIANT_ORDER.map((v) => ({
      name: LABELS[v],
      points: curves.get(v)!.map((p) => ({ x: p.tokens, y: p.loss })),
    })),
    {
      title: `Validation loss vs training tokens (size ${plan.main}, mean over seeds)`,
      xLabel: 'training tokens',
      yLabel: 'validation loss (nats/token)',
    },
  );

  // Claim.
  const perSize = plan.sizes.map((s) =>
    compareSamples(losses(s.name, 'diff'), losses(s.name, 'baseline'), true),
  );
  const wins = perSize.filter((c) => c.better).length;
  const losses_ = perSize.filter((c) => c.worse).length;
  const v1Ratios = plan.sizes.map((s) => ratios.diff[s.name]).filter((r) => Number.isFinite(r) && r > 0);
  const geo = v1Ratios.length ? Math.exp(mean(v1Ratios.map(Math.log))) : Number.NaN;
  const tr = tokenRatio('diff');
  const ours = [
    `DIFF V1 has a lower loss than the baseline at ${wins} of ${plan.sizes.length} sizes beyond seed noise (higher at ${losses_})`,
    validFit
      ? `its loss corresponds to a baseline with ${fmt(1 / geo, 2)}× its non-embedding parameters, i.e. DIFF needs ${fmt(geo * 100, 0)}% of the baseline's parameters (geometric mean over sizes; baseline fit b = ${fmt(law.b, 3)}, R² = ${fmt(law.r2, 2)})`
      : `the baseline's loss does not fall with size here (fit exponent b = ${fmt(law.b, 3)}), so no parameter ratio can be read off`,
    Number.isFinite(tr)
      ? `token view (size ${plan.main}): the baseline reaches DIFF V1's final loss after ${fmt(100 / tr, 0)}% of the budget, i.e. DIFF needs ${fmt(tr * 100, 0)}% of the baseline's tokens`
      : `token view (size ${plan.main}): the baseline never reaches DIFF V1's final loss within the budget`,
  ].join('; ');
  let verdict: Claim['verdict'] = 'inconclusive';
  if (ctx.seeds.length >= 2) {
    if (wins === plan.sizes.length && validFit && geo < 0.8) verdict = 'matches';
    else if (wins > 0 && losses_ === 0) verdict = 'partly matches';
    else if (losses_ > 0 && wins === 0) verdict = 'does not match';
  }
  const claims: Claim[] = [
    {
      claim: 'DIFF needs fewer parameters / tokens than a Transformer for the same loss',
      paper: '~62% of the parameters (6.8B ≈ 11B), ~64% of the tokens (160B ≈ 251B)',
      ours,
      verdict,
    },
  ];
  const summary = {
    sizes: plan.sizes,
    losses: Object.fromEntries(
      plan.sizes.map((s) => [s.name, Object.fromEntries(VARIANT_ORDER.map((v) => [v, losses(s.name, v)]))]),
    ),
    nonEmbeddingParameters: Object.fromEntries(
      plan.sizes.map((s) => [s.name, Object.fromEntries(VARIANT_ORDER.map((v) => [v, params(s.name, v)]))]),
    ),
    baselineFit: law,
    parameterRatio: ratios,
    parameterRatioV1GeometricMean: geo,
    tokenRatio: { diff: tokenRatio('diff'), diffv2: tokenRatio('diffv2') },
  };
  writeJson(join(dir, 'results.json'), summary);
  const markdown = [
    `Models of ${plan.sizes.length} sizes, each trained for ${plan.training.steps} steps × ${plan.training.batch} × ${plan.training.seq} tokens on Moby Dick (identical data order per seed). Validation loss (nats/token) is mean ± std over ${ctx.seeds.length} seed(s).`,
    `Baseline power law fitted on every seed's point: L(N) = ${fmt(law.a, 3)} · N^(−${fmt(law.b, 4)}) (R² ${fmt(law.r2, 3)}), N = non-embedding parameters. "Baseline params ≡" inverts this law at the DIFF model's mean loss.`,
    '',
    sizeTable,
    '',
    `Token view at size ${plan.main} (curves are the mean over seeds of the validation loss every ${plan.training.evalEvery} steps):`,
    '',
    tokenTable,
    '',
    '![loss vs parameters](scaling/loss-vs-params.png)',
    '',
    '![loss vs tokens](scaling/loss-vs-tokens.png)',
  ].join('\n');
  return {
    name: 'scaling',
    title: 'Scaling: loss vs parameters and tokens',
    markdown,
    claims,
    data: summary,
  };
}
