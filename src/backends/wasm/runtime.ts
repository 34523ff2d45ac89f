/**
 * The kernel module over one shared memory: a bump arena (reset before every op) for operands, and
 * the job protocol that spreads a kernel's chunks over the calling thread and the workers.
 */
import type { Floats } from '../../core/backend.ts';
import { type JobWords, jobArgs } from './job-args.ts';
import {
  ARGS,
  CLAIM,
  CTRL,
  CTRL_WORDS,
  DONE,
  GEMM_A,
  GEMM_ACC,
  GEMM_AP,
  GEMM_ARG_COUNT,
  GEMM_BLOCKS_PER_CHUNK,
  GEMM_BP,
  GEMM_C,
  GEMM_K,
  GEMM_LDA,
  GEMM_LDC,
  GEMM_M,
  GEMM_N,
  GEMM_TRANS_A,
  GEMV_A,
  GEMV_ACC,
  GEMV_ARG_COUNT,
  GEMV_B,
  GEMV_C,
  GEMV_COLUMNS_PER_CHUNK,
  GEMV_K,
  GEMV_LDA,
  GEMV_LDB,
  GEMV_LDC,
  GEMV_M,
  GEMV_N,
  GEN,
  NCHUNK,
  OP,
  OP_GEMM,
  OP_GEMV,
  OP_PACK_B,
  PACK_B_ARG_COUNT,
  PACK_B_B,
  PACK_B_BP,
  PACK_B_K,
  PACK_B_LDB,
  PACK_B_N,
  PACK_B_NN,
  PACK_B_PANELS_PER_CHUNK,
  STOP,
} from './kernel-layout.ts';
import { type KernelWorker, spawnKernelWorker } from './threads.ts';

/** Row counts below this multiply unpacked (gemvRows): decoding, tiny batches. */
const GEMV_MAX_ROWS = 4;

/**
 * A copy of the module bytes whose imported memory is unshared (flag 0x03 → 0x01 in the import's
 * limits), so that it links against a plain, non-shared WebAssembly.Memory. The atomic instructions
 * stay valid on unshared memory; only the single-threaded path may run then. Throws if the bytes do
 * not have the layout of kernels.wasm (one shared memory import with a maximum).
 */
export function unsharedModuleBytes(
  source: ArrayBuffer | ArrayBufferView<ArrayBuffer>,
): Uint8Array<ArrayBuffer> {
  const bytes = ArrayBuffer.isView(source)
    ? new Uint8Array(source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength))
    : new Uint8Array(source.slice(0));
  let at = 8;
  const leb = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[at++];
      if (b === undefined) throw new Error('kernels.wasm: truncated');
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
      shift += 7;
    }
  };
  const skipName = () => {
    const length = leb();
    at += length;
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = leb();
    const end = at + size;
    if (id === 2) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        skipName();
        skipName();
        const kind = bytes[at++];
        if (kind === 2) {
          if (bytes[at] !== 0x03) throw new Error('kernels.wasm: the memory import is not shared');
          bytes[at] = 0x01;
          return bytes;
        }
        if (kind === 0) leb();
        else if (kind === 3) at += 2;
        else throw new Error('kernels.wasm: unexpected import kind');
      }
    }
    at = end;
  }
  throw new Error('kernels.wasm: no memory import');
}

/** The exports of kernels.wasm (pointers are byte addresses). */
export interface KernelExports {
  setThread(t: number): void;
  heapBase(): number;
  work(): void;
  attentionScratchBytes(S: number, d: number, dv: number): number;
  gemvDirect(
    m: number,
    n: number,
    k: number,
    A: number,
    lda: number,
    B: number,
    ldb: number,
    C: number,
    ldc: number,
    acc: number,
  ): void;
  gemmDirect(
    m: number,
    n: number,
    k: number,
    A: number,
    lda: number,
    transA: number,
    B: number,
    ldb: number,
    nn: number,
    C: number,
    ldc: number,
    acc: number,
    AP: number,
    BP: number,
  ): void;
  combineForward(
    heads: number,
    out: number,
    rows: number,
    H: number,
    dv: number,
    lambda: number,
    lambdas: number,
  ): void;
  combineBackward(
    dOut: number,
    heads: number,
    dHeads: number,
    dLambda: number,
    rows: number,
    H: number,
    dv: number,
    lambda: number,
    lambdas: number,
  ): void;
  rmsNormForward(x: number, w: number, y: number, rstd: number, rows: number, dim: number, eps: number): void;
  rmsNormBackward(
    dy: number,
    x: number,
    w: number,
    rstd: number,
    dx: number,
    dw: number,
    rows: number,
    dim: number,
  ): void;
  swigluForward(gate: number, up: number, h: number, n: number): void;
  swigluBackward(dh: number, gate: number, up: number, dGate: number, dUp: number, n: number): void;
  crossEntropy(
    logits: number,
    targets: number,
    dLogits: number,
    lossRow: number,
    rows: number,
    scored: number,
    V: number,
  ): void;
  rope(x: number, cosT: number, sinT: number, batch: number, seq: number, heads: number, dim: number): void;
  addInPlace(a: number, b: number, n: number): void;
  scaleInPlace(x: number, c: number, n: number): void;
}

