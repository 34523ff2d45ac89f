/**
 * `diff-transformer bench`: training tokens/s and MFU for every variant at the sizes of the speed
 * issue (plus ~15M parameters), KV-cached generation tokens/s, and the memory of training steps at
 * sequence lengths 1024–4096. Each case runs in a fresh child process, so its peak memory is its own.
 * When Debian's python3-torch is installed, PyTorch's rate for the same training cases is measured in
 * the same run with ../shared/reference/bench_torch.py (or $BENCH_TORCH).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from '../backends/index.ts';
import { ADDON_GOMP_SPINCOUNT, loadNativeAddon } from '../backends/native/addon.ts';
import type { Variant } from '../model/config.ts';
import { trainTokenizer } from '../tokenizer/index.ts';
import { loadCorpus } from '../train/corpus.ts';
import { type BenchCase, type BenchRecord, benchConfig, forwardFlopsPerToken } from './measure.ts';

/** fp32 peak of the reference machine (2-core Zen 3, AVX2 FMA), measured with an FMA loop (DESIGN.md). */
export const DEFAULT_PEAK_GFLOPS = 152;

/**
 * This machine's fp32 peak for MFU: the native addon's FMA loop (fused multiply-adds of the CPU's
 * widest vectors, 16 floats with AVX-512, on every thread) when it loads, else the reference
 * machine's figure.
 */
export function measuredPeakGflops(): { gflops: number; source: string } {
  const addon = loadNativeAddon();
  if (!addon)
    return {
      gflops: DEFAULT_PEAK_GFLOPS,
      source: 'the reference machine (2-core Zen 3), native addon absent',
    };
  return {
    gflops: Math.round(addon.fmaPeakGflops(1)),
    source: `measured here: ${addon.info().fmaWidth}-wide FMA loop on every thread`,
  };
}

export const SIZES = {
  small: { d_model: 128, n_layers: 4, seq: 128, batch: 8, vocab: 256 },
  medium: { d_model: 256, n_layers: 4, seq: 256, batch: 8, vocab: 512 },
  large: { d_model: 512, n_layers: 4, seq: 256, batch: 4, vocab: 2048 },
} as const;
export type SizeName = keyof typeof SIZES;

export interface BenchOptions {
  backends: string[];
  variants: Variant[];
  sizes: SizeName[];
  seconds: number;
  peakGflops: number;
  torch: boolean;
  memory: boolean;
  generate: boolean;
  /** Also run the native cases on OpenBLAS (DIFF_TRANSFORMER_BLAS=openblas), when it loads: both GEMMs side by side. */
  openblas?: boolean;
  onRecord?: (r: BenchRecord) => void;
}

const here = fileURLToPath(new URL('.', import.meta.url));
/** The case worker next to this module: compiled JavaScript in dist/, TypeScript through tsx in src/. */
const caseWorker = import.meta.url.endsWith('.ts')
  ? ['--import', import.meta.resolve('tsx'), join(here, 'case-worker.ts')]
  : [join(here, 'case-worker.js')];

