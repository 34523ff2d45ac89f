/**
 * The attention sub-layer of every variant, forward and backward. The variants share everything —
 * projections, RoPE, the causal attention op, the output projection — and differ only in what their
 * module (./variants/) supplies: the head geometry handed to the attention op, how pairs of heads
 * are combined (the backend's DifferentialCombine and where its λ comes from), and what runs after
 * the combine (V1's per-head RMSNorm × (1 − λ_init)).
 */
import type { AttentionGeometry, Backend, Floats } from '../core/backend.ts';
import type { ModelConfig } from './config.ts';
import { inspectedAttention } from './inspected-attention.ts';
import { attentionPrefix } from './names.ts';
import type { ParameterSet } from './parameters.ts';
import { type LayerContext, type LayerMaps, variantModule } from './variants/index.ts';

export type { LayerMaps } from './variants/index.ts';

/** Keys and values of earlier positions, after RoPE: k [B, S, kHeads, d], v [B, S, vHeads, vDim]. */
export interface LayerCache {
  k: Floats;
  v: Floats;
  length: number;
}

/** Everything the backward needs from one forward. */
export interface AttentionTape {
  x: Floats;
  rows: number;
  attentionContext: unknown;
  /** The combined heads, before the variant's post-combine step [rows, heads, vDim]. */
  heads: Floats;
  /** The variant's own state: what produced the combine (V2: λ [rows, H]) and the post-combine (V1: rstd). */
  combineTape?: Floats;
  postTape?: unknown;
  /** input of the output projection [rows, heads·vDim] */
  merged: Floats;
}

/**
 * Hooks into one forward for inspection (the experiments' probes). With `logits` the attention runs
 * through the inspectable float64 attention (./inspected-attention.ts) instead of the backend's op,
 * and `logits` sees (and may change in place) every head's causal logits before the softmax.
 */
export interface InspectHooks {
  /**
   * The causal logits q·kᵀ/√d of one sequence and query head, row-major by query (T(T+1)/2
   * entries), in the order batch, head; changes made in place feed the softmax.
   */
  logits?(layer: number, logits: Float64Array): void;
  /** The combined heads of a layer [B·T, heads, vDim], before the post-combine step. */
  heads?(layer: number, heads: Floats): void;
  /** The residual stream after a layer [B·T, D]. */
  hidden?(layer: number, x: Floats): void;
}

/** Head layout of a config's variant, as the attention op sees it (SPEC §1–3). */
export function attentionGeometry(
  c: ModelConfig,
  batch: number,
  seqQ: number,
  seqK: number,
): AttentionGeometry {
  return variantModule(c).geometry(c, batch, seqQ, seqK);
}

/** Concatenate cached rows [B, S, w] and new rows [B, T, w] along the sequence. */
function appendRows(
  backend: Backend,
  cached: Floats,
  fresh: Floats,
  batch: number,
  cachedLen: number,
  freshLen: number,
  width: number,
): Floats {
  const out = backend.zeros(batch * (cachedLen + freshLen) * width);
  for (let b = 0; b < batch; b++) {
    const base = b * (cachedLen + freshLen) * width;
    out.set(cached.subarray(b * cachedLen * width, (b + 1) * cachedLen * width), base);
    out.set(fresh.subarray(b * freshLen * width, (b + 1) * freshLen * width), base + cachedLen * width);
  }
  return out;
}

export interface AttentionForwardOptions {
  cache?: LayerCache;
  wantMaps?: boolean;
  /** Keep what the backward needs (training). */
  keepTape?: boolean;
  inspect?: InspectHooks;
}

