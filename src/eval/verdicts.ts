/**
 * The verdict rules of the claims: a difference "matches" the paper only when its 95% interval
 * excludes zero on the paper's side, "does not match" when it excludes zero on the other side, else
 * "inconclusive".
 */
import type { Claim, Verdict } from './experiment.ts';
import type { Interval } from './stats.ts';

/**
 * The verdict of a difference whose paper direction has sign `paperSign` (e.g. loss DIFF − baseline:
 * −1): "matches" when the 95% interval excludes zero on the paper's side, "does not match" when it
 * excludes zero on the other side, else "inconclusive".
 */
export function directional(i: Interval, paperSign: 1 | -1): Verdict {
  if (!Number.isFinite(i.lo) || !Number.isFinite(i.hi)) return 'inconclusive';
  if (paperSign * i.lo > 0 && paperSign * i.hi > 0) return 'matches';
  if (paperSign * i.lo < 0 && paperSign * i.hi < 0) return 'does not match';
  return 'inconclusive';
}

/** A claim judged by the direction of interval `i` (`directional`), with the p-value of its test. */
export function directionalClaim(
  claim: Pick<Claim, 'claim' | 'paper'>,
  ours: string,
  i: Interval,
  paperSign: 1 | -1,
): Claim {
  return { ...claim, ours, verdict: directional(i, paperSign), p: i.p };
}
