/**
 * The in-context task's models of every variant × seed (at the plan's fixed rate) with the
 * icl-accuracy probe, computed once after training and cached in the run records: constrained
 * classification of the query after k demonstrations, for every k of the plan that fits the context,
 * over seeded episodes, each in several demonstration orders.
 */
import { Rng } from '../core/rng.ts';
import type { Variant } from '../model/config.ts';
import { armRuns } from './arm-runs.ts';
import type { EvalContext } from './context.ts';
import { iclData, iclMaxShots, taskBase } from './data.ts';
import { shuffle } from './draws.ts';
import { forwardPadded } from './forward-padded.ts';
import { classify, iclPrompt, labelTokens, makeIclEpisode } from './icl-task.ts';
import type { Probe } from './run-record.ts';
import type { ProducedRuns } from './section-runs.ts';
import { VARIANT_ORDER } from './variant-labels.ts';

const EVAL_SEED = 4242;

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
export function iclRuns(ctx: EvalContext): Promise<ProducedRuns<Variant>> {
  const p = ctx.plan.icl;
  return armRuns(ctx, {
    task: 'icl',
    size: p.size,
    arms: VARIANT_ORDER,
    data: iclData(ctx),
    training: () => p.training,
    probes: () => iclProbes(ctx),
  });
}
