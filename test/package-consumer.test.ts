/**
 * The package as a user gets it: `npm pack` → `npm ci --offline` of the tarball into a fresh project
 * (its dependencies from the npm cache that `npm ci` of this repo filled, pinned by a lockfile made
 * from ours) → (a) plain `node` scripts import it, load the reference model folders, run forward and a
 * greedy continuation, equal to the same calls on the sources; its bin runs; its install notice names
 * the backend `auto` then uses; (b) strict TypeScript consumers type-check against the shipped .d.ts
 * (Node, and browser-only without Node types); (c) Vite builds a page that imports the browser entry
 * and the wasm kernels, and headless Chromium runs it to the same answers.
 * The native addon is not compiled in the consumer (DIFF_TRANSFORMER_NATIVE=0): the repo's own
 * install builds it, and this test is about what the tarball holds.
 */
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { countParameters, createJsBackend, generateTokens, loadModelFolder } from '../src/index.ts';
import { launchChromium } from './chromium.ts';
import { repoRoot, tempDir } from './cli-helpers.ts';

const here = join(repoRoot, 'test/consumer');
const fixtures = join(repoRoot, 'test/fixtures/reference');
const modelFolders = readdirSync(fixtures).filter((d) => existsSync(join(fixtures, d, 'config.json')));
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
const env = { ...process.env, DIFF_TRANSFORMER_NATIVE: '0' };

let work: string;
let project: string;
let packed: { filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> };
let installLog: string;

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  return newest;
}

/** The consumer's lockfile: the tarball, and our lockfile's entries for everything but dev dependencies. */
function consumerLock(tarball: string): unknown {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8'));
  const { name, version, license, bin, engines, dependencies } = pkg;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { [name]: tarball } },
    [`node_modules/${name}`]: {
      version,
      resolved: tarball,
      hasInstallScript: true,
      license,
      bin,
      engines,
      dependencies,
    },
  };
  for (const [path, entry] of Object.entries(
    lock.packages as Record<string, { dev?: boolean; link?: boolean }>,
  ))
    if (path.startsWith('node_modules/') && !entry.dev && !entry.link) packages[path] = entry;
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

before(() => {
  // npm test builds dist/ first (lint does); packing must not rebuild it under the tests running beside this one
  assert.ok(
    existsSync(join(repoRoot, 'dist/index.js')) &&
      statSync(join(repoRoot, 'dist/index.js')).mtimeMs >= newestMtime(join(repoRoot, 'src')),
    'dist/ is older than src/: run npm run build',
  );
  work = tempDir('dt-consumer-');
  const pack = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], repoRoot);
  [packed] = JSON.parse(pack.stdout);
  project = join(work, 'project');
  mkdirSync(project);
  const tarball = `file:../${packed.filename}`;
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'consumer',
      private: true,
      type: 'module',
      dependencies: { [pkg.name]: tarball },
    }),
  );
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(consumerLock(tarball), null, 2));
  const install = run('npm', ['ci', '--offline', '--foreground-scripts', '--no-audit', '--no-fund'], project);
  installLog = install.stdout + install.stderr;
  cpSync(here, project, { recursive: true });
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the compiled package, the addon sources and the app, and no tests or TypeScript sources', () => {
  const files = packed.files.map((f) => f.path);
  for (const needed of [
    'bin/diff-transformer.js',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/browser.js',
    'dist/browser.d.ts',
    'dist/cli/main.js',
    'dist/backends/wasm/kernels.wasm',
    'dist/backends/wasm/kernels-relaxed.wasm',
    'binding.gyp',
    'native/src/addon.cc',
    'scripts/build-native.mjs',
    'web/dist/index.html',
    'README.md',
  ])
    assert.ok(files.includes(needed), `${needed} is not in the tarball`);
  const unwanted = files.filter(
    (f) => /^(test|src|bench|tools|reports|docs)\//.test(f) || /\.test\./.test(f),
  );
  assert.deepEqual(unwanted, []);
  process.stderr.write(
    `tarball ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${files.length} files\n`,
  );
});

test('the install notice names the backend auto then uses', () => {
  assert.match(installLog, /native backend skipped \(DIFF_TRANSFORMER_NATIVE=0\); `auto` will use wasm/);
  const info = run(
    process.execPath,
    ['node_modules/.bin/diff-transformer', 'info', '--json', '--model', join(fixtures, modelFolders[0])],
    project,
  );
  assert.equal(JSON.parse(info.stdout).backend, 'wasm');
});

