/**
 * Op benchmark of every backend that loads here: GFLOP/s of linear forward / backward, causal
 * attention forward / backward (DIFF V1 geometry), and the time of one training step
 * (forward + backward) of a small DIFF model.
 *
 * Usage: node --import tsx bench/ops.bench.ts [--quick] [--json] [--backends js,native]
 * `--quick` skips the slow big shapes on the `js` backend.
 */
import { backendNames, createBackend } from '../src/backends/index.ts';
import type { Backend } from '../src/core/backend.ts';
import { Rng } from '../src/core/rng.ts';
import { attentionGeometry } from '../src/model/attention.ts';
import { type ModelConfig, parseConfig } from '../src/model/config.ts';
import { LanguageModel } from '../src/model/lm.ts';
import { initParameters } from '../src/model/parameters.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--backends='))
  ?.slice('--backends='.length)
  .split(',');
const names = only ?? backendNames();

const rng = new Rng(1);
const random = (n: number, scale = 1) => {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
};

/** Median seconds per call, after one warm-up, running for at least `budget` seconds. */
function timeIt(fn: () => void, budget = 0.5, maxReps = 50): number {
  fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxReps && (samples.length < 3 || performance.now() - start < budget * 1000)) {
    const t0 = performance.now();
    fn();
    samples.push((performance.now() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

interface Row {
  backend: string;
  op: string;
  seconds: number;
  gflops?: number;
}
const rows: Row[] = [];
const report = (backend: string, op: string, seconds: number, flops?: number) => {
  const row: Row = { backend, op, seconds, gflops: flops ? flops / seconds / 1e9 : undefined };
  rows.push(row);
  if (!json) {
    const rate = row.gflops !== undefined ? `${row.gflops.toFixed(1).padStart(8)} GFLOP/s` : '';
    console.log(
      `${backend.padEnd(8)} ${op.padEnd(48)} ${(seconds * 1e3).toFixed(3).padStart(10)} ms ${rate}`,
    );
  }
};

function benchLinear(be: Backend, rowsN: number, inDim: number, outDim: number) {
  const x = random(rowsN * inDim);
  const w = random(outDim * inDim, 0.05);
  const dy = random(rowsN * outDim);
  const dw = be.zeros(w.length);
  const flops = 2 * rowsN * inDim * outDim;
  const shape = `${rowsN}×${inDim}→${outDim}`;
  report(
    be.name,
    `linear forward ${shape}`,
    timeIt(() => be.linearForward(x, w, rowsN, inDim, outDim)),
    flops,
  );
  report(
    be.name,
    `linear backward ${shape}`,
    timeIt(() => be.linearBackward(dy, x, w, rowsN, inDim, outDim, dw, true)),
    2 * flops,
  );
}

function benchAttention(be: Backend, batch: number, seq: number, heads: number, d: number) {
  const c = { variant: 'diff', n_heads: heads, n_kv_heads: heads, head_dim: d } as ModelConfig;
  const g = attentionGeometry(c, batch, seq, seq);
  const q = random(batch * seq * g.qHeads * d);
  const k = random(batch * seq * g.kHeads * d);
  const v = random(batch * seq * g.vHeads * g.vDim);
  const combine = { kind: 'scalar' as const, lambda: 0.4 };
  // causal: about half of the T×S scores, each costing d (scores) + vDim (P·V) multiply-adds
  const flops = 2 * batch * g.qHeads * ((seq * (seq + 1)) / 2) * (d + g.vDim);
  const shape = `B${batch} T${seq} ${g.qHeads}×d${d}`;
  report(
    be.name,
    `attention forward ${shape}`,
    timeIt(() => be.attentionForward(q, k, v, g, combine, false)),
    flops,
  );
  const fwd = be.attentionForward(q, k, v, g, combine, false);
  const dOut = random(fwd.out.length);
  report(
    be.name,
    `attention backward ${shape}`,
    timeIt(() => be.attentionBackward(fwd.context, dOut)),
    2 * flops,
  );
}

function benchStep(be: Backend) {
  const config = parseConfig({
    variant: 'diff',
    vocab_size: 256,
    d_model: 128,
    n_layers: 4,
    ffn_hidden: 344,
    n_heads: 2,
    n_kv_heads: 2,
    head_dim: 32,
  });
  const [B, T] = [8, 128];
  const model = new LanguageModel(config, initParameters(config, be, new Rng(0)), be);
  const inputs = Int32Array.from({ length: B * T }, () => rng.int(256));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(256));
  report(
    be.name,
    'train step diff d128 L4, B8 T128',
    timeIt(() => model.lossAndGradients(inputs, targets, B, T), 2, 20),
  );
}

for (const name of names) {
  const be = createBackend(name);
  const slow = quick && name.startsWith('js');
  if (!slow) benchLinear(be, 1024, 1024, 1024);
  benchLinear(be, 1024, 128, 344);
  benchLinear(be, 1024, 344, 128);
  benchAttention(be, 8, 128, 2, 32);
  if (!slow) benchAttention(be, 2, 1024, 2, 32);
  benchStep(be);
}
if (json) console.log(JSON.stringify(rows));
