/**
 * The decoder-only language model around the attention (SPEC §4), the same for all three variants:
 *   x = embed(tokens); per layer x += Attn(RMSNorm(x)); x += SwiGLU(RMSNorm(x)); logits = RMSNorm(x)·headᵀ
 * with an explicit backward pass (layer by layer, in reverse) for every parameter.
 */
import type { Backend, Floats } from '../core/backend.ts';
import {
  type AttentionTape,
  attentionBackward,
  attentionForward,
  type InspectHooks,
  type LayerCache,
  type LayerMaps,
} from './attention.ts';
import type { ModelConfig } from './config.ts';

export type { InspectHooks } from './attention.ts';

import { layerPrefix, type ParameterSet, zerosLike } from './parameters.ts';

/** Per-layer keys and values of the positions seen so far (for incremental decoding). */
export interface KvCache {
  layers: LayerCache[];
  /** Positions cached so far. */
  readonly length: number;
}

interface BlockTape {
  x: Floats;
  rstd1: Floats;
  attention: AttentionTape;
  x1: Floats;
  h2: Floats;
  rstd2: Floats;
  gate: Floats;
  up: Floats;
  mixed: Floats;
}

interface ModelTape {
  tokens: Int32Array;
  blocks: BlockTape[];
  xFinal: Floats;
  hFinal: Floats;
  rstdFinal: Floats;
}

export interface ForwardOptions {
  /** Return the attention maps of every layer. */
  maps?: boolean;
  /** Continue from (and extend) this cache: positions start at cache.length. */
  cache?: KvCache;
  /** Inspection hooks (attention logits, combined heads, hidden states): see InspectHooks. */
  inspect?: InspectHooks;
}

export interface ForwardResult {
  /** [B, T, V] */
  logits: Floats;
  maps?: LayerMaps[];
  /** Per layer: V1 λ, V2 mean sigmoid λ over the batch (absent for the baseline). */
  lambdas?: number[];
}

export class LanguageModel {
  constructor(
    readonly config: ModelConfig,
    readonly params: ParameterSet,
    readonly backend: Backend,
  ) {}

