/**
 * Hugging Face `config.json` (DiffLlama, Llama) ↔ our ModelConfig (SPEC §5).
 *
 * DiffLlama counts single attention maps: num_attention_heads = 2·n_heads and
 * num_key_value_heads = 2·n_kv_heads; its per-head norm has no weight and uses rms_norm_eps, so an
 * imported model gets subln_eps = norm_eps (and subln.weight = 1). Llama ↔ our baseline one to one.
 * Anything a Hugging Face config can say that our models cannot represent is refused, naming the
 * field and what was found; fields that do not change the function (dropout, init ranges, cache
 * flags, token ids) are accepted and ignored.
 */
import { ConfigError, type ModelConfig, parseConfig } from '../model/config.ts';

export type HfModelType = 'diffllama' | 'llama';

export const HF_ARCHITECTURES: Record<HfModelType, string> = {
  diffllama: 'DiffLlamaForCausalLM',
  llama: 'LlamaForCausalLM',
};

/** Written as max_position_embeddings on export: our RoPE has no length limit, HF configs need one. */
export const DEFAULT_MAX_POSITIONS = 2048;

export class InterchangeError extends Error {
  override name = 'InterchangeError';
}

type Json = Record<string, unknown>;

/** The model type of a Hugging Face config, refused unless we can import it. */
export function hfModelType(raw: Json, source: string): HfModelType {
  const type = raw.model_type;
  if (type === 'diffllama' || type === 'llama') return type;
  throw new InterchangeError(
    `${source}: model_type ${JSON.stringify(type)} cannot be imported (supported: "diffllama" → DIFF V1, "llama" → baseline)`,
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

/** A Hugging Face DiffLlama/Llama config → our config (validated by parseConfig as well). */
export function configFromHf(raw: Json, source: string): { config: ModelConfig; type: HfModelType } {
  const type = hfModelType(raw, source);
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
  if (type === 'diffllama' && (heads % 2 !== 0 || kvHeads % 2 !== 0))
    throw new InterchangeError(
      `${source}: a DIFF head pairs two maps (and two key heads): num_attention_heads ${heads} and num_key_value_heads ${kvHeads} must both be even`,
    );
  const eps = raw.rms_norm_eps ?? (type === 'diffllama' ? 1e-5 : 1e-6); // the HF defaults
  const tie = raw.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean')
    throw new InterchangeError(
      `${source}: tie_word_embeddings must be true or false, found ${JSON.stringify(tie)}`,
    );
  const pairs = type === 'diffllama' ? 2 : 1;
  try {
    const config = parseConfig(
      {
        variant: type === 'diffllama' ? 'diff' : 'baseline',
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
    return { config, type };
  } catch (error) {
    if (error instanceof ConfigError) throw new InterchangeError(error.message);
    throw error;
  }
}

/** Why a config cannot be exported to Hugging Face (undefined when it can). */
export function hfExportObstacle(c: ModelConfig): string | undefined {
  if (c.variant === 'diffv2') return 'DIFF V2 has no Hugging Face counterpart (export it with --format onnx)';
  if (c.variant === 'diff') {
    if (c.subln === false)
      return 'DiffLlama always has the per-head norm: this model was trained without it (subln false)';
    if (c.lambda_init !== undefined)
      return `DiffLlama's λ_init follows the depth schedule: this model uses a constant lambda_init ${c.lambda_init}`;
    if (c.subln_eps !== c.norm_eps)
      return `DiffLlama's per-head norm uses rms_norm_eps: subln_eps ${c.subln_eps} must equal norm_eps ${c.norm_eps}`;
  }
  return undefined;
}

export interface HfConfigOptions {
  maxPositions?: number;
  bosTokenId?: number;
  eosTokenId?: number;
}

/** Our config → a Hugging Face config.json object that AutoConfig reads as DiffLlama or Llama. */
export function configToHf(c: ModelConfig, o: HfConfigOptions = {}): Json {
  const obstacle = hfExportObstacle(c);
  if (obstacle) throw new InterchangeError(`cannot export to Hugging Face: ${obstacle}`);
  const type: HfModelType = c.variant === 'diff' ? 'diffllama' : 'llama';
  const pairs = type === 'diffllama' ? 2 : 1;
  const json: Json = {
    architectures: [HF_ARCHITECTURES[type]],
    model_type: type,
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
  if (type === 'diffllama') json.lambda_std_dev = 0.1;
  else Object.assign(json, { mlp_bias: false, pretraining_tp: 1 });
  return json;
}
