/**
 * Llama, module by module: mirrors HF transformers `models/llama/modeling_llama.py` (v4.44.2, the version the
 * reference numbers come from, plus v4.45's `head_dim` and `num_logits_to_keep`). Classes appear in HF's order.
 *
 *   h_0     = embed_tokens(input_ids)                                          [B, T, H]
 *   h_l+1   = h_l' + mlp(post_attention_layernorm(h_l'))
 *             where h_l' = h_l + self_attn(input_layernorm(h_l))              [B, T, H]
 *   out     = norm(h_L)                                                         [B, T, H]
 *   logits  = lm_head(out)                                                      [B, T, V]
 *
 * B batch, T query length, S key length (past + T), H hidden_size, nH heads, nKV key/value heads, D head_dim,
 * I intermediate_size, V vocab_size.
 *
 * Left out on purpose: the flash-attention and SDPA classes (same maths as eager here; "sdpa" runs this eager
 * code), StaticCache, gradient checkpointing, dropout (inference only: attention_dropout is a training knob),
 * the deprecated per-layer rotary modules, and tuple-returning `return_dict=False`.
 *
 * Forward passes are synchronous; every matrix product goes through `linear` (src/ops/matmul.ts), so a faster
 * backend speeds up all of them without touching this file.
 */
import { DynamicCache } from "../../cache_utils.ts";
import { CheckpointError, ShapeError, ValueError } from "../../errors.ts";
import { generate as generateLoop, type GenerateOptions } from "../../generation/utils.ts";
import { ROPE_INIT_FUNCTIONS, type RopeInitFn } from "../../modeling_rope_utils.ts";
import { PreTrainedModel, type ModelOptions } from "../../modeling_utils.ts";
import { Embedding, Linear, Module, newParameter, weightView } from "../../nn/modules.ts";
import { ACT2FN } from "../../ops/activations.ts";
import { bceWithLogits, crossEntropy, mseLoss } from "../../ops/losses.ts";
import { linear } from "../../ops/matmul.ts";
import { softmaxRows } from "../../ops/softmax.ts";
import { Tensor, toIntRows, type IntInput } from "../../tensor/tensor.ts";
import { Random } from "../../utils/random.ts";
import { LlamaConfig } from "./configuration_llama.ts";

const f = Math.fround;

/** torch.finfo(torch.float32).min: HF's additive mask value (never -Infinity, see _update_causal_mask). */
export const FLOAT32_MIN = -3.4028234663852886e38;

// ---------------------------------------------------------------------------------------------------------------
// Masks
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `_prepare_4d_causal_attention_mask_with_cache_position`: the additive mask [B, 1, T, target_length].
 *
 *   mask[b, 0, i, j] = min   if j > cache_position[i]                 (a future key)
 *                    = min   if attention_mask[b, j] == 0             (a padding key)
 *                    = 0     otherwise
 *
 * HF quirk kept: masked entries hold float32's minimum, not -inf. A query row whose keys are all masked (a left
 * pad position) therefore softmaxes to a uniform 1/S over every key, future ones included, instead of NaN.
 * A 4D attention_mask is taken as already inverted (additive) and returned unchanged.
 */
export function _prepare_4d_causal_attention_mask_with_cache_position(
  attention_mask: number[][] | Tensor | null,
  sequence_length: number,
  target_length: number,
  min_dtype: number,
  cache_position: number[],
  batch_size: number,
): Tensor {
  if (attention_mask instanceof Tensor && attention_mask.shape.length === 4) return attention_mask.float();
  const T = sequence_length;
  const L = target_length;
  // causal_mask = full((T, L), min); triu(diagonal=1) unless T == 1; *= arange(L) > cache_position[:, None]
  const causal = new Float32Array(T * L);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < L; j++) {
      const upper = T === 1 || j > i;
      causal[i * L + j] = upper && j > cache_position[i] ? min_dtype : 0;
    }
  }
  const out = new Float32Array(batch_size * T * L); // [B, 1, T, L]
  for (let b = 0; b < batch_size; b++) out.set(causal, b * T * L);
  if (attention_mask !== null) {
    const rows = attention_mask instanceof Tensor ? toIntRows(attention_mask, "attention_mask") : attention_mask;
    const mask_length = rows[0].length;
    // padding_mask = causal[..., :mask_length] + attention_mask[:, None, None, :] == 0  ->  min
    for (let b = 0; b < batch_size; b++) {
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < Math.min(mask_length, L); j++) {
          const o = (b * T + i) * L + j;
          if (out[o] + rows[b][j] === 0) out[o] = min_dtype;
        }
      }
    }
  }
  return new Tensor("float32", out, [batch_size, 1, T, L]);
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaRMSNorm
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `LlamaRMSNorm` (= T5LayerNorm): `y = weight * x / sqrt(mean(x^2, -1) + eps)`, over the last dim.
 * [..., H] -> [..., H]. HF computes the normalisation in float32 and casts back to the input dtype before the
 * weight multiply; activations are float32 here, so the cast is the identity.
 */
export class LlamaRMSNorm extends Module {
  protected static override readonly paramNames = ["weight"];
  weight: Tensor;
  readonly variance_epsilon: number;

  constructor(hidden_size: number, eps = 1e-6) {
    super();
    this.weight = newParameter([hidden_size], 1);
    this.variance_epsilon = eps;
  }

