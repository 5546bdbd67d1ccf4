/**
 * Tour (README "Read the code", step 11 of 18): the model itself, the centre of the tour; after cache_utils.ts.
 *
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
 * Attention implementations follow HF's later layout: one LlamaAttention class whose forward calls
 * `eager_attention_forward` (below) or, by config._attn_implementation, the "sdpa" / "flash_attention_2"
 * functions of src/integrations/. Left out on purpose: StaticCache, gradient checkpointing, dropout (inference
 * only: attention_dropout is a training knob), the deprecated per-layer rotary modules, and tuple-returning
 * `return_dict=False`.
 *
 * Tensor plumbing (linear, matmul, softmax, cat, split, transpose, element-wise ops) is src/nn/functional.ts,
 * under torch's names. Activations take the dtype torch gives them: float32, or the 2-byte dtype of a model
 * loaded with torch_dtype "float16" / "bfloat16" (rounded where torch rounds; see functional.ts). Forward passes
 * are synchronous; every matrix product goes through the matmul seam (src/ops/matmul.ts), so a faster backend
 * speeds up all of them without touching this file.
 */
import { DynamicCache } from "../../cache_utils.ts";
import { CheckpointError, ShapeError, ValueError } from "../../errors.ts";
import { GenerationConfig } from "../../generation/configuration_utils.ts";
import {
  generate as generateLoop,
  positionIdsFromAttentionMask,
  type GenerateOptions,
  type GenerateOutput,
  type GenerationModelInputs,
  type GenerationModelKwargs,
} from "../../generation/utils.ts";
import { ROPE_INIT_FUNCTIONS, type RopeInitFn } from "../../modeling_rope_utils.ts";
import {
  PreTrainedModel,
  type ModelOptions,
  checkDecoderPositions,
  coerceDecoderInputs,
} from "../../modeling_utils.ts";
import { ALL_ATTENTION_FUNCTIONS, type AttentionFunction } from "../../integrations/attention.ts";
import * as F from "../../nn/functional.ts";
import { announceStep, Embedding, Linear, Module, newParameter } from "../../nn/modules.ts";
import { bceWithLogits, crossEntropy, mseLoss } from "../../ops/losses.ts";
import { Tensor, toIntRows, type IntInput } from "../../tensor/tensor.ts";
import { warning_once } from "../../utils/logging.ts";
import { checkForwardArgs } from "../../utils/validate.ts";
import { Random } from "../../utils/random.ts";
import { LlamaConfig } from "./configuration_llama.ts";

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
 * HF quirk kept: masked entries hold the dtype's minimum (`torch.finfo(dtype).min`), not -inf. A query row whose
 * keys are all masked (a left pad position) therefore softmaxes to a uniform 1/S over every key, future ones
 * included, instead of NaN. (In float16 the minimum is -65504 and `score + min` rounds to -inf once score <= -16:
 * there such a row can turn NaN, as in HF.) The mask has the activations' `dtype`; HF's signature also takes it
 * (with a device), here it comes last. A 4D attention_mask is taken as already inverted (additive) and returned
 * unchanged.
 */
