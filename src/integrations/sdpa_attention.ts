/**
 * `attn_implementation: "sdpa"`: scaled dot-product attention fused, as `torch.nn.functional.
 * scaled_dot_product_attention` is. Same result as eager (softmax(q k^T / sqrt(D) + mask) @ v), but the
 * probabilities are never materialized for the whole sequence: the query rows of each key/value group (the
 * n_rep heads sharing one key/value head) are processed a block at a time (SDPA_BLOCK.query rows x S keys of
 * scores, reused), so the extra memory is O(S), not O(T * S) per head. It never returns attention weights
 * (HF's sdpa falls back to eager with a warning for that; see LlamaAttention).
 *
 * In float32 each score, mask add and softmax row is computed exactly as eager computes it; only the matmul
 * backend's summation for a different number of rows could differ (within float32 rounding). In a float16 /
 * bfloat16 model the computation stays float32 inside (as torch's fused CPU and CUDA kernels do) and the output
 * is rounded once, where eager rounds scores and probabilities too: outputs differ by a few 2-byte ulps.
 *
 * Differences HF itself has (not copied): on CUDA, HF 4.44's `_update_causal_mask` for sdpa "unmasks" fully
 * masked query rows (`AttentionMaskConverter._unmask_unattended`) so such a row attends to every key by its
 * scores; eager (and CPU sdpa, and this function) give it the uniform 1/S average of the finite-minimum mask.
 */
import { linear } from "../ops/matmul.ts";
import { softmaxRows } from "../ops/softmax.ts";
import { store, type FloatDType } from "../nn/functional.ts";
import { fusedInputs, scoreBlock, valuesTransposed, type AttentionFunction } from "./fused_attention_utils.ts";

/** Query rows per block: the scores buffer is SDPA_BLOCK.query x S floats. Any positive value gives the same result. */
export const SDPA_BLOCK = { query: 32 };

export const sdpa_attention_forward: AttentionFunction = (module, query, key, value, attention_mask, scaling) => {
  const x = fusedInputs(module, query, key, value, attention_mask, scaling);
  const { B, nH, nKV, n_rep, T, S, D } = x;
  const R = n_rep * T; // query rows of one kv group (scoreBlock): the n_rep heads sharing a key/value head
  const rows = Math.max(1, Math.min(R, SDPA_BLOCK.query));
  const scores = new Float32Array(rows * S); // one block's q k^T / sqrt(D) + mask, then its probabilities
  const vT = new Float32Array(D * S); // v of one kv head, transposed
  const o = new Float32Array(rows * D);
  const out = new Float32Array(B * T * nH * D); // [B, T, nH, D]
  for (let b = 0; b < B; b++) {
    for (let kvh = 0; kvh < nKV; kvh++) {
      valuesTransposed(x, b, kvh, 0, S, vT);
      for (let r0 = 0; r0 < R; r0 += rows) {
        const n = Math.min(rows, R - r0);
        scoreBlock(x, b, kvh, r0, n, 0, S, scores);
        softmaxRows(scores, scores, n, S); // softmax(dim=-1) in float32
        linear(scores.subarray(0, n * S), { dtype: "float32", data: vT }, null, n, S, D, o); // probs @ v
        for (let i = 0; i < n; i++) {
          const h = kvh * n_rep + Math.floor((r0 + i) / T);
          const t = (r0 + i) % T;
          out.set(o.subarray(i * D, (i + 1) * D), ((b * T + t) * nH + h) * D);
        }
      }
    }
  }
  return [store(out, query.dtype as FloatDType, [B, T, nH, D]), null]; // rounded once to the activations' dtype
};
