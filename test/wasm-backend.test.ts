/**
 * What is particular to the `wasm` backend (WebAssembly SIMD kernels over shared memory, worker
 * threads): it loads; the committed module is the one the build script makes; a process using it exits
 * by itself; the single-threaded runtime passes the parity suite (the registered, threaded backend runs
 * it in backend-parity.test.ts, and the reference fixtures in reference-fixtures.test.ts); dispose.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { createJsBackend } from '../src/backends/js/index.ts';
import { createWasmBackend, wasmAvailable } from '../src/backends/wasm/index.ts';
import { Rng } from '../src/core/rng.ts';
import { close, describeBackendParity, randomF32 } from './backend-suite.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const oracle = createJsBackend('f32');

test('wasmAvailable: true here (Node 20 has SIMD, threads and shared memory)', () => {
  assert.equal(wasmAvailable(), true);
});

test('the committed kernels.wasm is what scripts/build-wasm.mjs builds', () => {
  const out = execFileSync(process.execPath, [join(repoRoot, 'scripts/build-wasm.mjs'), '--check'], {
    encoding: 'utf8',
  });
  assert.match(out, /up to date/);
});

test('a process using the threaded backend exits by itself', () => {
  const script = `
    import { createWasmBackend } from './src/backends/wasm/index.ts';
    const b = createWasmBackend({ threads: 2 });
    const x = new Float32Array(256 * 256).fill(1);
    const y = b.linearForward(x, x, 256, 256, 256);
    console.log(b.threads, y[0]);`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(child.status, 0, `exit status ${child.status} ${child.signal ?? ''}: ${child.stderr}`);
  assert.equal(child.stdout.trim(), '2 256');
});

test('thread counts are as asked', () => {
  assert.equal(createWasmBackend({ threads: 1 }).threads, 1);
  assert.equal(createWasmBackend({ threads: 2 }).threads, 2);
});

describeBackendParity('wasm backend (1 thread) matches js', createWasmBackend({ threads: 1 }));

// The registered backend runs kernels-relaxed.wasm where the engine has relaxed SIMD (Node 20 after
// the flag the backend sets); the plain SIMD128 module must hold too.
const plainKernels = new Uint8Array(readFileSync(join(repoRoot, 'src/backends/wasm/kernels.wasm')));
const relaxedKernels = new Uint8Array(readFileSync(join(repoRoot, 'src/backends/wasm/kernels-relaxed.wasm')));

test('relaxed SIMD: the relaxed kernels validate here once the backend has loaded', () => {
  createWasmBackend({ threads: 1 });
  assert.equal(WebAssembly.validate(relaxedKernels), true);
  assert.equal(WebAssembly.validate(plainKernels), true);
  assert.notDeepEqual(relaxedKernels, plainKernels);
});

describeBackendParity(
  'wasm backend on the plain SIMD128 kernels (2 threads) matches js',
  createWasmBackend({ threads: 2, bytes: plainKernels }),
);

test('the backend turns relaxed SIMD on unless DIFF_TRANSFORMER_WASM_RELAXED=0', () => {
  // prints whether the relaxed module validates after (optionally) creating a backend
  const script = `
    import { readFileSync } from 'node:fs';
    import { createWasmBackend } from './src/backends/wasm/index.ts';
    if (process.argv.at(-1) === 'backend') createWasmBackend({ threads: 1 });
    console.log(WebAssembly.validate(new Uint8Array(readFileSync('src/backends/wasm/kernels-relaxed.wasm'))));`;
  const run = (relaxed: string, withBackend: boolean) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script, withBackend ? 'backend' : 'none'],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, DIFF_TRANSFORMER_WASM_RELAXED: relaxed },
        timeout: 30_000,
      },
    ).stdout.trim();
  const engineDefault = run('1', false); // 'false' on Node 20, 'true' from Node 22
  assert.equal(run('1', true), 'true');
  assert.equal(run('0', true), engineDefault, 'with =0 the backend leaves the engine as it is');
});

test('dispose stops the workers; the backend keeps working on the calling thread', () => {
  const backend = createWasmBackend({ threads: 2 });
  const rng = new Rng(5);
  const x = randomF32(rng, 200 * 96);
  const w = randomF32(rng, 64 * 96);
  backend.dispose();
  close('y after dispose', backend.linearForward(x, w, 200, 96, 64), oracle.linearForward(x, w, 200, 96, 64));
  const again = createWasmBackend({ threads: 2 });
  close('y, new runtime', again.linearForward(x, w, 200, 96, 64), oracle.linearForward(x, w, 200, 96, 64));
  again.dispose();
});

test('held weights: the same results as copied ones, and forgotten on release', () => {
  const backend = createWasmBackend({ threads: 2 });
  const rng = new Rng(6);
  const w = randomF32(rng, 300 * 96);
  const norm = randomF32(rng, 96);
  for (const rows of [1, 3, 40]) {
    const x = randomF32(rng, rows * 96);
    const expected = oracle.linearForward(x, w, rows, 96, 300);
    const release = backend.holdWeights!([w, norm]);
    close(`y held (${rows} rows)`, backend.linearForward(x, w, rows, 96, 300), expected);
    close(
      `rms held (${rows} rows)`,
      backend.rmsNormForward(x, norm, rows, 96, 1e-5).y,
      oracle.rmsNormForward(x, norm, rows, 96, 1e-5).y,
    );
    backend.holdWeights!([x])(); // a second hold (and its release) changes nothing
    close(`y held, after a second hold (${rows} rows)`, backend.linearForward(x, w, rows, 96, 300), expected);
    release();
    w[0] += 1; // after the release a change is seen again
    close(
      `y after release (${rows} rows)`,
      backend.linearForward(x, w, rows, 96, 300),
      oracle.linearForward(x, w, rows, 96, 300),
    );
  }
  backend.dispose();
});

test('withScratch: from the second step on, outputs stay in wasm memory and feed the next op in place', () => {
  const backend = createWasmBackend({ threads: 2, bytes: relaxedKernels }); // a runtime of its own
  const rng = new Rng(11);
  const [rows, inDim, outDim] = [64, 32, 48];
  const x = randomF32(rng, rows * inDim);
  const w = randomF32(rng, outDim * inDim);
  const gain = randomF32(rng, outDim);
  const step = () =>
    backend.withScratch!(() => {
      const y = backend.linearForward(x, w, rows, inDim, outDim);
      const { y: normed } = backend.rmsNormForward(y, gain, rows, outDim, 1e-5);
      backend.addInPlace(normed, y);
      return { resident: y.buffer instanceof SharedArrayBuffer, out: Float32Array.from(normed) };
    });
  const y = oracle.linearForward(x, w, rows, inDim, outDim);
  const want = oracle.rmsNormForward(y, gain, rows, outDim, 1e-5).y;
  oracle.addInPlace(want, y);
  const first = step();
  const second = step();
  assert.equal(first.resident, false, 'the first step sizes the region (outputs copied out)');
  assert.equal(second.resident, true, 'the second step runs in it');
  close('first step', first.out, want);
  close('second step', second.out, want);
  const outside = backend.linearForward(x, w, rows, inDim, outDim);
  assert.ok(!(outside.buffer instanceof SharedArrayBuffer), 'outside a step, outputs are ordinary arrays');
  backend.dispose();
});

test('withScratch: another backend on the same runtime keeps ordinary outputs inside the scope', () => {
  const owner = createWasmBackend({ threads: 2 });
  const other = createWasmBackend({ threads: 2 }); // same thread count: the same runtime
  const rng = new Rng(12);
  const x = randomF32(rng, 40 * 24);
  const w = randomF32(rng, 16 * 24);
  const want = oracle.linearForward(x, w, 40, 24, 16);
  for (let step = 0; step < 2; step++) {
    owner.withScratch!(() => {
      const mine = owner.linearForward(x, w, 40, 24, 16);
      const theirs = other.linearForward(x, w, 40, 24, 16);
      if (step === 1) assert.ok(mine.buffer instanceof SharedArrayBuffer, "the owner's output is resident");
      assert.ok(!(theirs.buffer instanceof SharedArrayBuffer), "the other backend's output is its own array");
      close('owner', mine, want);
      close('other', theirs, want);
    });
  }
});
