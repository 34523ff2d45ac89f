/**
 * The one definition of the job protocol between the wasm kernels (assembly/kernels.ts, compiled into
 * kernels.wasm and kernels-relaxed.wasm by scripts/build-wasm.mjs) and their TypeScript wrapper
 * (runtime.ts, index.ts, threads.ts): where the control block lies, the op code of each threaded job
 * and, for each op, which argument word holds what. Both compilers import this file, so it holds
 * nothing but `export const NAME = <integer>;` (valid TypeScript and AssemblyScript alike, where an
 * integer literal is an i32); test/wasm-layout.test.ts keeps it so.
 *
 * Argument words are int32 (pointers are byte addresses, flags 0 or 1) unless marked f32. `*_ARG_COUNT`
 * is the number of words a job of that op is given (slots 0 … count − 1, each once).
 */

// ---------------------------------------------------------------------------------------------
// Control block: its byte address in the shared memory, then int32 word indices from there
// ---------------------------------------------------------------------------------------------
export const CTRL = 256;
/** Words the wrapper's views of the control block span. */
export const CTRL_WORDS = 64;
/** (job tag << 20) | next chunk index to claim */
export const CLAIM = 0;
/** chunks finished */
export const DONE = 1;
/** job generation: the workers sleep on it */
export const GEN = 2;
/** chunks in the current job */
export const NCHUNK = 3;
/** op code of the current job */
export const OP = 4;
/** non-zero: the workers exit */
export const STOP = 5;
/** the first argument word */
export const ARGS = 8;
/** argument words at most */
export const ARG_WORDS = 48;

// ---------------------------------------------------------------------------------------------
// Op codes of the threaded jobs
// ---------------------------------------------------------------------------------------------
export const OP_PACK_B = 2;
export const OP_GEMM = 3;
export const OP_ATTN_FWD = 4;
export const OP_ATTN_BWD = 5;
export const OP_ATTN_REDUCE = 6;
export const OP_GEMV = 7;
export const OP_SWIGLU_FWD = 8;
export const OP_SWIGLU_BWD = 9;
export const OP_ADAMW = 10;
export const OP_SUM_SQUARES = 11;

// ---------------------------------------------------------------------------------------------
// OP_PACK_B: panels of 8 columns of B, packed as the B operand of OP_GEMM
// ---------------------------------------------------------------------------------------------
export const PACK_B_B = 0;
export const PACK_B_LDB = 1;
/** 1: b(p, j) = B[p·ldb + j]; 0: B[j·ldb + p] */
export const PACK_B_NN = 2;
export const PACK_B_N = 3;
export const PACK_B_K = 4;
/** the packed output */
export const PACK_B_BP = 5;
export const PACK_B_PANELS_PER_CHUNK = 6;
export const PACK_B_ARG_COUNT = 7;

// ---------------------------------------------------------------------------------------------
// OP_GEMM: C[m, n] (+)= op(A)[m, k] · B[k, n], B packed by OP_PACK_B; each chunk packs its row blocks of A
// ---------------------------------------------------------------------------------------------
export const GEMM_M = 0;
export const GEMM_N = 1;
export const GEMM_K = 2;
/** room for packed A */
export const GEMM_AP = 3;
/** packed B */
export const GEMM_BP = 4;
export const GEMM_C = 5;
export const GEMM_LDC = 6;
/** 1: accumulate into C */
export const GEMM_ACC = 7;
/** row blocks of 4 per chunk */
export const GEMM_BLOCKS_PER_CHUNK = 8;
export const GEMM_A = 9;
export const GEMM_LDA = 10;
/** 1: a(i, p) = A[p·lda + i]; 0: A[i·lda + p] */
export const GEMM_TRANS_A = 11;
export const GEMM_ARG_COUNT = 12;

// ---------------------------------------------------------------------------------------------
// OP_GEMV: C[i, j] (+)= Σ_p A[i·lda + p]·B[j·ldb + p] for a few rows i, unpacked
// ---------------------------------------------------------------------------------------------
export const GEMV_M = 0;
export const GEMV_N = 1;
export const GEMV_K = 2;
export const GEMV_A = 3;
export const GEMV_LDA = 4;
export const GEMV_B = 5;
export const GEMV_LDB = 6;
export const GEMV_C = 7;
export const GEMV_LDC = 8;
/** 1: accumulate into C */
export const GEMV_ACC = 9;
/** columns per chunk, a multiple of 4 */
export const GEMV_COLUMNS_PER_CHUNK = 10;
export const GEMV_ARG_COUNT = 11;

