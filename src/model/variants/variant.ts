/**
 * What an attention variant is, behind one interface: everything the model, the tools and the web app
 * need to know about a variant, so that none of them tests its name. The decoder around the attention
 * (src/model/lm.ts) and the attention sub-layer (src/model/attention.ts) are the same for all
 * variants; a variant supplies (1) its config rules and head geometry, (2) its parameters, (3) the
 * combine of head pairs the backend's attention op needs (and the gradient of what produced it),
 * (4) what runs after the combine, (5) the maps it exposes, (6) its λ readout, and (7) its label.
 *
 * Every new variant is one file in this folder plus one line in ./index.ts.
 */
import type { AttentionGeometry, Backend, DifferentialCombine, Floats } from '../../core/backend.ts';
import type { ModelConfig, Variant } from '../config.ts';

/** Attention maps of one layer, as the reference fixtures name them. */
export interface LayerMaps {
  /** V1 and V2: first softmax map [B, H, T, S]. */
  a1?: Floats;
  /** V1 and V2: second softmax map [B, H, T, S]. */
  a2?: Floats;
  /** V1 and V2: the effective signed map A1 − λ·A2 [B, H, T, S] (V2: λ of the query token). */
  diff?: Floats;
  /** V1: [1]; V2: [B, T, H] after the sigmoid. */
  lambda?: Floats;
  /** Baseline: softmax map [B, H, T, S]. */
  p?: Floats;
}

/** Parameters and gradients by name (src/model/parameters.ts). */
export type NamedArrays = { get(name: string): Floats | undefined };

/** One layer's attention, as a variant's hooks see it. */
export interface LayerContext {
  backend: Backend;
  config: ModelConfig;
  layer: number;
  /** "model.layers.{layer}.self_attn." */
  prefix: string;
  params: NamedArrays;
  /** B·T */
  rows: number;
}

/** How a map is shown: its key in LayerMaps, a short name for the drawing, a title. */
export interface MapView {
  key: keyof LayerMaps;
  name: string;
  title: string;
}

export interface VariantModule {
  readonly name: Variant;
  /** Display label: "DIFF V1", "Baseline", "DIFF V2". */
  readonly label: string;
  /** Whether head pairs are combined differentially (A1 − λ·A2). */
  readonly differential: boolean;
  /** How λ exists: not at all, one per layer (from weights), per token and head (from the input). */
  readonly lambdaKind: 'none' | 'layer' | 'token';
  /** What the per-layer λ readout of the forward is (`ForwardResult.lambdas`), for charts. */
  readonly lambdaReadoutName?: string;
  /** Config fields only this variant accepts (ablations). */
  readonly extraConfigKeys: readonly (keyof ModelConfig)[];
  /** d_model in terms of the heads, e.g. { width: 2·H·d, formula: "2·n_heads·head_dim" }. */
  width(c: ModelConfig): { width: number; formula: string };
  /** The config of this variant parameter-matched to a baseline config (SPEC §1, §2). */
  matched(baseline: ModelConfig): ModelConfig;
  /** Head layout as the attention op sees it (SPEC §1–3). */
  geometry(c: ModelConfig, batch: number, seqQ: number, seqK: number): AttentionGeometry;
  /** Name (under "…self_attn.") of the output projection. */
  readonly outputProjection: string;
  /** Shapes of the attention parameters, names under "…self_attn.", in canonical order. */
  attentionShapes(c: ModelConfig): Array<[string, number[]]>;
  /** Initial value of a variant's own parameter (name under "…self_attn."), undefined: the common rule. */
  initOf?(c: ModelConfig, name: string): { std: number } | { fill: number } | undefined;

  /** The combine the backend's attention op needs, from the layer's weights and its input x [rows, D]. */
  combine(ctx: LayerContext, x: Floats): { combine: DifferentialCombine; tape?: Floats };
  /** Backward of `combine`: accumulate λ's parameter gradients; add its input gradient into dx. */
  combineBackward?(
    ctx: LayerContext,
    grads: NamedArrays,
    dLambda: number | Floats | undefined,
    tape: Floats | undefined,
    x: Floats,
    dx: Floats,
  ): void;
  /** What runs on the combined heads [rows, heads, vDim] before the output projection (V1: norm, scale). */
  postCombine?(ctx: LayerContext, heads: Floats, vDim: number): { merged: Floats; tape?: unknown };
  postCombineBackward?(
    ctx: LayerContext,
    grads: NamedArrays,
    dMerged: Floats,
    heads: Floats,
    tape: unknown,
    vDim: number,
  ): Floats;

  /** Split the op's maps [B, qHeads, T, S] into the maps this variant exposes. */
  maps(backend: Backend, g: AttentionGeometry, probs: Floats, combine: DifferentialCombine): LayerMaps;
  /** The maps a viewer shows: the main one (signed when differential) and its parts. */
  readonly views: { main: MapView; parts: MapView[] };
  /** The λ readout of one forward: V1 the layer's λ, V2 mean sigmoid λ, baseline undefined. */
  lambdaReadout(combine: DifferentialCombine): number | undefined;
  /** λ_init of a layer, for variants whose λ has one. */
  lambdaInit?(c: ModelConfig, layer: number): number;
  /** λ per layer read from the weights alone, for variants whose λ does not depend on the input. */
  weightLambda?(
    c: ModelConfig,
    params: { get(name: string): ArrayLike<number> | undefined },
    layer: number,
  ): number;
}