export function _prepare_4d_causal_attention_mask_with_cache_position(
  attention_mask: number[][] | Tensor | null,
  sequence_length: number,
  target_length: number,
  min_dtype: number,
  cache_position: number[],
  batch_size: number,
  dtype: F.FloatDType = "float32",
): Tensor {
  if (attention_mask instanceof Tensor && attention_mask.shape.length === 4)
    return attention_mask.dtype === "float16" || attention_mask.dtype === "bfloat16"
      ? attention_mask
      : attention_mask.float();
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
  return new Tensor("float32", out, [batch_size, 1, T, L]).to(dtype); // min_dtype is exact in dtype
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaRMSNorm
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `LlamaRMSNorm` (= T5LayerNorm): `y = weight * x / sqrt(mean(x^2, -1) + eps)`, over the last dim.
 * [..., H] -> [..., H]. The statistics are computed in float32 whatever the activation dtype; the normalized
 * values are cast back to it BEFORE the weight multiply (two roundings in a 2-byte model).
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
    if (hidden_states.shape[hidden_states.shape.length - 1] !== this.weight.shape[0])
      throw new ShapeError(
        "hidden_states",
        `RMSNorm expects last dim ${this.weight.shape[0]}, got [${hidden_states.shape}]`,
      );
    const input_dtype = hidden_states.dtype;
    hidden_states = hidden_states.to("float32");
    const variance = F.mean(F.pow(hidden_states, 2), -1, true); // [..., 1]
    hidden_states = F.mul(hidden_states, F.rsqrt(F.add(variance, this.variance_epsilon)));
    return F.mul(this.weight, hidden_states.to(input_dtype));
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
 *   cos, sin       = cos(emb) * attention_scaling, sin(emb) * attention_scaling, cast to x's dtype
 *
 * inv_freq comes from ROPE_INIT_FUNCTIONS[rope_type] (src/modeling_rope_utils.ts) and stays float32 even in a
 * 2-byte model (HF computes it with an explicit `.float()`; `from_pretrained` never casts buffers). HF quirk kept:
 * "dynamic" RoPE is stateful. When max(position_ids) + 1 outgrows the cached length it recomputes inv_freq for
 * that length and keeps it for later calls; once a call's length is back under max_position_embeddings the
 * original inv_freq returns. Cached keys keep the rotation they were stored with.
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

  /**
   * position_ids [B, T] -> [cos, sin], each [B, T, D] in x's dtype (float32 without x). HF's signature is
   * `forward(x, position_ids)`; x only lends its dtype, so here it comes second.
   */
  forward(position_ids: number[][], x?: Tensor): [Tensor, Tensor] {
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
          const freq = Math.fround(this.inv_freq[i] * pos); // inv_freq @ position_ids, in float32
          const c = scale === 1 ? Math.fround(Math.cos(freq)) : Math.fround(Math.fround(Math.cos(freq)) * scale);
          const s = scale === 1 ? Math.fround(Math.sin(freq)) : Math.fround(Math.fround(Math.sin(freq)) * scale);
          cos[o + i] = c; // emb = cat(freqs, freqs)
          cos[o + half + i] = c;
          sin[o + i] = s;
          sin[o + half + i] = s;
        }
      }
    }
    const dtype = x?.dtype ?? "float32";
    return [new Tensor("float32", cos, [B, T, D]).to(dtype), new Tensor("float32", sin, [B, T, D]).to(dtype)];
  }
}

/** HF `rotate_half`: [..., D] -> cat(-x[..., D/2:], x[..., :D/2]). */
export function rotate_half(x: Tensor): Tensor {
  const [x1, x2] = F.split(x, x.shape[x.shape.length - 1] / 2, -1);
  return F.cat([F.neg(x2), x1], -1);
}

/**
 * HF `apply_rotary_pos_emb`: `q * cos + rotate_half(q) * sin` (same for k), cos/sin unsqueezed at dim 1.
 * q [B, nH, T, D], k [B, nKV, T, D], cos/sin [B, T, D] -> [q_embed, k_embed] of q's and k's shapes.
 * HF stores q_proj/k_proj rows permuted so that this "half split" rotation equals Meta's interleaved one.
 */
