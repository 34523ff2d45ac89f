/**
 * Seeded, serialisable pseudo-random numbers (xoshiro128**, seeded by splitmix32).
 *
 * Everything random in the project (initialisation, batch sampling, token sampling) draws from an
 * `Rng`, so a run is a pure function of its seed, and `state()` / `Rng.fromState()` let a resumed
 * training run continue the exact same stream.
 */
export class Rng {
  private s: Uint32Array;
  /** A cached second normal deviate from the Box–Muller pair (NaN when empty). */
  private spareNormal = Number.NaN;

  constructor(seed: number) {
    this.s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** The full generator state, as plain JSON-safe numbers. */
  state(): number[] {
    return [...this.s, this.spareNormal];
  }

  static fromState(state: readonly number[]): Rng {
    if (
      state.length !== 5 ||
      state.slice(0, 4).some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    ) {
      throw new Error(
        `invalid RNG state: expected 4 uint32 words and a spare normal, found ${JSON.stringify(state)}`,
      );
    }
    const r = new Rng(0);
    r.s.set(state.slice(0, 4));
    r.spareNormal = state[4] ?? Number.NaN;
    return r;
  }

  /** Next uint32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new Error(`Rng.int: n must be ≥ 1, found ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal deviate (Box–Muller). */
  normal(): number {
    if (!Number.isNaN(this.spareNormal)) {
      const v = this.spareNormal;
      this.spareNormal = Number.NaN;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