  forward(hidden_states: Tensor): Tensor {
    const H = this.weight.shape[0];
    const x = hidden_states.toFloat32();
    if (hidden_states.shape[hidden_states.shape.length - 1] !== H)
      throw new ShapeError("hidden_states", `RMSNorm expects last dim ${H}, got [${hidden_states.shape}]`);
    const w = this.weight.dtype === "float32" ? (this.weight.data as Float32Array) : this.weight.toFloat32();
    const rows = x.length / H;
    const out = new Float32Array(x.length);
    for (let r = 0; r < rows; r++) {
      const o = r * H;
      let sumSq = 0;
      for (let i = 0; i < H; i++) sumSq += f(x[o + i] * x[o + i]); // hidden_states.pow(2)
      const variance = f(sumSq / H); // .mean(-1, keepdim=True)
      const rstd = f(1 / Math.sqrt(f(variance + this.variance_epsilon))); // torch.rsqrt(variance + eps)
      for (let i = 0; i < H; i++) out[o + i] = w[i] * f(x[o + i] * rstd); // weight * hidden_states.to(input_dtype)
    }
    return new Tensor("float32", out, hidden_states.shape);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaRotaryEmbedding, rotate_half, apply_rotary_pos_emb
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `LlamaRotaryEmbedding`: cos/sin tables for the positions asked.
 *
 *   freqs[b, t, i] = position_ids[b, t] * inv_freq[i]          i < D/2   (float32)
 *   emb            = cat(freqs, freqs)                                     [B, T, D]
 *   cos, sin       = cos(emb) * attention_scaling, sin(emb) * attention_scaling
 *
 * inv_freq comes from ROPE_INIT_FUNCTIONS[rope_type] (src/modeling_rope_utils.ts). HF quirk kept: "dynamic"
 * RoPE is stateful. When max(position_ids) + 1 outgrows the cached length it recomputes inv_freq for that
 * length and keeps it for later calls; once a call's length is back under max_position_embeddings the original
 * inv_freq returns. Cached keys keep the rotation they were stored with.
 */
export class LlamaRotaryEmbedding extends Module {
  readonly rope_type: string;
  inv_freq: Float32Array; // [D/2]
  attention_scaling: number;
  max_seq_len_cached: number;
  readonly original_max_seq_len: number;
  readonly original_inv_freq: Float32Array;
  private readonly rope_init_fn: RopeInitFn;

  constructor(readonly config: LlamaConfig) {
    super();
    this.rope_type = config.rope_type;
    this.max_seq_len_cached = config.max_position_embeddings;
    this.original_max_seq_len = config.max_position_embeddings;
    this.rope_init_fn = ROPE_INIT_FUNCTIONS[this.rope_type];
    [this.inv_freq, this.attention_scaling] = this.rope_init_fn(config);
    this.original_inv_freq = this.inv_freq;
  }

  /** HF `_dynamic_frequency_update`: grow beyond the cached length, or reset to the original scale. */
  _dynamic_frequency_update(position_ids: number[][]): void {
    let seq_len = -Infinity;
    for (const row of position_ids) for (const p of row) if (p > seq_len) seq_len = p;
    seq_len += 1;
    if (seq_len > this.max_seq_len_cached) {
      [this.inv_freq, this.attention_scaling] = this.rope_init_fn(this.config, seq_len);
      this.max_seq_len_cached = seq_len;
    }
    if (seq_len < this.original_max_seq_len && this.max_seq_len_cached > this.original_max_seq_len) {
      this.inv_freq = this.original_inv_freq;
      this.max_seq_len_cached = this.original_max_seq_len;
    }
  }

  /** position_ids [B, T] -> [cos, sin], each float32 [B, T, D]. */
  forward(position_ids: number[][]): [Tensor, Tensor] {
    if (this.rope_type.includes("dynamic")) this._dynamic_frequency_update(position_ids);
    const B = position_ids.length;
    const T = B ? position_ids[0].length : 0;
    const half = this.inv_freq.length;
    const D = 2 * half;
    const cos = new Float32Array(B * T * D);
    const sin = new Float32Array(B * T * D);
    const scale = this.attention_scaling;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const pos = position_ids[b][t];
        const o = (b * T + t) * D;
        for (let i = 0; i < half; i++) {
          const freq = f(this.inv_freq[i] * pos); // inv_freq @ position_ids, in float32
          const c = scale === 1 ? f(Math.cos(freq)) : f(f(Math.cos(freq)) * scale);
          const s = scale === 1 ? f(Math.sin(freq)) : f(f(Math.sin(freq)) * scale);
          cos[o + i] = c; // emb = cat(freqs, freqs)
          cos[o + half + i] = c;
          sin[o + i] = s;
          sin[o + half + i] = s;
        }
      }
    }
    return [new Tensor("float32", cos, [B, T, D]), new Tensor("float32", sin, [B, T, D])];
  }
}

/** HF `rotate_half`: [..., D] -> cat(-x[..., D/2:], x[..., :D/2]). */
export function rotate_half(x: Tensor): Tensor {
  const D = x.shape[x.shape.length - 1];
  const half = D / 2;
  const src = x.toFloat32();
  const out = new Float32Array(src.length);
  for (let o = 0; o < src.length; o += D) {
    for (let i = 0; i < half; i++) {
      out[o + i] = -src[o + half + i];
      out[o + half + i] = src[o + i];
    }
  }
  return new Tensor("float32", out, x.shape);
}

/**
 * HF `apply_rotary_pos_emb`: `q * cos + rotate_half(q) * sin` (same for k), cos/sin unsqueezed at dim 1.
 * q [B, nH, T, D], k [B, nKV, T, D], cos/sin [B, T, D] -> [q_embed, k_embed] of q's and k's shapes.
 * HF stores q_proj/k_proj rows permuted so that this "half split" rotation equals Meta's interleaved one.
 */
export function apply_rotary_pos_emb(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor): [Tensor, Tensor] {
  return [rotate(q, cos, sin), rotate(k, cos, sin)];
}

/** x * cos + rotate_half(x) * sin, cos/sin [B or 1, T, D] broadcast over x's heads [B, n, T, D]. */
function rotate(x: Tensor, cosT: Tensor, sinT: Tensor): Tensor {
  const [B, nH, T, D] = x.shape;
  if (cosT.shape[1] !== T || cosT.shape[2] !== D)
    throw new ShapeError("cos", `expected [${B}, ${T}, ${D}], got [${cosT.shape}]`);
  const src = x.toFloat32();
  const rot = rotate_half(x).data as Float32Array;
  const cos = cosT.toFloat32();
  const sin = sinT.toFloat32();
  const cosB = cosT.shape[0]; // 1 broadcasts over the batch
  const out = new Float32Array(src.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nH; h++) {
      for (let t = 0; t < T; t++) {
        const o = ((b * nH + h) * T + t) * D;
        const c = ((cosB === 1 ? 0 : b) * T + t) * D;
        for (let i = 0; i < D; i++) out[o + i] = f(f(src[o + i] * cos[c + i]) + f(rot[o + i] * sin[c + i]));
      }
    }
  }
  return new Tensor("float32", out, x.shape);
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaMLP
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `LlamaMLP` (SwiGLU): `down_proj(act_fn(gate_proj(x)) * up_proj(x))`. [B, T, H] -> [B, T, H], via [B, T, I].
 */
export class LlamaMLP extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  readonly act_fn: (x: number) => number;

  constructor(readonly config: LlamaConfig) {
    super();
    const H = config.hidden_size;
    const I = config.intermediate_size;
    this.gate_proj = this.add("gate_proj", new Linear(H, I, config.mlp_bias));
    this.up_proj = this.add("up_proj", new Linear(H, I, config.mlp_bias));
    this.down_proj = this.add("down_proj", new Linear(I, H, config.mlp_bias));
    this.act_fn = ACT2FN[config.hidden_act];
  }

  forward(x: Tensor): Tensor {
    const tp = this.config.pretraining_tp;
    if (tp > 1) {
      // HF quirk kept: the pretraining_tp > 1 path slices the weights and applies NO bias (F.linear without b).
      const I = this.config.intermediate_size;
      const slice = I / tp;
      const gate_proj = catLast(splitRows(this.gate_proj.weight, slice).map((w) => linearNoBias(x, w))); // [B, T, I]
      const up_proj = catLast(splitRows(this.up_proj.weight, slice).map((w) => linearNoBias(x, w))); // [B, T, I]
      const inter = mulAct(gate_proj, up_proj, this.act_fn); // [B, T, I]
      const intermediate_states = splitLast(inter, slice); // tp x [B, T, I/tp]
      const down_proj_slices = splitCols(this.down_proj.weight, slice); // tp x [H, I/tp]
      return sumTensors(intermediate_states.map((s, i) => linearNoBias(s, down_proj_slices[i]))); // [B, T, H]
    }
    const gate = this.gate_proj.forward(x); // [B, T, I]
    const up = this.up_proj.forward(x); // [B, T, I]
    return this.down_proj.forward(mulAct(gate, up, this.act_fn)); // [B, T, H]
  }
}

