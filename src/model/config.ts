/**
 * Model configuration (SPEC §5): the plain-data `config.json` of a model folder, its validation
 * (every error names the offending field, what was expected and what was found), and the
 * parameter-matched construction of DIFF configs from a baseline config (SPEC §1, §2).
 */
import { ConfigError } from './config-error.ts';
import { isVariant, VARIANTS, type Variant, variantModule } from './variants/index.ts';

export { ConfigError } from './config-error.ts';
export { lambdaInit, layerLambdaInit } from './lambda.ts';
export { matchedConfig, VARIANTS, type Variant } from './variants/index.ts';

export interface ModelConfig {
  /** "diff" (DIFF V1, the paper), "baseline" (standard Transformer), "diffv2" (official follow-up). */
  variant: Variant;
  /** Number of token ids. */
  vocab_size: number;
  /** Residual stream width D. */
  d_model: number;
  /** Number of decoder layers. */
  n_layers: number;
  /** SwiGLU hidden width F (the paper uses 8/3·d_model). */
  ffn_hidden: number;
  /** V1: DIFF heads (half the baseline's); baseline and V2: heads. */
  n_heads: number;
  /** Key/value heads (= n_heads without grouped-query attention). */
  n_kv_heads: number;
  /** d: width of a query/key (sub-)head. V1: d_model = 2·n_heads·d; baseline and V2: d_model = n_heads·d. */
  head_dim: number;
  /** RoPE base θ. */
  rope_theta: number;
  /** RMSNorm epsilon of the decoder norms. */
  norm_eps: number;
  /** RMSNorm epsilon of the per-head norm of DIFF V1. */
  subln_eps: number;
  /** Use the embedding matrix as the output head (no lm_head.weight). */
  tie_embeddings: boolean;
  /** Ablation (V1 only): false removes the per-head RMSNorm ("DIFF w/o GroupNorm"). Default true. */
  subln?: boolean;
  /** Ablation (V1 only): a constant λ_init for every layer instead of 0.8 − 0.6·exp(−0.3·depth). */
  lambda_init?: number;
  /** Ablation (V1 only): initial value of the per-head RMSNorm weight (default 1; smaller starts the attention branch quieter). */
  subln_init?: number;
}

const DEFAULTS = { rope_theta: 10000, norm_eps: 1e-5, subln_eps: 1e-5, tie_embeddings: false };
const INTEGER_FIELDS = [
  'vocab_size',
  'd_model',
  'n_layers',
  'ffn_hidden',
  'n_heads',
  'n_kv_heads',
  'head_dim',
] as const;
const FLOAT_FIELDS = ['rope_theta', 'norm_eps', 'subln_eps'] as const;
/** Keys that Hugging Face tooling writes into config.json and that carry no model meaning here. */
const IGNORED_KEYS = new Set(['model_type', 'architectures', 'torch_dtype', 'transformers_version']);
const ABLATION_KEYS = ['subln', 'lambda_init', 'subln_init'] as const;
const KNOWN_KEYS = new Set<string>([
  'variant',
  ...INTEGER_FIELDS,
  ...FLOAT_FIELDS,
  'tie_embeddings',
  ...ABLATION_KEYS,
]);

