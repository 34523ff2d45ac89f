/**
 * One benchmark measurement, run in the current process: a training step (forward + backward +
 * clipping + AdamW) or KV-cached generation, on random tokens. Reports tokens/s, model FLOP
 * utilisation (MFU) against a stated peak, and the process's peak resident memory.
 */
import { createBackend } from '../backends/index.ts';
import { Rng } from '../core/rng.ts';
import { bf16Model, type WeightDtype } from '../generate/bf16.ts';
import { generateTokens } from '../generate/generate.ts';
import { attentionGeometry } from '../model/attention.ts';
import { type ModelConfig, matchedConfig, parseConfig, type Variant } from '../model/config.ts';
import { LanguageModel } from '../model/lm.ts';
import {
  countParameters,
  initParameters,
  type ParameterSet,
  parameterShapes,
  zerosLike,
} from '../model/parameters.ts';
import { adamwStep, clipGradients } from '../train/adamw.ts';

export interface BenchCase {
  mode: 'train' | 'generate';
  variant: Variant;
  backend: string;
  d_model: number;
  n_layers: number;
  seq: number;
  batch: number;
  vocab: number;
  /** Generation: tokens to generate after a `seq`-token prompt. */
  newTokens?: number;
  /** Generation: weight storage (bf16: rounded at load, read in 16 bits where the backend can). */
  dtype?: WeightDtype;
  /** Name of the row in the table (default: the backend's name), e.g. "native (openblas)". */
  label?: string;
  /** Seconds to spend measuring (at least one step). */
  seconds: number;
  /** Peak fp32 FLOP/s of the machine, for MFU. */
  peakFlops: number;
}

export interface BenchRecord {
  mode: 'train' | 'generate';
  variant: Variant;
  backend: string;
  d_model: number;
  n_layers: number;
  seq: number;
  batch: number;
  vocab: number;
  params: number;
  tokens_per_s: number;
  mfu: number;
  peak_rss_mb: number;
  /** Generation: weight storage. */
  dtype?: WeightDtype;
  /** Generation: bytes of weight matrices read per token (what bounds decoding). */
  weight_bytes_per_token?: number;
}

/** The configuration bench_torch.py uses: head width 32, FFN ≈ 8/3·d rounded up to 8, no GQA. */
export function benchConfig(variant: Variant, d: number, layers: number, vocab: number): ModelConfig {
  const headDim = 32;
  const heads = d / headDim;
  const baseline = parseConfig({
    variant: 'baseline',
    vocab_size: vocab,
    d_model: d,
    n_layers: layers,
    ffn_hidden: Math.floor(((8 * d) / 3 + 7) / 8) * 8,
    n_heads: heads,
    n_kv_heads: heads,
    head_dim: headDim,
  });
  return matchedConfig(baseline, variant);
}

/**
 * Forward FLOPs per token: 2 per weight of every matmul (projections, FFN, output head; not the
 * embedding lookup) plus causal attention, 2·(T+1)/2 key positions × (q·k + p·v) widths per query head.
 */
export function forwardFlopsPerToken(c: ModelConfig, seq: number): number {
  let matmul = 0;
  for (const [name, shape] of parameterShapes(c))
    if (shape.length === 2 && name !== 'model.embed_tokens.weight') matmul += shape[0] * shape[1];
  if (c.tie_embeddings) matmul += c.vocab_size * c.d_model;
  const { qHeads, vDim } = attentionGeometry(c, 1, 1, 1);
  const attention = c.n_layers * (seq + 1) * qHeads * (c.head_dim + vDim);
  return 2 * matmul + attention;
}

/** Floats of the weight matrices decoding reads per token: every 2-D parameter but an untied embedding table. */
export function weightMatrixFloats(c: ModelConfig): number {
  let n = 0;
  for (const [name, shape] of parameterShapes(c))
    if (shape.length === 2 && (name !== 'model.embed_tokens.weight' || c.tie_embeddings))
      n += shape[0] * shape[1];
  return n;
}

export function runBenchCase(k: BenchCase): BenchRecord {
  const backend = createBackend(k.backend);
  const config = benchConfig(k.variant, k.d_model, k.n_layers, k.vocab);
  const rng = new Rng(0);
  const model = new LanguageModel(config, initParameters(config, backend, rng), backend);
  const tokens = Int32Array.from({ length: k.batch * k.seq }, () => rng.int(k.vocab));
  let tokensPerSecond: number;
  let flopsPerToken: number;
  if (k.mode === 'train') {
    const optimiser = { step: 0, m: zerosLike(model.params, backend), v: zerosLike(model.params, backend) };
    const decayed = new Set<string>();
    let buffer: ParameterSet | undefined;
    const step = () => {
      const { grads } = model.lossAndGradients(tokens, tokens, k.batch, k.seq, buffer);
      buffer = grads;
      clipGradients(grads, 1, backend);
      adamwStep(model.params, grads, optimiser, 1e-4, decayed, undefined, backend);
    };
    step(); // warm-up
    let steps = 0;
    const t0 = performance.now();
    do {
      step();
      steps++;
    } while (performance.now() - t0 < k.seconds * 1000);
    tokensPerSecond = (steps * k.batch * k.seq) / ((performance.now() - t0) / 1000);
    flopsPerToken = 3 * forwardFlopsPerToken(config, k.seq);
  } else {
    const prompt = Array.from(tokens.subarray(0, k.seq));
    const newTokens = k.newTokens ?? 64;
    const dtype = k.dtype ?? 'f32';
    const generator = dtype === 'bf16' ? bf16Model(model) : model; // converted once, as at load
    const run = () =>
      [...generateTokens(generator, prompt, { maxTokens: newTokens, temperature: 0, dtype })].length;
    run(); // warm-up
    let generated = 0;
    const t0 = performance.now();
    do generated += run();
    while (performance.now() - t0 < k.seconds * 1000);
    tokensPerSecond = generated / ((performance.now() - t0) / 1000);
    flopsPerToken = forwardFlopsPerToken(config, k.seq + newTokens / 2);
  }
  return {
    mode: k.mode,
    variant: k.variant,
    backend: k.label ?? backend.name,
    d_model: k.d_model,
    n_layers: k.n_layers,
    seq: k.seq,
    batch: k.batch,
    vocab: k.vocab,
    params: countParameters(config).total,
    tokens_per_s: Math.round(tokensPerSecond),
    mfu: Number(((tokensPerSecond * flopsPerToken) / k.peakFlops).toFixed(4)),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    ...(k.mode === 'generate'
      ? {
          dtype: k.dtype ?? 'f32',
          weight_bytes_per_token: weightMatrixFloats(config) * ((k.dtype ?? 'f32') === 'bf16' ? 2 : 4),
        }
      : {}),
  };
}