const PAGE = 65536;
const ARENA_START = PAGE;
const MAX_PAGES = 65536;
const INITIAL_PAGES = 256;
/** Below this many multiply-adds a matrix product stays on the calling thread. */
const PARALLEL_MIN_WORK = 1 << 17;

export class WasmRuntime {
  readonly memory: WebAssembly.Memory;
  readonly kernels: KernelExports;
  readonly threads: number;
  /** Whether the memory is shared (threads possible); unshared memory means one thread, no workers. */
  readonly shared: boolean;
  private readonly workers: KernelWorker[] = [];
  private ctrl!: Int32Array;
  private f32!: Float32Array;
  private i32!: Int32Array;
  private f64!: Float64Array;
  private top = ARENA_START;
  /** Where the arena starts: above the held arrays, if any. */
  private base = ARENA_START;
  /** Held arrays (weights during inference) and their copies below the arena. */
  private readonly held = new Map<Floats, number>();
  private tag = 0;
  /**
   * The resident scratch region of an open scope (runResident): [start, end) below the arena, filled
   * from start to top by op outputs, which stay in wasm memory as views until the scope closes.
   */
  private readonly resident = {
    open: false,
    owner: null as object | null,
    start: 0,
    top: 0,
    end: 0,
    wanted: 0,
    need: 0,
  };
  /** Every SharedArrayBuffer object this memory has handed out (one per size it grew to). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  /**
   * `shared: false` (for pages without cross-origin isolation, where SharedArrayBuffer is missing)
   * needs a module whose memory import is unshared (see `unsharedModuleBytes`) and runs on one thread.
   */
  constructor(module: WebAssembly.Module, threads: number, spin = 20000, shared = true) {
    this.shared = shared;
    this.memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.kernels = instance.exports as unknown as KernelExports;
    // static data (none at present) starts at 1024, above the control block; it must end below the arena
    if (this.kernels.heapBase() > ARENA_START)
      throw new Error('kernels.wasm: static data overlaps the arena');
    this.kernels.setThread(0);
    this.refreshViews();
    this.threads = shared ? Math.max(1, Math.floor(threads)) : 1;
    for (let t = 1; t < this.threads; t++) {
      try {
        this.workers.push(spawnKernelWorker({ module, memory: this.memory, tid: t, spin }));
      } catch {
        break; // fewer workers: the calling thread claims whatever they would have done
      }
    }
  }

  /** New views after the memory grew (an unshared memory's old buffer is detached by then). */
  private refreshViews(): void {
    const buffer = this.memory.buffer;
    this.buffers.add(buffer);
    this.ctrl = new Int32Array(buffer, CTRL, CTRL_WORDS);
    this.f32 = new Float32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }

  /** Forget every arena allocation (before each op). */
  reset(): void {
    this.top = this.base;
  }

  /**
   * Copy `arrays` once into memory below the arena, where they stay until the returned release is
   * called; meanwhile `put` of one of them returns its copy instead of copying it again. The caller
   * promises not to change them until then. While arrays are held, a second hold is a no-op.
   */
  hold(arrays: Iterable<Floats>): () => void {
    if (this.held.size > 0) return () => {};
    this.base = ARENA_START;
    this.reset();
    for (const a of arrays) if (!this.held.has(a)) this.held.set(a, this.put(a));
    this.base = this.top;
    return () => {
      this.held.clear();
      this.base = ARENA_START;
      this.reset();
    };
  }

  /** Grow the memory (by a quarter at least) until it reaches `end` bytes. */
  private ensure(end: number): void {
    if (end > this.memory.buffer.byteLength) {
      const pages = Math.ceil((end - this.memory.buffer.byteLength) / PAGE);
      if (this.memory.buffer.byteLength / PAGE + pages > MAX_PAGES)
        throw new RangeError(`wasm backend: an op needs ${(end / 2 ** 30).toFixed(2)} GiB, beyond 4 GiB`);
      this.memory.grow(Math.max(pages, Math.ceil(this.memory.buffer.byteLength / PAGE / 4)));
    }
    if (this.f32.buffer.byteLength !== this.memory.buffer.byteLength) this.refreshViews();
  }

