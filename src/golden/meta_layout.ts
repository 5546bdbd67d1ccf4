/**
 * The checkpoint's attention weights in Meta's layout (`consolidated.*.pth` names, interleaved rotary pairs), so a
 * port that loads Meta files can check its q/k handling, the most common porting bug. Uses the project's one
 * HF<->Meta permutation (`unpermute` in convert_llama_weights_to_hf.ts) and writes the row mapping out.
 */
import { join } from "node:path";
import { saveSafetensors } from "../formats/safetensors.ts";
import type { LlamaForCausalLM, LlamaForSequenceClassification } from "../models/llama/modeling_llama.ts";
import { unpermute } from "../models/llama/convert_llama_weights_to_hf.ts";
import { Tensor } from "../tensor/tensor.ts";

/** For each Meta row, the HF row it holds: within every head, Meta row 2i + j = HF row j * hd/2 + i. */
export function metaRowSources(n_heads: number, head_dim: number): number[] {
  const out: number[] = [];
  for (let h = 0; h < n_heads; h++)
    for (let r = 0; r < head_dim; r++) out.push(h * head_dim + (r % 2) * (head_dim / 2) + Math.floor(r / 2));
  return out;
}

export async function writeMetaLayout(
  model: LlamaForCausalLM | LlamaForSequenceClassification,
  out: string,
): Promise<Record<string, unknown>> {
  const c = model.config;
  const D = c.head_dim;
  const tensors = new Map<string, Tensor>();
  model.model.layers.forEach((layer, i) => {
    const a = layer.self_attn;
    tensors.set(`layers.${i}.attention.wq.weight`, unpermute(a.q_proj.weight, c.num_attention_heads));
    tensors.set(`layers.${i}.attention.wk.weight`, unpermute(a.k_proj.weight, c.num_key_value_heads));
    tensors.set(`layers.${i}.attention.wv.weight`, a.v_proj.weight);
    tensors.set(`layers.${i}.attention.wo.weight`, a.o_proj.weight);
  });
  const q = metaRowSources(c.num_attention_heads, D);
  const k = metaRowSources(c.num_key_value_heads, D);
  tensors.set("permutation.wq", new Tensor("int64", BigInt64Array.from(q, BigInt), [q.length]));
  tensors.set("permutation.wk", new Tensor("int64", BigInt64Array.from(k, BigInt), [k.length]));
  await saveSafetensors(join(out, "meta_layout.safetensors"), tensors, { format: "pt" });
  return {
    file: "meta_layout.safetensors",
    names: {
      "layers.<i>.attention.wq.weight": "model.layers.<i>.self_attn.q_proj.weight, rows in Meta order",
      "layers.<i>.attention.wk.weight": "model.layers.<i>.self_attn.k_proj.weight, rows in Meta order",
      "layers.<i>.attention.wv.weight": "model.layers.<i>.self_attn.v_proj.weight (never permuted)",
      "layers.<i>.attention.wo.weight": "model.layers.<i>.self_attn.o_proj.weight (never permuted)",
    },
    rule: "within every head of head_dim rows: Meta row 2i + j = HF row j * head_dim/2 + i (i < head_dim/2, j in {0, 1}); Meta pairs (2i, 2i+1) are interleaved complex numbers, HF pairs (i, i + head_dim/2) are rotate_half halves",
    hf_to_meta_torch: "w.view(n_heads, 2, head_dim // 2, dim).transpose(1, 2).reshape(n_heads * head_dim, dim)",
    meta_to_hf_torch: "w.view(n_heads, head_dim // 2, 2, dim).transpose(1, 2).reshape(n_heads * head_dim, dim)  (HF's permute)",
    n_heads_q: c.num_attention_heads,
    n_heads_k: c.num_key_value_heads,
    head_dim: D,
    permutation_tensors: {
      "permutation.wq": "int64 [heads * head_dim]: entry r = the HF q_proj row that Meta row r holds",
      "permutation.wk": "int64 [kv_heads * head_dim]: entry r = the HF k_proj row that Meta row r holds",
    },
  };
}
