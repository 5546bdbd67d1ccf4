/**
 * Half-precision compute (torch_dtype "bfloat16" / "float16", or "auto" on such a checkpoint):
 *
 * - bfloat16: every case of every `cases_bf16.json` (HF 4.44.2 run in bfloat16) within that file's two-part
 *   tolerances, the mismatch-share caps included;
 * - float16: every reference checkpoint's float32 cases within the 2-byte element bounds (torch cannot run
 *   float16 on the CPU, so there are no float16 references);
 * - the seed's warning: with layer 0's MLP weights scaled by 256, float16 overflows (first in layer 0's
 *   act(gate) * up, then NaN logits) where bfloat16 stays finite;
 * - dtypes as HF returns them, and compute_dtype "float32" keeping float32 activations on 2-byte weights.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { LlamaForCausalLM, LlamaForSequenceClassification } from "../../src/models/llama/modeling_llama.ts";
import * as F from "../../src/nn/functional.ts";
import { runHalfPrecisionCases } from "../../src/testing/reference_cases.ts";

const MODELS = resolve(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping half-precision reference cases: ${MODELS} is absent`);
const all = present ? readdirSync(MODELS).filter((n) => existsSync(join(MODELS, n, "cases.json"))) : [];
const withBf16 = all.filter((n) => existsSync(join(MODELS, n, "cases_bf16.json")));

function failures(results: Awaited<ReturnType<typeof runHalfPrecisionCases>>): string[] {
  return results.flatMap((r) => r.checks.filter((k) => !k.ok).map((k) => `${r.case}: ${k.message}`));
}

describe.skipIf(!present)("bfloat16 compute against HF's bfloat16 references (cases_bf16.json)", () => {
  it("six checkpoints carry bfloat16 references", () => expect(withBf16.length).toBe(6));
  for (const name of withBf16) {
    it(`${name}: every case, element bounds and mismatch shares`, async () => {
      const results = await runHalfPrecisionCases(join(MODELS, name), "bfloat16");
      expect(results.filter((r) => r.case === "mismatch fractions").length).toBe(1);
      expect(failures(results)).toEqual([]);
    });
  }
});

describe.skipIf(!present)("float16 compute on every reference checkpoint", () => {
  for (const name of all) {
    it(`${name}: every float32 case within the 2-byte bounds`, async () => {
      expect(failures(await runHalfPrecisionCases(join(MODELS, name), "float16"))).toEqual([]);
    });
  }
});

describe.skipIf(!present)("float16 overflows where bfloat16 stays finite (the seed's warning)", () => {
  const dir = join(MODELS, "llama-bf16");
  const demo = present
    ? JSON.parse(readFileSync(join(dir, "cases_bf16.json"), "utf8")).cases.find((c: any) => c.kind === "overflow_demo")
    : null;

  /** Layer 0 step by step, with gate/up scaled by 256: where does the first non-finite value appear? */
  async function layer0(torch_dtype: "float16" | "bfloat16") {
    const model = await LlamaForCausalLM.from_pretrained(dir, { torch_dtype });
    const mlp = model.model.layers[0].mlp;
    const scale = demo.inputs.weight_scale;
    mlp.gate_proj.weight = F.mul(mlp.gate_proj.weight, scale["model.layers.0.mlp.gate_proj.weight"]);
    mlp.up_proj.weight = F.mul(mlp.up_proj.weight, scale["model.layers.0.mlp.up_proj.weight"]);
    const { input_ids, attention_mask, position_ids } = demo.inputs;
    const out = model.forward({ input_ids, attention_mask, position_ids, output_hidden_states: true });
    const layer = model.model.layers[0];
    const x = out.hidden_states![0];
    const [B, T] = [input_ids.length, input_ids[0].length];
    const positions = [...Array(T).keys()];
    const mask = model.model._update_causal_mask(attention_mask, B, T, positions, 0, model.dtype);
    const [cos, sin] = model.model.rotary_emb.forward(position_ids, x);
    const [attn] = layer.self_attn.forward(layer.input_layernorm.forward(x), {
      attention_mask: mask,
      position_embeddings: [cos, sin],
    });
    const h = F.add(x, attn);
    const n = layer.post_attention_layernorm.forward(h);
    const gate = mlp.gate_proj.forward(n);
    const up = mlp.up_proj.forward(n);
    const product = F.mul(mlp.act_fn(gate), up);
    const maxAbs = (t: { toFloat32(): Float32Array }) => Math.max(...Array.from(t.toFloat32(), Math.abs));
    return { out, h, gate, up, product, maxAbs };
  }

  it("float16: residual stream finite until layer 0's act(gate) * up overflows; then every logit is NaN", async () => {
    const r = await layer0("float16");
    expect(r.product.dtype).toBe("float16");
    for (const t of [r.h, r.gate, r.up]) expect(r.maxAbs(t)).toBeLessThanOrEqual(demo.expected_json.float16_max);
    expect(r.maxAbs(r.product)).toBe(Infinity);
    expect(r.out.logits.dtype).toBe("float32");
    expect(r.out.logits.toFloat32().every(Number.isNaN)).toBe(true);
  });

  it("bfloat16: the same product peaks at 524288 (8 x float16's largest) and every logit is finite", async () => {
    const r = await layer0("bfloat16");
    expect(r.maxAbs(r.product)).toBe(demo.expected_json.bfloat16_layer0_max_abs_act_times_up); // 524288
    expect(r.out.logits.toFloat32().every(Number.isFinite)).toBe(true);
  });
});

