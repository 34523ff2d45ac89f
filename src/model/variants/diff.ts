/**
 * DIFF V1, the paper's Differential Transformer (SPEC §1): n_heads DIFF heads, each two query/key
 * sub-heads of width d and one 2d-wide value head; head i = A1·V − λ·A2·V with one λ per layer,
 * λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init(depth); then a per-head RMSNorm over the 2d channels
 * (weight shared by the layer's heads) × (1 − λ_init).
 */
import type { Floats } from '../../core/backend.ts';
import type { ModelConfig } from '../config.ts';
import { ConfigError } from '../config-error.ts';
import {
  type LambdaVectors,
  layerLambdaInit,
  reparameterisedLambda,
  reparameterisedLambdaBackward,
} from '../lambda.ts';
import { attentionPrefix } from '../names.ts';
import { PAIR_PARTS, splitPairMaps } from './shared.ts';
import type { NamedArrays, PostCombineSteps, VariantModule } from './variant.ts';

export const LAMBDA_VECTORS = ['lambda_q1', 'lambda_k1', 'lambda_q2', 'lambda_k2'] as const;

/** The per-head norm's weight (under "…self_attn."), shared by the layer's heads. */
const SUBLN_WEIGHT = 'subln.weight';

/** After the combine: the per-head RMSNorm (unless the subln ablation removes it), then × (1 − λ_init). */
function postCombineSteps(c: ModelConfig, layer: number): PostCombineSteps {
  return {
    norm: c.subln === false ? undefined : { weight: SUBLN_WEIGHT, eps: c.subln_eps },
    scale: 1 - layerLambdaInit(c, layer),
  };
}

function lambdaVectors(params: NamedArrays, prefix: string): LambdaVectors {
  return {
    q1: params.get(`${prefix}lambda_q1`)!,
    k1: params.get(`${prefix}lambda_k1`)!,
    q2: params.get(`${prefix}lambda_q2`)!,
    k2: params.get(`${prefix}lambda_k2`)!,
  };
}

