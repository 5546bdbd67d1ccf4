// %% [markdown]
// # 4. The MLP (SwiGLU) and the residual stream
//
// `LlamaDecoderLayer.forward` is two residual blocks:
//
//     h = x + self_attn(input_layernorm(x))
//     out = h + mlp(post_attention_layernorm(h))
//
// Everything a layer computes is *added* to the running hidden state, the residual stream. A tiny seeded model,
// the real Llama 2 tokenizer.

// %%
import { LlamaConfig, LlamaForCausalLM, Tensor, functional as F, loadDefaultTokenizer } from "../src/index.ts";
import { barChart, lineChart, show } from "./lib/plot.ts";

const tok = loadDefaultTokenizer();
const config = new LlamaConfig({
  vocab_size: 32000,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
const model = new LlamaForCausalLM(config, { seed: 1 });
const ids = tok.encode("A llama is a domesticated South American camelid");

// %% [markdown]
// ## SwiGLU
// `LlamaMLP(x) = down_proj(silu(gate_proj(x)) * up_proj(x))`, with `silu(z) = z * sigmoid(z)`. The gate decides,
// per intermediate unit, how much of `up_proj(x)` passes. Below, silu on a few points, and the layer-0 MLP
// recomputed from its three weight matrices with the functional ops.

// %%
const z = [-4, -1, 0, 1, 4];
console.log("silu:", z.map((v) => `silu(${v}) = ${(v / (1 + Math.exp(-v))).toFixed(4)}`).join(", "));
const mlp = model.model.layers[0].mlp;
const x = new Tensor(
  "float32",
  Float32Array.from({ length: 2 * 32 }, (_, i) => Math.sin(i)),
  [1, 2, 32],
);
const manual = F.linear(
  F.mul(F.get_activation("silu")(F.linear(x, mlp.gate_proj.weight)), F.linear(x, mlp.up_proj.weight)),
  mlp.down_proj.weight,
);
const viaModule = mlp.forward(x);
const a = manual.tolist().flat(2) as number[];
const b = viaModule.tolist().flat(2) as number[];
console.log("max |module - manual| =", Math.max(...a.map((v, i) => Math.abs(v - b[i]))) < 1e-6 ? "< 1e-6" : "differs");
show(
  "04_silu.svg",
  lineChart(
    [
      {
        name: "silu(z)",
        x: Array.from({ length: 81 }, (_, i) => -4 + i / 10),
        y: Array.from({ length: 81 }, (_, i) => {
          const v = -4 + i / 10;
          return v / (1 + Math.exp(-v));
        }),
      },
      {
        name: "relu(z)",
        x: Array.from({ length: 81 }, (_, i) => -4 + i / 10),
        y: Array.from({ length: 81 }, (_, i) => Math.max(0, -4 + i / 10)),
      },
    ],
    { title: "SiLU, the gate activation of SwiGLU", xlabel: "z", ylabel: "activation" },
  ),
);

// %% [markdown]
// ## Norm of the residual stream per layer
// `output_hidden_states: true` returns L + 1 hidden states: the embeddings, then the output of each layer (HF
// replaces the last one by its value *after* the final norm). The RMS of the stream grows as layers add to it.

// %%
const out = model.forward({ input_ids: [ids], output_hidden_states: true });
const hs = out.hidden_states!.map((h) => h.tolist()[0] as number[][]); // L+1 x [T, H]
const rms = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
const meanRms = hs.map((h) => h.reduce((s, row) => s + rms(row), 0) / h.length);
meanRms.forEach((r, i) => console.log(`hidden_states[${i}] mean RMS over tokens: ${r.toFixed(4)}`));
show(
  "04_residual_norms.svg",
  barChart(
    hs.map((_, i) => (i === 0 ? "embed" : i === hs.length - 1 ? `L${i} (normed)` : `L${i}`)),
    [{ name: "mean RMS", y: meanRms }],
    { title: "RMS of the residual stream", xlabel: "hidden state", ylabel: "mean RMS over tokens" },
  ),
);

// %% [markdown]
// ## The logit lens
// Apply the final norm and `lm_head` to an *intermediate* hidden state to read what the model "would predict" at
// that depth. In a trained model predictions sharpen layer by layer; in this random model the lens just shows
// the mechanics (and that the last row equals the model's logits).

// %%
const last = ids.length - 1;
for (let i = 0; i < hs.length; i++) {
  const h = new Tensor("float32", Float32Array.from(hs[i][last]), [1, 1, 32]);
  const normed = i === hs.length - 1 ? h : model.model.norm.forward(h); // the last hidden state is already normed
  const logits = model.lm_head.forward(normed).tolist()[0][0] as number[];
  const top = logits
    .map((v, id) => [v, id] as const)
    .sort((p, q) => q[0] - p[0] || p[1] - q[1])
    .slice(0, 3);
  console.log(
    `layer ${i}: top tokens ${top.map(([v, id]) => `${tok.convert_ids_to_tokens(id)} (${v.toFixed(3)})`).join(", ")}`,
  );
}
const modelTop = (out.logits.tolist()[0][last] as number[]).reduce((bi, v, i, arr) => (v > arr[bi] ? i : bi), 0);
console.log("model's own argmax at the last position:", tok.convert_ids_to_tokens(modelTop));
