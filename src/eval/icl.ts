/**
 * Many-shot in-context classification (paper §3.5, Fig. 6): models of every variant × seed trained on
 * the in-context task (tasks.ts) at the plan's fixed rate, then scored by constrained classification
 * of the query after k demonstrations, for every k of the plan that fits the context, over seeded
 * episodes, each in several demonstration orders (the icl-accuracy probe). Chance is 1/K (K
 * categories). DIFF V1 − baseline at the most shots as a Welch 95% interval (paper: DIFF higher).
 */
import { join } from 'node:path';
import { Rng } from '../core/rng.ts';
import type { Variant } from '../model/config.ts';
import { writeChart } from '../report/plot.ts';
import {
  armSpec,
  band,
  type Claim,
  ci,
  complete,
  diffCi,
  directional,
  type EvalContext,
  type ExperimentResult,
  LABELS,
  type Probe,
  pendingResult,
  type RunRecord,
  table,
  VARIANT_ORDER,
  writeJson,
  writeRuns,
} from './common.ts';
import { iclData, iclMaxShots, taskBase } from './data.ts';
import { ARMS } from './plan.ts';
import { welch } from './stats.ts';
import {
  CATEGORIES,
  classify,
  forwardPadded,
  iclPrompt,
  labelTokens,
  makeIclEpisode,
  shuffle,
} from './tasks.ts';

const EVAL_SEED = 4242;
const CLAIMS = [{ claim: 'DIFF is better at many-shot in-context learning', paper: '+5.2 to +21.6 points' }];

export interface IclProbe {
  shots: number[];
  /** Accuracy per shot count over episodes × orderings. */
  accuracy: number[];
  episodes: number;
  orderings: number;
}

/** The shot counts of the plan that fit the context. */
export const iclShots = (ctx: EvalContext) => ctx.plan.icl.shots.filter((k) => k <= iclMaxShots(ctx));

function iclProbes(ctx: EvalContext): Record<string, Probe> {
  return {
    'icl-accuracy': (model): IclProbe => {
      const { tokenizer } = taskBase(ctx);
      const ids = labelTokens(tokenizer);
      const V = model.config.vocab_size;
      const p = ctx.plan.icl;
      const shots = iclShots(ctx);
      const accuracy = shots.map((k) => {
        const rng = new Rng(EVAL_SEED + k);
        const prompts: Int32Array[] = [];
        const truth: Array<{ candidates: number[]; category: number }> = [];
        for (let e = 0; e < p.episodes; e++) {
          const ep = makeIclEpisode(rng, k);
          for (let o = 0; o < p.orderings; o++) {
            const order = shuffle(
              rng,
              ep.demos.map((_, i) => i),
            );
            prompts.push(Int32Array.from(tokenizer.encode(iclPrompt(ep, order))));
            truth.push({ candidates: ep.labelOf.map((l) => ids[l]), category: ep.query.category });
          }
        }
        let right = 0;
        forwardPadded(
          (t, b, T) => model.forward(t, b, T).logits,
          prompts,
          V,
          16,
          (i, logits, offset) => {
            const row = offset + (prompts[i].length - 1) * V;
            if (classify(logits, row, truth[i].candidates) === truth[i].category) right++;
          },
        );
        return right / prompts.length;
      });
      return { shots, accuracy, episodes: p.episodes, orderings: p.orderings };
    },
  };
}

/** The in-context models of every variant × seed; undefined entries are not cached. */
export async function iclRuns(ctx: EvalContext) {
  const runs = new Map<Variant, Array<RunRecord | undefined>>();
  const p = ctx.plan.icl;
  const data = iclData(ctx);
  for (const v of VARIANT_ORDER) {
    const specs = ctx.seeds.map((seed) => armSpec(ARMS[v], 'icl', p.size, seed, p.training, ctx.plan.vocab));
    runs.set(v, await ctx.runs(specs, data, iclProbes(ctx)));
  }
  return { runs, planned: VARIANT_ORDER.length * ctx.seeds.length };
}