/** act(gate) * up, element-wise. */
function mulAct(gate: Tensor, up: Tensor, act: (x: number) => number): Tensor {
  const g = gate.data as Float32Array;
  const u = up.data as Float32Array;
  const out = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) out[i] = act(g[i]) * u[i];
  return new Tensor("float32", out, gate.shape);
}

/** F.linear(x, W) with no bias: [..., K] x [N, K] -> [..., N]. */
function linearNoBias(x: Tensor, w: Tensor): Tensor {
  const K = w.shape[1];
  const N = w.shape[0];
  const M = x.size / K;
  return new Tensor("float32", linear(x.data as Float32Array, weightView(w), null, M, K, N), [
    ...x.shape.slice(0, -1),
    N,
  ]);
}

/** weight.split(n, dim=0): row blocks (views, no copy). */
function splitRows(w: Tensor, n: number): Tensor[] {
  const [N, K] = w.shape;
  const out: Tensor[] = [];
  for (let r = 0; r < N; r += n) out.push(new Tensor(w.dtype, w.data.subarray(r * K, (r + n) * K) as any, [n, K]));
  return out;
}

/** weight.split(n, dim=1): column blocks (copied, they are not contiguous). */
function splitCols(w: Tensor, n: number): Tensor[] {
  const [N, K] = w.shape;
  const full = w.toFloat32();
  const out: Tensor[] = [];
  for (let c = 0; c < K; c += n) {
    const block = new Float32Array(N * n);
    for (let r = 0; r < N; r++) block.set(full.subarray(r * K + c, r * K + c + n), r * n);
    out.push(new Tensor("float32", block, [N, n]));
  }
  return out;
}

/** torch.cat(parts, dim=-1). */
function catLast(parts: Tensor[]): Tensor {
  const widths = parts.map((p) => p.shape[p.shape.length - 1]);
  const W = widths.reduce((a, b) => a + b, 0);
  const rows = parts[0].size / widths[0];
  const out = new Float32Array(rows * W);
  for (let r = 0; r < rows; r++) {
    let o = r * W;
    parts.forEach((p, i) => {
      out.set((p.data as Float32Array).subarray(r * widths[i], (r + 1) * widths[i]), o);
      o += widths[i];
    });
  }
  return new Tensor("float32", out, [...parts[0].shape.slice(0, -1), W]);
}

/** x.split(n, dim=-1). */
function splitLast(x: Tensor, n: number): Tensor[] {
  const W = x.shape[x.shape.length - 1];
  const rows = x.size / W;
  const src = x.data as Float32Array;
  const out: Tensor[] = [];
  for (let c = 0; c < W; c += n) {
    const part = new Float32Array(rows * n);
    for (let r = 0; r < rows; r++) part.set(src.subarray(r * W + c, r * W + c + n), r * n);
    out.push(new Tensor("float32", part, [...x.shape.slice(0, -1), n]));
  }
  return out;
}

/** Python's sum(list): 0 + t0 + t1 + ... */
function sumTensors(ts: Tensor[]): Tensor {
  const out = new Float32Array(ts[0].size);
  for (const t of ts) {
    const d = t.data as Float32Array;
    for (let i = 0; i < out.length; i++) out[i] = out[i] + d[i];
  }
  return new Tensor("float32", out, ts[0].shape);
}

// ---------------------------------------------------------------------------------------------------------------
// repeat_kv, LlamaAttention
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `repeat_kv` (= torch.repeat_interleave(x, n_rep, dim=1)): [B, nKV, S, D] -> [B, nKV * n_rep, S, D].
 * Query head h reads kv head floor(h / n_rep).
 */
export function repeat_kv(hidden_states: Tensor, n_rep: number): Tensor {
  const [B, nKV, S, D] = hidden_states.shape;
  if (n_rep === 1) return hidden_states;
  const src = hidden_states.toFloat32();
  const out = new Float32Array(B * nKV * n_rep * S * D);
  const block = S * D;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nKV; h++) {
      const from = src.subarray((b * nKV + h) * block, (b * nKV + h + 1) * block);
      for (let r = 0; r < n_rep; r++) out.set(from, ((b * nKV + h) * n_rep + r) * block);
    }
  }
  return new Tensor("float32", out, [B, nKV * n_rep, S, D]);
}

/** [B, T, n*D] -> [B, n, T, D] (HF: .view(B, T, n, D).transpose(1, 2)). */
function toHeads(x: Tensor, n: number, D: number): Tensor {
  const [B, T] = x.shape;
  const src = x.data as Float32Array;
  const out = new Float32Array(B * n * T * D);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < n; h++)
        out.set(src.subarray(((b * T + t) * n + h) * D, ((b * T + t) * n + h + 1) * D), ((b * n + h) * T + t) * D);
  return new Tensor("float32", out, [B, n, T, D]);
}

/** [B, n, T, D] -> [B, T, n*D] (HF: .transpose(1, 2).reshape(B, T, -1)). */
function fromHeads(x: Tensor): Tensor {
  const [B, n, T, D] = x.shape;
  const src = x.data as Float32Array;
  const out = new Float32Array(B * T * n * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < n; h++)
      for (let t = 0; t < T; t++)
        out.set(src.subarray(((b * n + h) * T + t) * D, ((b * n + h) * T + t + 1) * D), ((b * T + t) * n + h) * D);
  return new Tensor("float32", out, [B, T, n * D]);
}

export interface AttentionArgs {
  attention_mask?: Tensor | null; // additive [B, 1, T, >= S]
  position_embeddings: [Tensor, Tensor]; // cos, sin [B, T, D]
  past_key_value?: DynamicCache | null;
  output_attentions?: boolean;
}

/**
 * HF `LlamaAttention` (eager): multi-head attention with grouped key/value heads.
 *
 *   q, k, v = q_proj(x), k_proj(x), v_proj(x)                  [B, T, nH*D], [B, T, nKV*D] x2
 *   q, k    = apply_rotary_pos_emb(q, k, cos, sin)             [B, nH, T, D], [B, nKV, T, D]
 *   k, v    = cache.update(k, v)                               [B, nKV, S, D]
 *   w       = softmax(q k^T / sqrt(D) + mask)   (float32)      [B, nH, T, S]
 *   out     = o_proj((w @ repeat_kv(v)) as [B, T, nH*D])       [B, T, H]
 */
export class LlamaAttention extends Module {
  readonly hidden_size: number;
  readonly num_heads: number;
  readonly head_dim: number;
  readonly num_key_value_heads: number;
  readonly num_key_value_groups: number;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;

  constructor(
    readonly config: LlamaConfig,
    readonly layer_idx: number,
  ) {
    super();
    this.hidden_size = config.hidden_size;
    this.num_heads = config.num_attention_heads;
    this.head_dim = config.head_dim;
    this.num_key_value_heads = config.num_key_value_heads;
    this.num_key_value_groups = this.num_heads / this.num_key_value_heads;
    const bias = config.attention_bias;
    this.q_proj = this.add("q_proj", new Linear(this.hidden_size, this.num_heads * this.head_dim, bias));
    this.k_proj = this.add("k_proj", new Linear(this.hidden_size, this.num_key_value_heads * this.head_dim, bias));
    this.v_proj = this.add("v_proj", new Linear(this.hidden_size, this.num_key_value_heads * this.head_dim, bias));
    this.o_proj = this.add("o_proj", new Linear(this.num_heads * this.head_dim, this.hidden_size, bias));
  }

