/**
 * The training/validation split of a corpus's token ids, and the error for bad training data. No
 * file access: the browser trains with the same split (src/browser.ts).
 */

/** A problem with the training data, reported to the user as one line. */
export class DataError extends Error {
  override name = 'DataError';
}

/**
 * Splits token ids into training (the first part) and validation (the last `valFraction`).
 * Both parts must hold at least `minLength` ids (one window of seq+1).
 */
export function splitTokens(
  ids: Int32Array,
  valFraction: number,
  minLength: number,
): { train: Int32Array; val: Int32Array } {
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new DataError(`validation fraction must be between 0 and 1 (exclusive), found ${valFraction}`);
  }
  const valSize = Math.floor(ids.length * valFraction);
  const trainSize = ids.length - valSize;
  if (trainSize < minLength || valSize < minLength) {
    throw new DataError(
      `not enough tokens: ${ids.length} tokens split into ${trainSize} training and ${valSize} validation, ` +
        `but each part needs at least ${minLength} (seq+1); use a smaller --seq or more data`,
    );
  }
  return { train: ids.slice(0, trainSize), val: ids.slice(trainSize) };
}
