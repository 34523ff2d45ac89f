/**
 * The Train view end to end: `serve`, headless Chromium (test/chromium.ts), DIFF V1 and its baseline
 * trained side by side in the page for STEPS steps on the bundled Moby Dick, each in its own Web
 * Worker on the wasm backend. Checks: a dropped binary file is refused with a clear message; the page
 * is cross-origin isolated; both losses fall; every step's losses equal `diff-transformer train
 * --backend wasm` with the same flags (to TOLERANCE); the run survives a reload (IndexedDB); the
 * downloaded folder (.zip) loads with the library and `diff-transformer info` reads it; a run paused
 * early, reloaded and resumed from IndexedDB ends at the CLI's losses. Without COOP/COEP headers the page
 * says it is not cross-origin isolated and trains on one thread.
 *
 * BROWSER_TRAIN_SCREENSHOT=1 writes docs/screenshot-train.png (the README's picture) from a longer
 * run (BROWSER_TRAIN_STEPS, default 30); otherwise the screenshot goes to the temp folder.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { unzipSync } from 'fflate';
import { createWasmBackend } from '../src/backends/wasm/index.ts';
import { loadModelFolder } from '../src/io/model-folder.ts';
import { type RunningServer, startServer } from '../src/serve/server.ts';
import { type MetricsRecord, readMetrics } from '../src/train/metrics.ts';
import { launchChromium } from './chromium.ts';
import { repoRoot, tempDir } from './cli-helpers.ts';

const STEPS = Number(process.env.BROWSER_TRAIN_STEPS ?? 30);
const SEED = 1;
/**
 * Relative, on every train and validation loss. The page and the CLI run the same code with the same
 * kernels (kernels-relaxed.wasm where the engine validates relaxed SIMD — Node 20 with its flag,
 * Chromium by default); the fused multiply-adds of relaxed SIMD may or may not be fused by an engine,
 * so bit-identity is measured (logged) but only 1e-5 relative is required.
 */
const TOLERANCE = 1e-5;
const VARIANTS = ['diff', 'baseline'] as const;

let root: string;
let server: RunningServer;
const cli: Record<string, { dir: string; metrics: MetricsRecord[] }> = {};

function trainWithCli(variant: string, dir: string): Promise<void> {
  return new Promise((done, fail) => {
    const args = ['bin/diff-transformer.js', 'train', '--variant', variant, '--preset', 'nano'];
    args.push(
      '--steps',
      String(STEPS),
      '--seed',
      String(SEED),
      '--eval-every',
      '10',
      '--backend',
      'wasm',
      '--out',
      dir,
    );
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`train ${variant}: ${stderr}`))));
  });
}

before(async () => {
  root = tempDir('dt-browser-train-e2e-');
  await Promise.all(
    VARIANTS.map(async (v) => {
      const dir = join(root, `cli-${v}`);
      await trainWithCli(v, dir);
      cli[v] = { dir, metrics: readMetrics(dir) };
    }),
  );
  server = await startServer({ port: 0 });
});

after(async () => {
  await server?.close();
});

interface PageModel {
  variant: string;
  status: string;
  step: number;
  records: MetricsRecord[];
  snapshots: number;
  backend: string;
}

