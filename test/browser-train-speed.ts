/**
 * Training speed in the browser vs Node, on this machine (not a test: speed is measured, never
 * asserted). Interleaved rounds; each round trains nano DIFF V1 for STEPS steps
 *   1. in the page's Train view (one model: its worker gets min(4, cores) wasm threads), then
 *   2. with `diff-transformer train --backend wasm` (the same thread count),
 *   3. both models side by side in the page (one worker each, cores/2 threads each), then
 *   4. two CLI processes at once (WASM_THREADS = cores/2 each),
 * and reports the median tokens/s of each run's steps (the first 5 left out: warm-up).
 *   node --import tsx test/browser-train-speed.ts [rounds]
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/serve/server.ts';
import { type MetricsRecord, readMetrics } from '../src/train/metrics.ts';
import { launchChromium } from './chromium.ts';
import { repoRoot, tempDir } from './cli-helpers.ts';

const STEPS = 80;
const rounds = Number(process.argv[2] ?? 3);
const cores = availableParallelism();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const rate = (records: MetricsRecord[]) => median(records.slice(5).map((r) => r.tokens_per_s));

function cli(variant: string, out: string, threads: number): Promise<MetricsRecord[]> {
  const args = ['bin/diff-transformer.js', 'train', '--variant', variant, '--preset', 'nano'];
  args.push('--steps', String(STEPS), '--eval-every', '1000', '--backend', 'wasm', '--out', out);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      stdio: 'ignore',
      env: { ...process.env, WASM_THREADS: String(threads) },
    });
    child.on('exit', (code) => (code === 0 ? done(readMetrics(out)) : fail(new Error(`train exit ${code}`))));
  });
}

const server = await startServer({ port: 0 });
const context = await launchChromium();
const root = tempDir('dt-train-speed-');
const results: Record<string, number[]> = { page: [], node: [], pagePair: [], nodePair: [] };
try {
  for (let round = 0; round < rounds; round++) {
    for (const pair of [false, true]) {
      const page = await context.newPage();
      await page.goto(`${server.url}#train`);
      if (!pair) await page.uncheck('.train-variant-baseline');
      await page.fill('.train-steps', String(STEPS));
      await page.fill('.train-eval-every', '1000');
      await page.fill('.train-maps-every', '1000');
      await page.click('.train-start');
      await page.waitForSelector('body[data-train-state=finished]', { state: 'attached', timeout: 300_000 });
      const models = (await page.evaluate(
        () => (window as unknown as { __train: { models: { records: MetricsRecord[] }[] } }).__train.models,
      )) as { records: MetricsRecord[] }[];
      await page.close();
      const dir = join(root, `r${round}-${pair}`);
      if (pair) {
        results.pagePair.push(...models.map((m) => rate(m.records)));
        const threads = Math.max(1, Math.floor(cores / 2));
        const both = await Promise.all([
          cli('diff', `${dir}-d`, threads),
          cli('baseline', `${dir}-b`, threads),
        ]);
        results.nodePair.push(...both.map(rate));
      } else {
        results.page.push(rate(models[0].records));
        results.node.push(rate(await cli('diff', dir, Math.min(4, cores))));
      }
      console.log(JSON.stringify({ round, pair, ...results }));
    }
  }
} finally {
  await context.close();
  await server.close();
}
const range = (xs: number[]) => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
console.log(`one model:   page ${range(results.page)} tokens/s, node ${range(results.node)} tokens/s`);
console.log(
  `two at once: page ${range(results.pagePair)} tokens/s, node ${range(results.nodePair)} tokens/s (each)`,
);
const ratios = results.page.map((p, i) => p / results.node[i]);
console.log(`page/node, one model, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