/** Parse and validate a config object (e.g. the contents of config.json), filling the defaults. */
export function parseConfig(json: unknown, source = 'config'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(
      `${source}: expected a JSON object, found ${Array.isArray(json) ? 'an array' : typeof json}`,
    );
  }
  const raw = json as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key) && !IGNORED_KEYS.has(key) && !key.startsWith('_')) {
      throw new ConfigError(
        `${source}: unknown field "${key}" (known fields: ${[...KNOWN_KEYS].join(', ')})`,
      );
    }
  }
  const present = Object.entries(raw).filter(([, value]) => value !== undefined && value !== null);
  const config = { ...DEFAULTS, ...Object.fromEntries(present) } as Record<string, unknown>;
  if (!isVariant(config.variant)) {
    throw new ConfigError(
      `${source}: variant must be one of ${VARIANTS.join(', ')}, found ${JSON.stringify(config.variant)}`,
    );
  }
  for (const field of INTEGER_FIELDS) {
    const value = config[field];
    if (value === undefined) throw new ConfigError(`${source}: missing field ${field}`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(`${source}: ${field} must be a positive integer, found ${JSON.stringify(value)}`);
    }
  }
  for (const field of FLOAT_FIELDS) {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new ConfigError(`${source}: ${field} must be a positive number, found ${JSON.stringify(value)}`);
    }
  }
  if (typeof config.tie_embeddings !== 'boolean') {
    throw new ConfigError(
      `${source}: tie_embeddings must be true or false, found ${JSON.stringify(config.tie_embeddings)}`,
    );
  }
  const parsed: ModelConfig = {
    variant: config.variant as Variant,
    vocab_size: config.vocab_size as number,
    d_model: config.d_model as number,
    n_layers: config.n_layers as number,
    ffn_hidden: config.ffn_hidden as number,
    n_heads: config.n_heads as number,
    n_kv_heads: config.n_kv_heads as number,
    head_dim: config.head_dim as number,
    rope_theta: config.rope_theta as number,
    norm_eps: config.norm_eps as number,
    subln_eps: config.subln_eps as number,
    tie_embeddings: config.tie_embeddings as boolean,
  };
  if (config.subln !== undefined) {
    if (typeof config.subln !== 'boolean')
      throw new ConfigError(`${source}: subln must be true or false, found ${JSON.stringify(config.subln)}`);
    if (!config.subln) parsed.subln = false;
  }
  if (config.lambda_init !== undefined) {
    const v = config.lambda_init;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ConfigError(`${source}: lambda_init must be a number, found ${JSON.stringify(v)}`);
    parsed.lambda_init = v;
  }
  if (config.subln_init !== undefined) {
    const v = config.subln_init;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new ConfigError(`${source}: subln_init must be a positive number, found ${JSON.stringify(v)}`);
    parsed.subln_init = v;
  }
  const extra = variantModule(parsed).extraConfigKeys;
  const foreign = ABLATION_KEYS.filter((key) => parsed[key] !== undefined && !extra.includes(key));
  if (foreign.length) {
    const owner = VARIANTS.map(variantModule).find((v) =>
      foreign.every((k) => v.extraConfigKeys.includes(k)),
    );
    const keys = owner ? listed(owner.extraConfigKeys) : listed(foreign);
    throw new ConfigError(
      `${source}: ${keys} apply to variant ${owner?.name ?? 'none'} only, found variant ${parsed.variant}`,
    );
  }
  checkGeometry(parsed, source);
  return parsed;
}

/** The relations between widths and head counts that each variant needs. */
function checkGeometry(c: ModelConfig, source: string): void {
  const { d_model: D, n_heads: H, n_kv_heads: Hkv, head_dim: d } = c;
  const { width, formula } = variantModule(c).width(c);
  if (D !== width)
    throw new ConfigError(`${source}: d_model ${D} ≠ ${formula} = ${width} (variant ${c.variant})`);
  if (d % 2 !== 0)
    throw new ConfigError(`${source}: head_dim must be even for rotary embeddings, found ${d}`);
  if (Hkv > H || H % Hkv !== 0) {
    throw new ConfigError(`${source}: n_kv_heads ${Hkv} must divide n_heads ${H} (grouped-query attention)`);
  }
}

/** Serialisable form, fields in the documented order. */
export function configToJSON(c: ModelConfig): ModelConfig {
  const { variant, vocab_size, d_model, n_layers, ffn_hidden, n_heads, n_kv_heads, head_dim } = c;
  const { rope_theta, norm_eps, subln_eps, tie_embeddings } = c;
  const json: ModelConfig = {
    variant,
    vocab_size,
    d_model,
    n_layers,
    ffn_hidden,
    n_heads,
    n_kv_heads,
    head_dim,
    rope_theta,
    norm_eps,
    subln_eps,
    tie_embeddings,
  };
  if (c.subln === false) json.subln = false;
  if (c.lambda_init !== undefined) json.lambda_init = c.lambda_init;
  if (c.subln_init !== undefined) json.subln_init = c.subln_init;
  return json;
}

/** "a", "a and b", "a, b and c" */
function listed(words: readonly string[]): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}
