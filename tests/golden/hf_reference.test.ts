/**
 * Fixture names against HF-made data: the `batch_forward` case of the shared reference checkpoints (computed by
 * transformers 4.44.2) replayed through the golden capture. Whole-model names must hold HF's values, and module
 * slots must satisfy the identities HF's forward implies (a layer's input is the previous hidden state, the
 * attention's out.1 is the layer's attention map, lm_head's output is the logits, ...).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSafetensors } from "../../src/formats/safetensors.ts";
import { runCase } from "../../src/golden/capture.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import { compareTensors } from "../../src/testing/compare.ts";

const MODELS = resolve(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping golden names vs HF references: ${MODELS} is absent`);

const CHECKPOINTS = ["llama-mha", "llama-gqa", "llama-bias", "llama-tp2", "llama-rope-dynamic", "llama-tied"];

describe.skipIf(!present)("golden names hold HF 4.44.2's values (shared reference batch_forward)", () => {
  it.each(CHECKPOINTS)("%s", async (name) => {
    const dir = join(MODELS, name);
    const spec = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
    const c = spec.cases.find((x: any) => x.name === "batch_forward");
    const ref = (await loadSafetensors(join(dir, "reference.safetensors"))).tensors;
    const model = await LlamaForCausalLM.from_pretrained(dir);
    const { tensors } = runCase(model, { ...c.inputs });
    const got = new Map<string, Tensor>(
      tensors.map((t) => [t.module === null ? t.slot : `${t.module}/${t.slot}`, t.tensor]),
    );
    const close = (a: Tensor, b: Tensor, what: string, atol = 1e-4) => {
      const r = compareTensors(a, b, { atol, rtol: atol }, what);
      expect(r.ok, r.message).toBe(true);
    };
    close(got.get("logits")!, ref.get(c.expected.logits)!, "logits");
    const L = model.config.num_hidden_layers;
    for (let k = 0; k <= L; k++) close(got.get(`hidden_states.${k}`)!, ref.get(c.expected.hidden_states[k])!, `hs ${k}`);
    for (let k = 0; k < L; k++) close(got.get(`attentions.${k}`)!, ref.get(c.expected.attentions[k])!, `att ${k}`, 1e-5);

    const same = (a: string, b: string) => {
      expect(got.has(a) && got.has(b), `${a} / ${b}`).toBe(true);
      expect([...got.get(a)!.toFloat32()], `${a} == ${b}`).toEqual([...got.get(b)!.toFloat32()]);
    };
    for (let k = 0; k < L; k++) {
      same(`model.layers.${k}/in.hidden_states`, `hidden_states.${k}`);
      same(`model.layers.${k}.self_attn/out.1`, `attentions.${k}`);
      same(`model.layers.${k}/out.1`, `attentions.${k}`);
      same(`model.layers.${k}.input_layernorm/out.0`, `model.layers.${k}.self_attn/in.hidden_states`);
      same(`model.layers.${k}.post_attention_layernorm/out.0`, `model.layers.${k}.mlp/in.x`);
      same(`model.rotary_emb/out.0`, `model.layers.${k}.self_attn/in.position_embeddings.0`);
      same(`model.rotary_emb/out.1`, `model.layers.${k}/in.position_embeddings.1`);
      if (k < L - 1) same(`model.layers.${k}/out.0`, `hidden_states.${k + 1}`);
    }
    same(`model.norm/in.hidden_states`, `model.layers.${L - 1}/out.0`);
    same(`model.norm/out.0`, `hidden_states.${L}`);
    same(`model/out.last_hidden_state`, `hidden_states.${L}`);
    same("model.embed_tokens/out.0", "hidden_states.0");
    if (model.config.pretraining_tp === 1) same("lm_head/out.0", "logits");
    else expect(got.has("lm_head/out.0"), "HF's tp > 1 path never calls lm_head").toBe(false);
    expect([...got.get("model.embed_tokens/in.input")!.data].map(Number)).toEqual(c.inputs.input_ids.flat());
    expect([...got.get("model.rotary_emb/in.position_ids")!.data].map(Number)).toEqual(c.inputs.position_ids.flat());
  });
});
