#!/usr/bin/env node
// Compiles the AssemblyScript kernels (assembly/kernels.ts) into src/backends/wasm/kernels.wasm
// (WebAssembly SIMD128) and kernels-relaxed.wasm (plus relaxed SIMD: fused multiply-adds), both with
// threads (shared, imported memory; atomics), no runtime, no static data. Both read the job layout
// (op codes, control block, argument words) from src/backends/wasm/kernel-layout.ts, which
// kernels.ts imports and the TypeScript wrapper imports too. The compiler version is
// pinned in package.json, so the output is reproducible byte for byte;
// `node scripts/build-wasm.mjs --check` verifies that the committed files are up to date.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'assembly/kernels.ts');
const check = process.argv.includes('--check');

// kernels.wasm: SIMD128; kernels-relaxed.wasm: the same with relaxed SIMD (fused multiply-adds),
// which the backend prefers where the engine has it.
const builds = [
  { target: join(root, 'src/backends/wasm/kernels.wasm'), features: 'simd,threads' },
  { target: join(root, 'src/backends/wasm/kernels-relaxed.wasm'), features: 'simd,threads,relaxed-simd' },
];

async function compile(features) {
  let binary = null;
  const { error, stderr } = await asc.main(
    [
      source,
      '--outFile', 'kernels.wasm',
      '-O3',
      '--noAssert',
      '--runtime', 'stub',
      '--use', 'abort=',
      '--enable', features,
      '--importMemory',
      '--sharedMemory',
      '--initialMemory', '17',
      '--maximumMemory', '65536',
      '--noExportMemory',
    ],
    {
      readFile: (name, baseDir) => {
        try {
          return readFileSync(join(baseDir, name), 'utf8');
        } catch {
          return null;
        }
      },
      writeFile: (name, contents) => {
        if (name.endsWith('.wasm')) binary = contents;
      },
      listFiles: () => [],
    },
  );
  if (error) {
    console.error(stderr.toString());
    console.error(error.message);
    process.exit(1);
  }
  if (!binary) throw new Error('asc produced no binary');
  return binary;
}

let stale = false;
for (const { target, features } of builds) {
  const binary = await compile(features);
  if (check) {
    const current = existsSync(target) ? readFileSync(target) : Buffer.alloc(0);
    if (Buffer.compare(current, Buffer.from(binary)) !== 0) {
      console.error(`${target} is out of date: run npm run build:wasm`);
      stale = true;
    } else console.log(`${target} is up to date (${binary.length} bytes)`);
  } else {
    writeFileSync(target, binary);
    console.log(`wrote ${target} (${binary.length} bytes)`);
  }
}
if (stale) process.exit(1);
