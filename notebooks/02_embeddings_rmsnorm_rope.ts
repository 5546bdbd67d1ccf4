// %% [markdown]
// # 2. Embeddings, RMSNorm and rotary position embeddings
//
// The first three pieces of `modeling_llama.py` a token meets: `nn.Embedding` (with `padding_idx`),
// `LlamaRMSNorm`, and `LlamaRotaryEmbedding` + `apply_rotary_pos_emb`. The model here is tiny and randomly
// initialized with a fixed seed; the tokenizer is the real Llama 2 one.

// %%
import { LlamaConfig, LlamaForCausalLM, LlamaRMSNorm, LlamaRotaryEmbedding, Tensor } from "../src/index.ts";
import { apply_rotary_pos_emb, loadDefaultTokenizer } from "../src/index.ts";
import { lineChart, show } from "./lib/plot.ts";

const tok = loadDefaultTokenizer();
const config = new LlamaConfig({
  vocab_size: 32000,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  pad_token_id: 0,
});
const model = new LlamaForCausalLM(config, { seed: 0 });
const embed = model.model.embed_tokens;
console.log("embed_tokens.weight", embed.weight.shape, "padding_idx", embed.padding_idx);

// %% [markdown]
// ## Embedding and padding_idx
// An embedding is a row lookup: `weight[id]`. HF's `_init_weights` draws every row from N(0, initializer_range²)
// and then zeroes row `padding_idx` (= `config.pad_token_id`), so the pad token embeds to the zero vector.

// %%
const ids = tok.encode("Hello");
const rows = embed.weight.tolist() as number[][];
const rowNorm = (id: number) => Math.hypot(...rows[id]);
for (const id of [0, ...ids])
  console.log(`id ${id} (${tok.convert_ids_to_tokens(id)}): |row| = ${rowNorm(id).toFixed(4)}`);

// %% [markdown]
// ## RMSNorm
// `y = weight * x / sqrt(mean(x²) + eps)`, computed in float32 whatever the model dtype (HF upcasts, then casts
// back before multiplying by the weight). No mean subtraction, no bias: unlike LayerNorm. On x = [3, 4]:
// mean(x²) = 12.5, so y = [3, 4] / 3.5355 = [0.8485, 1.1314].

// %%
const norm = new LlamaRMSNorm(2, 1e-6);
console.log(norm.forward(new Tensor("float32", [3, 4], [1, 2])).tolist());

// %% [markdown]
// ## Rotary embeddings: one frequency per pair of dimensions
// RoPE rotates each pair of dimensions (i, i + D/2) of q and k by the angle `position * inv_freq[i]`, with
// `inv_freq[i] = base^(-2i/D)` (base = `rope_theta` = 10000). HF pairs dimension i with i + D/2 (`rotate_half`),
// not adjacent dimensions (2i, 2i+1) as Meta's original code does; the HF/Meta q/k weight permutation in
// `convert_llama_weights_to_hf` is what makes the two agree. Below, head_dim 64 like Llama 2.

// %%
const big = { hidden_size: 512, num_attention_heads: 8, max_position_embeddings: 4096 };
const ropeTypes: [string, Record<string, unknown> | null][] = [
  ["default", null],
  ["linear x4", { rope_type: "linear", factor: 4 }],
  ["dynamic x4 @16384", { rope_type: "dynamic", factor: 4 }],
  ["yarn x4", { rope_type: "yarn", factor: 4 }],
  [
    "llama3 x8",
    { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 4096 },
  ],
];
const series = ropeTypes.map(([name, rope_scaling]) => {
  const rope = new LlamaRotaryEmbedding(new LlamaConfig({ ...big, rope_scaling }));
  // dynamic NTK only changes once a sequence outgrows max_position_embeddings: ask for position 16383.
  if (name.startsWith("dynamic")) rope.forward([[16383]]);
  console.log(
    `${name.padEnd(18)} inv_freq[0] = ${rope.inv_freq[0].toExponential(3)}  inv_freq[31] = ${rope.inv_freq[31].toExponential(3)}  attention_scaling = ${rope.attention_scaling.toFixed(4)}`,
  );
  return { name, y: Array.from(rope.inv_freq) };
});
show(
  "02_rope_frequencies.svg",
  lineChart(series, {
    title: "RoPE inverse frequency per pair of dimensions",
    xlabel: "pair index i (0..D/2-1)",
    ylabel: "inv_freq (log10)",
    logy: true,
  }),
);

// %% [markdown]
// Linear scaling divides every frequency by the factor; dynamic NTK raises the base (high frequencies almost
// unchanged, low ones slowed); YaRN and llama3 interpolate only the low frequencies and keep the high ones.
//
// ## q·k against relative distance
// Rotating q at position m and k at position n makes their dot product depend only on m - n. With q = k = ones,
// the score decays (with ripples) as the distance grows: RoPE's long-range decay.

// %%
const T = 256;
const rope = new LlamaRotaryEmbedding(new LlamaConfig(big));
const [cos, sin] = rope.forward([Array.from({ length: T }, (_, i) => i)]);
const ones = new Tensor("float32", new Float32Array(T * 64).fill(1), [1, 1, T, 64]);
const [q, k] = apply_rotary_pos_emb(ones, ones, cos, sin);
const qr = (q.tolist() as number[][][][])[0][0];
const kr = (k.tolist() as number[][][][])[0][0];
const dot = (a: number, b: number) => qr[a].reduce((s, v, d) => s + v * kr[b][d], 0);
const scores = Array.from({ length: T }, (_, n) => dot(0, n));
const shifted = Array.from({ length: T - 100 }, (_, n) => dot(100, 100 + n));
console.log(
  "q0·k0 =",
  scores[0].toFixed(3),
  "| q0·k10 =",
  scores[10].toFixed(3),
  "| q100·k110 =",
  shifted[10].toFixed(3),
);
show(
  "02_rope_qk_distance.svg",
  lineChart(
    [
      { name: "q at 0", y: scores },
      { name: "q at 100", y: shifted },
    ],
    { title: "q·k with q = k = ones, after RoPE", xlabel: "relative distance n - m", ylabel: "q·k" },
  ),
);
