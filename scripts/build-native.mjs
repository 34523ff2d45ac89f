#!/usr/bin/env node
/**
 * Builds the `native` backend (build/Release/diff_transformer_native.node) with node-gyp when a C++
 * compiler and the Node headers are present. No BLAS is needed: the matmuls run on the addon's own
 * GEMM (native/src/gemm.cc); a CBLAS such as OpenBLAS is only loaded at run time, when asked for
 * (DIFF_TRANSFORMER_BLAS=openblas) or to compare against. It never fails the install: anything
 * missing or broken ends in one notice line and exit code 0, and the project runs on another
 * backend. Environment:
 *   DIFF_TRANSFORMER_NATIVE=0     skip the build
 *   CXX                           the C++ compiler (default c++)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addonPath = join(root, 'build/Release/diff_transformer_native.node');
const logPath = join(root, 'build/native-build.log');

/** The addon's C++ sources (binding.gyp lists the same). */
const NATIVE_SOURCES = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8')).targets[0].sources;

class Skip extends Error {}
const skip = (reason) => {
  throw new Skip(reason);
};

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  return { ok: r.status === 0 && !r.error, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function writeLog(text) {
  try {
    mkdirSync(dirname(logPath), { recursive: true });
    writeFileSync(logPath, text);
  } catch {
    // the log is a courtesy
  }
}

/** A prefix holding include/node/node_api.h for this Node version, or null. */
function findNodeDir() {
  const candidates = [
    process.env.npm_config_nodedir,
    process.config?.variables?.node_prefix,
    resolve(dirname(process.execPath), '..'),
  ];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, 'include/node/node_api.h')) && existsSync(join(dir, 'include/node/common.gypi'))) return dir;
  }
  return null;
}

function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a local dependency
  }
  candidates.push(resolve(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((p) => p && p.endsWith('.js') && existsSync(p)) ?? null;
}

function main() {
  if (process.env.DIFF_TRANSFORMER_NATIVE === '0') skip('DIFF_TRANSFORMER_NATIVE=0');
  if (!existsSync(join(root, 'binding.gyp')) || !existsSync(join(root, 'native/src/addon.cc'))) skip('sources missing');
  const cxx = process.env.CXX || 'c++';
  if (!run(cxx, ['--version']).ok) skip(`no C++ compiler "${cxx}"`);
  const nodeDir = findNodeDir();
  if (!nodeDir) skip('Node headers not found');
  const probeDir = mkdtempSync(join(tmpdir(), 'dt-omp-'));
  const openmp = (() => {
    try {
      const src = join(probeDir, 'omp.cc');
      writeFileSync(src, '#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n');
      return run(cxx, ['-fopenmp', src, '-o', join(probeDir, 'omp')]).ok;
    } finally {
      rmSync(probeDir, { recursive: true, force: true });
    }
  })();

  const env = { ...process.env, DIFF_TRANSFORMER_OPENMP: openmp ? '1' : '0' };
  const gyp = findNodeGyp();
  let result;
  if (gyp) {
    result = run(process.execPath, [gyp, 'rebuild', `--nodedir=${nodeDir}`, '--jobs=max'], { cwd: root, env });
  } else {
    // No node-gyp: compile directly (Linux-style shared object; Node-API symbols resolve at load time).
    mkdirSync(dirname(addonPath), { recursive: true });
    const arch = process.arch === 'x64' ? ['-march=x86-64-v3'] : [];
    const args = [
      '-std=c++17',
      '-O3',
      '-fPIC',
      '-shared',
      '-fno-math-errno',
      '-fno-trapping-math',
      '-ffp-contract=fast',
      ...arch,
      ...(openmp ? ['-fopenmp'] : []),
      `-I${join(nodeDir, 'include/node')}`,
      ...NATIVE_SOURCES.map((f) => join(root, f)),
      '-o',
      addonPath,
      '-ldl',
    ];
    result = run(cxx, args, { cwd: root, env });
  }
  writeLog(result.output);
  if (!result.ok || !existsSync(addonPath)) skip(`compilation failed, see build/native-build.log`);
  const check = run(process.execPath, [
    '-e',
    `const i = require(${JSON.stringify(addonPath)}).info(); console.log(i.gemm + ' ' + i.gemmTile);`,
  ]);
  if (!check.ok) {
    writeLog(`${result.output}\n--- load check ---\n${check.output}`);
    rmSync(addonPath, { force: true });
    skip('the built addon does not load, see build/native-build.log');
  }
  const gemm = check.output.trim().split('\n').at(-1);
  console.log(`diff-transformer: native backend built (own GEMM ${gemm}${openmp ? ', OpenMP' : ''}; no BLAS needed)`);
}

/** What `auto` runs without the addon (as src/backends/index.ts decides): wasm where its kernels load, else js. */
function fallbackBackend() {
  if (process.env.DIFF_TRANSFORMER_NATIVE !== '0' && existsSync(addonPath))
    return 'native (the addon an earlier build left in build/Release)';
  const kernels = ['dist', 'src'].map((d) => join(root, d, 'backends/wasm/kernels.wasm')).find((p) => existsSync(p));
  try {
    if (kernels && typeof SharedArrayBuffer === 'function' && WebAssembly.validate(readFileSync(kernels)))
      return 'wasm (WebAssembly SIMD kernels, worker threads)';
  } catch {
    // unreadable kernels: js
  }
  return 'js (this Node cannot run the WebAssembly SIMD kernels)';
}

try {
  main();
} catch (error) {
  const reason = error instanceof Skip ? error.message : `unexpected error: ${String(error?.message ?? error).split('\n')[0]}`;
  console.log(`diff-transformer: native backend skipped (${reason}); \`auto\` will use ${fallbackBackend()}`);
}
process.exit(0);
