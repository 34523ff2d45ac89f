/**
 * Node's built-in modules for the few functions that touch files, fetched when such a function runs
 * rather than imported at the top of its module: those modules (the tokenizer, safetensors, atomic
 * writes) are part of the browser entry too, whose module graph imports nothing from node:*.
 */
interface Builtins {
  'node:crypto': typeof import('node:crypto');
  'node:fs': typeof import('node:fs');
  'node:path': typeof import('node:path');
}

export function nodeBuiltin<K extends keyof Builtins>(name: K): Builtins[K] {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  const module = proc?.getBuiltinModule?.(name);
  if (!module) throw new Error(`file access needs Node ≥ 20.16 (${name}), which this runtime is not`);
  return module as Builtins[K];
}
