/**
 * Row layouts of the attention projections: ours (SPEC §6) ↔ Hugging Face DiffLlama / Llama.
 *
 * Ours, DIFF V1: q rows [H, 2, d] (DIFF head i = sub-heads 2i, 2i+1), k rows [Hkv, 2, d], v rows
 * [Hkv, 2, d] (one 2d-wide value head per key pair); RoPE rotates interleaved pairs (2j, 2j+1).
 * DiffLlama: q rows [2, H, d] (DIFF head i = query heads i and H + i of its 2H), k and v rows
 * [2, Hkv, d]; RoPE rotate_half rotates (j, j + d/2). Baseline ↔ Llama: [H, d] both, RoPE only.
 * Both directions are pure row permutations (bit-exact); v rows keep their order within a head.
 */

/**
 * ours[r] = hf[order[r]] for a projection with `heads` of our heads (n_heads or n_kv_heads), each
 * `sub` maps of width d as the counterpart counts them (HfCounterpart.mapsPerHead: DiffLlama 2).
 */
export function hfRowOrder(heads: number, d: number, sub: number, rope: boolean): Int32Array {
  const order = new Int32Array(heads * sub * d);
  // interleaved channel 2j ← rotate_half channel j; 2j + 1 ← j + d/2
  const source = (c: number) => (rope ? (c >> 1) + (c % 2) * (d / 2) : c);
  let r = 0;
  for (let i = 0; i < heads; i++)
    for (let s = 0; s < sub; s++) for (let c = 0; c < d; c++) order[r++] = (s * heads + i) * d + source(c);
  return order;
}

/** rows [n, cols] → out[r] = w[order[r]] */
export function gatherRows(w: Float32Array, cols: number, order: Int32Array): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < order.length; r++)
    out.set(w.subarray(order[r] * cols, (order[r] + 1) * cols), r * cols);
  return out;
}

/** rows [n, cols] → out[order[r]] = w[r] (the inverse of gatherRows) */
export function scatterRows(w: Float32Array, cols: number, order: Int32Array): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < order.length; r++) out.set(w.subarray(r * cols, (r + 1) * cols), order[r] * cols);
  return out;
}