  private head(): Floats {
    return this.params.get(this.config.tie_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!;
  }

  /** Inputs must be token ids of the vocabulary; targets may also be IGNORE_TARGET (the loss checks them). */
  private checkTokens(tokens: Int32Array, batch: number, seq: number, inputs = false): void {
    if (tokens.length === 0) throw new RangeError('expected at least one token, found none');
    if (
      !Number.isInteger(batch) ||
      !Number.isInteger(seq) ||
      batch < 1 ||
      seq < 1 ||
      tokens.length !== batch * seq
    ) {
      throw new RangeError(`expected ${batch}×${seq} = ${batch * seq} tokens, found ${tokens.length}`);
    }
    if (inputs) tokenIds(tokens, this.config.vocab_size);
  }

  /**
   * Let the backend keep the weights where its kernels read them until the returned release is
   * called (see Backend.holdWeights); the weights must not change meanwhile. Generation uses it.
   */
  holdWeights(): () => void {
    return this.backend.holdWeights?.(this.params.values()) ?? (() => {});
  }

  /** An empty cache for incremental decoding. */
  createCache(): KvCache {
    const layers: LayerCache[] = [];
    for (let l = 0; l < this.config.n_layers; l++) {
      layers.push({ k: this.backend.zeros(0), v: this.backend.zeros(0), length: 0 });
    }
    return {
      layers,
      get length() {
        return layers[0]?.length ?? 0;
      },
    };
  }

  /** tokens [B, T] → logits [B, T, V] (and the attention maps on request). */
  forward(tokens: Int32Array, batch: number, seq: number, options: ForwardOptions = {}): ForwardResult {
    const { logits, maps, lambdas } = this.run(tokens, batch, seq, options, false);
    return { logits, maps, lambdas };
  }

  /**
   * Mean next-token cross-entropy (over the targets that are not IGNORE_TARGET) and its gradient for
   * every parameter. `into`: a gradient set from an earlier call to reuse (zeroed here), which spares
   * a training loop a fresh allocation of the model's size every step.
   */
  lossAndGradients(
    inputs: Int32Array,
    targets: Int32Array,
    batch: number,
    seq: number,
    into?: ParameterSet,
  ): { loss: number; grads: ParameterSet; logits: Floats; lambdas?: number[] } {
    this.checkTokens(targets, batch, seq);
    let grads: ParameterSet;
    if (into) {
      for (const g of into.values()) g.fill(0);
      grads = into;
    } else grads = zerosLike(this.params, this.backend);
    // Activations and their gradients live in the backend's scratch memory for the step; the
    // gradients accumulate into `grads` (not scratch) and the logits are copied out.
    return this.scratch(() => {
      const { logits, tape, lambdas } = this.run(inputs, batch, seq, {}, true);
      const V = this.config.vocab_size;
      const { loss, dLogits } = this.backend.crossEntropy(logits, targets, batch * seq, V);
      this.backward(tape!, dLogits, grads, batch, seq);
      return { loss, grads, logits: this.backend.withScratch ? logits.slice() : logits, lambdas };
    });
  }

  /** Mean next-token cross-entropy without gradients. */
  loss(inputs: Int32Array, targets: Int32Array, batch: number, seq: number): number {
    this.checkTokens(targets, batch, seq);
    return this.scratch(() => {
      const { logits } = this.forward(inputs, batch, seq);
      return this.backend.crossEntropy(logits, targets, batch * seq, this.config.vocab_size).loss;
    });
  }

  /** fn in the backend's scratch scope (Backend.withScratch) when it has one. */
  private scratch<T>(fn: () => T): T {
    return this.backend.withScratch ? this.backend.withScratch(fn) : fn();
  }

  private run(
    tokens: Int32Array,
    batch: number,
    seq: number,
    options: ForwardOptions,
    keepTape: boolean,
  ): { logits: Floats; maps?: LayerMaps[]; tape?: ModelTape; lambdas?: number[] } {
    this.checkTokens(tokens, batch, seq, true);
    const { backend, config: c, params } = this;
    const rows = batch * seq;
    const D = c.d_model;
    const F = c.ffn_hidden;
    const maps: LayerMaps[] = [];
    const blocks: BlockTape[] = [];
    const lambdas: number[] = [];
    let x = backend.embeddingForward(params.get('model.embed_tokens.weight')!, tokens, D); // [B·T, D]
    for (let l = 0; l < c.n_layers; l++) {
      const p = layerPrefix(l);
      const n1 = backend.rmsNormForward(x, params.get(`${p}input_layernorm.weight`)!, rows, D, c.norm_eps);
      const attn = attentionForward(backend, c, l, params, n1.y, batch, seq, {
        cache: options.cache?.layers[l],
        wantMaps: options.maps,
        keepTape,
        inspect: options.inspect,
      });
      const x1 = x.slice(); // [B·T, D]
      backend.addInPlace(x1, attn.out);
      const n2 = backend.rmsNormForward(
        x1,
        params.get(`${p}post_attention_layernorm.weight`)!,
        rows,
        D,
        c.norm_eps,
      );
      const gate = backend.linearForward(n2.y, params.get(`${p}mlp.gate_proj.weight`)!, rows, D, F); // [B·T, F]
      const up = backend.linearForward(n2.y, params.get(`${p}mlp.up_proj.weight`)!, rows, D, F); // [B·T, F]
      const mixed = backend.swigluForward(gate, up); // [B·T, F]
      const x2 = backend.linearForward(mixed, params.get(`${p}mlp.down_proj.weight`)!, rows, F, D); // [B·T, D]
      backend.addInPlace(x2, x1);
      options.inspect?.hidden?.(l, x2);
      if (attn.maps) maps.push(attn.maps);
      if (attn.lambdaMean !== undefined) lambdas.push(attn.lambdaMean);
      if (keepTape)
        blocks.push({
          x,
          rstd1: n1.rstd,
          attention: attn.tape!,
          x1,
          h2: n2.y,
          rstd2: n2.rstd,
          gate,
          up,
          mixed,
        });
      x = x2;
    }
    const nf = backend.rmsNormForward(x, params.get('model.norm.weight')!, rows, D, c.norm_eps);
    const logits = backend.linearForward(nf.y, this.head(), rows, D, c.vocab_size); // [B·T, V]
    const tape = keepTape ? { tokens, blocks, xFinal: x, hFinal: nf.y, rstdFinal: nf.rstd } : undefined;
    return {
      logits,
      maps: options.maps ? maps : undefined,
      tape,
      lambdas: lambdas.length ? lambdas : undefined,
    };
  }

  private backward(tape: ModelTape, dLogits: Floats, grads: ParameterSet, batch: number, seq: number): void {
    const { backend, config: c, params } = this;
    const rows = batch * seq;
    const D = c.d_model;
    const F = c.ffn_hidden;
    const headName = c.tie_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    const dh = backend.linearBackward(
      dLogits,
      tape.hFinal,
      this.head(),
      rows,
      D,
      c.vocab_size,
      grads.get(headName)!,
      true,
    )!;
    let dx = backend.rmsNormBackward(
      dh,
      tape.xFinal,
      params.get('model.norm.weight')!,
      tape.rstdFinal,
      rows,
      D,
      grads.get('model.norm.weight')!,
    );
    for (let l = c.n_layers - 1; l >= 0; l--) {
      const t = tape.blocks[l];
      const p = layerPrefix(l);
      const w = (name: string) => params.get(p + name)!;
      const gw = (name: string) => grads.get(p + name)!;
      // MLP branch: dx flows to x1 directly and through down ∘ swiglu ∘ (gate, up) ∘ norm.
      const dMixed = backend.linearBackward(
        dx,
        t.mixed,
        w('mlp.down_proj.weight'),
        rows,
        F,
        D,
        gw('mlp.down_proj.weight'),
        true,
      )!;
      const { dGate, dUp } = backend.swigluBackward(dMixed, t.gate, t.up);
      const dh2 = backend.linearBackward(
        dGate,
        t.h2,
        w('mlp.gate_proj.weight'),
        rows,
        D,
        F,
        gw('mlp.gate_proj.weight'),
        true,
      )!;
      backend.addInPlace(
        dh2,
        backend.linearBackward(
          dUp,
          t.h2,
          w('mlp.up_proj.weight'),
          rows,
          D,
          F,
          gw('mlp.up_proj.weight'),
          true,
        )!,
      );
      const dx1 = backend.rmsNormBackward(
        dh2,
        t.x1,
        w('post_attention_layernorm.weight'),
        t.rstd2,
        rows,
        D,
        gw('post_attention_layernorm.weight'),
      );
      backend.addInPlace(dx1, dx);
      // Attention branch.
      const dh1 = attentionBackward(backend, c, l, params, grads, t.attention, dx1, batch, seq);
      dx = backend.rmsNormBackward(
        dh1,
        t.x,
        w('input_layernorm.weight'),
        t.rstd1,
        rows,
        D,
        gw('input_layernorm.weight'),
      );
      backend.addInPlace(dx, dx1);
    }
    backend.embeddingBackward(dx, tape.tokens, D, grads.get('model.embed_tokens.weight')!);
  }

  /**
   * Greedy decoding of `count` tokens after `prompt` (one sequence). With `useCache` (default) each
   * step feeds only the new token through a KV cache; without, the whole prefix is recomputed.
   */
  greedy(prompt: readonly number[], count: number, useCache = true): number[] {
    if (prompt.length === 0) throw new RangeError('greedy decoding needs a prompt of at least one token');
    tokenIds(prompt, this.config.vocab_size);
    const V = this.config.vocab_size;
    const argmaxLast = (logits: Floats) => {
      const off = logits.length - V;
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[off + v] > logits[off + best]) best = v;
      return best;
    };
    const out: number[] = [];
    const sequence = [...prompt];
    const cache = useCache ? this.createCache() : undefined;
    let pending = Int32Array.from(prompt);
    const release = this.holdWeights();
    try {
      for (let i = 0; i < count; i++) {
        const input = cache ? pending : Int32Array.from(sequence);
        const { logits } = this.forward(input, 1, input.length, { cache });
        const next = argmaxLast(logits);
        out.push(next);
        sequence.push(next);
        pending = Int32Array.of(next);
      }
    } finally {
      release();
    }
    return out;
  }
}

/**
 * `ids` as an Int32Array, after checking that each is an integer in [0, vocab) — a non-integer id is
 * refused, never truncated; an id outside the vocabulary is refused with its position.
 */
export function tokenIds(ids: ArrayLike<number>, vocab: number): Int32Array {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id)) throw new RangeError(`token id ${id} at position ${i} is not an integer`);
    if (id < 0 || id >= vocab)
      throw new RangeError(`token id ${id} at position ${i} is outside the vocabulary [0, ${vocab})`);
  }
  return ids instanceof Int32Array ? ids : Int32Array.from(ids);
}
