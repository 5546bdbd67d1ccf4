/**
 * The attention implementations a model selects with `attn_implementation` (HF `ALL_ATTENTION_FUNCTIONS`, v4.48+):
 * every one takes `(module, query, key, value, attention_mask, scaling)` with
 *
 *   query [B, nH, T, D], key / value [B, nKV, S, D] (nH = nKV * module.num_key_value_groups),
 *   attention_mask additive [B or 1, 1, T, >= S] or null, scaling = 1/sqrt(D)
 *
 * and returns `[attn_output [B, T, nH, D], attn_weights [B, nH, T, S] or null]`. "eager" lives beside the
 * model (modeling_llama.ts `eager_attention_forward`, as in HF); the fused ones are here.
 */
import { flash_attention_forward } from "./flash_attention.ts";
import type { AttentionFunction } from "./fused_attention_utils.ts";
import { sdpa_attention_forward } from "./sdpa_attention.ts";

export type { AttentionFunction } from "./fused_attention_utils.ts";

export const ALL_ATTENTION_FUNCTIONS: Readonly<Record<string, AttentionFunction>> = {
  sdpa: sdpa_attention_forward,
  flash_attention_2: flash_attention_forward,
};

/** The values `attn_implementation` accepts. */
export const ATTN_IMPLEMENTATIONS = ["eager", "sdpa", "flash_attention_2"] as const;
export type AttnImplementation = (typeof ATTN_IMPLEMENTATIONS)[number];