describe.skipIf(!present)("dtypes as HF returns them", () => {
  it("a bfloat16 model keeps bfloat16 activations and cache, returns float32 causal-LM logits", async () => {
    const model = await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-bf16"), { torch_dtype: "auto" });
    expect(model.dtype).toBe("bfloat16");
    const out = model.forward({ input_ids: [[1, 2, 3]], output_hidden_states: true, use_cache: true });
    expect(out.hidden_states!.map((h) => h.dtype)).toEqual(out.hidden_states!.map(() => "bfloat16"));
    expect(out.past_key_values!.key_cache[0].dtype).toBe("bfloat16");
    expect(out.logits.dtype).toBe("float32"); // HF: logits = logits.float()
    // values are bfloat16 values: widening the float32 logits to bfloat16 and back is exact
    const l = out.logits.toFloat32();
    expect(Array.from(out.logits.to("bfloat16").toFloat32())).toEqual(Array.from(l));
  });

  it("sequence classification keeps its pooled logits in bfloat16 (HF does not cast them)", async () => {
    const model = await LlamaForSequenceClassification.from_pretrained(join(MODELS, "llama-cls"), {
      torch_dtype: "bfloat16",
    });
    const out = model.forward({ input_ids: [[5, 6, 7]], labels: [1] });
    expect(out.logits.dtype).toBe("bfloat16");
    expect(out.loss!.dtype).toBe("bfloat16");
  });

  it('compute_dtype "float32" on 2-byte weights: float32 activations, the float32 model\'s outputs', async () => {
    const dir = join(MODELS, "llama-fp16");
    const lean = await LlamaForCausalLM.from_pretrained(dir, { torch_dtype: "auto", compute_dtype: "float32" });
    const full = await LlamaForCausalLM.from_pretrained(dir);
    const half = await LlamaForCausalLM.from_pretrained(dir, { torch_dtype: "auto" });
    expect(lean.model.layers[0].mlp.up_proj.weight.dtype).toBe("float16");
    expect([lean.dtype, full.dtype, half.dtype]).toEqual(["float32", "float32", "float16"]);
    const ids = [[3, 1, 4, 1, 5, 9, 2, 6]];
    const a = lean.forward({ input_ids: ids, output_hidden_states: true });
    const b = full.forward({ input_ids: ids, output_hidden_states: true });
    const c = half.forward({ input_ids: ids, output_hidden_states: true });
    expect(a.hidden_states![1].dtype).toBe("float32");
    expect(Array.from(a.logits.toFloat32())).toEqual(Array.from(b.logits.toFloat32()));
    expect(Array.from(c.logits.toFloat32())).not.toEqual(Array.from(b.logits.toFloat32())); // rounded in float16
  });

  it("beam search, contrastive search and prompt lookup reorder and crop a bfloat16 cache", async () => {
    const model = await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-gqa"), { torch_dtype: "bfloat16" });
    const prompt = [[5, 9, 13, 5, 9, 13]];
    const gen = (opts: Record<string, unknown>) =>
      model.generate(prompt, { max_new_tokens: 4, do_sample: false, ...opts }).tolist();
    // Each cached path against one that reorders/crops nothing (bit-identical in bfloat16, as in HF's references).
    expect(gen({ num_beams: 3 })).toEqual(gen({ num_beams: 3, use_cache: false }));
    expect(gen({ prompt_lookup_num_tokens: 2 })).toEqual(gen({ use_cache: false }));
    expect(gen({ penalty_alpha: 0.6, top_k: 3 })).toEqual(gen({ penalty_alpha: 0.6, top_k: 3, low_memory: true }));
  });
});
