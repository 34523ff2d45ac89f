#!/usr/bin/env node
/**
 * Builds dist/ from src/: ESM JavaScript, .d.ts types and source maps (tsc -p tsconfig.build.json),
 * plus the committed wasm kernels next to the module that reads them. Starts from an empty dist/, so no
 * file of a deleted source survives. Runs as `npm run build`, and as `prepare` (npm ci of a clone, npm pack).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build: tsc failed');
  process.exit(1);
}
const wasmDir = 'backends/wasm';
for (const name of readdirSync(join(root, 'src', wasmDir)).filter((n) => n.endsWith('.wasm')))
  copyFileSync(join(root, 'src', wasmDir, name), join(dist, wasmDir, name));
