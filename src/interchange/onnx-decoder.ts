/**
 * The decoder of any variant (SPEC §1–4) as one ONNX graph with a KV cache, in the input/output
 * convention of transformers.js and Optimum decoders:
 *   inputs  input_ids [B, T] int64, attention_mask [B, P + T] int64, position_ids [B, T] int64,
 *           past_key_values.{l}.key [B, kHeads, P, d], past_key_values.{l}.value [B, vHeads, P, vDim]
 *   outputs logits [B, T, V], present.{l}.key [B, kHeads, P + T, d], present.{l}.value [B, vHeads, P + T, vDim]
 * with our head geometry (attentionGeometry: V1 caches 2·Hkv key sub-heads and Hkv 2d-wide values),
 * interleaved RoPE (angles in float64 as in our kernels), a bottom-right causal mask combined with
 * attention_mask, and the variant's combine (its module says which): none, or O_{2i} − λ·O_{2i+1}
 * with a λ per layer read from the weights (V1) or sigmoid(x·W_λᵀ) per token and head (V2), then
 * the variant's post-combine steps (V1: the per-head RMSNorm × (1 − λ_init)).
 */
import type { Floats } from '../core/backend.ts';
import { attentionGeometry } from '../model/attention.ts';
import type { ModelConfig } from '../model/config.ts';
import { layerPrefix, type ParameterSet } from '../model/parameters.ts';
import { variantModule } from '../model/variants/index.ts';
import { GraphBuilder, TYPES, type ValueInfo } from './onnx-graph.ts';

/** Scores of masked positions: the lowest float, so a fully masked row stays finite. */
const MASKED = -3.4028234663852886e38;

