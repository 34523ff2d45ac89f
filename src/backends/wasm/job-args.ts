/**
 * The argument words of a threaded kernel job, built by slot name (the constants of kernel-layout.ts,
 * which the kernels read them by) rather than by position, and checked: each of the op's slots given
 * exactly once. WasmRuntime.job takes nothing else.
 */
import { ARG_WORDS } from './kernel-layout.ts';

/** One argument of a job: its slot (a kernel-layout.ts constant) and its value. */
export type JobArg = readonly [slot: number, value: number];

declare const checked: unique symbol;
/** Argument words 0 … count − 1 of a job, as jobArgs made them. */
export type JobWords = readonly number[] & { readonly [checked]: true };

/**
 * The words of a job whose op takes `count` of them (its `*_ARG_COUNT`), from (slot, value) pairs;
 * throws unless every slot 0 … count − 1 is given exactly once.
 */
export function jobArgs(count: number, args: readonly JobArg[]): JobWords {
  if (!(Number.isInteger(count) && count >= 0 && count <= ARG_WORDS))
    throw new RangeError(`a job takes 0 … ${ARG_WORDS} argument words, not ${count}`);
  const words = new Array<number>(count);
  for (const [slot, value] of args) {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < count))
      throw new RangeError(`job argument slot ${slot} is outside 0 … ${count - 1}`);
    if (slot in words) throw new Error(`job argument slot ${slot} is given twice`);
    words[slot] = value;
  }
  if (args.length !== count) {
    const missing = Array.from({ length: count }, (_, slot) => slot).filter((slot) => !(slot in words));
    throw new Error(`job argument slots not given: ${missing.join(', ')}`);
  }
  return words as unknown as JobWords;
}