  /** hidden_states [B, T, H] -> [attn_output [B, T, H], attn_weights [B, nH, T, S] or null]. */
  forward(hidden_states: Tensor, args: AttentionArgs): [Tensor, Tensor | null] {
    const [B, T] = hidden_states.shape;
    const nH = this.num_heads;
    const nKV = this.num_key_value_heads;
    const D = this.head_dim;
    const tp = this.config.pretraining_tp;

    let query_states: Tensor, key_states: Tensor, value_states: Tensor;
    if (tp > 1) {
      // HF quirk kept: the sliced path applies no bias, even with attention_bias=true.
      const kv_slicing = (nKV * D) / tp;
      query_states = catLast(splitRows(this.q_proj.weight, (nH * D) / tp).map((w) => linearNoBias(hidden_states, w)));
      key_states = catLast(splitRows(this.k_proj.weight, kv_slicing).map((w) => linearNoBias(hidden_states, w)));
      value_states = catLast(splitRows(this.v_proj.weight, kv_slicing).map((w) => linearNoBias(hidden_states, w)));
    } else {
      query_states = this.q_proj.forward(hidden_states); // [B, T, nH*D]
      key_states = this.k_proj.forward(hidden_states); // [B, T, nKV*D]
      value_states = this.v_proj.forward(hidden_states); // [B, T, nKV*D]
    }
    query_states = toHeads(query_states, nH, D); // [B, nH, T, D]
    key_states = toHeads(key_states, nKV, D); // [B, nKV, T, D]
    value_states = toHeads(value_states, nKV, D); // [B, nKV, T, D]

    const [cos, sin] = args.position_embeddings;
    [query_states, key_states] = apply_rotary_pos_emb(query_states, key_states, cos, sin);

    if (args.past_key_value) {
      [key_states, value_states] = args.past_key_value.update(key_states, value_states, this.layer_idx); // [B, nKV, S, D]
    }
    key_states = repeat_kv(key_states, this.num_key_value_groups); // [B, nH, S, D]
    value_states = repeat_kv(value_states, this.num_key_value_groups); // [B, nH, S, D]
    const S = key_states.shape[2];

    const mask = args.attention_mask ?? null;
    let maskData: Float32Array | null = null;
    let maskB = 0;
    let maskL = 0;
    if (mask !== null) {
      // causal_mask = attention_mask[:, :, :, :S]  ("no matter the length, we just slice it")
      maskB = mask.shape[0];
      maskL = mask.shape[3];
      if (mask.shape.length !== 4 || mask.shape[2] !== T || maskL < S || (maskB !== B && maskB !== 1)) {
        throw new ShapeError("attention_mask", `4D mask must be [${B}, 1, ${T}, >= ${S}], got [${mask.shape}]`);
      }
      maskData = mask.toFloat32();
    }

    const q = query_states.data as Float32Array;
    const k = key_states.data as Float32Array;
    const v = value_states.data as Float32Array;
    const scale = Math.sqrt(D);
    const weights = new Float32Array(B * nH * T * S); // [B, nH, T, S]
    const attn = new Float32Array(B * nH * T * D); // [B, nH, T, D]
    const scores = new Float32Array(T * S);
    const vT = new Float32Array(D * S);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < nH; h++) {
        const bh = b * nH + h;
        // q k^T: x = q[b, h] [T, D], W = k[b, h] [S, D]  ->  [T, S]
        linear(
          q.subarray(bh * T * D, (bh + 1) * T * D),
          { dtype: "float32", data: k.subarray(bh * S * D, (bh + 1) * S * D) },
          null,
          T,
          D,
          S,
          scores,
        );
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < S; j++) {
            let s = f(scores[i * S + j] / scale); // / math.sqrt(head_dim)
            if (maskData !== null) s = f(s + maskData[((maskB === 1 ? 0 : b) * T + i) * maskL + j]); // + causal_mask
            scores[i * S + j] = s;
          }
        }
        const w = weights.subarray(bh * T * S, (bh + 1) * T * S);
        softmaxRows(w, scores, T, S); // softmax(dim=-1, dtype=float32)
        // w @ v: x = w [T, S], W = v[b, h]^T [D, S]  ->  [T, D]
        const vb = v.subarray(bh * S * D, (bh + 1) * S * D);
        for (let s = 0; s < S; s++) for (let d = 0; d < D; d++) vT[d * S + s] = vb[s * D + d];
        linear(w, { dtype: "float32", data: vT }, null, T, S, D, attn.subarray(bh * T * D, (bh + 1) * T * D));
      }
    }
    const attn_output_heads = new Tensor("float32", attn, [B, nH, T, D]);
    let attn_output = fromHeads(attn_output_heads); // [B, T, nH*D]
    if (tp > 1) {
      const parts = splitLast(attn_output, this.hidden_size / tp);
      const o_slices = splitCols(this.o_proj.weight, this.hidden_size / tp);
      attn_output = sumTensors(parts.map((p, i) => linearNoBias(p, o_slices[i])));
    } else {
      attn_output = this.o_proj.forward(attn_output); // [B, T, H]
    }
    return [attn_output, args.output_attentions ? new Tensor("float32", weights, [B, nH, T, S]) : null];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaDecoderLayer
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `LlamaDecoderLayer`, pre-norm residual block:
 *   h = x + self_attn(input_layernorm(x));   out = h + mlp(post_attention_layernorm(h))      [B, T, H]
 */
export class LlamaDecoderLayer extends Module {
  readonly hidden_size: number;
  readonly self_attn: LlamaAttention;
  readonly mlp: LlamaMLP;
  readonly input_layernorm: LlamaRMSNorm;
  readonly post_attention_layernorm: LlamaRMSNorm;

  constructor(config: LlamaConfig, layer_idx: number) {
    super();
    this.hidden_size = config.hidden_size;
    this.self_attn = this.add("self_attn", new LlamaAttention(config, layer_idx));
    this.mlp = this.add("mlp", new LlamaMLP(config));
    this.input_layernorm = this.add("input_layernorm", new LlamaRMSNorm(config.hidden_size, config.rms_norm_eps));
    this.post_attention_layernorm = this.add(
      "post_attention_layernorm",
      new LlamaRMSNorm(config.hidden_size, config.rms_norm_eps),
    );
  }

  /** hidden_states [B, T, H] -> [hidden_states [B, T, H], attn_weights or null]. */
  forward(hidden_states: Tensor, args: AttentionArgs): [Tensor, Tensor | null] {
    let residual = hidden_states;
    let h = this.input_layernorm.forward(hidden_states);
    const [attn_out, self_attn_weights] = this.self_attn.forward(h, args);
    h = addTensors(residual, attn_out);
    residual = h;
    h = this.post_attention_layernorm.forward(h);
    h = this.mlp.forward(h);
    return [addTensors(residual, h), self_attn_weights];
  }
}

