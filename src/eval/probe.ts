/**
 * A second forward pass over a trained model's parameters, for what the model's own forward does not
 * expose: the pre-softmax attention logits, the residual stream after every layer, and attention with
 * quantised logits. It recomputes the decoder layer by layer with the backend's public ops (embedding,
 * RMSNorm, linear, RoPE, SwiGLU, cross-entropy) exactly as `src/model/lm.ts` does, and computes the
 * attention itself (float64 accumulation): per query head, logits q·kᵀ/√d over the causal prefix →
 * optional absmax quantisation → softmax → ·V, then the variant's combine (none; V1 O₂ᵢ − λ·O₂ᵢ₊₁ with
 * the per-head RMSNorm × (1 − λ_init); V2 O₂ᵢ − λₜ,ᵢ·O₂ᵢ₊₁) and the output projection.
 *
 * The tests check that its logits equal `LanguageModel.forward` and that its loss without
 * quantisation equals `LanguageModel.loss`, so it cannot drift from the model silently.
 */
import type { Backend, Floats } from '../core/backend.ts';
import { attentionGeometry } from '../model/attention.ts';
import { layerLambdaInit, type ModelConfig } from '../model/config.ts';
import { reparameterisedLambda, tokenLambda } from '../model/lambda.ts';
import { layerPrefix, type ParameterSet } from '../model/parameters.ts';
import { quantizeInPlace } from './quantize.ts';

export interface ProbeOptions {
  /** Quantise every head's logit matrix (one sequence, causal entries) with absmax to this many bits. */
  logitBits?: number;
  /** Collect |attention logits| (every causal entry of every query head, V1: both maps). */
  collectLogits?: boolean;
  /** Collect the residual stream after every layer. */
  collectHidden?: boolean;
}

export interface ProbeResult {
  /** [B·T, V] */
  logits: Floats;
  /** Per layer: |q·kᵀ/√d| of every causal entry, every query head (before quantisation). */
  attentionLogits?: Float32Array[];
  /** Per layer: the residual stream after the layer [B·T, D]. */
  hidden?: Float32Array[];
}

/** The model parameters and config the probe needs (a LanguageModel has them). */
export interface ProbeModel {
  config: ModelConfig;
  params: ParameterSet;
  backend: Backend;
}