  /** Room for `count` floats (or int32s), 64-byte aligned; returns the byte address. */
  alloc(count: number): number {
    const ptr = this.top;
    const end = ptr + Math.ceil((count * 4) / 64) * 64;
    this.ensure(end);
    this.top = end;
    return ptr;
  }

  /**
   * Runs fn with op outputs kept in wasm memory (Backend.withScratch, shared memory only: growing an
   * unshared memory would detach the views): allocOut places them in a region below the arena, the
   * backend hands out views of them, and `put` of such a view costs no copy. The region is sized to
   * what the previous scope asked for; outputs that do not fit take the usual copying path. Nothing
   * in the region may be used after fn returns. Scopes nest (the inner one is part of the outer).
   * `owner` (the backend; backends may share a runtime) is the only caller whose allocOut goes there.
   */
  runResident<T>(owner: object, fn: () => T): T {
    const r = this.resident;
    if (r.open || !this.shared) return fn();
    r.owner = owner;
    const savedBase = this.base;
    r.start = this.base;
    r.top = r.start;
    r.end = r.start + r.need;
    r.wanted = 0;
    this.ensure(r.end);
    this.base = r.end;
    this.reset();
    r.open = true;
    try {
      return fn();
    } finally {
      r.open = false;
      r.owner = null;
      r.need = Math.max(r.need, r.wanted);
      this.base = savedBase;
      this.reset();
    }
  }

  /** Room for an op's output: in the resident region during owner's scope when it fits, else in the arena. */
  allocOut(count: number, owner: object): number {
    const r = this.resident;
    if (!r.open || r.owner !== owner) return this.alloc(count);
    const bytes = Math.ceil((count * 4) / 64) * 64;
    r.wanted += bytes;
    if (r.top + bytes > r.end) return this.alloc(count);
    const ptr = r.top;
    r.top += bytes;
    return ptr;
  }

  /** A view of `count` floats at `ptr` when it lies in the open resident region, else null. */
  residentView(ptr: number, count: number): Float32Array | null {
    const r = this.resident;
    if (!r.open || ptr < r.start || ptr + count * 4 > r.top) return null;
    return new Float32Array(this.memory.buffer, ptr, count);
  }

  /** The address of `values` when it is a view into the open resident region, else -1. */
  private residentAddress(values: Floats): number {
    const r = this.resident;
    if (!r.open || !(values instanceof Float32Array) || !this.buffers.has(values.buffer)) return -1;
    const ptr = values.byteOffset;
    return ptr >= r.start && ptr + values.byteLength <= r.top ? ptr : -1;
  }

  /** Copy floats (of either precision) into the arena; a held or resident array is used in place. */
  put(values: Floats): number {
    const held = this.held.get(values);
    if (held !== undefined) return held;
    const resident = this.residentAddress(values);
    if (resident >= 0) return resident;
    const ptr = this.alloc(values.length);
    this.f32.set(values, ptr >> 2);
    return ptr;
  }

  putInt(values: Int32Array): number {
    const ptr = this.alloc(values.length);
    this.i32.set(values, ptr >> 2);
    return ptr;
  }

  /** Copy `count` floats at `ptr` into `target` (converting to its precision); nothing if it is there. */
  getInto(ptr: number, target: Floats): void {
    if (this.residentAddress(target) === ptr) return;
    target.set(this.f32.subarray(ptr >> 2, (ptr >> 2) + target.length));
  }

  getF64(ptr: number, count: number): Float64Array {
    return this.f64.subarray(ptr >> 3, (ptr >> 3) + count);
  }

