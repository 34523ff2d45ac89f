/** Finding NaN and ±Infinity in named tensors (weights after an update, weights being loaded). */

export interface NonFinite {
  /** The first tensor holding a non-finite value. */
  name: string;
  /** How many of its values are NaN or ±Infinity. */
  count: number;
  /** The index of the first one. */
  index: number;
}

/** The first tensor (in iteration order) holding NaN or ±Infinity, or undefined when all are finite. */
export function findNonFinite(tensors: Iterable<[string, ArrayLike<number>]>): NonFinite | undefined {
  for (const [name, values] of tensors) {
    let index = -1;
    let count = 0;
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      if (x - x !== 0) {
        // x − x is 0 for every finite x, NaN for NaN and ±Infinity
        if (index < 0) index = i;
        count++;
      }
    }
    if (count > 0) return { name, count, index };
  }
  return undefined;
}

/** "name holds N NaN or infinite values (the first at index i)". */
export function describeNonFinite(bad: NonFinite): string {
  const values = bad.count === 1 ? 'value' : 'values';
  return `${bad.name} holds ${bad.count} NaN or infinite ${values} (the first at index ${bad.index})`;
}