export const diff: VariantModule = {
  name: 'diff',
  label: 'DIFF V1',
  differential: true,
  lambdaKind: 'layer',
  lambdaReadoutName: 'λ',
  extraConfigKeys: ['subln', 'lambda_init', 'subln_init'],
  width: (c) => ({ width: 2 * c.n_heads * c.head_dim, formula: '2·n_heads·head_dim' }),
  /** Half the heads (each has two query/key halves and a 2d-wide value): same projection sizes. */
  matched(b: ModelConfig) {
    if (b.n_heads % 2 !== 0 || b.n_kv_heads % 2 !== 0) {
      throw new ConfigError(
        `a DIFF V1 model halves the head counts: baseline n_heads ${b.n_heads} and n_kv_heads ${b.n_kv_heads} must both be even`,
      );
    }
    return { ...b, variant: 'diff', n_heads: b.n_heads / 2, n_kv_heads: b.n_kv_heads / 2 };
  },
  geometry(c, batch, seqQ, seqK) {
    const { n_heads: H, n_kv_heads: Hkv, head_dim: d } = c;
    // 2H query sub-heads; DIFF head i = sub-heads (2i, 2i+1) reads key sub-heads 2·(i div rep) + {0,1}
    // and the 2d-wide value head i div rep.
    const rep = H / Hkv;
    const kHeadOf = new Int32Array(2 * H);
    const vHeadOf = new Int32Array(2 * H);
    for (let j = 0; j < 2 * H; j++) {
      const group = Math.floor(Math.floor(j / 2) / rep);
      kHeadOf[j] = 2 * group + (j % 2);
      vHeadOf[j] = group;
    }
    return {
      batch,
      seqQ,
      seqK,
      qHeads: 2 * H,
      kHeads: 2 * Hkv,
      vHeads: Hkv,
      qkDim: d,
      vDim: 2 * d,
      kHeadOf,
      vHeadOf,
    };
  },
  outputProjection: 'out_proj',
  attentionShapes(c) {
    const { d_model: D, n_heads: H, n_kv_heads: Hkv, head_dim: d } = c;
    const shapes: Array<[string, number[]]> = [
      ['q_proj.weight', [2 * H * d, D]],
      ['k_proj.weight', [2 * Hkv * d, D]],
      ['v_proj.weight', [2 * Hkv * d, D]],
      ['out_proj.weight', [D, 2 * H * d]],
    ];
    for (const name of LAMBDA_VECTORS) shapes.push([name, [d]]);
    if (c.subln !== false) shapes.push([SUBLN_WEIGHT, [2 * d]]);
    return shapes;
  },
  initOf(c, name) {
    if (name.startsWith('lambda_')) return { std: 0.1 };
    if (name === SUBLN_WEIGHT) return { fill: c.subln_init ?? 1 };
    return undefined;
  },
  combine: (ctx) => ({
    combine: {
      kind: 'scalar',
      lambda: reparameterisedLambda(
        lambdaVectors(ctx.params, ctx.prefix),
        layerLambdaInit(ctx.config, ctx.layer),
      ),
    },
  }),
  combineBackward(ctx, grads, dLambda) {
    reparameterisedLambdaBackward(
      lambdaVectors(ctx.params, ctx.prefix),
      dLambda as number,
      lambdaVectors(grads, ctx.prefix),
    );
  },
  postCombineSteps,
  postCombine(ctx, heads, vDim) {
    const { backend, config: c } = ctx;
    const { norm, scale } = postCombineSteps(c, ctx.layer);
    let merged: Floats;
    let tape: { rstd: Floats } | undefined;
    if (!norm) merged = heads.slice();
    else {
      const y = backend.rmsNormForward(
        heads,
        ctx.params.get(`${ctx.prefix}${norm.weight}`)!,
        ctx.rows * c.n_heads,
        vDim,
        norm.eps,
      );
      merged = y.y;
      tape = { rstd: y.rstd };
    }
    backend.scaleInPlace(merged, scale);
    return { merged, tape };
  },
  postCombineBackward(ctx, grads, dMerged, heads, tape, vDim) {
    const { backend, config: c } = ctx;
    const { norm, scale } = postCombineSteps(c, ctx.layer);
    backend.scaleInPlace(dMerged, scale);
    if (!norm) return dMerged;
    const w = `${ctx.prefix}${norm.weight}`;
    return backend.rmsNormBackward(
      dMerged,
      heads,
      ctx.params.get(w)!,
      (tape as { rstd: Floats }).rstd,
      ctx.rows * c.n_heads,
      vDim,
      grads.get(w)!,
    );
  },
  maps(backend, g, probs, combine) {
    const lambda = combine.kind === 'scalar' ? combine.lambda : Number.NaN;
    return { ...splitPairMaps(backend, g, probs, () => lambda), lambda: backend.fromArray([lambda]) };
  },
  views: { main: { key: 'diff', name: 'diff', title: 'A1 − λ·A2' }, parts: [...PAIR_PARTS] },
  lambdaReadout: (combine) => (combine.kind === 'scalar' ? combine.lambda : undefined),
  lambdaInit: layerLambdaInit,
  weightLambda(c, params, layer) {
    const vectors = lambdaVectors(params as NamedArrays, attentionPrefix(layer));
    return reparameterisedLambda(vectors, layerLambdaInit(c, layer));
  },
  /** DiffLlama: its per-head norm has no weight and uses rms_norm_eps; λ_init always follows depth. */
  huggingFace: {
    modelType: 'diffllama',
    architecture: 'DiffLlamaForCausalLM',
    defaultNormEps: 1e-5,
    mapsPerHead: 2,
    extraConfig: { lambda_std_dev: 0.1 },
    foldedIntoOutput: SUBLN_WEIGHT,
    exportObstacle(c) {
      if (c.subln === false)
        return 'DiffLlama always has the per-head norm: this model was trained without it (subln false)';
      if (c.lambda_init !== undefined)
        return `DiffLlama's λ_init follows the depth schedule: this model uses a constant lambda_init ${c.lambda_init}`;
      if (c.subln_eps !== c.norm_eps)
        return `DiffLlama's per-head norm uses rms_norm_eps: subln_eps ${c.subln_eps} must equal norm_eps ${c.norm_eps}`;
      return undefined;
    },
  },
};
