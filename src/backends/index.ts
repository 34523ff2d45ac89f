/**
 * Backend selection, slowest first: `js` (plain TypeScript, always available; its float64 form is the
 * oracle of the finite-difference tests), `wasm` (SIMD kernels, worker threads; registers when
 * WebAssembly SIMD and shared memory work), `native` (C++ addon with BLAS; registers when its
 * compiled addon loads). `auto` takes the last one that loaded.
 */
import type { Backend } from '../core/backend.ts';
import { createJsBackend } from './js/index.ts';
import { createNativeBackend, loadNativeAddon } from './native/index.ts';
import { createWasmBackend, wasmAvailable } from './wasm/index.ts';

let probed: Record<string, () => Backend> | undefined;

/** The backends that load here, probed on first use (the addon loads, the kernels compile), not on import. */
function factories(): Record<string, () => Backend> {
  if (!probed) {
    probed = { js: () => createJsBackend('f32') };
    if (wasmAvailable()) probed.wasm = () => createWasmBackend();
    if (loadNativeAddon()) probed.native = createNativeBackend;
  }
  return probed;
}

/** Names of the backends that load on this machine, fastest last. */
export function backendNames(): string[] {
  return Object.keys(factories());
}

export function createBackend(name = 'auto'): Backend {
  if (name === 'auto') return factories()[backendNames().at(-1)!]();
  const factory = factories()[name];
  if (!factory)
    throw new Error(`unknown backend "${name}" (available: ${['auto', ...backendNames()].join(', ')})`);
  return factory();
}
