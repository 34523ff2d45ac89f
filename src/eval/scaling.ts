/**
 * Scaling helpers (paper §3.2–3.3, Fig. 3): a power law L(N) = a·N^(−b) fitted in log–log space, its
 * inverse, and the tokens at which a validation curve first reaches a loss.
 */
import { mean } from './stats.ts';

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