export function probeForward(
  model: ProbeModel,
  tokens: Int32Array,
  batch: number,
  seq: number,
  options: ProbeOptions = {},
): ProbeResult {
  const { config: c, params, backend } = model;
  if (tokens.length !== batch * seq)
    throw new RangeError(`expected ${batch}×${seq} tokens, found ${tokens.length}`);
  const rows = batch * seq;
  const D = c.d_model;
  const F = c.ffn_hidden;
  const attentionLogits: Float32Array[] = [];
  const hidden: Float32Array[] = [];
  let x = backend.embeddingForward(params.get('model.embed_tokens.weight')!, tokens, D);
  for (let l = 0; l < c.n_layers; l++) {
    const p = layerPrefix(l);
    const n1 = backend.rmsNormForward(x, params.get(`${p}input_layernorm.weight`)!, rows, D, c.norm_eps);
    const attn = probeAttention(model, l, n1.y, batch, seq, options);
    if (attn.logits) attentionLogits.push(attn.logits);
    const x1 = x.slice();
    backend.addInPlace(x1, attn.out);
    const n2 = backend.rmsNormForward(
      x1,
      params.get(`${p}post_attention_layernorm.weight`)!,
      rows,
      D,
      c.norm_eps,
    );
    const gate = backend.linearForward(n2.y, params.get(`${p}mlp.gate_proj.weight`)!, rows, D, F);
    const up = backend.linearForward(n2.y, params.get(`${p}mlp.up_proj.weight`)!, rows, D, F);
    const mixed = backend.swigluForward(gate, up);
    const x2 = backend.linearForward(mixed, params.get(`${p}mlp.down_proj.weight`)!, rows, F, D);
    backend.addInPlace(x2, x1);
    if (options.collectHidden) hidden.push(Float32Array.from(x2));
    x = x2;
  }
  const nf = backend.rmsNormForward(x, params.get('model.norm.weight')!, rows, D, c.norm_eps);
  const head = params.get(c.tie_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!;
  const logits = backend.linearForward(nf.y, head, rows, D, c.vocab_size);
  return {
    logits,
    attentionLogits: options.collectLogits ? attentionLogits : undefined,
    hidden: options.collectHidden ? hidden : undefined,
  };
}

/** Mean next-token cross-entropy of the probe's forward (with its options, e.g. quantised logits). */
export function probeLoss(
  model: ProbeModel,
  inputs: Int32Array,
  targets: Int32Array,
  batch: number,
  seq: number,
  options: ProbeOptions = {},
): number {
  const { logits } = probeForward(model, inputs, batch, seq, options);
  return model.backend.crossEntropy(logits, targets, batch * seq, model.config.vocab_size).loss;
}

/** One attention sub-layer: x [B·T, D] (normalised) → out [B·T, D]. */
function probeAttention(
  model: ProbeModel,
  layer: number,
  x: Floats,
  batch: number,
  seq: number,
  options: ProbeOptions,
): { out: Floats; logits?: Float32Array } {
  const { config: c, params, backend } = model;
  const a = `${layerPrefix(layer)}self_attn.`;
  const D = c.d_model;
  const rows = batch * seq;
  const g = attentionGeometry(c, batch, seq, seq);
  const d = g.qkDim;
  const dv = g.vDim;
  const q = backend.linearForward(x, params.get(`${a}q_proj.weight`)!, rows, D, g.qHeads * d);
  const k = backend.linearForward(x, params.get(`${a}k_proj.weight`)!, rows, D, g.kHeads * d);
  const v = backend.linearForward(x, params.get(`${a}v_proj.weight`)!, rows, D, g.vHeads * dv);
  backend.rope(q, batch, seq, g.qHeads, d, 0, c.rope_theta, false);
  backend.rope(k, batch, seq, g.kHeads, d, 0, c.rope_theta, false);

  // Per query head: O_j [B, T, qHeads, dv].
  const o = new Float64Array(rows * g.qHeads * dv);
  const causal = (seq * (seq + 1)) / 2;
  const collected = options.collectLogits ? new Float32Array(batch * g.qHeads * causal) : undefined;
  let collectedAt = 0;
  const s = new Float64Array(causal); // the causal logits of one head, row-major by query
  const scale = 1 / Math.sqrt(d);
  const bits = options.logitBits;
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < g.qHeads; j++) {
      const kh = g.kHeadOf[j];
      const vh = g.vHeadOf[j];
      let at = 0;
      for (let t = 0; t < seq; t++) {
        const qo = ((b * seq + t) * g.qHeads + j) * d;
        for (let u = 0; u <= t; u++) {
          const ko = ((b * seq + u) * g.kHeads + kh) * d;
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[qo + i] * k[ko + i];
          s[at++] = dot * scale;
        }
      }
      if (collected) {
        for (let i = 0; i < causal; i++) collected[collectedAt++] = Math.abs(s[i]);
      }
      if (bits !== undefined && bits < 32) quantizeInPlace(s, bits);
      at = 0;
      for (let t = 0; t < seq; t++) {
        let max = Number.NEGATIVE_INFINITY;
        for (let u = 0; u <= t; u++) max = Math.max(max, s[at + u]);
        let sum = 0;
        for (let u = 0; u <= t; u++) {
          const e = Math.exp(s[at + u] - max);
          s[at + u] = e;
          sum += e;
        }
        const oo = ((b * seq + t) * g.qHeads + j) * dv;
        for (let u = 0; u <= t; u++) {
          const pr = s[at + u] / sum;
          const vo = ((b * seq + u) * g.vHeads + vh) * dv;
          for (let i = 0; i < dv; i++) o[oo + i] += pr * v[vo + i];
        }
        at += t + 1;
      }
    }
  }

  // Combine head pairs (DIFF) or keep the heads (baseline).
  let merged: Floats;
  if (c.variant === 'baseline') merged = backend.fromArray(o);
  else {
    const H = g.qHeads / 2;
    merged = backend.zeros(rows * H * dv);
    let lambdaOf: (row: number, head: number) => number;
    if (c.variant === 'diff') {
      const lambda = reparameterisedLambda(
        {
          q1: params.get(`${a}lambda_q1`)!,
          k1: params.get(`${a}lambda_k1`)!,
          q2: params.get(`${a}lambda_q2`)!,
          k2: params.get(`${a}lambda_k2`)!,
        },
        layerLambdaInit(c, layer),
      );
      lambdaOf = () => lambda;
    } else {
      const lt = tokenLambda(backend, x, params.get(`${a}lambda_proj.weight`)!, rows, D, c.n_heads);
      lambdaOf = (row, head) => lt[row * H + head];
    }
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < H; i++) {
        const lam = lambdaOf(r, i);
        const o1 = (r * g.qHeads + 2 * i) * dv;
        const o2 = o1 + dv;
        const m = (r * H + i) * dv;
        for (let e = 0; e < dv; e++) merged[m + e] = o[o1 + e] - lam * o[o2 + e];
      }
    }
    if (c.variant === 'diff') {
      if (c.subln !== false)
        merged = backend.rmsNormForward(merged, params.get(`${a}subln.weight`)!, rows * H, dv, c.subln_eps).y;
      backend.scaleInPlace(merged, 1 - layerLambdaInit(c, layer));
    }
  }
  const width = merged.length / rows;
  const proj = c.variant === 'diffv2' ? 'o_proj' : 'out_proj';
  const out = backend.linearForward(merged, params.get(`${a}${proj}.weight`)!, rows, width, D);
  return { out, logits: collected };
}
