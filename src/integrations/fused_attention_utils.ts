/**
 * What the fused attention functions (sdpa_attention.ts, flash_attention.ts) share: their inputs read as
 * float32, and a block of scores computed exactly as eager computes each element,
 *
 *   s[i, j] = (q_i . k_j) / sqrt(D) + mask[i, j]        (the product through the matmul seam, float32 ops)
 *
 * so that in float32 the three implementations differ only in how the softmax is summed. Without a mask and
 * with more than one query the attention is causal (torch's `is_causal`, which HF's sdpa path uses when nothing
 * is padded; masked keys get -inf, i.e. weight exactly 0, as the finite minimum gives them). Grouped-query
 * attention reads key/value head floor(h / n_rep) directly: no repeat_kv copy.
 */
import { ShapeError } from "../errors.ts";
import { linear } from "../ops/matmul.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** The signature every attention implementation has (see attention.ts). */
export type AttentionFunction = (
  module: { num_key_value_groups: number },
  query: Tensor,
  key: Tensor,
  value: Tensor,
  attention_mask: Tensor | null,
  scaling: number,
) => [Tensor, Tensor | null];

export interface FusedInputs {
  B: number;
  nH: number;
  nKV: number;
  n_rep: number;
  T: number;
  S: number;
  D: number;
  q: Float32Array; // [B, nH, T, D]
  k: Float32Array; // [B, nKV, S, D]
  v: Float32Array; // [B, nKV, S, D]
  mask: Float32Array | null; // [maskB, 1, T, maskL]
  /** No mask given and more than one query: causal, aligned bottom-right (query i sees keys j <= S - T + i). */
  is_causal: boolean;
  maskB: number;
  maskL: number;
  /** 1/scaling as a float32 (= sqrt(D)): eager divides by it, as HF 4.44. */
  divisor: number;
}

export function fusedInputs(
  ...[module, query, key, value, attention_mask, scaling]: Parameters<AttentionFunction>
): FusedInputs {
  const [B, nH, T, D] = query.shape;
  const [, nKV, S] = key.shape;
  if (nKV * module.num_key_value_groups !== nH || value.shape[2] !== S)
    throw new ShapeError("key_states", `[${key.shape}] / [${value.shape}] do not match query [${query.shape}]`);
  return {
    B,
    nH,
    nKV,
    n_rep: module.num_key_value_groups,
    T,
    S,
    D,
    q: query.toFloat32(),
    k: key.toFloat32(),
    v: value.toFloat32(),
    mask: attention_mask ? attention_mask.toFloat32() : null,
    is_causal: attention_mask === null && T > 1,
    maskB: attention_mask ? attention_mask.shape[0] : 0,
    maskL: attention_mask ? attention_mask.shape[3] : 0,
    divisor: Math.fround(1 / scaling),
  };
}

/**
 * out[i, j] (n x c, row-major) = scores of rows [r0, r0 + n) of the query group of kv head kvh against keys
 * [s0, s0 + c). A group's rows are the queries of the n_rep heads that share that key/value head, head by head:
 * row r is query position r mod T of head kvh * n_rep + floor(r / T). In q's [B, nH, T, D] layout they are
 * contiguous, so one product through the seam scores all of them against one copy of the keys (at decode, T = 1,
 * that is n_rep rows at once instead of n_rep one-row products).
 */
export function scoreBlock(
  x: FusedInputs,
  b: number,
  kvh: number,
  r0: number,
  n: number,
  s0: number,
  c: number,
  out: Float32Array,
): void {
  const { nH, nKV, T, S, D } = x;
  const qo = ((b * nH + kvh * x.n_rep) * T + r0) * D;
  const ko = ((b * nKV + kvh) * S + s0) * D;
  linear(x.q.subarray(qo, qo + n * D), { dtype: "float32", data: x.k.subarray(ko, ko + c * D) }, null, n, D, c, out);
  const { mask, divisor, is_causal } = x;
  const mb = x.maskB === 1 ? 0 : b;
  for (let i = 0; i < n; i++) {
    const t = (r0 + i) % T;
    const mo = (mb * T + t) * x.maskL + s0;
    const lastVisible = S - T + t; // is_causal: keys after this one are masked
    const row = i * c;
    if (mask !== null) for (let j = 0; j < c; j++) out[row + j] = Math.fround(out[row + j] / divisor) + mask[mo + j];
    else {
      for (let j = 0; j < c; j++) out[row + j] /= divisor;
      if (is_causal) for (let j = Math.max(0, lastVisible + 1 - s0); j < c; j++) out[row + j] = -Infinity;
    }
  }
}

/** out [D, c] = v[b, kvh, s0 : s0 + c, :]^T: the layout the matmul seam wants for `probs @ v`. */
export function valuesTransposed(
  x: FusedInputs,
  b: number,
  kvh: number,
  s0: number,
  c: number,
  out: Float32Array,
): void {
  const { nKV, S, D, v } = x;
  const vo = ((b * nKV + kvh) * S + s0) * D;
  for (let d = 0; d < D; d++) for (let j = 0, i = vo + d; j < c; j++, i += D) out[d * c + j] = v[i];
}
