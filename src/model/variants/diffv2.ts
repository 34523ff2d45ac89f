/**
 * DIFF V2, the official follow-up (SPEC §2): the baseline's heads with twice the query heads; head
 * i = A1·V − λ·A2·V where both maps read the same key/value head and λ[t, i] = sigmoid(x_t · W_λᵀ)_i
 * is computed per token and head from the attention input. No per-head norm; the output projection
 * is named o_proj.
 */
import type { Floats } from '../../core/backend.ts';
import type { ModelConfig } from '../config.ts';
import { tokenLambda, tokenLambdaBackward } from '../lambda.ts';
import { groupedGeometry, PAIR_PARTS, splitPairMaps } from './shared.ts';
import type { VariantModule } from './variant.ts';

/** W_λ [H, D] (under "…self_attn."): λ = sigmoid(x·W_λᵀ). */
const LAMBDA_PROJECTION = 'lambda_proj';

export const diffv2: VariantModule = {
  name: 'diffv2',
  label: 'DIFF V2',
  differential: true,
  lambdaKind: 'token',
  lambdaReadoutName: 'mean sigmoid λ',
  extraConfigKeys: [],
  width: (c) => ({ width: c.n_heads * c.head_dim, formula: 'n_heads·head_dim' }),
  /** The baseline's heads, twice the query heads, + n_heads·d_model parameters (lambda_proj) per layer. */
  matched: (b: ModelConfig) => ({ ...b, variant: 'diffv2' }),
  geometry: (c, batch, seqQ, seqK) =>
    groupedGeometry(2 * c.n_heads, c.n_kv_heads, c.head_dim, batch, seqQ, seqK),
  outputProjection: 'o_proj',
  lambdaProjection: LAMBDA_PROJECTION,
  attentionShapes(c) {
    const { d_model: D, n_heads: H, n_kv_heads: Hkv, head_dim: d } = c;
    return [
      ['q_proj.weight', [2 * H * d, D]],
      ['k_proj.weight', [Hkv * d, D]],
      ['v_proj.weight', [Hkv * d, D]],
      ['o_proj.weight', [D, H * d]],
      [`${LAMBDA_PROJECTION}.weight`, [H, D]],
    ];
  },
  combine(ctx, x) {
    const { backend, config: c } = ctx;
    const w = ctx.params.get(`${ctx.prefix}${LAMBDA_PROJECTION}.weight`)!;
    const lambda = tokenLambda(backend, x, w, ctx.rows, c.d_model, c.n_heads); // [B, T, H]
    return { combine: { kind: 'token', lambda }, tape: lambda };
  },
  combineBackward(ctx, grads, dLambda, tape, x, dx) {
    const { backend, config: c } = ctx;
    const w = `${ctx.prefix}${LAMBDA_PROJECTION}.weight`;
    const dxLambda = tokenLambdaBackward(
      backend,
      tape!,
      dLambda as Floats,
      x,
      ctx.params.get(w)!,
      ctx.rows,
      c.d_model,
      c.n_heads,
      grads.get(w)!,
    );
    backend.addInPlace(dx, dxLambda);
  },
  maps(backend, g, probs, combine) {
    const lambda = combine.kind === 'token' ? combine.lambda : undefined;
    const H = g.qHeads / 2;
    const at = (b: number, i: number, t: number) => (lambda ? lambda[(b * g.seqQ + t) * H + i] : Number.NaN);
    return { ...splitPairMaps(backend, g, probs, at), lambda };
  },
  views: {
    main: { key: 'diff', name: 'v2diff', title: 'A1 − λₜ·A2 (per-token λ)' },
    parts: [...PAIR_PARTS],
  },
  lambdaReadout(combine) {
    if (combine.kind !== 'token') return undefined;
    let sum = 0;
    for (const value of combine.lambda) sum += value;
    return sum / combine.lambda.length;
  },
};
