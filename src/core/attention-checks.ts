/** Checks of an attention call that every backend makes before its kernels (see Backend.attentionForward). */
import type { AttentionGeometry, DifferentialCombine, Floats } from './backend.ts';

/** Throws a RangeError naming the first array whose size does not fit the geometry and combine. */
export function checkGeometry(
  g: AttentionGeometry,
  q: Floats,
  k: Floats,
  v: Floats,
  combine: DifferentialCombine,
): void {
  const expect = (what: string, found: number, want: number) => {
    if (found !== want) throw new RangeError(`attention: ${what} has ${found} values, expected ${want}`);
  };
  expect('q', q.length, g.batch * g.seqQ * g.qHeads * g.qkDim);
  expect('k', k.length, g.batch * g.seqK * g.kHeads * g.qkDim);
  expect('v', v.length, g.batch * g.seqK * g.vHeads * g.vDim);
  if (g.seqK < g.seqQ)
    throw new RangeError(`attention: ${g.seqK} key rows cannot serve ${g.seqQ} query rows`);
  if (combine.kind !== 'none' && g.qHeads % 2 !== 0)
    throw new RangeError(
      `attention: differential combine needs an even number of query heads, found ${g.qHeads}`,
    );
  if (combine.kind === 'token')
    expect('token-wise λ', combine.lambda.length, g.batch * g.seqQ * (g.qHeads / 2));
}

/** Whether the two query heads of every pair (2i, 2i+1) read one value head (then kernels may fuse them). */
export function pairsShareValues(g: AttentionGeometry): boolean {
  for (let h = 0; h < g.qHeads; h += 2) if (g.vHeadOf[h] !== g.vHeadOf[h + 1]) return false;
  return true;
}
