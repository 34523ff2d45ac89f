/**
 * Scratch memory for the outputs of the ops of one training step (Backend.withScratch). While a
 * scope is open, outputs are bump-allocated views of one reusable slab, so a step allocates no
 * ArrayBuffers: allocating them (and the garbage collection that follows) was 8% of a training step
 * at the small and medium bench sizes. The slab is sized to the largest scope seen so far; what does
 * not fit (the first step) is allocated normally. Nothing allocated in a scope may be used after it
 * closes: the next scope overwrites it. `poison` fills the slab with NaN when a scope closes, so a
 * view that escapes shows in tests.
 */

/** Offsets stay multiples of 16 floats (64 bytes: a cache line, an AVX-512 vector). */
const ALIGN = 16;

export class ScratchArena {
  private slab: Float32Array = new Float32Array(0);
  private used = 0;
  private open = false;

  constructor(
    private readonly allocate: (n: number) => Float32Array,
    private readonly poison = false,
  ) {}

  /** n floats: a slab view inside a scope (or a fresh array when it does not fit), else fresh. */
  alloc(n: number): Float32Array {
    if (!this.open) return this.allocate(n);
    const start = this.used;
    this.used = start + Math.ceil(n / ALIGN) * ALIGN;
    return this.used <= this.slab.length ? this.slab.subarray(start, start + n) : this.allocate(n);
  }

  /** Runs fn in a scope; a scope opened inside another one is part of it. */
  run<T>(fn: () => T): T {
    if (this.open) return fn();
    this.open = true;
    this.used = 0;
    try {
      return fn();
    } finally {
      this.open = false;
      if (this.used > this.slab.length) this.slab = this.allocate(this.used);
      else if (this.poison) this.slab.fill(Number.NaN);
    }
  }
}

/**
 * Whether backends should offer Backend.withScratch: yes unless DIFF_TRANSFORMER_SCRATCH=0, which
 * trades the speed back for memory (the slab holds a whole step's activations).
 */
export function scratchEnabled(): boolean {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.DIFF_TRANSFORMER_SCRATCH !== '0';
}