function addTensors(a: Tensor, b: Tensor): Tensor {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + y[i];
  return new Tensor("float32", out, a.shape);
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaPreTrainedModel, LlamaModel
// ---------------------------------------------------------------------------------------------------------------

/** What forward takes (HF argument names). Ids, masks, positions and labels: int Tensor or nested arrays. */
export interface LlamaForwardArgs {
  input_ids?: IntInput | null;
  attention_mask?: IntInput | null;
  position_ids?: IntInput | null;
  past_key_values?: DynamicCache | null;
  inputs_embeds?: Tensor | null;
  use_cache?: boolean;
  output_attentions?: boolean;
  output_hidden_states?: boolean;
  cache_position?: number[] | Tensor | null;
}

export interface BaseModelOutputWithPast {
  last_hidden_state: Tensor; // [B, T, H]
  past_key_values?: DynamicCache;
  hidden_states?: Tensor[]; // L + 1 x [B, T, H]: embeddings first, the last one after the final norm
  attentions?: Tensor[]; // L x [B, nH, T, S]
}

/** HF `LlamaPreTrainedModel`: config class, `_init_weights`, and the shared loading plumbing. */
export abstract class LlamaPreTrainedModel extends PreTrainedModel {
  static override base_model_prefix = "model";

  /** embed_tokens, the first layer's q_proj and gate_proj, and the last layer's norm must match config.json. */
  static override _check_checkpoint(config: LlamaConfig, tensors: Map<string, Tensor>, file: string): void {
    const L = config.num_hidden_layers;
    const H = config.hidden_size;
    const expect = (name: string, shape: number[], fields: string) => {
      const t = tensors.get(name) ?? tensors.get(`model.${name}`) ?? tensors.get(`transformer.${name}`);
      if (t === undefined) throw new CheckpointError(file, `missing ${name}, which config.json (${fields}) requires`);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new CheckpointError(file, `${name} has shape [${t.shape}], config.json (${fields}) says [${shape}]`);
      }
    };
    expect("embed_tokens.weight", [config.vocab_size, H], "vocab_size, hidden_size");
    expect(
      "layers.0.self_attn.q_proj.weight",
      [config.num_attention_heads * config.head_dim, H],
      "num_attention_heads, head_dim",
    );
    expect("layers.0.mlp.gate_proj.weight", [config.intermediate_size, H], "intermediate_size");
    expect(`layers.${L - 1}.input_layernorm.weight`, [H], "num_hidden_layers");
  }
}

/**
 * HF `LlamaModel`: embeddings, L decoder layers, final RMSNorm. Outputs `last_hidden_state` [B, T, H].
 */
export class LlamaModel extends LlamaPreTrainedModel {
  readonly padding_idx: number | null;
  readonly vocab_size: number;
  embed_tokens: Embedding;
  readonly layers: LlamaDecoderLayer[];
  readonly norm: LlamaRMSNorm;
  readonly rotary_emb: LlamaRotaryEmbedding;

  constructor(config: LlamaConfig, opts: ModelOptions = {}) {
    super(config);
    this.padding_idx = config.pad_token_id;
    this.vocab_size = config.vocab_size;
    this.embed_tokens = this.add(
      "embed_tokens",
      new Embedding(config.vocab_size, config.hidden_size, this.padding_idx),
    );
    this.layers = [];
    for (let i = 0; i < config.num_hidden_layers; i++)
      this.layers.push(this.add(`layers.${i}`, new LlamaDecoderLayer(config, i)));
    this.norm = this.add("norm", new LlamaRMSNorm(config.hidden_size, config.rms_norm_eps));
    this.rotary_emb = this.add("rotary_emb", new LlamaRotaryEmbedding(config)); // no state-dict entries (inv_freq is not persistent)
    if (!opts._nested) this.post_init(opts);
  }

  get_input_embeddings(): Embedding {
    return this.embed_tokens;
  }

  set_input_embeddings(value: Embedding): void {
    this.embed_tokens = this.replace("embed_tokens", value);
  }

  forward(args: LlamaForwardArgs): BaseModelOutputWithPast {
    const config = this.config;
    const output_attentions = args.output_attentions ?? config.output_attentions ?? false;
    const output_hidden_states = args.output_hidden_states ?? config.output_hidden_states ?? false;
    let use_cache = args.use_cache ?? config.use_cache;

    const hasIds = args.input_ids !== undefined && args.input_ids !== null;
    const hasEmbeds = args.inputs_embeds !== undefined && args.inputs_embeds !== null;
    if (hasIds === hasEmbeds) {
      throw new ValueError(
        "You cannot specify both input_ids and inputs_embeds at the same time, and must specify either one",
      );
    }
    let inputs_embeds: Tensor; // [B, T, H]
    if (hasIds) {
      const ids = toIntRows(args.input_ids!, "input_ids");
      if (ids.length === 0 || ids[0].length === 0)
        throw new ShapeError("input_ids", "expected a non-empty [batch, seq] array");
      inputs_embeds = this.embed_tokens.forward(ids);
    } else {
      inputs_embeds = args.inputs_embeds!.float();
      if (
        inputs_embeds.shape.length !== 3 ||
        inputs_embeds.shape[2] !== config.hidden_size ||
        inputs_embeds.shape[1] === 0
      ) {
        throw new ShapeError(
          "inputs_embeds",
          `expected [batch, seq, ${config.hidden_size}], got [${inputs_embeds.shape}]`,
        );
      }
    }
    const [B, T] = inputs_embeds.shape;

    let past_key_values = args.past_key_values ?? null;
    if (use_cache && past_key_values === null) past_key_values = new DynamicCache();
    const past_seen_tokens = past_key_values ? past_key_values.get_seq_length() : 0;

    let cache_position: number[];
    if (args.cache_position === undefined || args.cache_position === null) {
      cache_position = Array.from({ length: T }, (_, i) => past_seen_tokens + i);
    } else {
      cache_position =
        args.cache_position instanceof Tensor
          ? toIntRows(args.cache_position, "cache_position")[0]
          : [...args.cache_position];
      if (cache_position.length !== T)
        throw new ShapeError("cache_position", `expected ${T} positions, got ${cache_position.length}`);
    }
    let position_ids: number[][];
    if (args.position_ids === undefined || args.position_ids === null) {
      // cache_position.unsqueeze(0): every row gets the same positions (left padding is not accounted for)
      position_ids = Array.from({ length: B }, () => cache_position);
    } else {
      position_ids = toIntRows(args.position_ids, "position_ids");
      if (position_ids.length === 1 && B > 1) position_ids = Array.from({ length: B }, () => position_ids[0]);
      if (position_ids.length !== B || position_ids[0].length !== T)
        throw new ShapeError(
          "position_ids",
          `expected [${B}, ${T}], got [${position_ids.length}, ${position_ids[0]?.length}]`,
        );
    }

    const causal_mask = this._update_causal_mask(args.attention_mask ?? null, B, T, cache_position, past_seen_tokens);
    let hidden_states = inputs_embeds;
    const position_embeddings = this.rotary_emb.forward(position_ids); // cos, sin [B, T, D], shared by all layers

    const all_hidden_states: Tensor[] = [];
    const all_self_attns: Tensor[] = [];
    for (const decoder_layer of this.layers) {
      if (output_hidden_states) all_hidden_states.push(hidden_states);
      const [out, attn] = decoder_layer.forward(hidden_states, {
        attention_mask: causal_mask,
        position_embeddings,
        past_key_value: past_key_values,
        output_attentions,
      });
      hidden_states = out;
      if (output_attentions) all_self_attns.push(attn!);
    }
    hidden_states = this.norm.forward(hidden_states);
    // HF quirk kept: the last hidden_states entry is taken AFTER the final norm.
    if (output_hidden_states) all_hidden_states.push(hidden_states);

    const result: BaseModelOutputWithPast = { last_hidden_state: hidden_states };
    if (use_cache && past_key_values) result.past_key_values = past_key_values;
    if (output_hidden_states) result.hidden_states = all_hidden_states;
    if (output_attentions) result.attentions = all_self_attns;
    return result;
  }