test('browser: DIFF V1 and the baseline train side by side in the page, as the CLI trains them', {
  timeout: 300_000,
}, async () => {
  const context = await launchChromium({ viewport: { width: 1400, height: 1250 } });
  try {
    const page = await context.newPage();
    // waits on training (a pause lands after the step in flight): generous for a loaded machine
    page.setDefaultTimeout(120_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => {
      errors.push(`request outside the server: ${route.request().url()}`);
      return route.abort();
    });
    await page.goto(`${server.url}#train`);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.match((await page.locator('.train-isolation').textContent()) ?? '', /^Cross-origin isolated/);

    // A dropped file that is not text: one clear message, nothing starts.
    const binary = join(root, 'weights.bin');
    writeFileSync(binary, Buffer.from([0, 159, 146, 150, 255, 0, 1, 2]));
    await page.setInputFiles('.train-file', binary);
    await page.click('.train-start');
    await page.waitForFunction(() => document.querySelector('.train-notice.error'));
    assert.match(
      (await page.locator('.train-notice').textContent()) ?? '',
      /weights\.bin is not a text file/,
    );
    const small = join(root, 'small.txt');
    writeFileSync(small, 'Call me Ishmael. '.repeat(40));
    await page.setInputFiles('.train-file', small);
    await page.click('.train-start');
    await page.waitForFunction(() =>
      /too small/.test(document.querySelector('.train-notice')?.textContent ?? ''),
    );

    // The real run: bundled Moby Dick, the CLI's flags.
    await page.selectOption('.train-corpus', 'moby-dick');
    await page.fill('.train-steps', String(STEPS));
    await page.fill('.train-seed', String(SEED));
    await page.fill('.train-eval-every', '10');
    await page.fill('.train-maps-every', '10');
    const started = Date.now();
    await page.click('.train-start');
    await page.waitForSelector('body[data-train-state=finished]', { state: 'attached', timeout: 240_000 });
    const seconds = (Date.now() - started) / 1000;
    const shown = (await page.evaluate(
      () => (window as unknown as { __train: { models: PageModel[] } }).__train.models,
    )) as PageModel[];
    assert.deepEqual(
      shown.map((m) => [m.variant, m.step]),
      VARIANTS.map((v) => [v, STEPS]),
    );
    let worst = 0;
    for (const m of shown) {
      assert.match(m.backend, /^wasm \(\d threads?\)$/);
      assert.equal(m.snapshots, STEPS / 10 + 1, 'maps at step 0 and every 10 steps');
      const want = cli[m.variant].metrics;
      assert.equal(m.records.length, want.length);
      for (const [i, r] of m.records.entries()) {
        assert.equal(r.step, want[i].step);
        for (const key of ['train_loss', 'val_loss', 'grad_norm'] as const) {
          if (want[i][key] === undefined) continue;
          const rel = Math.abs(r[key]! - want[i][key]!) / Math.abs(want[i][key]!);
          worst = Math.max(worst, rel);
          assert.ok(
            rel <= TOLERANCE,
            `${m.variant} step ${r.step} ${key}: page ${r[key]}, CLI ${want[i][key]}`,
          );
        }
      }
      // The loss falls.
      const val = m.records.filter((r) => r.val_loss !== undefined).map((r) => r.val_loss!);
      assert.ok(val.at(-1)! < val[0] - 0.2, `${m.variant} validation loss falls: ${val.join(', ')}`);
      assert.ok(m.records.at(-1)!.train_loss < m.records[0].train_loss - 0.5);
    }
    const speed = (records: MetricsRecord[]) => {
      const rates = records.slice(3).map((r) => r.tokens_per_s);
      return rates.reduce((a, b) => a + b, 0) / rates.length;
    };
    console.log(
      `# ${STEPS} steps in ${seconds.toFixed(1)} s; max relative |Δ| page vs CLI ${worst}; tokens/s page ${shown
        .map((m) => `${m.variant} ${Math.round(speed(m.records))}`)
        .join(', ')}; CLI ${VARIANTS.map((v) => `${v} ${Math.round(speed(cli[v].metrics))}`).join(', ')}`,
    );

    const screenshot = process.env.BROWSER_TRAIN_SCREENSHOT
      ? join(repoRoot, 'docs/screenshot-train.png')
      : join(root, 'screenshot-train.png');
    mkdirSync(join(screenshot, '..'), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });

    // Download the DIFF model's folder: the library loads it, `info` reads it, its weights are the CLI's.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.train-download-diff')]);
    const zipPath = join(root, 'diff.zip');
    await download.saveAs(zipPath);
    const dir = join(root, 'downloaded');
    for (const [path, bytes] of Object.entries(unzipSync(readFileSync(zipPath)))) {
      const target = join(dir, path.split('/').slice(1).join('/'));
      mkdirSync(join(target, '..'), { recursive: true });
      writeFileSync(target, bytes);
    }
    const backend = createWasmBackend({ threads: 1 });
    const model = loadModelFolder(dir, backend);
    const want = loadModelFolder(cli.diff.dir, backend);
    assert.deepEqual(model.config, want.config);
    let weights = 0;
    for (const [name, p] of want.params) {
      const got = model.params.get(name)!;
      for (let i = 0; i < p.length; i++) weights = Math.max(weights, Math.abs(got[i] - p[i]));
    }
    assert.ok(weights <= 1e-4, `weights of the download vs the CLI's: max |Δ| ${weights}`);
    assert.equal(
      readFileSync(join(dir, 'tokenizer.json'), 'utf8'),
      readFileSync(join(cli.diff.dir, 'tokenizer.json'), 'utf8'),
    );
    assert.equal(readMetrics(dir).length, STEPS);
    const info = spawnSync(process.execPath, ['bin/diff-transformer.js', 'info', '--model', dir], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /diff/);

    // A reload: the run is offered again from IndexedDB, at its last checkpoint.
    await page.reload();
    await page.waitForSelector('body[data-train-kept]', { state: 'attached', timeout: 30_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.trainKept), String(STEPS));

    // A run interrupted by a reload (paused as soon as one model is at step 3: neither has finished, even
    // when the machine is loaded and one worker starts late) continues from its checkpoints to the CLI's losses.
    const readModels = () =>
      page.evaluate(
        () => (window as unknown as { __train: { models: PageModel[] } }).__train.models,
      ) as Promise<PageModel[]>;
    await page.selectOption('.train-corpus', 'moby-dick');
    await page.fill('.train-steps', String(STEPS));
    await page.fill('.train-seed', String(SEED));
    await page.fill('.train-eval-every', '10');
    await page.click('.train-start');
    await page.waitForFunction(
      (early) =>
        (window as unknown as { __train?: { models: PageModel[] } }).__train?.models.some(
          (m) => m.step >= early,
        ),
      3,
    );
    await page.click('.train-pause');
    await page.waitForFunction(() =>
      (window as unknown as { __train: { models: PageModel[] } }).__train.models.every(
        (m) => m.status === 'paused',
      ),
    );
    const pausedAt = Math.min(...(await readModels()).map((m) => m.step));
    assert.ok(pausedAt < STEPS, `paused before the end (step ${pausedAt})`);
    await page.waitForFunction((step) => document.body.dataset.trainSaved === String(step), pausedAt);
    await page.reload();
    await page.waitForSelector('body[data-train-kept]', { state: 'attached', timeout: 30_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.trainKept), String(pausedAt));
    await page.click('.train-continue');
    await page.waitForSelector('body[data-train-state=finished]', { state: 'attached', timeout: 240_000 });
    for (const m of await readModels()) {
      assert.equal(m.step, STEPS);
      const want = cli[m.variant].metrics;
      assert.deepEqual(
        m.records.map((r) => r.step),
        want.map((r) => r.step),
      );
      for (const [i, r] of m.records.entries()) {
        const rel = Math.abs(r.train_loss - want[i].train_loss) / want[i].train_loss;
        assert.ok(
          rel <= TOLERANCE,
          `${m.variant} step ${r.step} after the reload: ${r.train_loss} vs ${want[i].train_loss}`,
        );
      }
    }
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('browser: without cross-origin isolation the page says so and trains on one thread', {
  timeout: 120_000,
}, async () => {
  const context = await launchChromium();
  try {
    const page = await context.newPage();
    // waits on training (a pause lands after the step in flight): generous for a loaded machine
    page.setDefaultTimeout(120_000);
    // The app as a plain static server would send it: no COOP/COEP headers.
    await page.route(/^http:\/\/127\.0\.0\.1:/, async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers['cross-origin-opener-policy'];
      delete headers['cross-origin-embedder-policy'];
      await route.fulfill({ response, headers });
    });
    await page.goto(`${server.url}#train`);
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    assert.match(
      (await page.locator('.train-isolation').textContent()) ?? '',
      /not cross-origin isolated .*ONE thread, slower/,
    );
    await page.uncheck('.train-variant-baseline');
    await page.fill('.train-steps', '3');
    await page.click('.train-start');
    await page.waitForSelector('body[data-train-state=finished]', { state: 'attached', timeout: 90_000 });
    const [model] = (await page.evaluate(
      () => (window as unknown as { __train: { models: PageModel[] } }).__train.models,
    )) as PageModel[];
    assert.equal(model.backend, 'wasm (1 thread)');
    assert.equal(model.step, 3);
    assert.match((await page.locator('.train-notice').textContent()) ?? '', /Finished at step 3/);
  } finally {
    await context.close();
  }
});