export interface OnnxDecoder {
  bytes: Uint8Array;
  nodes: number;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export function buildOnnxDecoder(
  c: ModelConfig,
  params: ParameterSet,
  o: { fp16?: boolean } = {},
): OnnxDecoder {
  const g = new GraphBuilder(o.fp16 ?? false);
  const variant = variantModule(c);
  const geo = attentionGeometry(c, 1, 1, 1);
  const { qHeads, kHeads, vHeads, qkDim: d, vDim } = geo;
  const D = c.d_model;
  const weight = (name: string) => {
    const p = params.get(name);
    if (!p) throw new Error(`cannot export: parameter ${name} is missing`);
    return p;
  };
  // Matrices may be stored as float16; vectors (norm weights, V1's gains) always stay float32.
  const constant = (data: Floats, dims: number[]) => g.constant('float', data, dims, dims.length === 2);
  const stored = new Map<string, string>();
  /** The initializer of a parameter (one per name: a tied embedding is stored once). */
  const param = (name: string, dims: number[]) => {
    if (!stored.has(name)) stored.set(name, constant(weight(name), dims));
    return stored.get(name)!;
  };
  /** x [.., in] · Wᵀ with W [out, in] as stored (the Transpose of a constant folds at load). */
  const linear = (x: string, name: string, out: number, inDim: number) =>
    g.op('MatMul', [x, g.op('Transpose', [param(name, [out, inDim])], { perm: [1, 0] })]);
  const rmsNorm = (x: string, w: string | undefined, eps: number) => {
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const y = g.op('Mul', [x, g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.scalar(eps)])])])]);
    return w ? g.op('Mul', [y, w]) : y;
  };

  const inputs: ValueInfo[] = [
    { name: 'input_ids', type: 'int64', shape: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', type: 'int64', shape: ['batch_size', 'total_sequence_length'] },
    { name: 'position_ids', type: 'int64', shape: ['batch_size', 'sequence_length'] },
  ];
  const outputs: ValueInfo[] = [
    { name: 'logits', type: 'float', shape: ['batch_size', 'sequence_length', c.vocab_size] },
  ];
  for (let l = 0; l < c.n_layers; l++) {
    inputs.push(
      {
        name: `past_key_values.${l}.key`,
        type: 'float',
        shape: ['batch_size', kHeads, 'past_sequence_length', d],
      },
      {
        name: `past_key_values.${l}.value`,
        type: 'float',
        shape: ['batch_size', vHeads, 'past_sequence_length', vDim],
      },
    );
    outputs.push(
      { name: `present.${l}.key`, type: 'float', shape: ['batch_size', kHeads, 'total_sequence_length', d] },
      {
        name: `present.${l}.value`,
        type: 'float',
        shape: ['batch_size', vHeads, 'total_sequence_length', vDim],
      },
    );
  }

  // RoPE tables from position_ids, in float64: angle[b, t, j] = p·θ^(−2j/d) → cos, sin [B, 1, T, d/2]
  const invFreq = Array.from({ length: d / 2 }, (_, j) => 1 / c.rope_theta ** ((2 * j) / d));
  const angle = g.op('Mul', [
    g.op('Unsqueeze', [g.op('Cast', ['position_ids'], { to: TYPES.double }), g.ints([-1])]),
    g.constant('double', invFreq, [d / 2]),
  ]);
  const table = (fn: string) =>
    g.op('Unsqueeze', [g.op('Cast', [g.op(fn, [angle])], { to: TYPES.float }), g.ints([1])]);
  const cos = table('Cos');
  const sin = table('Sin');
  /** x [B, h, T, d]: pairs (2j, 2j+1) rotated. */
  const rope = (x: string) => {
    const pairs = g.op('Reshape', [x, g.ints([0, 0, 0, -1, 2])]); // [B, h, T, d/2, 2]
    const x0 = g.op('Gather', [pairs, g.constant('int64', [0n], [])], { axis: 4 });
    const x1 = g.op('Gather', [pairs, g.constant('int64', [1n], [])], { axis: 4 });
    const y0 = g.op('Sub', [g.op('Mul', [x0, cos]), g.op('Mul', [x1, sin])]);
    const y1 = g.op('Add', [g.op('Mul', [x0, sin]), g.op('Mul', [x1, cos])]);
    const last = g.ints([-1]);
    const y = g.op('Concat', [g.op('Unsqueeze', [y0, last]), g.op('Unsqueeze', [y1, last])], { axis: -1 });
    return g.op('Reshape', [y, g.op('Shape', [x])]);
  };

  // Mask [B, 1, T, S]: key s is visible from query t iff s ≤ P + t and attention_mask[b, s] = 1.
  const scalarOf = (x: string) => g.op('Squeeze', [x, g.ints([0])]);
  const total = scalarOf(g.op('Shape', ['attention_mask'], { start: 1, end: 2 }));
  const fresh = scalarOf(g.op('Shape', ['input_ids'], { start: 1, end: 2 }));
  const one = g.constant('int64', [1n], []);
  const queryPos = g.op('Range', [g.op('Sub', [total, fresh]), total, one]); // [T]
  const keyPos = g.op('Range', [g.constant('int64', [0n], []), total, one]); // [S]
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [keyPos, g.ints([0])]),
    g.op('Unsqueeze', [queryPos, g.ints([1])]),
  ]);
  const padding = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: TYPES.bool }), g.ints([1, 2])]);
  const visible = g.op('And', [causal, padding]);
  const masked = g.scalar(MASKED);
  const scale = g.scalar(1 / Math.sqrt(d));
  const kHeadOf = g.constant('int64', [...geo.kHeadOf].map(BigInt), [qHeads]);
  const vHeadOf = g.constant('int64', [...geo.vHeadOf].map(BigInt), [qHeads]);
  const heads = (x: string, h: number, w: number) =>
    g.op('Transpose', [g.op('Reshape', [x, g.ints([0, 0, h, w])])], { perm: [0, 2, 1, 3] }); // [B, h, T, w]

  /** λ of a layer, broadcastable over the head pairs' outputs [B, H, T, vDim]; h: the attention input. */
  const lambdaOf = (l: number, a: string, h: string): string => {
    if (variant.lambdaKind === 'layer') return g.scalar(variant.weightLambda!(c, params, l));
    if (variant.lambdaKind === 'token') {
      const z = linear(h, `${a}${variant.lambdaProjection}.weight`, c.n_heads, D); // [B, T, H]
      return g.op('Unsqueeze', [
        g.op('Transpose', [g.op('Sigmoid', [z])], { perm: [0, 2, 1] }),
        g.ints([-1]),
      ]); // [B, H, T, 1]
    }
    throw new Error(`cannot export: ${variant.label} combines head pairs but has no λ`);
  };

  let x = g.op('Gather', [param('model.embed_tokens.weight', [c.vocab_size, D]), 'input_ids'], { axis: 0 }); // [B, T, D]
  for (let l = 0; l < c.n_layers; l++) {
    const p = layerPrefix(l);
    const a = `${p}self_attn.`;
    const h = rmsNorm(x, param(`${p}input_layernorm.weight`, [D]), c.norm_eps);
    const q = rope(heads(linear(h, `${a}q_proj.weight`, qHeads * d, D), qHeads, d)); // [B, qHeads, T, d]
    const k = rope(heads(linear(h, `${a}k_proj.weight`, kHeads * d, D), kHeads, d)); // [B, kHeads, T, d]
    const v = heads(linear(h, `${a}v_proj.weight`, vHeads * vDim, D), vHeads, vDim); // [B, vHeads, T, vDim]
    const keys = g.op('Concat', [`past_key_values.${l}.key`, k], { axis: 2 }, `present.${l}.key`); // [B, kHeads, S, d]
    const values = g.op('Concat', [`past_key_values.${l}.value`, v], { axis: 2 }, `present.${l}.value`);
    const kx = g.op('Gather', [keys, kHeadOf], { axis: 1 }); // [B, qHeads, S, d]
    const vx = g.op('Gather', [values, vHeadOf], { axis: 1 }); // [B, qHeads, S, vDim]
    const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [kx], { perm: [0, 1, 3, 2] })]), scale]);
    const probs = g.op('Softmax', [g.op('Where', [visible, scores, masked])], { axis: -1 }); // [B, qHeads, T, S]
    let merged = g.op('MatMul', [probs, vx]); // [B, qHeads, T, vDim]
    if (variant.differential) {
      const pairs = g.op('Reshape', [merged, g.ints([0, qHeads / 2, 2, -1, vDim])]); // [B, H, 2, T, vDim]
      const first = g.op('Gather', [pairs, g.constant('int64', [0n], [])], { axis: 2 });
      const second = g.op('Gather', [pairs, g.constant('int64', [1n], [])], { axis: 2 });
      const lambda = lambdaOf(l, a, h);
      merged = g.op('Sub', [first, g.op('Mul', [second, lambda])]); // [B, H, T, vDim]
      const steps = variant.postCombineSteps?.(c, l);
      if (steps) {
        const normWeight = steps.norm && weight(`${a}${steps.norm.weight}`);
        const normed = steps.norm ? rmsNorm(merged, undefined, steps.norm.eps) : merged;
        const gain = Float32Array.from(
          { length: vDim },
          (_, i) => (normWeight ? normWeight[i] : 1) * steps.scale,
        );
        merged = g.op('Mul', [normed, constant(gain, [vDim])]); // the norm's weight and the scale, as one gain
      }
    }
    const width = (variant.differential ? qHeads / 2 : qHeads) * vDim;
    const flat = g.op('Reshape', [
      g.op('Transpose', [merged], { perm: [0, 2, 1, 3] }),
      g.ints([0, 0, width]),
    ]);
    const attnOut = linear(flat, `${a}${variant.outputProjection}.weight`, D, width);
    const x1 = g.op('Add', [x, attnOut]);
    const h2 = rmsNorm(x1, param(`${p}post_attention_layernorm.weight`, [D]), c.norm_eps);
    const gate = linear(h2, `${p}mlp.gate_proj.weight`, c.ffn_hidden, D);
    const up = linear(h2, `${p}mlp.up_proj.weight`, c.ffn_hidden, D);
    const mixed = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x1, linear(mixed, `${p}mlp.down_proj.weight`, D, c.ffn_hidden)]);
  }
  const final = rmsNorm(x, param('model.norm.weight', [D]), c.norm_eps);
  const head = c.tie_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  g.op(
    'MatMul',
    [final, g.op('Transpose', [param(head, [c.vocab_size, D])], { perm: [1, 0] })],
    {},
    'logits',
  );
  const doc = `diff-transformer ${c.variant} decoder: ${JSON.stringify(c)}`;
  return { bytes: g.encode(inputs, outputs, doc), nodes: g.nodeCount, inputs, outputs };
}