  /**
   * Run `chunks` chunks of kernel job `op` (an OP_* of kernel-layout.ts) with the argument words of
   * jobArgs (int32, but for the slots listed in `floatArgs`), on this thread and, when `parallel`, the
   * workers; returns when all are done.
   */
  job(
    op: number,
    args: JobWords,
    chunks: number,
    parallel: boolean,
    floatArgs: readonly number[] = [],
  ): void {
    if (chunks <= 0) return;
    if (chunks >= 0xfffff) throw new RangeError('wasm backend: too many chunks in one job');
    const ctrl = this.ctrl;
    this.tag = (this.tag + 1) & 0xfff;
    // Close the claim word first (no chunk is claimable while the job is being written).
    Atomics.store(ctrl, CLAIM, (this.tag << 20) | 0xfffff);
    for (let i = 0; i < args.length; i++) ctrl[ARGS + i] = args[i];
    if (floatArgs.length) {
      const f = new Float32Array(this.memory.buffer, CTRL, CTRL_WORDS);
      for (const i of floatArgs) f[ARGS + i] = args[i];
    }
    ctrl[OP] = op;
    Atomics.store(ctrl, NCHUNK, chunks);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, CLAIM, this.tag << 20);
    const wake = parallel && this.workers.length > 0 && chunks > 1;
    if (wake) {
      Atomics.add(ctrl, GEN, 1);
      Atomics.notify(ctrl, GEN);
    }
    this.kernels.work();
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(ctrl, DONE);
      if (done >= chunks) break;
      if (spins > 1000 && this.shared) Atomics.wait(ctrl, DONE, done, 50);
    }
  }

  /**
   * C[m, n] (+)= op(A)[m, k] · op(B)[k, n]; A read as A[i·lda + p] (or A[p·lda + i] when transA),
   * B as B[j·ldb + p] (the c = a·bᵀ form) or B[p·ldb + j] when nn.
   */
  gemm(
    m: number,
    n: number,
    k: number,
    A: number,
    lda: number,
    transA: boolean,
    B: number,
    ldb: number,
    nn: boolean,
    C: number,
    ldc: number,
    acc: boolean,
  ): void {
    if (!transA && !nn && m < GEMV_MAX_ROWS) {
      if (this.threads === 1 || m * n * k < PARALLEL_MIN_WORK) {
        this.kernels.gemvDirect(m, n, k, A, lda, B, ldb, C, ldc, +acc);
        return;
      }
      const per = Math.ceil(n / (this.threads * 4) / 4) * 4; // columns per chunk, a multiple of 4
      const words = jobArgs(GEMV_ARG_COUNT, [
        [GEMV_M, m],
        [GEMV_N, n],
        [GEMV_K, k],
        [GEMV_A, A],
        [GEMV_LDA, lda],
        [GEMV_B, B],
        [GEMV_LDB, ldb],
        [GEMV_C, C],
        [GEMV_LDC, ldc],
        [GEMV_ACC, +acc],
        [GEMV_COLUMNS_PER_CHUNK, per],
      ]);
      this.job(OP_GEMV, words, Math.ceil(n / per), true);
      return;
    }
    const blocks = Math.ceil(m / 4);
    const panels = Math.ceil(n / 8);
    const AP = this.alloc(blocks * 4 * k);
    const BP = this.alloc(panels * 8 * k);
    const parallel = this.threads > 1 && m * n * k >= PARALLEL_MIN_WORK;
    if (!parallel) {
      this.kernels.gemmDirect(m, n, k, A, lda, +transA, B, ldb, +nn, C, ldc, +acc, AP, BP);
      return;
    }
    const packChunks = Math.min(panels, this.threads * 2);
    const perPack = Math.ceil(panels / packChunks);
    const packWords = jobArgs(PACK_B_ARG_COUNT, [
      [PACK_B_B, B],
      [PACK_B_LDB, ldb],
      [PACK_B_NN, +nn],
      [PACK_B_N, n],
      [PACK_B_K, k],
      [PACK_B_BP, BP],
      [PACK_B_PANELS_PER_CHUNK, perPack],
    ]);
    this.job(OP_PACK_B, packWords, Math.ceil(panels / perPack), true);
    const target = Math.min(blocks, this.threads * 4);
    const per = Math.ceil(blocks / target);
    const words = jobArgs(GEMM_ARG_COUNT, [
      [GEMM_M, m],
      [GEMM_N, n],
      [GEMM_K, k],
      [GEMM_AP, AP],
      [GEMM_BP, BP],
      [GEMM_C, C],
      [GEMM_LDC, ldc],
      [GEMM_ACC, +acc],
      [GEMM_BLOCKS_PER_CHUNK, per],
      [GEMM_A, A],
      [GEMM_LDA, lda],
      [GEMM_TRANS_A, +transA],
    ]);
    this.job(OP_GEMM, words, Math.ceil(blocks / per), true);
  }

  /** Stop and discard the workers (the backend stays usable, single-threaded). */
  dispose(): void {
    Atomics.store(this.ctrl, STOP, 1);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
    for (const worker of this.workers) worker.terminate();
    this.workers.length = 0;
  }
}
