/**
 * Statistics of the experiments: Student-t quantiles and tail probabilities (from the regularised
 * incomplete beta function), 95% confidence intervals of a mean, Welch intervals and tests for a
 * difference of means, TOST equivalence, percentile bootstrap intervals, and Holm's correction.
 * Verdicts are made from these intervals only (see report.ts for the rules).
 */

/** ln Γ(x), x > 0 (Lanczos, g = 7, 9 terms; ~1e-15 relative). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with `df` > 0 degrees of freedom (df = ∞: the normal distribution). */
export function tCdf(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return Number.NaN;
  if (!Number.isFinite(df)) return 0.5 * (1 + erf(t / Math.SQRT2));
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** erf(x) by its series / continued fraction through the incomplete gamma of order 1/2. */
function erf(x: number): number {
  // erf(x) = sign(x)·P(1/2, x²); P via I_x of the beta function limit is awkward, so use the series
  // (|x| < 3) and the asymptotic continued fraction beyond; both to ~1e-14.
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = ax;
    let term = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** The p-quantile of Student's t with `df` degrees of freedom (bisection on the CDF, |error| < 1e-12). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return Number.NaN;
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) {
    hi *= 2;
    if (hi > 1e12) return Number.POSITIVE_INFINITY;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

/** Sample variance (n − 1); NaN for fewer than two values. */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
}

export interface Interval {
  /** Point estimate. */
  estimate: number;
  lo: number;
  hi: number;
  /** Sample sizes behind it. */
  n: number[];
  /** Two-sided p-value of "the true value is 0" (NaN where there is none). */
  p: number;
  /** Degrees of freedom (t intervals). */
  df?: number;
}

/** Two-sided t confidence interval (level 0.95 by default) of the mean of `xs`; infinite below 2 values. */
export function meanInterval(xs: readonly number[], level = 0.95): Interval {
  const n = xs.length;
  const m = mean(xs);
  if (n < 2)
    return { estimate: m, lo: Number.NEGATIVE_INFINITY, hi: Number.POSITIVE_INFINITY, n: [n], p: Number.NaN };
  const se = Math.sqrt(variance(xs) / n);
  const df = n - 1;
  const q = tQuantile(1 - (1 - level) / 2, df);
  const t = m / se;
  const p = se > 0 ? 2 * (1 - tCdf(Math.abs(t), df)) : m === 0 ? 1 : 0;
  return { estimate: m, lo: m - q * se, hi: m + q * se, n: [n], p, df };
}

/**
 * Welch's interval for mean(a) − mean(b) (unequal variances, Welch–Satterthwaite df) and its
 * two-sided p-value. Infinite when either side has fewer than two values.
 */
export function welch(a: readonly number[], b: readonly number[], level = 0.95): Interval {
  const d = mean(a) - mean(b);
  if (a.length < 2 || b.length < 2)
    return {
      estimate: d,
      lo: Number.NEGATIVE_INFINITY,
      hi: Number.POSITIVE_INFINITY,
      n: [a.length, b.length],
      p: Number.NaN,
    };
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se = Math.sqrt(va + vb);
  if (se === 0)
    return {
      estimate: d,
      lo: d,
      hi: d,
      n: [a.length, b.length],
      p: d === 0 ? 1 : 0,
      df: Number.POSITIVE_INFINITY,
    };
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const q = tQuantile(1 - (1 - level) / 2, df);
  const p = 2 * (1 - tCdf(Math.abs(d / se), df));
  return { estimate: d, lo: d - q * se, hi: d + q * se, n: [a.length, b.length], p, df };
}

/**
 * TOST (two one-sided tests) for |mean(a) − mean(b)| < margin at level α = 0.05: equivalent when the
 * 90% Welch interval lies inside (−margin, margin). Returns that interval and the larger one-sided p.
 */
export function tost(
  a: readonly number[],
  b: readonly number[],
  margin: number,
): { equivalent: boolean; interval: Interval; margin: number; p: number } {
  const interval = welch(a, b, 0.9);
  const equivalent = interval.lo > -margin && interval.hi < margin;
  let p = Number.NaN;
  if (interval.df !== undefined && Number.isFinite(interval.hi) && interval.hi > interval.lo) {
    const q = tQuantile(0.95, interval.df);
    const se = (interval.hi - interval.lo) / (2 * q);
    const pLower = 1 - tCdf((interval.estimate + margin) / se, interval.df);
    const pUpper = tCdf((interval.estimate - margin) / se, interval.df);
    p = Math.max(pLower, pUpper);
  }
  return { equivalent, interval, margin, p };
}

/** A seeded generator for resampling (mulberry32); deterministic bootstrap intervals. */
export function resampler(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Percentile bootstrap interval of `statistic` over groups of samples: each resample draws, within
 * every group independently, as many values with replacement as the group has. Non-finite
 * statistics of a resample are counted (`failed`) and left out.
 */
export function bootstrap(
  groups: ReadonlyArray<readonly number[]>,
  statistic: (groups: number[][]) => number,
  options: { resamples?: number; level?: number; seed?: number } = {},
): { estimate: number; lo: number; hi: number; failed: number; resamples: number } {
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  const random = resampler(options.seed ?? 1);
  const estimate = statistic(groups.map((g) => [...g]));
  const values: number[] = [];
  let failed = 0;
  for (let r = 0; r < resamples; r++) {
    const drawn = groups.map((g) =>
      Array.from({ length: g.length }, () => g[Math.floor(random() * g.length)]),
    );
    const v = statistic(drawn);
    if (Number.isFinite(v)) values.push(v);
    else failed++;
  }
  values.sort((x, y) => x - y);
  const at = (q: number) =>
    values.length
      ? values[Math.min(values.length - 1, Math.max(0, Math.floor(q * values.length)))]
      : Number.NaN;
  return { estimate, lo: at((1 - level) / 2), hi: at(1 - (1 - level) / 2), failed, resamples };
}

/** Holm–Bonferroni adjusted p-values (same order as given; NaN stays NaN and is not counted). */
export function holm(ps: readonly number[]): number[] {
  const idx = ps.map((p, i) => [p, i] as const).filter(([p]) => Number.isFinite(p));
  idx.sort((x, y) => x[0] - y[0]);
  const m = idx.length;
  const out = ps.map(() => Number.NaN);
  let running = 0;
  idx.forEach(([p, i], k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    out[i] = running;
  });
  return out;
}

/** "0.012 [−0.004, 0.028]" */
export function formatInterval(i: { estimate: number; lo: number; hi: number }, digits = 3): string {
  const f = (x: number) =>
    Number.isFinite(x) ? x.toFixed(digits).replace(/^-/, '−') : x > 0 ? '∞' : x < 0 ? '−∞' : '–';
  return `${f(i.estimate)} [${f(i.lo)}, ${f(i.hi)}]`;
}
