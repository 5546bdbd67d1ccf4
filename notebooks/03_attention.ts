// %% [markdown]
// # 3. Attention: causal mask, GQA, the KV cache, and a padding quirk
//
// `LlamaAttention` in `modeling_llama.py`: project to q, k, v; rotate q and k (notebook 2); repeat k and v for
// grouped-query attention; `softmax(q kᵀ / sqrt(head_dim) + mask) v`; project back with `o_proj`. A tiny seeded
// model (4 query heads, 2 key/value heads) and the real Llama 2 tokenizer.

// %%
import {
  DynamicCache,
  FLOAT32_MIN,
  LlamaConfig,
  LlamaForCausalLM,
  Tensor,
  loadDefaultTokenizer,
} from "../src/index.ts";
import { _prepare_4d_causal_attention_mask_with_cache_position, repeat_kv } from "../src/index.ts";
import { heatmap, show } from "./lib/plot.ts";

const tok = loadDefaultTokenizer();
const config = new LlamaConfig({
  vocab_size: 32000,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
const model = new LlamaForCausalLM(config, { seed: 0 });
const ids = tok.encode("The llama sat on the mat");
console.log("tokens:", tok.convert_ids_to_tokens(ids).join(" | "));

// %% [markdown]
// ## The causal mask
// HF builds an additive 4D mask `[B, 1, T, S]`: 0 where query t may see key s (s <= t), and the most negative
// float32, `torch.finfo(float32).min` = -3.4028e38, elsewhere. Not -inf: adding it to a score still gives a
// finite number, and softmax turns it into exactly 0.

// %%
const T = 4;
const mask = _prepare_4d_causal_attention_mask_with_cache_position(null, T, T, FLOAT32_MIN, [0, 1, 2, 3], 1);
console.log("shape", mask.shape);
for (const row of (mask.tolist() as number[][][][])[0][0])
  console.log(row.map((v) => (v === 0 ? "0" : "min")).join("\t"));

// %% [markdown]
// ## Grouped-query attention and repeat_kv
// With `num_key_value_heads` = 2 < `num_attention_heads` = 4, each k/v head serves 2 query heads.
// `repeat_kv` repeats each k/v head `n_rep` times along the head axis: `[B, nKV, S, D] -> [B, nKV*n_rep, S, D]`,
// in the order kv0, kv0, kv1, kv1 (`repeat_interleave`, not `tile`).

// %%
const kv = new Tensor("float32", [10, 11, 20, 21], [1, 2, 1, 2]); // 2 heads, 1 position, head_dim 2
const rep = repeat_kv(kv, 2);
console.log(rep.shape, JSON.stringify(rep.tolist()));

// %% [markdown]
// ## The KV cache: prefill then decode gives the same logits
// Generation runs the prompt once (prefill), stores every layer's k and v in a `DynamicCache`, then feeds one
// token at a time. The last position's logits must equal those of one full forward pass.

// %%
const full = model.forward({ input_ids: [ids] }).logits; // [1, T, V]
const cache = new DynamicCache();
model.forward({ input_ids: [ids.slice(0, -1)], past_key_values: cache, use_cache: true });
console.log("cached length after prefill:", cache.get_seq_length());
const step = model.forward({ input_ids: [ids.slice(-1)], past_key_values: cache, use_cache: true }).logits; // [1, 1, V]
const V = config.vocab_size;
const last = full.tolist()[0][ids.length - 1] as number[];
const dec = step.tolist()[0][0] as number[];
let maxDiff = 0;
for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(last[v] - dec[v]));
console.log("max |full - cached| over the vocabulary:", maxDiff < 1e-5 ? "< 1e-5" : maxDiff);
console.log("cached length after decode:", cache.get_seq_length());

// %% [markdown]
// ## Attention weights per head
// `output_attentions: true` returns each layer's softmax weights `[B, nH, T, S]`. Each row sums to 1 and the
// upper triangle is 0 (the causal mask). Layer 0's heads:

// %%
const out = model.forward({ input_ids: [ids], output_attentions: true });
const attn = (out.attentions![0].tolist() as number[][][][])[0]; // [nH, T, S]
attn.forEach((head, h) => {
  console.log(`head ${h}: row sums ${head.map((r) => r.reduce((a, b) => a + b, 0).toFixed(3)).join(" ")}`);
  show(
    `03_attention_head${h}.svg`,
    heatmap(`head ${h}`, head, {
      title: `Layer 0, head ${h} attention weights`,
      xlabel: "key position",
      ylabel: "query position",
    }),
  );
});

// %% [markdown]
// ## The finfo.min quirk on a left-padded row
// Batches are left-padded for generation. For a padding *query* position every key is masked: the row of the
// additive mask is all finfo.min. HF does not special-case it in eager attention: softmax of a row of equal
// values is uniform, so the padding position attends evenly to *every* key, future ones included (the scores,
// around 1e-1, vanish next to 3.4e38 in float32). The output at padded positions is garbage but finite, and the real tokens never look
// at it. (HF's sdpa path "unmasks" such rows explicitly for the same effect.)

// %%
const short = tok.encode("The llama");
const padded = [0, 0, ...short];
const am = padded.map((_, i) => (i < 2 ? 0 : 1));
const S = padded.length;
const pos = padded.map((_, i) => i);
const m4 = _prepare_4d_causal_attention_mask_with_cache_position([am], S, S, FLOAT32_MIN, pos, 1);
console.log("mask row 0:", (m4.tolist() as number[][][][])[0][0][0].map((v) => (v === 0 ? "0" : "min")).join(" "));
const pout = model.forward({ input_ids: [padded], attention_mask: [am], output_attentions: true });
const w = (pout.attentions![0].tolist() as number[][][][])[0][0];
console.log("head 0, query 0 (pad):", w[0].map((x) => x.toFixed(3)).join(" "));
console.log(`head 0, query ${S - 1} (real):`, w[S - 1].map((x) => x.toFixed(3)).join(" "));