function runCase(k: BenchCase, env: NodeJS.ProcessEnv = {}): BenchRecord {
  const r = spawnSync(process.execPath, [...caseWorker, JSON.stringify(k)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    env: { ...process.env, ...env },
  });
  if (r.status !== 0)
    throw new Error(
      `benchmark case ${k.mode} ${k.variant} on ${k.backend} failed: ${r.stderr.trim().split('\n').at(-1)}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

function torchScript(): string | null {
  const candidates = [
    process.env.BENCH_TORCH,
    resolve(here, '../../../shared/reference/bench_torch.py'),
  ].filter(Boolean) as string[];
  return candidates.find((p) => existsSync(p)) ?? null;
}

/**
 * PyTorch's rate for one training case, from bench_torch.py: a 4-step probe, then a run of about
 * `seconds`; the faster of the two counts (the machine is noisy; this errs in PyTorch's favour).
 * PyTorch runs with the OpenMP spin setting our addon uses (GOMP_SPINCOUNT, see
 * backends/native/addon.ts): on a 2-vCPU VM libgomp's default made it 2–2.5× slower here.
 */
function runTorch(
  variant: Variant,
  size: (typeof SIZES)[SizeName],
  peakFlops: number,
  flopsPerToken: number,
  seconds: number,
): BenchRecord | null {
  const script = torchScript();
  if (!script || !existsSync('/usr/bin/python3')) return null;
  const { d_model, n_layers, seq, batch, vocab } = size;
  const env = { ...process.env, GOMP_SPINCOUNT: process.env.GOMP_SPINCOUNT ?? ADDON_GOMP_SPINCOUNT };
  const measure = (steps: number) => {
    const args = [script, variant, d_model, n_layers, seq, batch, vocab, steps].map(String);
    const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', cwd: resolve(script, '..'), env });
    const match = /params=(\d+) tokens\/s=(\d+)/.exec(r.stdout);
    return r.status === 0 && match ? { params: Number(match[1]), tokensPerSecond: Number(match[2]) } : null;
  };
  const probe = measure(4);
  if (!probe) return null;
  const steps = Math.min(500, Math.max(4, Math.ceil((seconds * probe.tokensPerSecond) / (batch * seq))));
  const run = measure(steps);
  const tokensPerSecond = Math.max(probe.tokensPerSecond, run?.tokensPerSecond ?? 0);
  return {
    mode: 'train',
    variant,
    backend: 'pytorch',
    ...size,
    params: probe.params,
    tokens_per_s: tokensPerSecond,
    mfu: Number(((tokensPerSecond * flopsPerToken) / peakFlops).toFixed(4)),
    peak_rss_mb: Number.NaN,
  };
}

/** Whether the native addon can run OpenBLAS here (libopenblas loadable). */
export function openblasAvailable(): boolean {
  const addon = loadNativeAddon();
  const one = () => new Float32Array(1);
  return !!addon && addon.gemm('blas', false, false, 1, 1, 1, one(), 1, one(), 1, 0, one(), 1);
}

export const OPENBLAS_LABEL = 'native (openblas)';
const OPENBLAS_ENV = { DIFF_TRANSFORMER_BLAS: 'openblas' };

/**
 * The streaming-read bandwidth that bounds decoding: GB/s reading a 256 MiB buffer (beyond the caches)
 * on one thread and on every kernel thread (the native addon's loop; null without the addon).
 */
export function streamBandwidth(): { oneThread: number; allThreads: number; threads: number } | null {
  const addon = loadNativeAddon();
  if (!addon) return null;
  const threads = addon.info().threads;
  return {
    oneThread: addon.streamReadGBps(256, 1, 1),
    allThreads: addon.streamReadGBps(256, threads, 1),
    threads,
  };
}

export function runBenchmarks(o: BenchOptions): BenchRecord[] {
  const records: BenchRecord[] = [];
  const peakFlops = o.peakGflops * 1e9;
  const add = (r: BenchRecord | null) => {
    if (!r) return;
    records.push(r);
    o.onRecord?.(r);
  };
  const openblas = (o.openblas ?? false) && o.backends.includes('native') && openblasAvailable();
  for (const sizeName of o.sizes) {
    const size = SIZES[sizeName];
    for (const variant of o.variants) {
      for (const backend of o.backends) {
        add(runCase({ mode: 'train', variant, backend, ...size, seconds: o.seconds, peakFlops }));
        if (backend === 'native' && openblas)
          add(
            runCase(
              {
                mode: 'train',
                variant,
                backend,
                label: OPENBLAS_LABEL,
                ...size,
                seconds: o.seconds,
                peakFlops,
              },
              OPENBLAS_ENV,
            ),
          );
      }
      if (o.torch) {
        const flops =
          3 * forwardFlopsPerToken(benchConfig(variant, size.d_model, size.n_layers, size.vocab), size.seq);
        add(runTorch(variant, size, peakFlops, flops, o.seconds));
      }
    }
  }
  if (o.generate) {
    const size = SIZES.large;
    for (const variant of o.variants) {
      const generation = { mode: 'generate', variant, ...size, seq: 16, batch: 1, newTokens: 64 } as const;
      for (const backend of o.backends) {
        add(runCase({ ...generation, backend, seconds: o.seconds, peakFlops }));
        if (backend !== 'native') continue;
        add(runCase({ ...generation, backend, dtype: 'bf16', seconds: o.seconds, peakFlops }));
        if (openblas)
          add(
            runCase(
              { ...generation, backend, label: OPENBLAS_LABEL, seconds: o.seconds, peakFlops },
              OPENBLAS_ENV,
            ),
          );
      }
    }
  }
  if (o.memory) {
    for (const seq of [1024, 2048, 4096]) {
      for (const backend of o.backends) {
        add(
          runCase({
            mode: 'train',
            variant: 'diff',
            backend,
            d_model: 64,
            n_layers: 1,
            seq,
            batch: 1,
            vocab: 256,
            seconds: 0,
            peakFlops,
          }),
        );
      }
    }
  }
  return records;
}

export function benchTable(records: BenchRecord[]): string {
  const rows = records.map(
    (r) =>
      `| ${r.mode}${r.dtype === 'bf16' ? ' (bf16)' : ''} | ${r.variant} | ${r.backend} | ${r.d_model}×${r.n_layers}, T ${r.seq}, B ${r.batch}, V ${r.vocab} | ${(r.params / 1e6).toFixed(2)}M | ${r.tokens_per_s} | ${(r.mfu * 100).toFixed(1)}% | ${Number.isFinite(r.peak_rss_mb) ? r.peak_rss_mb : '–'} |`,
  );
  return [
    '| mode | variant | backend | size | params | tokens/s | MFU | peak RSS MB |',
    '|---|---|---|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

/**
 * Generation against its memory bound: the bound is the streaming-read bandwidth (the better of one
 * and all threads) over the bytes of weight matrices read per token; tokens/s as a share of it.
 */
export function generationTable(
  records: BenchRecord[],
  bandwidth: { oneThread: number; allThreads: number; threads: number } | null,
): string {
  const gen = records.filter((r) => r.mode === 'generate');
  if (gen.length === 0) return '';
  const gbps = bandwidth ? Math.max(bandwidth.oneThread, bandwidth.allThreads) : Number.NaN;
  const rows = gen.map((r) => {
    const bound = (gbps * 1e9) / (r.weight_bytes_per_token ?? Number.NaN);
    const share = Number.isFinite(bound) ? `${((100 * r.tokens_per_s) / bound).toFixed(0)}%` : '–';
    return `| ${r.variant} | ${r.backend} | ${r.dtype ?? 'f32'} | ${((r.weight_bytes_per_token ?? 0) / 1e6).toFixed(1)} | ${r.tokens_per_s} | ${Number.isFinite(bound) ? Math.round(bound) : '–'} | ${share} |`;
  });
  const line = bandwidth
    ? `streaming read (256 MiB): ${bandwidth.oneThread.toFixed(1)} GB/s on 1 thread, ${bandwidth.allThreads.toFixed(1)} GB/s on ${bandwidth.threads}; the bound uses ${gbps.toFixed(1)} GB/s`
    : 'streaming read: not measured (native addon absent)';
  return [
    line,
    '',
    '| generation | backend | weights | MB per token | tokens/s | bound tokens/s | share of bound |',
    '|---|---|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

/** Training a 4096-token BPE vocabulary on the default corpus (the speed the tokenizer promises). */
export function tokenizerBenchLine(vocabSize = 4096): string {
  const { text, bytes } = loadCorpus();
  const t0 = performance.now();
  const tokenizer = trainTokenizer(text, { vocabSize });
  const trainSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const ids = tokenizer.encode(text);
  const encodeSeconds = (performance.now() - t1) / 1000;
  return `tokenizer: ${tokenizer.vocabSize}-token BPE trained on ${(bytes / 1e6).toFixed(2)} MB in ${trainSeconds.toFixed(2)} s; encodes ${(bytes / 1e6 / encodeSeconds).toFixed(1)} MB/s, ${(bytes / ids.length).toFixed(2)} bytes/token`;
}

/** GFLOP/s of a 1024³ matmul through a backend's linear op: the practical peak to read MFU against. */
export function matmulBenchLine(backendName: string, n = 1024): string {
  const backend = createBackend(backendName);
  const x = backend.zeros(n * n).fill(0.5);
  const w = backend.zeros(n * n).fill(0.25);
  backend.linearForward(x, w, n, n, n); // warm-up
  let runs = 0;
  const t0 = performance.now();
  do {
    backend.linearForward(x, w, n, n, n);
    runs++;
  } while (performance.now() - t0 < 1000);
  const gflops = (2 * n ** 3 * runs) / ((performance.now() - t0) / 1000) / 1e9;
  return `matmul ${n}³ on ${backend.name}: ${gflops.toFixed(0)} GFLOP/s`;
}
