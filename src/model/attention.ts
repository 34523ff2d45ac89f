/**
 * The attention sub-layer of all three variants, forward and backward. They share everything —
 * projections, RoPE, the causal attention op, the output projection — and differ only in
 * (1) the head geometry handed to the attention op, (2) how pairs of heads are combined
 * (none / one λ per layer / λ per token and head), and (3) V1's per-head RMSNorm × (1 − λ_init).
 */
import type { AttentionGeometry, Backend, DifferentialCombine, Floats } from '../core/backend.ts';
import { layerLambdaInit, type ModelConfig } from './config.ts';
import {
  type LambdaVectors,
  reparameterisedLambda,
  reparameterisedLambdaBackward,
  tokenLambda,
  tokenLambdaBackward,
} from './lambda.ts';
import { layerPrefix, type ParameterSet } from './parameters.ts';

/** Keys and values of earlier positions, after RoPE: k [B, S, kHeads, d], v [B, S, vHeads, vDim]. */
export interface LayerCache {
  k: Floats;
  v: Floats;
  length: number;
}

/** Attention maps of one layer, as the reference fixtures name them. */
export interface LayerMaps {
  /** V1 and V2: first softmax map [B, H, T, S]. */
  a1?: Floats;
  /** V1 and V2: second softmax map [B, H, T, S]. */
  a2?: Floats;
  /** V1: A1 − λ·A2 [B, H, T, S]. */
  diff?: Floats;
  /** V1: [1]; V2: [B, T, H] after the sigmoid. */
  lambda?: Floats;
  /** Baseline: softmax map [B, H, T, S]. */
  p?: Floats;
}

/** Everything the backward needs from one forward. */
export interface AttentionTape {
  x: Floats;
  rows: number;
  attentionContext: unknown;
  /** V1: the attention output before the per-head norm, and the norm's rstd (absent without the norm). */
  headsRaw?: Floats;
  subln?: { rstd: Floats };
  /** input of the output projection [rows, heads·vDim] */
  merged: Floats;
  /** V2: λ [rows, H] */
  tokenLambda?: Floats;
}

/** Head layout of a variant, as the attention op sees it (SPEC §1–3). */
export function attentionGeometry(
  c: ModelConfig,
  batch: number,
  seqQ: number,
  seqK: number,
): AttentionGeometry {
  const { n_heads: H, n_kv_heads: Hkv, head_dim: d } = c;
  if (c.variant === 'diff') {
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
  }
  const qHeads = c.variant === 'diffv2' ? 2 * H : H;
  const rep = qHeads / Hkv;
  const kHeadOf = new Int32Array(qHeads);
  for (let j = 0; j < qHeads; j++) kHeadOf[j] = Math.floor(j / rep);
  return {
    batch,
    seqQ,
    seqK,
    qHeads,
    kHeads: Hkv,
    vHeads: Hkv,
    qkDim: d,
    vDim: d,
    kHeadOf,
    vHeadOf: kHeadOf,
  };
}

function lambdaVectors(params: ParameterSet, prefix: string): LambdaVectors {
  return {
    q1: params.get(`${prefix}lambda_q1`)!,
    k1: params.get(`${prefix}lambda_k1`)!,
    q2: params.get(`${prefix}lambda_q2`)!,
    k2: params.get(`${prefix}lambda_k2`)!,
  };
}

