/**
 * Probes of the main-size language models, computed once after training and cached in each run's
 * record (so the quantisation and outlier sections need no weights later):
 *   lm-quant     validation loss with the attention logits quantised (probe attention, absmax per
 *                head and sequence) and with every matrix quantised per row, at each bit width;
 *   lm-outliers  k-th largest |attention logit| and |hidden state| over validation windows.
 */
import type { LanguageModel } from '../model/lm.ts';
import type { EvalContext } from './context.ts';
import { lmValidation } from './data.ts';
import { type OutlierStats, outlierStats } from './outlier-stats.ts';
import { probeForward, probeLoss } from './probe.ts';
import { withQuantisedWeights } from './quantize.ts';
import type { Probe } from './run-record.ts';

export interface LmQuantProbe {
  /** 32 = no quantisation. */
  bits: number[];
  logits: number[];
  weights: number[];
  tokens: number;
}

export interface LmOutlierProbe {
  logits: OutlierStats;
  hidden: OutlierStats;
  tokens: number;
}

export function lmProbes(ctx: EvalContext): Record<string, Probe> {
  return {
    'lm-quant': (model): LmQuantProbe => {
      const seq = ctx.plan.lm.seq;
      const batches = lmValidation(ctx, seq, ctx.plan.quant.valBatches);
      const bits = [32, ...ctx.plan.quant.bits];
      const valLoss = (m: LanguageModel, b?: number) => {
        let total = 0;
        let rows = 0;
        for (const batch of batches) {
          const n = batch.count * seq;
          const x = batch.inputs.subarray(0, n);
          const y = batch.targets.subarray(0, n);
          const l =
            b === undefined
              ? m.loss(x, y, batch.count, seq)
              : probeLoss(m, x, y, batch.count, seq, { logitBits: b });
          total += l * batch.count;
          rows += batch.count;
        }
        return total / rows;
      };
      const quantised = (b: number) => withQuantisedWeights(model, b);
      return {
        bits,
        logits: bits.map((b) => valLoss(model, b)),
        weights: bits.map((b) => valLoss(quantised(b))),
        tokens: batches.reduce((s, b) => s + b.count * seq, 0),
      };
    },
    'lm-outliers': (model): LmOutlierProbe => {
      const o = ctx.plan.outliers;
      const batches = lmValidation(ctx, o.seq, Math.ceil(o.sequences / 8), Math.min(8, o.sequences));
      const logits: Float32Array[] = [];
      const hidden: Float32Array[] = [];
      for (const b of batches) {
        const n = b.count * o.seq;
        const r = probeForward(model, b.inputs.subarray(0, n), b.count, o.seq, {
          collectLogits: true,
          collectHidden: true,
        });
        logits.push(...r.attentionLogits!);
        hidden.push(...r.hidden!.map((h) => h.map(Math.abs)));
      }
      return {
        logits: outlierStats(logits),
        hidden: outlierStats(hidden),
        tokens: batches.reduce((s, b) => s + b.count * o.seq, 0),
      };
    },
  };
}