  /**
   * HF `LlamaModel._update_causal_mask` for eager attention: the [B, 1, T, target] additive mask, with
   * target = attention_mask's length when a 2D mask is given, else past + T + 1 (HF's extra column; the
   * attention slices it to S).
   */
  _update_causal_mask(
    attention_mask: IntInput | Tensor | null,
    B: number,
    T: number,
    cache_position: number[],
    past_seen_tokens: number,
  ): Tensor {
    if (attention_mask instanceof Tensor && attention_mask.shape.length === 4) {
      return _prepare_4d_causal_attention_mask_with_cache_position(
        attention_mask,
        T,
        0,
        FLOAT32_MIN,
        cache_position,
        B,
      );
    }
    let rows: number[][] | null = null;
    if (attention_mask !== null) {
      rows = toIntRows(attention_mask, "attention_mask");
      if (rows.length !== B) throw new ShapeError("attention_mask", `expected ${B} rows, got ${rows.length}`);
      if (rows[0].length < past_seen_tokens + T) {
        throw new ShapeError(
          "attention_mask",
          `expected length past + seq = ${past_seen_tokens + T}, got ${rows[0].length}`,
        );
      }
    }
    const target_length = rows !== null ? rows[0].length : past_seen_tokens + T + 1;
    return _prepare_4d_causal_attention_mask_with_cache_position(
      rows,
      T,
      target_length,
      FLOAT32_MIN,
      cache_position,
      B,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaForCausalLM
// ---------------------------------------------------------------------------------------------------------------

export interface CausalLMOutputWithPast {
  loss?: Tensor; // float32 scalar, shape []
  logits: Tensor; // float32 [B, T or num_logits_to_keep, V]
  past_key_values?: DynamicCache;
  hidden_states?: Tensor[];
  attentions?: Tensor[];
}

/**
 * HF `LlamaForCausalLM`: LlamaModel + `lm_head` [V, H] (tied to embed_tokens when tie_word_embeddings).
 * Loss: mean cross-entropy of logits[:, :-1] against labels[:, 1:], positions labelled -100 ignored.
 */
export class LlamaForCausalLM extends LlamaPreTrainedModel {
  static override _tied_weights_keys = ["lm_head.weight"];
  readonly model: LlamaModel;
  readonly vocab_size: number;
  lm_head: Linear;

  constructor(config: LlamaConfig, opts: ModelOptions = {}) {
    super(config);
    this.model = this.add("model", new LlamaModel(config, { _nested: true }));
    this.vocab_size = config.vocab_size;
    this.lm_head = this.add("lm_head", new Linear(config.hidden_size, config.vocab_size, false));
    this.post_init(opts);
  }

  get_input_embeddings(): Embedding {
    return this.model.embed_tokens;
  }

  override get_output_embeddings(): Linear {
    return this.lm_head;
  }

  forward(args: LlamaForwardArgs & { labels?: IntInput | null; num_logits_to_keep?: number }): CausalLMOutputWithPast {
    const outputs = this.model.forward(args);
    let hidden_states = outputs.last_hidden_state; // [B, T, H]
    const [B, T, H] = hidden_states.shape;
    const keep = args.num_logits_to_keep ?? 0;
    if (!Number.isInteger(keep) || keep < 0)
      throw new ShapeError("num_logits_to_keep", `expected an integer >= 0, got ${keep}`);
    if (keep > 0 && keep < T) {
      // v4.45: lm_head(hidden_states[:, -num_logits_to_keep:, :]); 0 keeps all
      const src = hidden_states.data as Float32Array;
      const kept = new Float32Array(B * keep * H);
      for (let b = 0; b < B; b++) kept.set(src.subarray((b * T + T - keep) * H, (b * T + T) * H), b * keep * H);
      hidden_states = new Tensor("float32", kept, [B, keep, H]);
    }
    let logits: Tensor;
    const tp = this.config.pretraining_tp;
    if (tp > 1) {
      logits = catLast(splitRows(this.lm_head.weight, this.vocab_size / tp).map((w) => linearNoBias(hidden_states, w)));
    } else {
      logits = this.lm_head.forward(hidden_states); // [B, T', V]
    }

    const result: CausalLMOutputWithPast = { logits };
    if (args.labels !== undefined && args.labels !== null) {
      const labels = toIntRows(args.labels, "labels");
      const Tl = logits.shape[1];
      if (labels.length !== B || labels[0].length !== Tl)
        throw new ShapeError(
          "labels",
          `expected [${B}, ${Tl}] to match the logits, got [${labels.length}, ${labels[0]?.length}]`,
        );
      // shift so that tokens < n predict n: logits[:, :-1] vs labels[:, 1:]
      const V = this.vocab_size;
      const shift_logits = new Float32Array(B * (Tl - 1) * V);
      const shift_labels: number[] = [];
      const ld = logits.data as Float32Array;
      for (let b = 0; b < B; b++) {
        shift_logits.set(ld.subarray(b * Tl * V, (b * Tl + Tl - 1) * V), b * (Tl - 1) * V);
        for (let t = 1; t < Tl; t++) shift_labels.push(labels[b][t]);
      }
      result.loss = new Tensor("float32", [crossEntropy(shift_logits, shift_labels, B * (Tl - 1), V)], []);
    }
    if (outputs.past_key_values) result.past_key_values = outputs.past_key_values;
    if (outputs.hidden_states) result.hidden_states = outputs.hidden_states;
    if (outputs.attentions) result.attentions = outputs.attentions;
    return result;
  }

  /**
   * HF `generate` (greedy or multinomial sampling, KV cache, logits processors in HF's order): see
   * src/generation/utils.ts. Returns int64 ids [B, prompt + new].
   */
  generate(input_ids: IntInput, opts: GenerateOptions = {}): Tensor {
    return generateLoop(this, input_ids, opts);
  }

  /**
   * HF `resize_token_embeddings` (v4.44: new rows drawn as `_init_weights` does, old rows copied); resizes an
   * untied lm_head too and updates config.vocab_size. Returns the new embedding.
   */
  resize_token_embeddings(new_num_tokens: number, pad_to_multiple_of?: number, seed = 0): Embedding {
    return resizeEmbeddings(this, new_num_tokens, pad_to_multiple_of, seed);
  }
}

function resizeEmbeddings(
  model: LlamaPreTrainedModel & { model?: LlamaModel; transformer?: LlamaModel },
  new_num_tokens: number,
  pad_to_multiple_of: number | undefined,
  seed: number,
): Embedding {
  if (pad_to_multiple_of !== undefined)
    new_num_tokens = Math.ceil(new_num_tokens / pad_to_multiple_of) * pad_to_multiple_of;
  if (!Number.isSafeInteger(new_num_tokens) || new_num_tokens <= 0)
    throw new ValueError(`new_num_tokens: expected a positive integer, got ${new_num_tokens}`);
  const base = (model.model ?? model.transformer ?? model) as LlamaModel;
  const old = base.embed_tokens;
  const rng = new Random(seed);
  const std = model.config.initializer_range;
  const resizeMatrix = (w: Tensor): Tensor => {
    const [N, D] = w.shape;
    const out = new Float32Array(new_num_tokens * D);
    for (let i = 0; i < out.length; i++) out[i] = f(std * rng.normal());
    out.set(w.toFloat32().subarray(0, Math.min(N, new_num_tokens) * D));
    const t = new Tensor("float32", out, [new_num_tokens, D]);
    return w.dtype === "float32" ? t : t.to(w.dtype);
  };
  const emb = new Embedding(new_num_tokens, old.embedding_dim, old.padding_idx);
  emb.weight = resizeMatrix(old.weight);
  base.set_input_embeddings(emb);
  const head = model.get_output_embeddings();
  if (head) {
    if (model.config.tie_word_embeddings) {
      const lm = new Linear(head.in_features, new_num_tokens, false);
      lm.weight = emb.weight;
      (model as any).lm_head = (model as any).replace("lm_head", lm);
    } else {
      const lm = new Linear(head.in_features, new_num_tokens, false);
      lm.weight = resizeMatrix(head.weight);
      (model as any).lm_head = (model as any).replace("lm_head", lm);
    }
  }
  model.config.vocab_size = new_num_tokens;
  (base as any).vocab_size = new_num_tokens;
  if ("vocab_size" in model) (model as any).vocab_size = new_num_tokens;
  return emb;
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaForSequenceClassification
// ---------------------------------------------------------------------------------------------------------------

export type PoolingRule = "last_non_pad" | "first_pad_minus_one";

export interface SequenceClassifierOutputWithPast {
  loss?: Tensor; // float32 scalar, shape []
  logits: Tensor; // pooled, float32 [B, num_labels]
  past_key_values?: DynamicCache;
  hidden_states?: Tensor[];
  attentions?: Tensor[];
}

/** Labels: a float32 Tensor is float targets; integer Tensors or arrays of integers are class indices. */
function readLabels(labels: IntInput | Tensor): { values: number[]; shape: number[]; isInt: boolean } {
  if (labels instanceof Tensor) {
    const values = Array.from({ length: labels.size }, (_, i) => labels.item(i));
    return { values, shape: labels.shape, isInt: labels.dtype === "int32" || labels.dtype === "int64" };
  }
  const flat: number[] = [];
  const shape: number[] = [];
  const walk = (v: unknown, depth: number) => {
    if (Array.isArray(v)) {
      if (shape.length <= depth) shape.push(v.length);
      for (const x of v) walk(x, depth + 1);
    } else {
      if (typeof v !== "number" || Number.isNaN(v))
        throw new ShapeError("labels", `expected numbers, got ${String(v)}`);
      flat.push(v);
    }
  };
  walk(labels, 0);
  return { values: flat, shape, isInt: flat.every((x) => Number.isInteger(x)) };
}

/**
 * HF `LlamaForSequenceClassification`: LlamaModel + `score` [num_labels, H] (no bias), logits pooled at one
 * position per row.
 *
 * Pooling (default "last_non_pad"): the rightmost position whose id is not pad_token_id (the seed doc's rule and
 * HF's since v4.49; a row that is all padding pools position 0, as HF's argmax does). `pooling:
 * "first_pad_minus_one"` gives HF 4.44's rule `(index of the first pad - 1) mod T`, which differs only when the
 * pad id also occurs inside a row. With inputs_embeds, or without a pad token (batch 1 only, as HF), the last
 * position is pooled.
 *
 * Loss by config.problem_type, inferred as HF does when null (and written back to the live config):
 * num_labels == 1 -> "regression" (MSE on squeezed values); integer labels -> "single_label_classification"
 * (cross-entropy); otherwise "multi_label_classification" (BCE with logits). Plain-array labels of shape
 * [B, num_labels] count as multi-label targets even when every value is an integer (JSON reads 1.0 as 1).
 */
export class LlamaForSequenceClassification extends LlamaPreTrainedModel {
  static override _head_keys = ["score.weight"];
  readonly num_labels: number;
  readonly model: LlamaModel;
  readonly score: Linear;
  pooling: PoolingRule;

  constructor(config: LlamaConfig, opts: ModelOptions & { pooling?: PoolingRule } = {}) {
    super(config);
    this.num_labels = config.num_labels;
    this.model = this.add("model", new LlamaModel(config, { _nested: true }));
    this.score = this.add("score", new Linear(config.hidden_size, this.num_labels, false));
    this.pooling = opts.pooling ?? "last_non_pad";
    if (this.pooling !== "last_non_pad" && this.pooling !== "first_pad_minus_one") {
      throw new ValueError(
        `pooling: expected "last_non_pad" or "first_pad_minus_one", got ${JSON.stringify(this.pooling)}`,
      );
    }
    this.post_init(opts);
  }

  get_input_embeddings(): Embedding {
    return this.model.embed_tokens;
  }

  /** The pooled position of each row (see the class comment). */
  pooled_indices(input_ids: number[][] | null, batch_size: number, T: number): number[] {
    const pad = this.config.pad_token_id;
    if (pad === null && batch_size !== 1)
      throw new ValueError("Cannot handle batch sizes > 1 if no padding token is defined.");
    if (pad === null || input_ids === null) return new Array(batch_size).fill(T - 1);
    return input_ids.map((row) => {
      if (this.pooling === "first_pad_minus_one") {
        const first = row.indexOf(pad); // argmax of (ids == pad) is 0 when there is no pad
        return ((((first < 0 ? 0 : first) - 1) % T) + T) % T;
      }
      for (let t = T - 1; t >= 0; t--) if (row[t] !== pad) return t;
      return 0;
    });
  }

  forward(args: LlamaForwardArgs & { labels?: IntInput | Tensor | null }): SequenceClassifierOutputWithPast {
    const outputs = this.model.forward(args);
    const hidden_states = outputs.last_hidden_state; // [B, T, H]
    const [B, T] = hidden_states.shape;
    const ids = args.input_ids !== undefined && args.input_ids !== null ? toIntRows(args.input_ids, "input_ids") : null;
    const logits = this.score.forward(hidden_states); // [B, T, num_labels]: every position, as HF (hooks see it)
    const idx = this.pooled_indices(ids, B, T);
    // pooled_logits = logits[arange(B), sequence_lengths]
    const n = this.num_labels;
    const all = logits.data as Float32Array;
    const pooled = new Float32Array(B * n);
    for (let b = 0; b < B; b++) pooled.set(all.subarray((b * T + idx[b]) * n, (b * T + idx[b] + 1) * n), b * n);
    const pooled_logits = new Tensor("float32", pooled, [B, n]); // [B, num_labels]

    const result: SequenceClassifierOutputWithPast = { logits: pooled_logits };
    if (args.labels !== undefined && args.labels !== null) {
      const labels = readLabels(args.labels);
      const n = this.num_labels;
      // Plain JS arrays cannot say int or float (JSON's 1.0 reads as 1): a [B, num_labels] array of 0/1 is
      // multi-label targets, since class indices would be [B]. (HF, given such a LongTensor, fails instead.)
      const plainTargets =
        !(args.labels instanceof Tensor) && labels.shape.length === 2 && labels.shape[0] === B && labels.shape[1] === n;
      if (this.config.problem_type === null || this.config.problem_type === undefined) {
        if (n === 1) this.config.problem_type = "regression";
        else if (n > 1 && labels.isInt && !plainTargets) this.config.problem_type = "single_label_classification";
        else this.config.problem_type = "multi_label_classification";
      }
      const p = pooled_logits.data as Float32Array;
      let loss: number;
      if (this.config.problem_type === "regression") {
        if (labels.values.length !== p.length)
          throw new ShapeError(
            "labels",
            `regression needs ${p.length} values (shape [${B}${n === 1 ? "" : `, ${n}`}]), got ${labels.values.length}`,
          );
        loss = mseLoss(p, labels.values);
      } else if (this.config.problem_type === "single_label_classification") {
        if (labels.values.length !== B)
          throw new ShapeError(
            "labels",
            `single_label_classification needs one class index per row (${B}), got ${labels.values.length} values`,
          );
        loss = crossEntropy(p, labels.values, B, n);
      } else {
        if (labels.values.length !== p.length)
          throw new ShapeError(
            "labels",
            `multi_label_classification needs [${B}, ${n}] targets, got ${labels.values.length} values`,
          );
        loss = bceWithLogits(p, labels.values);
      }
      result.loss = new Tensor("float32", [loss], []);
    }
    if (outputs.past_key_values) result.past_key_values = outputs.past_key_values;
    if (outputs.hidden_states) result.hidden_states = outputs.hidden_states;
    if (outputs.attentions) result.attentions = outputs.attentions;
    return result;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaForQuestionAnswering
// ---------------------------------------------------------------------------------------------------------------

export interface QuestionAnsweringModelOutput {
  loss?: Tensor;
  start_logits: Tensor; // [B, T]
  end_logits: Tensor; // [B, T]
  logits: Tensor; // [B, T, 2] (start, end), for a uniform `.logits`
  hidden_states?: Tensor[];
  attentions?: Tensor[];
}

/**
 * HF `LlamaForQuestionAnswering`: LlamaModel (under the name `transformer`, as HF) + `qa_outputs` [2, H] with
 * bias; start/end logits per token. Loss: mean of the start and end cross-entropies, positions clamped to
 * [0, T] and T ignored (HF's ignored_index).
 */
export class LlamaForQuestionAnswering extends LlamaPreTrainedModel {
  static override base_model_prefix = "transformer";
  static override _head_keys = ["qa_outputs.weight", "qa_outputs.bias"];
  readonly transformer: LlamaModel;
  readonly qa_outputs: Linear;

  constructor(config: LlamaConfig, opts: ModelOptions = {}) {
    super(config);
    this.transformer = this.add("transformer", new LlamaModel(config, { _nested: true }));
    this.qa_outputs = this.add("qa_outputs", new Linear(config.hidden_size, 2));
    this.post_init(opts);
  }

  get_input_embeddings(): Embedding {
    return this.transformer.embed_tokens;
  }

  forward(
    args: LlamaForwardArgs & { start_positions?: number[] | Tensor | null; end_positions?: number[] | Tensor | null },
  ): QuestionAnsweringModelOutput {
    const outputs = this.transformer.forward({ ...args, use_cache: false });
    const logits = this.qa_outputs.forward(outputs.last_hidden_state); // [B, T, 2]
    const [B, T] = logits.shape;
    const l = logits.data as Float32Array;
    const start = new Float32Array(B * T);
    const end = new Float32Array(B * T);
    for (let i = 0; i < B * T; i++) {
      start[i] = l[2 * i];
      end[i] = l[2 * i + 1];
    }
    const result: QuestionAnsweringModelOutput = {
      start_logits: new Tensor("float32", start, [B, T]),
      end_logits: new Tensor("float32", end, [B, T]),
      logits,
    };
    if (args.start_positions != null && args.end_positions != null) {
      const read = (x: number[] | Tensor, name: string) => {
        const v = x instanceof Tensor ? Array.from({ length: x.size }, (_, i) => x.item(i)) : x.flat();
        if (v.length !== B) throw new ShapeError(name, `expected ${B} positions, got ${v.length}`);
        return v.map((p) => Math.min(Math.max(p, 0), T)); // clamp(0, ignored_index)
      };
      const s = crossEntropy(start, read(args.start_positions, "start_positions"), B, T, T, "start_positions");
      const e = crossEntropy(end, read(args.end_positions, "end_positions"), B, T, T, "end_positions");
      result.loss = new Tensor("float32", [f((s + e) / 2)], []);
    }
    if (outputs.hidden_states) result.hidden_states = outputs.hidden_states;
    if (outputs.attentions) result.attentions = outputs.attentions;
    return result;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaForTokenClassification
// ---------------------------------------------------------------------------------------------------------------

export interface TokenClassifierOutput {
  loss?: Tensor;
  logits: Tensor; // [B, T, num_labels]
  hidden_states?: Tensor[];
  attentions?: Tensor[];
}

/**
 * HF `LlamaForTokenClassification`: LlamaModel + `score` [num_labels, H] with bias, per token (dropout is a
 * training-time no-op here). Loss: cross-entropy over all tokens, -100 ignored.
 */
export class LlamaForTokenClassification extends LlamaPreTrainedModel {
  static override _head_keys = ["score.weight", "score.bias"];
  readonly num_labels: number;
  readonly model: LlamaModel;
  readonly score: Linear;

  constructor(config: LlamaConfig, opts: ModelOptions = {}) {
    super(config);
    this.num_labels = config.num_labels;
    this.model = this.add("model", new LlamaModel(config, { _nested: true }));
    this.score = this.add("score", new Linear(config.hidden_size, config.num_labels));
    this.post_init(opts);
  }

  get_input_embeddings(): Embedding {
    return this.model.embed_tokens;
  }

  forward(args: LlamaForwardArgs & { labels?: IntInput | null }): TokenClassifierOutput {
    const outputs = this.model.forward(args);
    const logits = this.score.forward(outputs.last_hidden_state); // [B, T, num_labels]
    const result: TokenClassifierOutput = { logits };
    if (args.labels !== undefined && args.labels !== null) {
      const labels = toIntRows(args.labels, "labels").flat();
      const N = logits.size / this.num_labels;
      if (labels.length !== N)
        throw new ShapeError("labels", `expected ${N} labels (one per token), got ${labels.length}`);
      result.loss = new Tensor("float32", [crossEntropy(logits.data as Float32Array, labels, N, this.num_labels)], []);
    }
    if (outputs.hidden_states) result.hidden_states = outputs.hidden_states;
    if (outputs.attentions) result.attentions = outputs.attentions;
    return result;
  }
}
