/**
 * Backend selection. `js` (float32) is always available; `js-f64` is the float64 oracle used by the
 * finite-difference tests. Faster backends register here as they land.
 */
import type { Backend } from '../core/backend.ts';
import { createJsBackend } from './js/index.ts';

const factories: Record<string, () => Backend> = {
  js: () => createJsBackend('f32'),
};

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
