/**
 * `compare`: train DIFF V1, the parameter-matched baseline and DIFF V2 on the same data, seed, token
 * budget and parameter budget, then write `compare.md` (a table and loss curves as SVG and PNG) and
 * `compare.json` into the output folder (locked while it runs, like each variant's own folder).
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { VARIANTS, variantLabel } from '../model/variants/index.ts';
import { type Series, writeChart } from '../report/plot.ts';
import { readMetrics } from './metrics.ts';
import { openRunFolder } from './run-folder.ts';
import { type TrainOptions, type TrainResult, train } from './trainer.ts';

export type CompareOptions = Omit<TrainOptions, 'variant' | 'out' | 'label'> & { out: string };

export interface CompareResult {
  runs: TrainResult[];
  table: string;
  reportPath: string;
}

const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

export function comparisonTable(runs: TrainResult[]): string {
  const rows = runs.map((r) => {
    const lambdas = r.lambdas ? r.lambdas.map((l) => l.toFixed(3)).join(', ') : '–';
    return `| ${variantLabel(r.config.variant)} | ${r.parameters.toLocaleString('en-US')} | ${fmt(r.finalValLoss)} | ${fmt(r.finalValBpb)} | ${fmt(r.tokensPerSecond, 0)} | ${lambdas} |`;
  });
  return [
    '| model | parameters | val loss | bits/byte | train tokens/s | final λ per layer |',
    '|---|---:|---:|---:|---:|---|',
    ...rows,
  ].join('\n');
}

function smoothed(points: Array<{ x: number; y: number }>, window: number): Array<{ x: number; y: number }> {
  return points.map((p, i) => {
    const slice = points.slice(Math.max(0, i - window + 1), i + 1);
    return { x: p.x, y: slice.reduce((s, q) => s + q.y, 0) / slice.length };
  });
}

export async function compare(o: CompareOptions): Promise<CompareResult> {
  const notice = (message: string) => process.stderr.write(`${message}\n`);
  const folder = openRunFolder(o.out, 'compare', 'compare', notice);
  try {
    return await compareInFolder(o);
  } finally {
    folder.release();
  }
}

async function compareInFolder(o: CompareOptions): Promise<CompareResult> {
  const runs: TrainResult[] = [];
  for (const variant of VARIANTS) {
    runs.push(
      await train({ ...o, variant, out: join(o.out, variant), label: variantLabel(variant).padEnd(8) }),
    );
  }
  const curves = (key: 'val_loss' | 'train_loss') =>
    runs.map((r): Series => {
      const points = readMetrics(r.out)
        .filter((m) => m[key] !== undefined)
        .map((m) => ({ x: m.step, y: m[key] as number }));
      return {
        name: variantLabel(r.config.variant),
        points: key === 'train_loss' ? smoothed(points, 10) : points,
      };
    });
  const preset = o.preset;
  await writeChart(join(o.out, 'val-loss'), curves('val_loss'), {
    title: `Validation loss, preset ${preset}`,
    xLabel: 'step',
    yLabel: 'validation loss (nats/token)',
  });
  await writeChart(join(o.out, 'train-loss'), curves('train_loss'), {
    title: `Training loss (10-step mean), preset ${preset}`,
    xLabel: 'step',
    yLabel: 'training loss (nats/token)',
  });
  const table = comparisonTable(runs);
  const first = runs[0];
  const report = [
    `# DIFF V1 vs baseline vs DIFF V2 — preset \`${preset}\``,
    '',
    `Same data, seed (${o.seed ?? 1}), steps (${first.steps}), batch and sequence length for all three; DIFF V1 is`,
    'parameter-matched to the baseline by construction (half the heads, +6·head_dim parameters per layer).',
    `Backend: ${first.backend}. Wall time: ${runs.map((r) => `${variantLabel(r.config.variant)} ${r.wallSeconds.toFixed(0)} s`).join(', ')}.`,
    '',
    table,
    '',
    '![validation loss](val-loss.png)',
    '',
    '![training loss](train-loss.png)',
    '',
  ].join('\n');
  const reportPath = join(o.out, 'compare.md');
  writeFileAtomic(reportPath, report);
  writeFileAtomic(join(o.out, 'compare.json'), `${JSON.stringify(runs, null, 2)}\n`);
  return { runs, table, reportPath };
}
