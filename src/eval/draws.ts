/** Seeded random draws shared by the synthetic tasks. */
import type { Rng } from '../core/rng.ts';

export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** Fisher–Yates shuffle, in place. */
export function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** A number of exactly `digits` digits (no leading zero). */
export function magicNumber(rng: Rng, digits: number): string {
  const low = 10 ** (digits - 1);
  return String(low + rng.int(9 * low));
}

/** A whole number uniform in [lo, hi] (e.g. a target length in tokens). */
export const intIn = (rng: Rng, [lo, hi]: readonly [number, number]): number => lo + rng.int(hi - lo + 1);
