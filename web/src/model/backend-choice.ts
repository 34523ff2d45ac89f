/**
 * The backend of a worker (inference or training): `wasm` (the SIMD kernels, bundled as assets of the
 * app: kernels-relaxed.wasm with fused multiply-adds where the browser has relaxed SIMD, else
 * kernels.wasm) when it loads, with up to `maxThreads` threads when the page is cross-origin isolated
 * (the server sends COOP/COEP), else on one thread over an unshared memory; `js` when WebAssembly SIMD
 * is missing. The wasm backend blocks on Atomics.wait while its kernel workers compute, which a
 * browser allows only in a worker.
 */
import { type Backend, createJsBackend, createWasmBackend, wasmAvailable } from 'diff-transformer/browser';
import wasmUrl from 'diff-transformer/kernels.wasm?url';
import relaxedWasmUrl from 'diff-transformer/kernels-relaxed.wasm?url';
import { ModelLoadError } from './load.ts';
import type { BackendChoice, BackendInfo } from './protocol.ts';

async function fetchBytes(url: string): Promise<Uint8Array<ArrayBuffer>> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** kernels-relaxed.wasm (fused multiply-adds) where the browser has relaxed SIMD, else kernels.wasm. */
async function fetchKernels(): Promise<Uint8Array<ArrayBuffer>> {
  try {
    const relaxed = await fetchBytes(relaxedWasmUrl);
    if (WebAssembly.validate(relaxed)) return relaxed;
  } catch {
    // fall back to the plain kernels
  }
  return fetchBytes(wasmUrl);
}

/** wasm (threaded when isolated) if it loads, else js; `choice` forces one. */
export async function chooseBackend(
  choice: BackendChoice,
  maxThreads: number,
): Promise<{ backend: Backend; info: BackendInfo }> {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const js = (note: string) => ({
    backend: createJsBackend('f32'),
    info: { name: 'js', threads: 1, crossOriginIsolated: isolated, note } satisfies BackendInfo,
  });
  if (choice === 'js') return js('');
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await fetchKernels();
  } catch (error) {
    const note = `kernels.wasm could not be read (${(error as Error).message})`;
    if (choice === 'wasm') throw new ModelLoadError(`the wasm backend is not available: ${note}`);
    return js(note);
  }
  const attempts: { shared: boolean; threads: number; note: string }[] = [];
  if (isolated && wasmAvailable(bytes)) {
    const cores = Math.max(1, navigator.hardwareConcurrency || 1);
    attempts.push({ shared: true, threads: Math.max(1, Math.min(maxThreads, cores)), note: '' });
  }
  if (wasmAvailable(bytes, { shared: false }))
    attempts.push({
      shared: false,
      threads: 1,
      note: isolated
        ? 'threads failed to start: one thread'
        : 'not cross-origin isolated (no SharedArrayBuffer): one thread',
    });
  let note = 'WebAssembly SIMD is not available here';
  for (const attempt of attempts) {
    try {
      const backend = createWasmBackend({ bytes, threads: attempt.threads, shared: attempt.shared });
      return {
        backend,
        info: { name: 'wasm', threads: backend.threads, crossOriginIsolated: isolated, note: attempt.note },
      };
    } catch (error) {
      note = `the wasm backend failed to start (${(error as Error).message})`;
    }
  }
  if (choice === 'wasm') throw new ModelLoadError(`the wasm backend is not available: ${note}`);
  return js(note);
}