export function apply_rotary_pos_emb(
  q: Tensor,
  k: Tensor,
  cos: Tensor,
  sin: Tensor,
  unsqueeze_dim = 1,
): [Tensor, Tensor] {
  cos = F.unsqueeze(cos, unsqueeze_dim); // [B, 1, T, D]
  sin = F.unsqueeze(sin, unsqueeze_dim);
  const q_embed = F.add(F.mul(q, cos), F.mul(rotate_half(q), sin));
  const k_embed = F.add(F.mul(k, cos), F.mul(rotate_half(k), sin));
  return [q_embed, k_embed];
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaMLP
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `LlamaMLP` (SwiGLU): `down_proj(act_fn(gate_proj(x)) * up_proj(x))`. [B, T, H] -> [B, T, H], via [B, T, I].
 */
export class LlamaMLP extends Module {
  readonly hidden_size: number;
  readonly intermediate_size: number;
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  readonly act_fn: (x: Tensor) => Tensor;

  constructor(readonly config: LlamaConfig) {
    super();
    this.hidden_size = config.hidden_size;
    this.intermediate_size = config.intermediate_size;
    this.gate_proj = this.add("gate_proj", new Linear(this.hidden_size, this.intermediate_size, config.mlp_bias));
    this.up_proj = this.add("up_proj", new Linear(this.hidden_size, this.intermediate_size, config.mlp_bias));
    this.down_proj = this.add("down_proj", new Linear(this.intermediate_size, this.hidden_size, config.mlp_bias));
    this.act_fn = F.get_activation(config.hidden_act);
  }

  forward(x: Tensor): Tensor {
    const tp = this.config.pretraining_tp;
    if (tp > 1) {
      // HF quirk kept: the pretraining_tp > 1 path slices the weights and applies NO bias (F.linear without b).
      const slice = this.intermediate_size / tp;
      const gate_proj_slices = F.split(this.gate_proj.weight, slice, 0);
      const up_proj_slices = F.split(this.up_proj.weight, slice, 0);
      const down_proj_slices = F.split(this.down_proj.weight, slice, 1);

      const gate_proj = F.cat(
        gate_proj_slices.map((w) => F.linear(x, w)),
        -1,
      ); // [B, T, I]
      const up_proj = F.cat(
        up_proj_slices.map((w) => F.linear(x, w)),
        -1,
      ); // [B, T, I]

      const intermediate_states = F.split(F.mul(this.act_fn(gate_proj), up_proj), slice, 2); // tp x [B, T, I/tp]
      const down_proj = intermediate_states.map((s, i) => F.linear(s, down_proj_slices[i]));
      return down_proj.reduce((sum, d) => F.add(sum, d)); // Python's sum(down_proj), left to right
    }
    return this.down_proj.forward(F.mul(this.act_fn(this.gate_proj.forward(x)), this.up_proj.forward(x)));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// repeat_kv, eager_attention_forward, LlamaAttention
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `repeat_kv` (= torch.repeat_interleave(x, n_rep, dim=1)): [B, nKV, S, D] -> [B, nKV * n_rep, S, D].
 * Query head h reads kv head floor(h / n_rep).
 */
export function repeat_kv(hidden_states: Tensor, n_rep: number): Tensor {
  return F.repeat_interleave(hidden_states, n_rep, 1);
}

/**
 * HF `eager_attention_forward` (its name since v4.48; in 4.44 these lines sit inside LlamaAttention.forward):
 *
 *   w   = softmax(q k^T / sqrt(D) + mask, dtype=float32).to(q.dtype)      [B, nH, T, S]
 *   out = (w @ repeat_kv(v)).transpose(1, 2)                              [B, T, nH, D]
 *
 * query [B, nH, T, D]; key, value [B, nKV, S, D]; attention_mask additive [B or 1, 1, T, >= S] (sliced to S).
 * Returns [attn_output, attn_weights]: the probabilities are materialized here (that is what "eager" means).
 * 4.44 divides by sqrt(head_dim) where later versions multiply by `scaling`; dividing by 1/scaling keeps
 * 4.44's rounding.
 */
export const eager_attention_forward: AttentionFunction = (module, query, key, value, attention_mask, scaling) => {
  const key_states = repeat_kv(key, module.num_key_value_groups); // [B, nH, S, D]
  const value_states = repeat_kv(value, module.num_key_value_groups); // [B, nH, S, D]
  announceStep(module, "repeat_kv", [key_states, value_states]);

  let attn_weights = F.div(F.matmul(query, key_states, /* key_states.transpose(2, 3) */ true), 1 / scaling);
  if (attention_mask !== null) {
    const causal_mask = F.narrow(attention_mask, 3, 0, key_states.shape[2]); // attention_mask[:, :, :, :S]
    announceStep(module, "causal_mask", causal_mask);
    attn_weights = F.add(attn_weights, causal_mask);
  }
  attn_weights = F.softmax(attn_weights, -1, "float32").to(query.dtype); // [B, nH, T, S]
  const attn_output = F.transpose(F.matmul(attn_weights, value_states), 1, 2); // [B, T, nH, D]
  return [attn_output, attn_weights];
};

export interface AttentionArgs {
  attention_mask?: Tensor | null; // additive [B, 1, T, >= S]
  position_embeddings: [Tensor, Tensor]; // cos, sin [B, T, D]
  past_key_value?: DynamicCache | null;
  output_attentions?: boolean;
}

/**
 * HF `LlamaAttention`: multi-head attention with grouped key/value heads.
 *
 *   q, k, v = q_proj(x), k_proj(x), v_proj(x)                  [B, T, nH*D], [B, T, nKV*D] x2
 *   q, k    = apply_rotary_pos_emb(q, k, cos, sin)             [B, nH, T, D], [B, nKV, T, D]
 *   k, v    = cache.update(k, v)                               [B, nKV, S, D]
 *   out     = attention_interface(q, k, v, mask)               [B, T, nH, D]
 *   out     = o_proj(out as [B, T, nH*D])                      [B, T, H]
 *
 * attention_interface follows config._attn_implementation (HF's dispatch since v4.48): "eager" (default),
 * "sdpa" or "flash_attention_2" (src/integrations/). Only eager returns the probabilities: asked for
 * output_attentions, the others fall back to eager with a warning, as HF's sdpa does.
 */
export class LlamaAttention extends Module {
  readonly hidden_size: number;
  readonly num_heads: number;
  readonly head_dim: number;
  readonly num_key_value_heads: number;
  readonly num_key_value_groups: number;
  readonly scaling: number;
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
    this.scaling = this.head_dim ** -0.5;
    const bias = config.attention_bias;
    this.q_proj = this.add("q_proj", new Linear(this.hidden_size, this.num_heads * this.head_dim, bias));
    this.k_proj = this.add("k_proj", new Linear(this.hidden_size, this.num_key_value_heads * this.head_dim, bias));
    this.v_proj = this.add("v_proj", new Linear(this.hidden_size, this.num_key_value_heads * this.head_dim, bias));
    this.o_proj = this.add("o_proj", new Linear(this.num_heads * this.head_dim, this.hidden_size, bias));
  }

  /** hidden_states [B, T, H] -> [attn_output [B, T, H], attn_weights [B, nH, T, S] or null]. */
  forward(hidden_states: Tensor, args: AttentionArgs): [Tensor, Tensor | null] {
    const [bsz, q_len] = hidden_states.shape;
    const tp = this.config.pretraining_tp;

    let query_states: Tensor, key_states: Tensor, value_states: Tensor;
    if (tp > 1) {
      // HF quirk kept: the sliced path applies no bias, even with attention_bias=true.
      const key_value_slicing = (this.num_key_value_heads * this.head_dim) / tp;
      const query_slices = F.split(this.q_proj.weight, (this.num_heads * this.head_dim) / tp, 0);
      const key_slices = F.split(this.k_proj.weight, key_value_slicing, 0);
      const value_slices = F.split(this.v_proj.weight, key_value_slicing, 0);

      query_states = F.cat(
        query_slices.map((w) => F.linear(hidden_states, w)),
        -1,
      );
      key_states = F.cat(
        key_slices.map((w) => F.linear(hidden_states, w)),
        -1,
      );
      value_states = F.cat(
        value_slices.map((w) => F.linear(hidden_states, w)),
        -1,
      );
    } else {
      query_states = this.q_proj.forward(hidden_states); // [B, T, nH*D]
      key_states = this.k_proj.forward(hidden_states); // [B, T, nKV*D]
      value_states = this.v_proj.forward(hidden_states); // [B, T, nKV*D]
    }
    query_states = F.transpose(F.view(query_states, bsz, q_len, this.num_heads, this.head_dim), 1, 2);
    key_states = F.transpose(F.view(key_states, bsz, q_len, this.num_key_value_heads, this.head_dim), 1, 2);
    value_states = F.transpose(F.view(value_states, bsz, q_len, this.num_key_value_heads, this.head_dim), 1, 2);

    const [cos, sin] = args.position_embeddings;
    [query_states, key_states] = apply_rotary_pos_emb(query_states, key_states, cos, sin);
    this._step("apply_rotary_pos_emb", [query_states, key_states]);

    if (args.past_key_value) {
      [key_states, value_states] = args.past_key_value.update(key_states, value_states, this.layer_idx); // [B, nKV, S, D]
    }

    const mask = args.attention_mask ?? null;
    if (mask !== null) {
      const S = key_states.shape[2];
      if (
        mask.shape.length !== 4 ||
        mask.shape[2] !== q_len ||
        mask.shape[3] < S ||
        (mask.shape[0] !== bsz && mask.shape[0] !== 1)
      )
        throw new ShapeError("attention_mask", `4D mask must be [${bsz}, 1, ${q_len}, >= ${S}], got [${mask.shape}]`);
    }
    const attention_interface = selectAttention(this.config, args.output_attentions ?? false);
    let [attn_output, attn_weights] = attention_interface(
      this,
      query_states,
      key_states,
      value_states,
      mask,
      this.scaling,
    );

    attn_output = F.reshape(attn_output, bsz, q_len, -1); // [B, T, nH*D]
    if (tp > 1) {
      const parts = F.split(attn_output, this.hidden_size / tp, 2);
      const o_proj_slices = F.split(this.o_proj.weight, this.hidden_size / tp, 1);
      attn_output = parts.map((p, i) => F.linear(p, o_proj_slices[i])).reduce((sum, o) => F.add(sum, o));
    } else {
      attn_output = this.o_proj.forward(attn_output); // [B, T, H]
    }
    return [attn_output, args.output_attentions ? attn_weights : null];
  }
}

/** The attention function for config._attn_implementation; eager when attentions are asked (HF's fallback). */
function selectAttention(config: LlamaConfig, output_attentions: boolean): AttentionFunction {
  const impl: string = (config as any)._attn_implementation ?? "eager";
  if (impl === "eager") return eager_attention_forward;
  if (output_attentions) {
    warning_once(
      `attn_implementation "${impl}" does not return attention weights (output_attentions=true): falling back to ` +
        'the eager implementation for this call. Load with attn_implementation: "eager" to silence this warning.',
    );
    return eager_attention_forward;
  }
  const fn = ALL_ATTENTION_FUNCTIONS[impl];
  if (fn === undefined) throw new ValueError(`attn_implementation: unknown value ${JSON.stringify(impl)}`);
  return fn;
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

    hidden_states = this.input_layernorm.forward(hidden_states);

    // Self Attention
    let self_attn_weights: Tensor | null;
    [hidden_states, self_attn_weights] = this.self_attn.forward(hidden_states, args);
    hidden_states = F.add(residual, hidden_states);

    // Fully Connected
    residual = hidden_states;
    hidden_states = this.post_attention_layernorm.forward(hidden_states);
    hidden_states = this.mlp.forward(hidden_states);
    hidden_states = F.add(residual, hidden_states);

    return [hidden_states, self_attn_weights];
  }
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

/** HF `LlamaPreTrainedModel`: config class, `_init_weights`, and the checkpoint size pre-check. */
export abstract class LlamaPreTrainedModel extends PreTrainedModel {
  static override config_class = LlamaConfig;
  static override base_model_prefix = "model";
  declare config: LlamaConfig;

  /**
   * HF `LlamaPreTrainedModel._init_weights`: Linear and Embedding weights ~ normal(0, initializer_range), Linear
   * biases zero, the Embedding's padding_idx row zero (RMSNorm weights are built as ones).
   */
  protected override _init_weights(module: Module, rng: Random): void {
    const std = this.config.initializer_range;
    const normal = (t: Tensor) => {
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = Math.fround(std * rng.normal());
    };
    if (module instanceof Linear) {
      normal(module.weight);
      if (module.bias) (module.bias.data as Float32Array).fill(0);
    } else if (module instanceof Embedding) {
      normal(module.weight);
      if (module.padding_idx !== null) {
        const D = module.embedding_dim;
        (module.weight.data as Float32Array).fill(0, module.padding_idx * D, (module.padding_idx + 1) * D);
      }
    }
  }

  /** embed_tokens, the first layer's q_proj and gate_proj, and the last layer's norm must match config.json. */
  static override _check_checkpoint(config: LlamaConfig, tensors: Map<string, Tensor>, file: string): void {
    const L = config.num_hidden_layers;
    const H = config.hidden_size;
    const expect = (name: string, shape: number[], fields: string) => {
      const t = this._checkpoint_tensor(tensors, name);
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

  /**
   * The activations' dtype (HF `model.dtype`, the parameters' dtype): float32, or float16 / bfloat16 for a model
   * loaded with that torch_dtype (or "auto" on such a checkpoint). `compute_dtype: "float32"` at load keeps
   * 2-byte weights but computes in float32, a llama-ts mode (torch cannot multiply float32 activations by
   * bfloat16 weights): the embedding output is widened and everything downstream follows.
   */
  get dtype(): F.FloatDType {
    const forced = (this.config as any)._compute_dtype as F.FloatDType | undefined;
    if (forced !== undefined) return forced;
    const w = this.get_input_embeddings().weight.dtype;
    return w === "float16" || w === "bfloat16" ? w : "float32";
  }
}

/** True while a head (LlamaForCausalLM, ...) constructs its LlamaModel: see {@link baseModelOfHead}. */
let buildingBaseModelOfHead = false;

/** The LlamaModel inside a head, built without its own weight init (HF runs post_init once, on the head). */
function baseModelOfHead(config: LlamaConfig): LlamaModel {
  buildingBaseModelOfHead = true;
  try {
    return new LlamaModel(config);
  } finally {
    buildingBaseModelOfHead = false;
  }
}

/**
 * HF `LlamaModel`: embeddings, L decoder layers, final RMSNorm. Outputs `last_hidden_state` [B, T, H].
 */
export class LlamaModel extends LlamaPreTrainedModel {
  readonly padding_idx: number | null;
  embed_tokens: Embedding;
  readonly layers: LlamaDecoderLayer[];
  readonly norm: LlamaRMSNorm;
  readonly rotary_emb: LlamaRotaryEmbedding;

  constructor(config: LlamaConfig, opts: ModelOptions = {}) {
    super(config);
    this.padding_idx = config.pad_token_id;
    this.embed_tokens = this.add(
      "embed_tokens",
      new Embedding(config.vocab_size, config.hidden_size, this.padding_idx),
    );
    this.layers = [];
    for (let i = 0; i < config.num_hidden_layers; i++)
      this.layers.push(this.add(`layers.${i}`, new LlamaDecoderLayer(config, i)));
    this.norm = this.add("norm", new LlamaRMSNorm(config.hidden_size, config.rms_norm_eps));
    this.rotary_emb = this.add("rotary_emb", new LlamaRotaryEmbedding(config)); // no state-dict entries (inv_freq is not persistent)
    // a base model built inside a head skips its own init: the head's post_init initializes every weight once
    if (!buildingBaseModelOfHead) this.post_init(opts);
  }

  get vocab_size(): number {
    return this.config.vocab_size;
  }

  override get_input_embeddings(): Embedding {
    return this.embed_tokens;
  }

  override set_input_embeddings(value: Embedding): void {
    this.embed_tokens = this.replace("embed_tokens", value);
  }

  forward(args: LlamaForwardArgs): BaseModelOutputWithPast {
    checkForwardArgs(args, "forward");
    const config = this.config;
    const output_attentions = args.output_attentions ?? config.output_attentions ?? false;
    const output_hidden_states = args.output_hidden_states ?? config.output_hidden_states ?? false;
    const use_cache = args.use_cache ?? config.use_cache;

    const inputs = coerceDecoderInputs(args, config.hidden_size);
    // [B, T, H] in the activations' dtype (widens 2-byte rows under compute_dtype "float32", else a no-op)
    const inputs_embeds = (inputs.inputs_embeds ?? this.embed_tokens.forward(inputs.input_ids!)).to(this.dtype);
    const [B, T] = inputs_embeds.shape;

    let past_key_values = args.past_key_values ?? null;
    if (use_cache && past_key_values === null) past_key_values = new DynamicCache();
    const past_seen_tokens = past_key_values ? past_key_values.get_seq_length() : 0;
    const cache_position = inputs.cache_position ?? Array.from({ length: T }, (_, i) => past_seen_tokens + i);
    // cache_position.unsqueeze(0): every row gets the same positions (left padding is not accounted for)
    const position_ids = inputs.position_ids ?? Array.from({ length: B }, () => cache_position);
    checkDecoderPositions(cache_position, position_ids, past_seen_tokens + T, config.max_position_embeddings);

    const causal_mask = this._update_causal_mask(
      args.attention_mask ?? null,
      B,
      T,
      cache_position,
      past_seen_tokens,
      this.dtype,
      output_attentions,
    );
    let hidden_states = inputs_embeds;
    // cos, sin [B, T, D] in the activations' dtype, shared by all layers
    const position_embeddings = this.rotary_emb.forward(position_ids, hidden_states);

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
   * HF `LlamaModel._update_causal_mask` for eager attention: the [B, 1, T, target] additive mask in `dtype`
   * (HF reads it from input_tensor), with target = attention_mask's length when a 2D mask is given, else
   * past + T + 1 (HF's extra column; the attention slices it to S). sdpa and flash_attention_2 take the same
   * 4D mask when something is padded; with no padding they get none (below).
   */
  _update_causal_mask(
    attention_mask: IntInput | Tensor | null,
    B: number,
    T: number,
    cache_position: number[],
    past_seen_tokens: number,
    dtype: F.FloatDType = "float32",
    output_attentions = false,
  ): Tensor | null {
    if (attention_mask instanceof Tensor && attention_mask.shape.length === 4) {
      return _prepare_4d_causal_attention_mask_with_cache_position(
        attention_mask,
        T,
        0,
        F.finfoMin(dtype),
        cache_position,
        B,
        dtype,
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
    // HF (AttentionMaskConverter._ignore_causal_mask_sdpa; flash_attention_2 keeps only a padded 2D mask): with
    // nothing padded, sdpa and flash_attention_2 get no mask and apply causality themselves (query i sees keys
    // j <= past + i), so no [B, 1, T, S] tensor is built either. Eager (and the eager fallback) needs the mask.
    const impl = (this.config as any)._attn_implementation ?? "eager";
    const unpadded = rows === null || rows.every((r) => r.every((m) => m === 1));
    const contiguous = cache_position.every((p, i) => p === past_seen_tokens + i);
    if (impl !== "eager" && !output_attentions && unpadded && contiguous) return null;
    const target_length = rows !== null ? rows[0].length : past_seen_tokens + T + 1;
    return _prepare_4d_causal_attention_mask_with_cache_position(
      rows,
      T,
      target_length,
      F.finfoMin(dtype),
      cache_position,
      B,
      dtype,
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
  lm_head: Linear;
  /** HF `model.generation_config`: generate's defaults; from_pretrained replaces it with generation_config.json. */
  generation_config: GenerationConfig;

  constructor(config: LlamaConfig, opts: ModelOptions = {}) {
    super(config);
    this.model = this.add("model", baseModelOfHead(config));
    this.lm_head = this.add("lm_head", new Linear(config.hidden_size, config.vocab_size, false));
    this.generation_config = GenerationConfig.from_model_config(config);
    this.post_init(opts);
  }

  get vocab_size(): number {
    return this.config.vocab_size;
  }

  override get_output_embeddings(): Linear {
    return this.lm_head;
  }

  override set_output_embeddings(value: Linear): void {
    this.lm_head = this.replace("lm_head", value);
  }

  forward(args: LlamaForwardArgs & { labels?: IntInput | null; num_logits_to_keep?: number }): CausalLMOutputWithPast {
    const outputs = this.model.forward(args);
    let hidden_states = outputs.last_hidden_state; // [B, T, H]
    const [B, T, H] = hidden_states.shape;
    const keep = args.num_logits_to_keep ?? 0;
    if (!Number.isInteger(keep) || keep < 0)
      throw new ShapeError("num_logits_to_keep", `expected an integer >= 0, got ${keep}`);
    if (keep > 0 && keep < T) {
      hidden_states = F.narrow(hidden_states, 1, T - keep, keep); // v4.45: hidden_states[:, -num_logits_to_keep:, :]
    }
    let logits: Tensor;
    const tp = this.config.pretraining_tp;
    if (tp > 1) {
      const lm_head_slices = F.split(this.lm_head.weight, this.vocab_size / tp, 0);
      logits = F.cat(
        lm_head_slices.map((w) => F.linear(hidden_states, w)),
        -1,
      );
    } else {
      logits = this.lm_head.forward(hidden_states); // [B, T', V]
    }
    logits = logits.float(); // HF returns float32 logits whatever the model's dtype

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
   * HF `prepare_inputs_for_generation` (v4.44 modeling_llama.py): the inputs of one decoding step.
   *   input_ids     with a cache, only the ids not yet in it: `input_ids[:, cache_position]` (unless the caller
   *                 already sliced them to that length)
   *   position_ids  cumsum(attention_mask) - 1, 1 where the mask is 0; the last q_len columns once the cache
   *                 holds something (HF's `if past_key_values:` is false for an empty DynamicCache)
   *   attention_mask, cache_position, past_key_values, use_cache passed through.
   */
  prepare_inputs_for_generation(input_ids: number[][], kwargs: GenerationModelKwargs): GenerationModelInputs {
    const { past_key_values, attention_mask, cache_position, use_cache = true } = kwargs;
    let ids = input_ids;
    if (past_key_values !== undefined && input_ids[0].length !== cache_position.length)
      ids = input_ids.map((row) => cache_position.map((p) => row[p]));
    let position_ids = kwargs.position_ids;
    if (attention_mask !== undefined && position_ids === undefined) {
      position_ids = positionIdsFromAttentionMask(attention_mask);
      if (past_key_values !== undefined && past_key_values.length > 0)
        position_ids = position_ids.map((row) => row.slice(row.length - ids[0].length));
    }
    return {
      input_ids: ids.map((r) => [...r]),
      position_ids,
      cache_position,
      past_key_values,
      use_cache,
      attention_mask,
    };
  }

  /**
   * HF `generate`: greedy, sampling, beam / group / constrained beam search, contrastive search, assisted
   * decoding, DoLa, classifier-free guidance (src/generation/utils.ts). `this.generation_config` (from
   * generation_config.json, else the config's tokens) gives the defaults; options win. Returns int64 ids
   * [B * num_return_sequences, prompt + new], or HF's output object with `return_dict_in_generate`.
   */
  generate(input_ids: IntInput, opts: GenerateOptions & { return_dict_in_generate: true }): GenerateOutput;
  generate(input_ids: IntInput, opts?: GenerateOptions): Tensor;
  generate(input_ids: IntInput, opts: GenerateOptions = {}): Tensor | GenerateOutput {
    return generateLoop(this, input_ids, opts);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LlamaForSequenceClassification
// ---------------------------------------------------------------------------------------------------------------

export type PoolingRule = "last_non_pad" | "first_pad_minus_one";

export interface SequenceClassifierOutputWithPast {
  loss?: Tensor; // scalar, shape []: the logits' dtype for cross-entropy, else float32 (as torch)
  logits: Tensor; // pooled [B, num_labels], in the model's dtype (HF does not cast them)
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

  /**
   * Beyond the base checks: `score.weight` must be [num_labels, hidden_size] when the checkpoint has it; when
   * it has none (a base checkpoint), the new head may have at most max(vocab_size, 65536) rows (no larger than
   * the embedding, or a generous label count), so an untrusted `num_labels: 30000000` cannot allocate gigabytes
   * before anything else fails.
   */
  static override _check_checkpoint(config: LlamaConfig, tensors: Map<string, Tensor>, file: string): void {
    super._check_checkpoint(config, tensors, file);
    const score = tensors.get("score.weight");
    const want = [config.num_labels, config.hidden_size];
    if (score !== undefined && (score.shape.length !== 2 || score.shape[0] !== want[0] || score.shape[1] !== want[1]))
      throw new CheckpointError(
        file,
        `score.weight has shape [${score.shape}], config.json (num_labels, hidden_size) says [${want}]`,
      );
    const maxNewLabels = Math.max(config.vocab_size, 1 << 16);
    if (score === undefined && config.num_labels > maxNewLabels)
      throw new CheckpointError(
        file,
        `no score.weight, and num_labels (${config.num_labels}) is more than max(vocab_size, 65536) = ${maxNewLabels}: a new head that size is refused`,
      );
  }
  readonly num_labels: number;
  readonly model: LlamaModel;
  readonly score: Linear;
  pooling: PoolingRule;

  constructor(config: LlamaConfig, opts: ModelOptions & { pooling?: PoolingRule } = {}) {
    super(config);
    this.num_labels = config.num_labels;
    this.model = this.add("model", baseModelOfHead(config));
    this.score = this.add("score", new Linear(config.hidden_size, this.num_labels, false));
    this.pooling = opts.pooling ?? "last_non_pad";
    if (this.pooling !== "last_non_pad" && this.pooling !== "first_pad_minus_one") {
      throw new ValueError(
        `pooling: expected "last_non_pad" or "first_pad_minus_one", got ${JSON.stringify(this.pooling)}`,
      );
    }
    this.post_init(opts);
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
    const pooled_logits = F.reshape(
      F.cat(
        idx.map((t, b) => F.narrow(F.narrow(logits, 0, b, 1), 1, t, 1)),
        0,
      ),
      B,
      this.num_labels,
    ); // [B, num_labels]

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
      const p = pooled_logits.toFloat32();
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
      // Cross-entropy keeps the logits' dtype (a 2-byte model gets a 2-byte loss, as torch); MSE and BCE with
      // float32 targets promote to float32.
      const lossDtype = this.config.problem_type === "single_label_classification" ? pooled_logits.dtype : "float32";
      result.loss = new Tensor("float32", [loss], []).to(lossDtype);
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
    this.transformer = this.add("transformer", baseModelOfHead(config));
    this.qa_outputs = this.add("qa_outputs", new Linear(config.hidden_size, 2));
    this.post_init(opts);
  }

  forward(
    args: LlamaForwardArgs & { start_positions?: number[] | Tensor | null; end_positions?: number[] | Tensor | null },
  ): QuestionAnsweringModelOutput {
    const outputs = this.transformer.forward({ ...args, use_cache: false });
    const logits = this.qa_outputs.forward(outputs.last_hidden_state); // [B, T, 2]
    const [B, T] = logits.shape;
    const [start_logits, end_logits] = F.split(logits, 1, -1).map((x) => F.reshape(x, B, T)); // .squeeze(-1)
    const result: QuestionAnsweringModelOutput = { start_logits, end_logits, logits };
    if (args.start_positions != null && args.end_positions != null) {
      const read = (x: number[] | Tensor, name: string) => {
        const v = x instanceof Tensor ? Array.from({ length: x.size }, (_, i) => x.item(i)) : x.flat();
        if (v.length !== B) throw new ShapeError(name, `expected ${B} positions, got ${v.length}`);
        return v.map((p) => Math.min(Math.max(p, 0), T)); // clamp(0, ignored_index)
      };
      const s = crossEntropy(
        start_logits.toFloat32(),
        read(args.start_positions, "start_positions"),
        B,
        T,
        T,
        "start_positions",
      );
      const e = crossEntropy(
        end_logits.toFloat32(),
        read(args.end_positions, "end_positions"),
        B,
        T,
        T,
        "end_positions",
      );
      result.loss = new Tensor("float32", [Math.fround((s + e) / 2)], []);
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
    this.model = this.add("model", baseModelOfHead(config));
    this.score = this.add("score", new Linear(config.hidden_size, config.num_labels));
    this.post_init(opts);
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
      result.loss = new Tensor("float32", [crossEntropy(logits.toFloat32(), labels, N, this.num_labels)], []);
    }
    if (outputs.hidden_states) result.hidden_states = outputs.hidden_states;
    if (outputs.attentions) result.attentions = outputs.attentions;
    return result;
  }
}
