/**
 * What an attention variant is, behind one interface: everything the model, the tools and the web app
 * need to know about a variant, so that none of them tests its name. The decoder around the attention
 * (src/model/lm.ts) and the attention sub-layer (src/model/attention.ts) are the same for all
 * variants; a variant supplies (1) its config rules and head geometry, (2) its parameters, (3) the
 * combine of head pairs the backend's attention op needs (and the gradient of what produced it),
 * (4) what runs after the combine, (5) the maps it exposes, (6) its λ readout, (7) its label, and
 * (8) the facts the interchange formats (src/interchange) need about it: its Hugging Face
 * counterpart, if any, and its λ and post-combine steps as data, for exporters that rebuild the
 * forward as a graph (ONNX).
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

/**
 * The transformers model a variant is written as (SPEC §5–6), as far as it differs per variant; what
 * holds for every Hugging Face model (o_proj, rotate_half RoPE, config fields) is src/interchange's.
 */
export interface HfCounterpart {
  /** config.json model_type, e.g. "diffllama". */
  readonly modelType: string;
  /** config.json architectures[0], e.g. "DiffLlamaForCausalLM". */
  readonly architecture: string;
  /** rms_norm_eps when config.json omits it: the transformers default of this model type. */
  readonly defaultNormEps: number;
  /**
   * Attention maps per head of ours, as the counterpart counts heads. 2 (DiffLlama):
   * num_attention_heads = 2·n_heads, num_key_value_heads = 2·n_kv_heads, and q/k/v rows are [2, H, d]
   * where ours are [H, 2, d].
   */
  readonly mapsPerHead: 1 | 2;
  /** config.json fields only this model type writes, appended after the common ones. */
  readonly extraConfig: Readonly<Record<string, unknown>>;
  /**
   * A parameter of ours (under "…self_attn.") the counterpart does not have: all ones on import;
   * on export multiplied into the columns of the output projection, and not written.
   */
  readonly foldedIntoOutput?: string;
  /** Why a config of this variant cannot be written as the counterpart (undefined when it can). */
  exportObstacle?(c: ModelConfig): string | undefined;
}

/**
 * What runs after the combine, as data (V1: per-head RMSNorm, then × (1 − λ_init)): `norm` is the
 * RMSNorm over each head's vDim channels, weight `norm.weight` (under "…self_attn."), absent when
 * there is none; then every channel is multiplied by `scale`.
 */
export interface PostCombineSteps {
  norm?: { weight: string; eps: number };
  scale: number;
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
  /** Name (under "…self_attn.") of the projection x·Wᵀ whose sigmoid is λ (lambdaKind 'token'). */
  readonly lambdaProjection?: string;
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
  /** What postCombine computes for a layer, as data, for graph exporters; present exactly when postCombine is. */
  postCombineSteps?(c: ModelConfig, layer: number): PostCombineSteps;
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

  /** The Hugging Face model this variant is imported from and exported as; absent: none. */
  readonly huggingFace?: HfCounterpart;
}