/** Accuracy of each run at `k` shots. */
export function accuracyAt(runs: readonly RunRecord[], k: number): number[] {
  return runs.map((r) => {
    const q = r.probes['icl-accuracy'] as IclProbe;
    return q.accuracy[q.shots.indexOf(k)];
  });
}

export function iclClaim(diff: readonly RunRecord[], base: readonly RunRecord[], k: number): Claim {
  const a = accuracyAt(diff, k);
  const b = accuracyAt(base, k);
  const w = welch(a, b);
  return {
    ...CLAIMS[0],
    ours: `${k} shots: DIFF V1 ${ci(a, 3)} vs baseline ${ci(b, 3)}; difference ${diffCi(a, b, 3)}`,
    verdict: directional(w, 1),
    p: w.p,
  };
}

export async function runIcl(ctx: EvalContext): Promise<ExperimentResult> {
  const dir = ctx.dir('icl');
  const title = 'Many-shot in-context learning';
  const { runs, planned } = await iclRuns(ctx);
  const got = new Map(VARIANT_ORDER.map((v) => [v, complete(runs.get(v) ?? [])]));
  const cached = [...runs.values()].flat().filter(Boolean).length;
  if (VARIANT_ORDER.some((v) => !got.get(v))) return pendingResult('icl', title, CLAIMS, cached, planned);
  const rs = (v: Variant) => got.get(v)!;
  writeRuns(dir, VARIANT_ORDER.flatMap(rs));
  const shots = (rs('diff')[0].probes['icl-accuracy'] as IclProbe).shots;
  const K = Object.keys(CATEGORIES).length;
  const rows = shots.map((k) => [
    String(k),
    ...VARIANT_ORDER.map((v) => ci(accuracyAt(rs(v), k), 3)),
    diffCi(accuracyAt(rs('diff'), k), accuracyAt(rs('baseline'), k), 3),
    diffCi(accuracyAt(rs('diffv2'), k), accuracyAt(rs('baseline'), k), 3),
  ]);
  await writeChart(
    join(dir, 'accuracy-vs-shots'),
    [
      ...VARIANT_ORDER.map((v) => ({
        name: LABELS[v],
        points: shots.map((k) => band(k, accuracyAt(rs(v), k))),
      })),
      { name: `chance 1/${K}`, points: shots.map((k) => ({ x: k, y: 1 / K })) },
    ],
    {
      title: 'In-context classification accuracy vs demonstrations (95% intervals over seeds)',
      xLabel: 'demonstrations',
      yLabel: 'accuracy',
    },
  );
  const summary = Object.fromEntries(
    VARIANT_ORDER.map((v) => [v, rs(v).map((r) => r.probes['icl-accuracy'])]),
  );
  writeJson(join(dir, 'results.json'), summary);
  const p = ctx.plan.icl;
  const t = p.training;
  const markdown = [
    `Models of size ${p.size.name} trained ${t.steps} steps × ${t.batch} × ${t.seq} on in-context episodes (peak rate ${t.lr} for every variant, ${rs('diff').length} seeds each); scored on ${p.episodes} fresh seeded episodes (labels drawn anew, so nothing can be memorised) × ${p.orderings} demonstration orders per shot count, by constrained classification among the episode's ${K} labels (chance 1/${K}). Accuracy mean [95% t interval]; differences: Welch 95% intervals.`,
    '',
    table(['shots', ...VARIANT_ORDER.map((v) => LABELS[v]), 'V1 − baseline', 'V2 − baseline'], rows),
    '',
    '![accuracy vs shots](icl/accuracy-vs-shots.png)',
  ].join('\n');
  const claims = [iclClaim(rs('diff'), rs('baseline'), shots[shots.length - 1])];
  return { name: 'icl', title, markdown, claims, data: summary, cached: planned, planned };
}
