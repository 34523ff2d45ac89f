/**
 * Worker threads of the `wasm` backend behind a tiny adapter: Node `worker_threads` or browser Web
 * Workers, both started from the same plain-JavaScript source (so no TypeScript loader is needed in
 * the worker). Each worker instantiates the kernel module over the shared memory and then loops:
 * run `work()` (claim and compute chunks of the current job), spin briefly, sleep on the job counter.
 */

import { CTRL, CTRL_WORDS, GEN, STOP } from './kernel-layout.ts';

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  spin: number;
}

export interface KernelWorker {
  terminate(): void;
}

const WORKER_CORE = `
function start(init) {
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const ex = instance.exports;
  ex.setThread(init.tid);
  const ctrl = new Int32Array(init.memory.buffer, ${CTRL}, ${CTRL_WORDS});
  let seen = Atomics.load(ctrl, ${GEN});
  for (;;) {
    if (Atomics.load(ctrl, ${STOP}) !== 0) return;
    ex.work();
    for (let i = 0; i < init.spin && Atomics.load(ctrl, ${GEN}) === seen; i++);
    Atomics.wait(ctrl, ${GEN}, seen);
    seen = Atomics.load(ctrl, ${GEN});
  }
}
`;

type NodeWorkerThreads = typeof import('node:worker_threads');

function nodeWorkerThreads(): NodeWorkerThreads | undefined {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  if (!proc?.versions?.node || typeof proc.getBuiltinModule !== 'function') return undefined;
  return proc.getBuiltinModule('node:worker_threads') as NodeWorkerThreads;
}

/** Whether this environment can start kernel workers at all. */
export function workersSupported(): boolean {
  return (
    nodeWorkerThreads() !== undefined || typeof (globalThis as { Worker?: unknown }).Worker === 'function'
  );
}

/** Start one worker; it never keeps a Node process alive. */
export function spawnKernelWorker(init: WorkerInit): KernelWorker {
  const wt = nodeWorkerThreads();
  if (wt) {
    const worker = new wt.Worker(`${WORKER_CORE}\nstart(require('node:worker_threads').workerData);`, {
      eval: true,
      workerData: init,
      stdout: false,
      stderr: false,
    });
    worker.unref();
    worker.on('error', () => {}); // a dead worker only means fewer hands: the caller claims its chunks
    return { terminate: () => void worker.terminate() };
  }
  const source = `${WORKER_CORE}\nself.onmessage = (event) => start(event.data);`;
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url);
  worker.postMessage(init);
  return { terminate: () => worker.terminate() };
}

/** Logical processors available here (1 when unknown). */
export function hardwareThreads(): number {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  const os = proc?.getBuiltinModule?.('node:os') as typeof import('node:os') | undefined;
  if (os) return os.availableParallelism();
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return nav?.hardwareConcurrency ?? 1;
}
