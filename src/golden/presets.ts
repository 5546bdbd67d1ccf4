/**
 * The standard golden presets: tiny Llama configurations that together cover what ports get wrong. Each one
 * keeps HF 4.44.2's `head_dim = hidden_size / num_attention_heads` (4.44.2 has no separate head_dim) and a
 * large `initializer_range` (0.25, as the shared reference checkpoints) so that logits are spread out and
 * greedy choices are not decided by rounding.
 *
 * `golden/<name>/` is `npx llama-ts golden --config <name> --seed 0 --out golden/<name>` (`npm run golden`).
 */
import type { LlamaConfigFields } from "../models/llama/configuration_llama.ts";

export type GoldenHead = "LlamaForCausalLM" | "LlamaForSequenceClassification";
export type WeightsDType = "float32" | "float16" | "bfloat16";

export interface GoldenPreset {
  /** One line: what this preset covers. */
  description: string;
  config: Partial<LlamaConfigFields>;
  head: GoldenHead;
  /** Storage dtype of checkpoint/model.safetensors (compute is float32 from the upcast weights, as HF's default). */
  weights_dtype: WeightsDType;
  /** Use the embedded Llama 2 tokenizer (vocab 32000): prompts are text, tokenizer cases are written. */
  tokenizer: boolean;
  /** Only the single-prompt and greedy cases (keeps a vocab-32000 preset small enough for git). */
  light: boolean;
}

/** Shared by every preset: a 2-layer model, 32 wide (4 heads of 8), 256 tokens, pad id 0. */
const BASE: Partial<LlamaConfigFields> = {
  vocab_size: 256,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  max_position_embeddings: 64,
  initializer_range: 0.25,
  pad_token_id: 0,
  bos_token_id: 1,
  eos_token_id: 2,
};

function preset(
  description: string,
  config: Partial<LlamaConfigFields>,
  extra: Partial<Omit<GoldenPreset, "description" | "config">> = {},
): GoldenPreset {
  return {
    description,
    config: { ...BASE, ...config },
    head: extra.head ?? "LlamaForCausalLM",
    weights_dtype: extra.weights_dtype ?? "float32",
    tokenizer: extra.tokenizer ?? false,
    light: extra.light ?? false,
  };
}

export const GOLDEN_PRESETS: Record<string, GoldenPreset> = {
  mha: preset("multi-head attention (4 query = 4 key/value heads), default RoPE", {}),
  gqa: preset("grouped-query attention (4 query heads, 2 key/value heads), linear RoPE scaling (factor 4)", {
    num_key_value_heads: 2,
    rope_scaling: { rope_type: "linear", factor: 4.0 },
  }),
  mqa: preset("multi-query attention (4 query heads, 1 key/value head), dynamic NTK RoPE (factor 2)", {
    num_key_value_heads: 1,
    rope_scaling: { rope_type: "dynamic", factor: 2.0 },
  }),
  bias_yarn: preset("attention and MLP biases, YaRN RoPE (factor 4; HF 4.44 ramps over max_position_embeddings)", {
    attention_bias: true,
    mlp_bias: true,
    rope_scaling: { rope_type: "yarn", factor: 4.0 },
  }),
  llama3_tied: preset("tied input/output embeddings, llama3 RoPE (factor 8, original 16), rope_theta 500000", {
    tie_word_embeddings: true,
    rope_theta: 500000.0,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8.0,
      low_freq_factor: 1.0,
      high_freq_factor: 4.0,
      original_max_position_embeddings: 16,
    },
  }),
  tp2_longrope: preset("pretraining_tp 2 (sliced projections, biases ignored as HF), longrope RoPE (factor 2: long_factor, attention scaling)", {
    pretraining_tp: 2,
    attention_bias: true,
    mlp_bias: true,
    rope_scaling: {
      rope_type: "longrope",
      factor: 2.0,
      short_factor: [1.0, 1.5, 2.0, 3.0],
      long_factor: [2.0, 3.0, 4.0, 6.0],
    },
  }),
  fp16: preset("float16 weights (compute in float32 from the upcast weights, HF's default)", {}, { weights_dtype: "float16" }),
  bf16: preset("bfloat16 weights, GQA (compute in float32 from the upcast weights)", { num_key_value_heads: 2 }, {
    weights_dtype: "bfloat16",
  }),
  classifier: preset("LlamaForSequenceClassification, 3 labels, right-padded batch, cross-entropy and BCE-with-logits losses", {
    num_labels: 3,
  }, { head: "LlamaForSequenceClassification" }),
  llama2_tokenizer: preset("the real Llama 2 tokenizer (vocab 32000) in front of a tiny tied model (hidden 8)", {
    vocab_size: 32000,
    hidden_size: 8,
    intermediate_size: 16,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    tie_word_embeddings: true,
    pad_token_id: null,
  }, { tokenizer: true, weights_dtype: "bfloat16", light: true }),
};