/** x: normalised input [B·T, D] → attention output [B·T, D]. */
export function attentionForward(
  backend: Backend,
  c: ModelConfig,
  layer: number,
  params: ParameterSet,
  x: Floats,
  batch: number,
  seq: number,
  options: AttentionForwardOptions = {},
): { out: Floats; tape?: AttentionTape; maps?: LayerMaps; lambdaMean?: number } {
  const variant = variantModule(c);
  const a = attentionPrefix(layer);
  const D = c.d_model;
  const rows = batch * seq;
  const ctx: LayerContext = { backend, config: c, layer, prefix: a, params, rows };
  const past = options.cache?.length ?? 0;
  const g = variant.geometry(c, batch, seq, past + seq);
  const d = g.qkDim;

  const q = backend.linearForward(x, params.get(`${a}q_proj.weight`)!, rows, D, g.qHeads * d); // [B, T, qHeads, d]
  let k = backend.linearForward(x, params.get(`${a}k_proj.weight`)!, rows, D, g.kHeads * d); // [B, T, kHeads, d]
  let v = backend.linearForward(x, params.get(`${a}v_proj.weight`)!, rows, D, g.vHeads * g.vDim); // [B, T, vHeads, vDim]
  backend.rope(q, batch, seq, g.qHeads, d, past, c.rope_theta, false);
  backend.rope(k, batch, seq, g.kHeads, d, past, c.rope_theta, false);
  if (options.cache) {
    const cache = options.cache;
    k = appendRows(backend, cache.k, k, batch, past, seq, g.kHeads * d); // [B, S, kHeads, d]
    v = appendRows(backend, cache.v, v, batch, past, seq, g.vHeads * g.vDim); // [B, S, vHeads, vDim]
    cache.k = k;
    cache.v = v;
    cache.length = past + seq;
  }

  const { combine, tape: combineTape } = variant.combine(ctx, x);
  const onLogits = options.inspect?.logits;
  const attn: { out: Floats; probs?: Floats; context: unknown } = onLogits
    ? {
        out: inspectedAttention(backend, q, k, v, g, combine, (logits) => onLogits(layer, logits)),
        context: undefined,
      }
    : backend.attentionForward(q, k, v, g, combine, options.wantMaps ?? false);
  options.inspect?.heads?.(layer, attn.out);

  const post = variant.postCombine?.(ctx, attn.out, g.vDim);
  const merged = post?.merged ?? attn.out; // [B, T, heads, vDim]
  const width = merged.length / rows;
  const wo = params.get(`${a}${variant.outputProjection}.weight`)!;
  const out = backend.linearForward(merged, wo, rows, width, D);

  const maps = options.wantMaps && attn.probs ? variant.maps(backend, g, attn.probs, combine) : undefined;
  const tape: AttentionTape | undefined = options.keepTape
    ? {
        x,
        rows,
        attentionContext: attn.context,
        heads: attn.out,
        combineTape,
        postTape: post?.tape,
        merged,
      }
    : undefined;
  return { out, tape, maps, lambdaMean: variant.lambdaReadout(combine) };
}

/** dOut [B·T, D] → dx [B·T, D]; parameter gradients accumulate into `grads`. */
export function attentionBackward(
  backend: Backend,
  c: ModelConfig,
  layer: number,
  params: ParameterSet,
  grads: ParameterSet,
  tape: AttentionTape,
  dOut: Floats,
  batch: number,
  seq: number,
): Floats {
  const variant = variantModule(c);
  const a = attentionPrefix(layer);
  const D = c.d_model;
  const { rows, x } = tape;
  const ctx: LayerContext = { backend, config: c, layer, prefix: a, params, rows };
  const g = variant.geometry(c, batch, seq, seq);
  const d = g.qkDim;
  const wo = `${a}${variant.outputProjection}.weight`;
  const width = tape.merged.length / rows;
  let dHeads = backend.linearBackward(
    dOut,
    tape.merged,
    params.get(wo)!,
    rows,
    width,
    D,
    grads.get(wo)!,
    true,
  )!;
  if (variant.postCombineBackward)
    dHeads = variant.postCombineBackward(ctx, grads, dHeads, tape.heads, tape.postTape, g.vDim);
  const { dq, dk, dv, dLambda } = backend.attentionBackward(tape.attentionContext, dHeads);
  backend.rope(dq, batch, seq, g.qHeads, d, 0, c.rope_theta, true);
  backend.rope(dk, batch, seq, g.kHeads, d, 0, c.rope_theta, true);

  const project = (name: string, dy: Floats, outDim: number) =>
    backend.linearBackward(
      dy,
      x,
      params.get(`${a}${name}.weight`)!,
      rows,
      D,
      outDim,
      grads.get(`${a}${name}.weight`)!,
      true,
    )!;
  const dx = project('q_proj', dq, g.qHeads * d);
  backend.addInPlace(dx, project('k_proj', dk, g.kHeads * d));
  backend.addInPlace(dx, project('v_proj', dv, g.vHeads * g.vDim));
  variant.combineBackward?.(ctx, grads, dLambda, tape.combineTape, x, dx);
  return dx;
}