// ---------------------------------------------------------------------------------------------
// Elementwise jobs (OP_SWIGLU_FWD, OP_SWIGLU_BWD, OP_ADAMW, OP_SUM_SQUARES): n elements in chunks,
// then the op's arrays
// ---------------------------------------------------------------------------------------------
export const ELEMENTWISE_N = 0;
/** elements per chunk (a multiple of 4 when there is more than one chunk) */
export const ELEMENTWISE_PER_CHUNK = 1;

export const SWIGLU_FWD_GATE = 2;
export const SWIGLU_FWD_UP = 3;
/** the output */
export const SWIGLU_FWD_H = 4;
export const SWIGLU_FWD_ARG_COUNT = 5;

export const SWIGLU_BWD_DH = 2;
export const SWIGLU_BWD_GATE = 3;
export const SWIGLU_BWD_UP = 4;
export const SWIGLU_BWD_D_GATE = 5;
export const SWIGLU_BWD_D_UP = 6;
export const SWIGLU_BWD_ARG_COUNT = 7;

/** parameters, updated in place */
export const ADAMW_P = 2;
export const ADAMW_G = 3;
/** first moments, updated in place */
export const ADAMW_M = 4;
/** second moments, updated in place */
export const ADAMW_V = 5;
/** seven f64: lr, β1, β2, ε, decay, c1, c2 */
export const ADAMW_HYPER = 6;
export const ADAMW_ARG_COUNT = 7;

export const SUM_SQUARES_X = 2;
/** one f64 partial sum per chunk */
export const SUM_SQUARES_PARTIALS = 3;
export const SUM_SQUARES_ARG_COUNT = 4;

// ---------------------------------------------------------------------------------------------
// Attention (OP_ATTN_FWD; OP_ATTN_BWD and then OP_ATTN_REDUCE on the same words): one chunk per batch
// element and group of G query heads (OP_ATTN_REDUCE: per batch element)
// ---------------------------------------------------------------------------------------------
/** [B, T, H, d] */
export const ATTN_Q = 0;
/** [B, S, Hk, d] */
export const ATTN_K = 1;
/** [B, S, Hv, dv] */
export const ATTN_V = 2;
/** forward: the maps [B, H, T, S], 0 when not wanted */
export const ATTN_PROBS = 3;
/** log-sum-exp of each softmax row [B, H, T] (written forward, read backward) */
export const ATTN_LSE = 4;
/** the head outputs [B, T, H, dv] before the differential combine */
export const ATTN_HEADS = 5;
export const ATTN_BATCH = 6;
export const ATTN_SEQ_Q = 7;
export const ATTN_SEQ_K = 8;
export const ATTN_Q_HEADS = 9;
export const ATTN_K_HEADS = 10;
export const ATTN_V_HEADS = 11;
export const ATTN_QK_DIM = 12;
export const ATTN_V_DIM = 13;
/** int32 [H]: the key head of each query head */
export const ATTN_K_HEAD_OF = 14;
/** int32 [H]: the value head of each query head */
export const ATTN_V_HEAD_OF = 15;
/** f32: the score scale */
export const ATTN_SCALE = 16;
/** scratch of the threads, one stride each */
export const ATTN_SCRATCH = 17;
/** bytes of scratch per thread */
export const ATTN_SCRATCH_STRIDE = 18;
/** G: query heads per chunk, 1 or 2 (the two heads of a differential pair) */
export const ATTN_GROUP = 19;
/** forward, G = 2: the combined output [B, T, H/2, dv] */
export const ATTN_OUT = 20;
/** backward: the gradient of the output [B, T, H/G, dv] (the same word as ATTN_OUT) */
export const ATTN_D_OUT = 20;
/** f32: the scalar λ */
export const ATTN_LAMBDA = 21;
/** λ per token [B, T, H/2], 0: the scalar */
export const ATTN_LAMBDAS = 22;
export const ATTN_FWD_ARG_COUNT = 23;
/** backward, G = 2: dλ per token [B, T, H/2] */
export const ATTN_D_LAMBDAS = 23;
export const ATTN_DQ = 24;
/** dk per query head [B, H, S, d] */
export const ATTN_DK_HEADS = 25;
/** dv per group [B, H/G, S, dv] */
export const ATTN_DV_HEADS = 26;
/** [B, S, Hk, d], summed by OP_ATTN_REDUCE */
export const ATTN_DK = 27;
/** [B, S, Hv, dv], summed by OP_ATTN_REDUCE */
export const ATTN_DV = 28;
export const ATTN_BWD_ARG_COUNT = 29;
