/**
 * The benchmark's contract, not its speed (unit tests never depend on timing): `bench --json` prints
 * one JSON array with a record per measurement in the format, and the measured peak is a
 * plausible number.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNativeAddon } from '../src/backends/native/addon.ts';
import { measuredPeakGflops } from '../src/bench/run.ts';
import { runCli } from './cli-helpers.ts';

test('bench --json: one array, a record per measurement, every field of the format', () => {
  const r = runCli([
    'bench',
    '--json',
    '--size',
    'small',
    '--variant',
    'diff',
    '--backend',
    'wasm',
    '--seconds',
    '0.2',
    '--no-torch',
    '--peak',
    '100',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const records = JSON.parse(r.stdout);
  assert.ok(Array.isArray(records) && records.length === 1, r.stdout);
  const [rec] = records;
  const keys = [
    'mode',
    'variant',
    'backend',
    'd_model',
    'n_layers',
    'seq',
    'batch',
    'vocab',
    'params',
    'tokens_per_s',
    'mfu',
    'peak_rss_mb',
  ];
  for (const k of keys) assert.ok(k in rec, `field ${k}`);
  assert.deepEqual(
    [rec.mode, rec.variant, rec.backend, rec.d_model, rec.n_layers, rec.seq, rec.batch, rec.vocab],
    ['train', 'diff', 'wasm', 128, 4, 128, 8, 256],
  );
  assert.ok(rec.tokens_per_s > 0 && rec.mfu > 0 && rec.peak_rss_mb > 0);
  assert.match(r.stderr, /MFU against a peak of 100 GFLOP\/s \(--peak\)/);
});

test('the measured peak is a positive GFLOP/s figure (or the reference figure without the addon)', () => {
  const { gflops, source } = measuredPeakGflops();
  assert.ok(Number.isFinite(gflops) && gflops > 1, `${gflops}`);
  assert.match(source, loadNativeAddon() ? /measured here/ : /reference machine/);
});

test('generation table: tokens/s as a share of the streaming-read bound (bandwidth over weight bytes per token)', async () => {
  const { generationTable } = await import('../src/bench/run.ts');
  const record = {
    mode: 'generate' as const,
    variant: 'diff' as const,
    backend: 'native',
    d_model: 512,
    n_layers: 4,
    seq: 16,
    batch: 1,
    vocab: 2048,
    params: 1,
    tokens_per_s: 150,
    mfu: 0,
    peak_rss_mb: 1,
    dtype: 'bf16' as const,
    weight_bytes_per_token: 30e6,
  };
  const table = generationTable([record], { oneThread: 9, allThreads: 6, threads: 2 });
  // bound 9 GB/s / 30 MB = 300 tokens/s; 150 of it is 50%
  assert.match(table, /\| diff \| native \| bf16 \| 30\.0 \| 150 \| 300 \| 50% \|/);
  assert.match(table, /9\.0 GB\/s on 1 thread, 6\.0 GB\/s on 2/);
});

test('the streaming-read bandwidth is a plausible number', { skip: !loadNativeAddon() }, async () => {
  const { streamBandwidth } = await import('../src/bench/run.ts');
  const bw = streamBandwidth()!;
  for (const gbps of [bw.oneThread, bw.allThreads]) assert.ok(gbps > 0.5 && gbps < 5000, `${gbps} GB/s`);
});
