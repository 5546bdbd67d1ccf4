/**
 * `attn_implementation: "flash_attention_2"`: the FlashAttention algorithm (Dao et al. 2022, "FlashAttention:
 * Fast and Memory-Efficient Exact Attention with IO-Awareness", Algorithm 1; FlashAttention-2's loop order:
 * query blocks outside, key blocks inside) written to be read, on the CPU. The softmax is computed online, one
 * block of keys at a time, so neither the [T, S] scores nor the probabilities ever exist:
 *
 *   for each block of query rows Q_i (FLASH_ATTENTION_BLOCK.query rows):
 *     m = -inf, l = 0, O = 0                                   running max, running sum, unnormalized output
 *     for each block of keys K_j, V_j (FLASH_ATTENTION_BLOCK.key keys):
 *       S_ij   = Q_i K_j^T / sqrt(D) + mask_ij                 [Br, Bc]
 *       m_new  = max(m, rowmax(S_ij))
 *       P_ij   = exp(S_ij - m_new)                             [Br, Bc]
 *       l      = exp(m - m_new) * l + rowsum(P_ij)
 *       O      = exp(m - m_new) * O + P_ij V_j                 [Br, D]
 *       m      = m_new
 *     out_i = O / l
 *
 * Extra memory per head: O(Br * Bc + Br * D) scratch plus the float32 copy of the inputs: O(sequence).
 * The result equals eager's softmax(S) V up to float32 rounding (the rescaling by exp(m - m_new) reorders the
 * sums). A fully masked query row (every score = the dtype's minimum) gets exp(0) = 1 for every key, i.e. the
 * same uniform average eager gives it.
 *
 * Differences HF itself has (not copied): HF's flash_attention_2 calls the CUDA flash-attn kernels with the 2D
 * padding mask: it removes padded tokens (`_upad_input`) and writes zeros for padded query positions, where
 * eager gives them the uniform average above; and it never returns attention weights (HF returns None for them;
 * here, as with sdpa, asking for them falls back to eager with a warning). In a float16 / bfloat16 model it
 * computes in float32 inside and rounds its output once (as the CUDA kernels accumulate in float32).
 */
import { linear } from "../ops/matmul.ts";
import { store, type FloatDType } from "../nn/functional.ts";
import { fusedInputs, scoreBlock, valuesTransposed, type AttentionFunction } from "./fused_attention_utils.ts";

/** Block sizes (rows of queries, keys) of the tiling; any positive values give the same result. */
export const FLASH_ATTENTION_BLOCK = { query: 32, key: 32 };

export const flash_attention_forward: AttentionFunction = (module, query, key, value, attention_mask, scaling) => {
  const x = fusedInputs(module, query, key, value, attention_mask, scaling);
  const { B, nH, T, S, D } = x;
  const Br = Math.max(1, Math.min(T, FLASH_ATTENTION_BLOCK.query));
  const Bc = Math.max(1, Math.min(S, FLASH_ATTENTION_BLOCK.key));
  const Sij = new Float32Array(Br * Bc); // scores, then P_ij, of one block pair
  const Vt = new Float32Array(D * Bc); // V_j transposed for the seam
  const PV = new Float32Array(Br * D); // P_ij V_j
  const m = new Float64Array(Br); // running row max
  const l = new Float64Array(Br); // running row sum of exp(s - m)
  const O = new Float64Array(Br * D); // running unnormalized output
  const out = new Float32Array(B * T * nH * D); // [B, T, nH, D]
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nH; h++) {
      const kvh = Math.floor(h / x.n_rep);
      for (let t0 = 0; t0 < T; t0 += Br) {
        const n = Math.min(Br, T - t0);
        m.fill(-Infinity);
        l.fill(0);
        O.fill(0);
        for (let s0 = 0; s0 < S; s0 += Bc) {
          const c = Math.min(Bc, S - s0);
          scoreBlock(x, b, kvh, (h - kvh * x.n_rep) * T + t0, n, s0, c, Sij); // rows t0.. of head h in its group
          for (let i = 0; i < n; i++) {
            let rowMax = -Infinity;
            for (let j = 0; j < c; j++) rowMax = Math.max(rowMax, Sij[i * c + j]);
            const m_new = Math.max(m[i], rowMax);
            // a row with every score -inf so far has nothing to add yet (and exp(-inf - -inf) would be NaN)
            const alpha = m_new === -Infinity ? 1 : Math.exp(m[i] - m_new);
            let rowSum = 0;
            for (let j = 0; j < c; j++) {
              const p = m_new === -Infinity ? 0 : Math.exp(Sij[i * c + j] - m_new);
              Sij[i * c + j] = p;
              rowSum += p;
            }
            l[i] = alpha * l[i] + rowSum;
            for (let d = 0; d < D; d++) O[i * D + d] *= alpha;
            m[i] = m_new;
          }
          valuesTransposed(x, b, kvh, s0, c, Vt);
          linear(Sij.subarray(0, n * c), { dtype: "float32", data: Vt.subarray(0, D * c) }, null, n, c, D, PV);
          for (let i = 0; i < n * D; i++) O[i] += PV[i];
        }
        for (let i = 0; i < n; i++) {
          const o = ((b * T + t0 + i) * nH + h) * D;
          for (let d = 0; d < D; d++) out[o + d] = O[i * D + d] / l[i];
        }
      }
    }
  }
  return [store(out, query.dtype as FloatDType, [B, T, nH, D]), null]; // rounded once to the activations' dtype
};
