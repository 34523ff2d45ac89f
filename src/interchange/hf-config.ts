/**
 * Hugging Face `config.json` ↔ our ModelConfig (SPEC §5), for every variant with a Hugging Face
 * counterpart (its module's `huggingFace`: DIFF V1 ↔ DiffLlama, baseline ↔ Llama).
 *
 * A counterpart may count single attention maps (DiffLlama: num_attention_heads = 2·n_heads and
 * num_key_value_heads = 2·n_kv_heads); its per-head norm, if it has one, uses rms_norm_eps, so an
 * imported model gets subln_eps = norm_eps. Anything a Hugging Face config can say that our models
 * cannot represent is refused, naming the field and what was found; fields that do not change the
 * function (dropout, init ranges, cache flags, token ids) are accepted and ignored.
 */
import { ConfigError, type ModelConfig, parseConfig } from '../model/config.ts';
import {
  type HfCounterpart,
  VARIANTS,
  type Variant,
  type VariantModule,
  variantModule,
} from '../model/variants/index.ts';

/** Written as max_position_embeddings on export: our RoPE has no length limit, HF configs need one. */
export const DEFAULT_MAX_POSITIONS = 2048;

export class InterchangeError extends Error {
  override name = 'InterchangeError';
}

type Json = Record<string, unknown>;

/** The variants that have a Hugging Face counterpart, in registry order. */
const COUNTERPARTS = VARIANTS.flatMap((variant) => {
  const module = variantModule(variant);
  return module.huggingFace ? [{ variant, label: module.label, hf: module.huggingFace }] : [];
});

/** The variant a Hugging Face config's model_type imports to, refused unless there is one. */
function counterpartOfHf(raw: Json, source: string): { variant: Variant; hf: HfCounterpart } {
  const found = COUNTERPARTS.find((c) => c.hf.modelType === raw.model_type);
  if (found) return found;
  const supported = COUNTERPARTS.map((c) => `${JSON.stringify(c.hf.modelType)} → ${c.label}`).join(', ');
  throw new InterchangeError(
    `${source}: model_type ${JSON.stringify(raw.model_type)} cannot be imported (supported: ${supported})`,
  );
}

/** Refuse every field whose value changes the model's function in a way we do not implement. */
function refuseUnsupported(raw: Json, source: string): void {
  const refuse = (field: string, why: string): never => {
    throw new InterchangeError(`${source}: ${field} ${JSON.stringify(raw[field])} is not supported (${why})`);
  };
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') refuse('hidden_act', 'our MLP is SwiGLU: expected "silu"');
  for (const field of ['attention_bias', 'mlp_bias'])
    if (raw[field] !== undefined && raw[field] !== false) refuse(field, 'our projections have no bias');
  if (raw.rope_scaling !== undefined && raw.rope_scaling !== null) {
    const type = (raw.rope_scaling as Json).rope_type ?? (raw.rope_scaling as Json).type;
    if (type !== 'default') refuse('rope_scaling', 'only plain RoPE: expected null');
  }
  const params = raw.rope_parameters as Json | undefined;
  if (params !== undefined && params !== null) {
    if (typeof params !== 'object' || (params.rope_type ?? 'default') !== 'default')
      refuse('rope_parameters', 'only plain RoPE: expected rope_type "default"');
    const extra = Object.keys(params).filter((k) => k !== 'rope_type' && k !== 'rope_theta');
    if (extra.length) refuse('rope_parameters', `only plain RoPE: unexpected ${extra.join(', ')}`);
  }
  if (raw.partial_rotary_factor !== undefined && raw.partial_rotary_factor !== 1)
    refuse('partial_rotary_factor', 'RoPE rotates the whole head: expected 1');
  if (raw.quantization_config !== undefined) refuse('quantization_config', 'weights must be float');
  if (raw.sliding_window !== undefined && raw.sliding_window !== null)
    refuse('sliding_window', 'attention is fully causal: expected null');
}

