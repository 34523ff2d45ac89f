/**
 * Parameter names and shapes (SPEC §6, the Hugging Face Llama convention with the official attention
 * names), initialisation (SPEC §6b) and counting by group.
 *
 * Initialisation, the same for all variants: linear weights N(0, 0.02²), with the residual output
 * projections (out_proj / o_proj, down_proj) scaled by 1/√(2·n_layers) as in GPT-2; embedding
 * N(0, 1/d_model) as in the official DIFF codebase (torchscale); norm weights 1; DIFF V1 λ vectors
 * N(0, 0.1²); DIFF V2 lambda_proj N(0, 0.02²).
 *
 * Why the embedding is not GPT-2's N(0, 0.02²): DIFF V1's per-head RMSNorm gives its attention branch
 * unit scale whatever the residual stream's, so with a 0.02 residual stream the branch drowns the
 * token identity at the start of training; measured on the nano preset (600 steps) DIFF V1 then
 * trailed the baseline by 0.29 nats, against 0.03 with this initialisation.
 */
import type { Backend, Floats } from '../core/backend.ts';
import type { Rng } from '../core/rng.ts';
import type { ModelConfig } from './config.ts';
import { attentionPrefix, layerPrefix } from './names.ts';
import { variantModule } from './variants/index.ts';

export { attentionPrefix, layerPrefix } from './names.ts';

export type ParameterSet = Map<string, Floats>;

/** Every parameter name with its shape, in canonical order. */
export function parameterShapes(c: ModelConfig): Map<string, number[]> {
  const { vocab_size: V, d_model: D, ffn_hidden: F } = c;
  const attention = variantModule(c).attentionShapes(c);
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [V, D]);
  for (let l = 0; l < c.n_layers; l++) {
    const p = layerPrefix(l);
    const a = attentionPrefix(l);
    shapes.set(`${p}input_layernorm.weight`, [D]);
    for (const [name, shape] of attention) shapes.set(a + name, [...shape]);
    shapes.set(`${p}post_attention_layernorm.weight`, [D]);
    shapes.set(`${p}mlp.gate_proj.weight`, [F, D]);
    shapes.set(`${p}mlp.up_proj.weight`, [F, D]);
    shapes.set(`${p}mlp.down_proj.weight`, [D, F]);
  }
  shapes.set('model.norm.weight', [D]);
  if (!c.tie_embeddings) shapes.set('lm_head.weight', [V, D]);
  return shapes;
}

export const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Which group a parameter belongs to, for `info` and for weight-decay rules. */
export type ParameterGroup = 'embedding' | 'attention' | 'lambda' | 'norm' | 'mlp' | 'head';

export function parameterGroup(name: string): ParameterGroup {
  if (name === 'model.embed_tokens.weight') return 'embedding';
  if (name === 'lm_head.weight') return 'head';
  if (name.includes('.mlp.')) return 'mlp';
  if (name.includes('lambda_')) return 'lambda';
  if (name.endsWith('norm.weight') || name.endsWith('layernorm.weight') || name.includes('.subln.'))
    return 'norm';
  return 'attention';
}

export function countParameters(c: ModelConfig): { total: number; byGroup: Record<ParameterGroup, number> } {
  const byGroup: Record<ParameterGroup, number> = {
    embedding: 0,
    attention: 0,
    lambda: 0,
    norm: 0,
    mlp: 0,
    head: 0,
  };
  let total = 0;
  for (const [name, shape] of parameterShapes(c)) {
    const n = sizeOf(shape);
    byGroup[parameterGroup(name)] += n;
    total += n;
  }
  return { total, byGroup };
}

/** Fresh parameters drawn from `rng` as documented at the top of this file. */
export function initParameters(c: ModelConfig, backend: Backend, rng: Rng): ParameterSet {
  const params: ParameterSet = new Map();
  const residualStd = 0.02 / Math.sqrt(2 * c.n_layers);
  const variant = variantModule(c);
  const residualOutputs = [`${variant.outputProjection}.weight`, 'down_proj.weight'];
  for (const [name, shape] of parameterShapes(c)) {
    const data = backend.zeros(sizeOf(shape));
    const group = parameterGroup(name);
    const own = name.includes('.self_attn.') ? variant.initOf?.(c, name.split('.self_attn.')[1]) : undefined;
    if (own && 'fill' in own) data.fill(own.fill);
    else if (!own && group === 'norm') data.fill(1);
    else {
      const std = own
        ? own.std
        : residualOutputs.some((suffix) => name.endsWith(`.${suffix}`))
          ? residualStd
          : group === 'embedding'
            ? 1 / Math.sqrt(c.d_model)
            : 0.02;
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    }
    params.set(name, data);
  }
  return params;
}

/** How a set of named tensors differs from the parameters of a config (names in canonical order). */
export function tensorMismatches(
  c: ModelConfig,
  tensors: ReadonlyMap<string, { shape: readonly number[] }>,
): { missing: string[]; unexpected: string[]; misshapen: string[] } {
  const expected = parameterShapes(c);
  const missing: string[] = [];
  const misshapen: string[] = [];
  for (const [name, shape] of expected) {
    const found = tensors.get(name);
    if (!found) missing.push(name);
    else if (found.shape.length !== shape.length || found.shape.some((n, i) => n !== shape[i])) {
      misshapen.push(`${name}: expected [${shape.join(', ')}], found [${found.shape.join(', ')}]`);
    }
  }
  const unexpected = [...tensors.keys()].filter((name) => !expected.has(name));
  return { missing, unexpected, misshapen };
}

/** Zero-filled arrays with the same names and sizes (gradients, optimiser moments). */
export function zerosLike(params: ParameterSet, backend: Backend): ParameterSet {
  const out: ParameterSet = new Map();
  for (const [name, value] of params) out.set(name, backend.zeros(value.length));
  return out;
}