test('plain node imports the package: forward and greedy continuation equal the sources', () => {
  assert.ok(modelFolders.length >= 3, `reference model folders missing in ${fixtures}`);
  for (const name of modelFolders) {
    const folder = join(fixtures, name);
    const got = JSON.parse(run(process.execPath, ['forward.mjs', folder], project).stdout);
    const kase = JSON.parse(readFileSync(join(folder, 'case.json'), 'utf8'));
    const model = loadModelFolder(folder, createJsBackend());
    const inputs = Int32Array.from(kase.tokens.flatMap((row: number[]) => row.slice(0, -1)));
    const { logits } = model.forward(inputs, kase.tokens.length, kase.tokens[0].length - 1);
    assert.deepEqual(got.logits, Array.from(logits), `${name}: logits differ from the sources'`);
    const greedy = [...generateTokens(model, kase.greedy.prompt, { maxTokens: 8, temperature: 0 })];
    assert.deepEqual(got.greedy, greedy, `${name}: greedy continuation differs from the sources'`);
    assert.deepEqual(
      got.greedy,
      kase.greedy.continuation,
      `${name}: greedy continuation differs from the reference`,
    );
  }
});

test('the installed bin runs the compiled CLI', () => {
  const folder = join(fixtures, modelFolders[0]);
  const help = run(process.execPath, ['node_modules/.bin/diff-transformer', '--help'], project);
  assert.match(help.stdout, /Usage: diff-transformer/);
  const info = JSON.parse(
    run(
      process.execPath,
      ['node_modules/.bin/diff-transformer', 'info', '--json', '--model', folder],
      project,
    ).stdout,
  );
  assert.equal(
    info.parameters.total,
    countParameters(loadModelFolder(folder, createJsBackend()).config).total,
  );
});

test('strict TypeScript consumers type-check against the shipped .d.ts (Node; browser without Node types)', () => {
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  const typeRoots = join(repoRoot, 'node_modules/@types');
  for (const config of ['tsconfig.node.json', 'tsconfig.browser.json'])
    run(process.execPath, [tsc, '-p', config, '--typeRoots', typeRoots], project);
});

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** The built page at /, one model folder under /model/; nothing else. */
function servePage(dist: string, model: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.startsWith('/model/')
      ? join(model, path.slice('/model/'.length))
      : join(dist, path === '/' ? 'index.html' : path);
    if (relative(path.startsWith('/model/') ? model : dist, file).startsWith('..') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Largest |got − want| over max |want|. */
function relativeError(got: number[], want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, 'lengths differ');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

test("Vite builds a page against the browser entry, and Chromium runs it to the sources' answers", {
  timeout: 180_000,
}, async () => {
  const vite = join(repoRoot, 'node_modules/vite/bin/vite.js');
  const dist = join(project, 'web/dist');
  const build = run(process.execPath, [vite, 'build', 'web', '--outDir', dist, '--base', './'], project);
  assert.doesNotMatch(build.stdout + build.stderr, /externalized for browser compatibility/);
  const folder = join(fixtures, 'diff-small');
  const kase = JSON.parse(readFileSync(join(folder, 'case.json'), 'utf8'));
  const model = loadModelFolder(folder, createJsBackend());
  const inputs = Int32Array.from(kase.tokens.flatMap((row: number[]) => row.slice(0, -1)));
  const { logits } = model.forward(inputs, kase.tokens.length, kase.tokens[0].length - 1);

  const server = await servePage(dist, folder);
  const context = await launchChromium();
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => document.body.dataset.result || document.body.dataset.error, null, {
      timeout: 60_000,
    });
    const failure = await page.evaluate(() => document.body.dataset.error);
    assert.equal(failure, undefined, `the page failed: ${failure}`);
    const result = JSON.parse((await page.evaluate(() => document.body.dataset.result)) ?? '{}');
    assert.deepEqual(errors, []);
    assert.equal(result.js.backend, 'js');
    assert.equal(result.wasm.backend, 'wasm');
    // the page's V8 runs the same float32 js code: equal to rounding of its Math functions
    assert.ok(relativeError(result.js.logits, logits) < 1e-6, 'js logits in the page differ');
    // the wasm kernels sum in another order: float32 rounding
    assert.ok(relativeError(result.wasm.logits, logits) < 1e-4, 'wasm logits in the page differ');
    assert.deepEqual(result.js.greedy, kase.greedy.continuation);
    assert.deepEqual(result.wasm.greedy, kase.greedy.continuation);
  } finally {
    await context.close();
    server.close();
  }
});
