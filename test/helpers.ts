/** Shared numeric helpers for tests. */
import type { Floats } from '../src/core/backend.ts';

/** ‖got − want‖ / ‖want‖ (absolute norm of the difference when want is all zeros). */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff += (got[i] - want[i]) ** 2;
    norm += want[i] ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

export function randomArray(length: number, next: () => number, scale = 1): Float64Array {
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = next() * scale;
  return out;
}

export type { Floats };
