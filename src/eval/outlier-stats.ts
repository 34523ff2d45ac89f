/** The k-th largest values and the median of a set of non-negative values (activation outliers). */

export const RANKS = [1, 2, 3, 10, 100] as const;

export interface OutlierStats {
  /** k-th largest value for each k of RANKS */
  top: number[];
  median: number;
  count: number;
}

export function outlierStats(chunks: readonly Float32Array[]): OutlierStats {
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  all.sort();
  const kth = (k: number) => (k <= total ? all[total - k] : Number.NaN);
  const median = total % 2 ? all[(total - 1) / 2] : (all[total / 2 - 1] + all[total / 2]) / 2;
  return { top: RANKS.map(kth), median, count: total };
}
