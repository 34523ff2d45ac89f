/**
 * How the sections show numbers over seeds: intervals and values as table cells, markdown tables,
 * and interval points for charts.
 */
import { formatInterval, meanInterval, welch } from './stats.ts';

/** "mean [lo, hi]" of the 95% t interval over seeds (just the mean for one value). */
export function ci(xs: readonly number[], digits = 3): string {
  if (!xs.length || !xs.every(Number.isFinite)) return '–';
  const i = meanInterval(xs);
  return xs.length > 1 ? formatInterval(i, digits) : i.estimate.toFixed(digits);
}

/** "Δ [lo, hi]" of mean(a) − mean(b) (Welch 95%). */
export function diffCi(a: readonly number[], b: readonly number[], digits = 3): string {
  return formatInterval(welch(a, b), digits);
}

export const fmt = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

/** A markdown table. */
export function table(header: string[], rows: Array<Array<string | number>>, align?: string[]): string {
  const sep = header.map((_, i) => align?.[i] ?? (i === 0 ? '---' : '---:'));
  return [
    `| ${header.join(' | ')} |`,
    `| ${sep.join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(String).join(' | ')} |`),
  ].join('\n');
}

/** 95% t-interval points (mean, lo, hi) for a chart. */
export function band(x: number, ys: readonly number[]): { x: number; y: number; lo?: number; hi?: number } {
  const i = meanInterval(ys);
  return Number.isFinite(i.lo) ? { x, y: i.estimate, lo: i.lo, hi: i.hi } : { x, y: i.estimate };
}