function positiveInteger(raw: Json, field: string, source: string): number {
  const v = raw[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new InterchangeError(`${source}: ${field} must be a positive integer, found ${JSON.stringify(v)}`);
  return v;
}

function ropeTheta(raw: Json, source: string): number {
  const params = raw.rope_parameters as Json | undefined;
  const theta = raw.rope_theta ?? params?.rope_theta ?? 10000;
  if (typeof theta !== 'number' || !(theta > 0))
    throw new InterchangeError(
      `${source}: rope_theta must be a positive number, found ${JSON.stringify(theta)}`,
    );
  return theta;
}

/** A Hugging Face config → our config (validated by parseConfig as well); `type`: its model_type. */
export function configFromHf(raw: Json, source: string): { config: ModelConfig; type: string } {
  const { variant, hf } = counterpartOfHf(raw, source);
  const pairs = hf.mapsPerHead;
  refuseUnsupported(raw, source);
  const hidden = positiveInteger(raw, 'hidden_size', source);
  const heads = positiveInteger(raw, 'num_attention_heads', source);
  const kvHeads =
    raw.num_key_value_heads === undefined ? heads : positiveInteger(raw, 'num_key_value_heads', source);
  if (heads % kvHeads !== 0)
    throw new InterchangeError(
      `${source}: num_key_value_heads ${kvHeads} must divide num_attention_heads ${heads}`,
    );
  let headDim: number;
  if (raw.head_dim === undefined || raw.head_dim === null) {
    if (hidden % heads !== 0)
      throw new InterchangeError(
        `${source}: head_dim is missing and hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`,
      );
    headDim = hidden / heads;
  } else headDim = positiveInteger(raw, 'head_dim', source);
  if (heads * headDim !== hidden)
    throw new InterchangeError(
      `${source}: num_attention_heads·head_dim = ${heads}·${headDim} ≠ hidden_size ${hidden} (our models need them equal)`,
    );
  if (heads % pairs !== 0 || kvHeads % pairs !== 0)
    throw new InterchangeError(
      `${source}: a DIFF head pairs two maps (and two key heads): num_attention_heads ${heads} and num_key_value_heads ${kvHeads} must both be even`,
    );
  const eps = raw.rms_norm_eps ?? hf.defaultNormEps;
  const tie = raw.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean')
    throw new InterchangeError(
      `${source}: tie_word_embeddings must be true or false, found ${JSON.stringify(tie)}`,
    );
  try {
    const config = parseConfig(
      {
        variant,
        vocab_size: positiveInteger(raw, 'vocab_size', source),
        d_model: hidden,
        n_layers: positiveInteger(raw, 'num_hidden_layers', source),
        ffn_hidden: positiveInteger(raw, 'intermediate_size', source),
        n_heads: heads / pairs,
        n_kv_heads: kvHeads / pairs,
        head_dim: headDim,
        rope_theta: ropeTheta(raw, source),
        norm_eps: eps,
        subln_eps: eps,
        tie_embeddings: tie,
      },
      source,
    );
    return { config, type: hf.modelType };
  } catch (error) {
    if (error instanceof ConfigError) throw new InterchangeError(error.message);
    throw error;
  }
}

/** Why a variant cannot be exported to Hugging Face at all. */
const noCounterpart = (module: VariantModule) =>
  `${module.label} has no Hugging Face counterpart (export it with --format onnx)`;

/** Why a config cannot be exported to Hugging Face (undefined when it can). */
export function hfExportObstacle(c: ModelConfig): string | undefined {
  const module = variantModule(c);
  if (!module.huggingFace) return noCounterpart(module);
  return module.huggingFace.exportObstacle?.(c);
}

/** The Hugging Face counterpart of a config's variant, refused when it has none. */
export function hfCounterpart(c: ModelConfig): HfCounterpart {
  const module = variantModule(c);
  if (!module.huggingFace)
    throw new InterchangeError(`cannot export to Hugging Face: ${noCounterpart(module)}`);
  return module.huggingFace;
}

export interface HfConfigOptions {
  maxPositions?: number;
  bosTokenId?: number;
  eosTokenId?: number;
}

/** Our config → a Hugging Face config.json object that AutoConfig reads as the variant's counterpart. */
export function configToHf(c: ModelConfig, o: HfConfigOptions = {}): Json {
  const obstacle = hfExportObstacle(c);
  if (obstacle) throw new InterchangeError(`cannot export to Hugging Face: ${obstacle}`);
  const hf = hfCounterpart(c);
  const pairs = hf.mapsPerHead;
  const json: Json = {
    architectures: [hf.architecture],
    model_type: hf.modelType,
    vocab_size: c.vocab_size,
    hidden_size: c.d_model,
    intermediate_size: c.ffn_hidden,
    num_hidden_layers: c.n_layers,
    num_attention_heads: pairs * c.n_heads,
    num_key_value_heads: pairs * c.n_kv_heads,
    head_dim: c.head_dim,
    hidden_act: 'silu',
    max_position_embeddings: o.maxPositions ?? DEFAULT_MAX_POSITIONS,
    rms_norm_eps: c.norm_eps,
    rope_theta: c.rope_theta,
    rope_scaling: null,
    attention_bias: false,
    attention_dropout: 0.0,
    tie_word_embeddings: c.tie_embeddings,
    bos_token_id: o.bosTokenId ?? null,
    eos_token_id: o.eosTokenId ?? null,
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: 'float32',
  };
  return Object.assign(json, hf.extraConfig);
}
