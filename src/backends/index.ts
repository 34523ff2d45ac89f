/**
 * Backend selection. `js` (float32) is always available; `js-f64` is the float64 oracle used by the
 * finite-difference tests. `native` (C++ addon with BLAS) registers when its compiled addon loads.
 */
import type { Backend } from '../core/backend.ts';
import { createJsBackend } from './js/index.ts';
import { createNativeBackend, loadNativeAddon } from './native/index.ts';

const factories: Record<string, () => Backend> = {
  js: () => createJsBackend('f32'),
};
if (loadNativeAddon()) factories.native = createNativeBackend;

/** Names of the backends that load on this machine, fastest last. */
export function backendNames(): string[] {
  return Object.keys(factories);
}

export function createBackend(name = 'auto'): Backend {
  if (name === 'auto') return factories[backendNames().at(-1)!]();
  const factory = factories[name];
  if (!factory)
    throw new Error(`unknown backend "${name}" (available: ${['auto', ...backendNames()].join(', ')})`);
  return factory();
}