const outputProjection = (c: ModelConfig) => (c.variant === 'diffv2' ? 'o_proj' : 'out_proj');

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
  const a = `${layerPrefix(layer)}self_attn.`;
  const D = c.d_model;
  const rows = batch * seq;
  const past = options.cache?.length ?? 0;
  const g = attentionGeometry(c, batch, seq, past + seq);
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

  let combine: DifferentialCombine = { kind: 'none' };
  let lambdaPerToken: Floats | undefined;
  if (c.variant === 'diff')
    combine = {
      kind: 'scalar',
      lambda: reparameterisedLambda(lambdaVectors(params, a), layerLambdaInit(c, layer)),
    };
  if (c.variant === 'diffv2') {
    lambdaPerToken = tokenLambda(backend, x, params.get(`${a}lambda_proj.weight`)!, rows, D, c.n_heads); // [B, T, H]
    combine = { kind: 'token', lambda: lambdaPerToken };
  }
  const attn = backend.attentionForward(q, k, v, g, combine, options.wantMaps ?? false);

  let merged = attn.out; // [B, T, heads, vDim]
  let subln: { rstd: Floats } | undefined;
  if (c.variant === 'diff') {
    // Per-head RMSNorm over the 2d channels (weight shared by the layer's heads), × (1 − λ_init).
    if (c.subln === false) merged = attn.out.slice();
    else {
      const norm = backend.rmsNormForward(
        attn.out,
        params.get(`${a}subln.weight`)!,
        rows * c.n_heads,
        g.vDim,
        c.subln_eps,
      );
      merged = norm.y;
      subln = { rstd: norm.rstd };
    }
    backend.scaleInPlace(merged, 1 - layerLambdaInit(c, layer));
  }
  const width = merged.length / rows;
  const out = backend.linearForward(merged, params.get(`${a}${outputProjection(c)}.weight`)!, rows, width, D);

  const maps = options.wantMaps ? splitMaps(backend, c, g, attn.probs!, combine) : undefined;
  const tape: AttentionTape | undefined = options.keepTape
    ? {
        x,
        rows,
        attentionContext: attn.context,
        headsRaw: subln ? attn.out : undefined,
        subln,
        merged,
        tokenLambda: lambdaPerToken,
      }
    : undefined;
  return { out, tape, maps, lambdaMean: meanLambda(combine) };
}

/** V1: the layer's λ; V2: the mean of sigmoid λ over tokens and heads; baseline: undefined. */
function meanLambda(combine: DifferentialCombine): number | undefined {
  if (combine.kind === 'scalar') return combine.lambda;
  if (combine.kind === 'token') {
    let sum = 0;
    for (const value of combine.lambda) sum += value;
    return sum / combine.lambda.length;
  }
  return undefined;
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
  const a = `${layerPrefix(layer)}self_attn.`;
  const D = c.d_model;
  const { rows, x } = tape;
  const g = attentionGeometry(c, batch, seq, seq);
  const d = g.qkDim;
  const wo = `${a}${outputProjection(c)}.weight`;
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
  if (c.variant === 'diff') {
    backend.scaleInPlace(dHeads, 1 - layerLambdaInit(c, layer));
    if (tape.subln) {
      const w = `${a}subln.weight`;
      dHeads = backend.rmsNormBackward(
        dHeads,
        tape.headsRaw!,
        params.get(w)!,
        tape.subln.rstd,
        rows * c.n_heads,
        g.vDim,
        grads.get(w)!,
      );
    }
  }
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
  if (c.variant === 'diff') {
    reparameterisedLambdaBackward(lambdaVectors(params, a), dLambda as number, lambdaVectors(grads, a));
  } else if (c.variant === 'diffv2') {
    const w = `${a}lambda_proj.weight`;
    backend.addInPlace(
      dx,
      tokenLambdaBackward(
        backend,
        tape.tokenLambda!,
        dLambda as Floats,
        x,
        params.get(w)!,
        rows,
        D,
        c.n_heads,
        grads.get(w)!,
      ),
    );
  }
  return dx;
}

/** Split the op's maps [B, qHeads, T, S] into the fixture's names (de-interleaving head pairs). */
function splitMaps(
  backend: Backend,
  c: ModelConfig,
  g: AttentionGeometry,
  probs: Floats,
  combine: DifferentialCombine,
): LayerMaps {
  if (c.variant === 'baseline') return { p: probs };
  const { batch: B, seqQ: T, seqK: S } = g;
  const H = g.qHeads / 2;
  const block = T * S;
  const a1 = backend.zeros(B * H * block);
  const a2 = backend.zeros(B * H * block);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < H; i++) {
      const dst = (b * H + i) * block;
      a1.set(probs.subarray((b * 2 * H + 2 * i) * block, (b * 2 * H + 2 * i + 1) * block), dst);
      a2.set(probs.subarray((b * 2 * H + 2 * i + 1) * block, (b * 2 * H + 2 * i + 2) * block), dst);
    }
  }
  if (combine.kind === 'scalar') {
    const diff = backend.zeros(a1.length);
    for (let i = 0; i < diff.length; i++) diff[i] = a1[i] - combine.lambda * a2[i];
    return { a1, a2, diff, lambda: backend.fromArray([combine.lambda]) };
  }
  return { a1, a2, lambda: combine.kind === 'token' ? combine.lambda : undefined };
}
