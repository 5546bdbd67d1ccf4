/**
 * Every case of every checkpoint in ../shared/reference/models, run through the public API and compared with
 * the numbers HF transformers 4.44.2 produced, at the tolerances of that folder's README.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { DynamicCache } from "../../src/cache_utils.ts";
import { loadSafetensors } from "../../src/formats/safetensors.ts";
import {
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  _prepare_4d_causal_attention_mask_with_cache_position,
  apply_rotary_pos_emb,
  repeat_kv,
  FLOAT32_MIN,
} from "../../src/models/llama/modeling_llama.ts";
import { REFERENCE_TOLERANCES as TOL, assertClose } from "../../src/testing/compare.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const MODELS = resolve(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping reference model cases: ${MODELS} is absent`);

const names = present ? readdirSync(MODELS).filter((n) => existsSync(join(MODELS, n, "cases.json"))) : [];

function argmaxLast(logits: Tensor): number[] {
  const [B, T, V] = logits.shape;
  const d = logits.data as Float32Array;
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    let best = 0;
    const o = (b * T + T - 1) * V;
    for (let v = 1; v < V; v++) if (d[o + v] > d[o + best]) best = v;
    out.push(best);
  }
  return out;
}

describe.skipIf(!present)("reference checkpoints (HF 4.44.2)", () => {
  for (const name of names) {
    const dir = join(MODELS, name);
    const spec = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
    const isCls = spec.model_class === "LlamaForSequenceClassification";
    describe(name, () => {
      let refCache: Map<string, Tensor> | null = null;
      const ref = async (key: string): Promise<Tensor> => {
        refCache ??= (await loadSafetensors(join(dir, spec.reference_file))).tensors;
        const t = refCache.get(key);
        if (!t) throw new Error(`${key} missing from reference file`);
        return t;
      };
      // Every case starts from a freshly loaded model (dynamic RoPE is stateful).
      const load = (opts: Record<string, unknown> = {}) =>
        isCls ? LlamaForSequenceClassification.from_pretrained(dir, opts) : LlamaForCausalLM.from_pretrained(dir, opts);

      for (const c of spec.cases) {
        it(c.name, async () => {
          const inp = c.inputs;
          const tin: Record<string, Tensor> = {};
          for (const [k, v] of Object.entries(c.tensor_inputs ?? {})) tin[k] = await ref(v as string);
          const exp = c.expected ?? {};
          const ej = c.expected_json ?? {};

          if (c.kind === "modules") {
            const model = (await load()) as any;
            const base = model.model;
            const layer = base.layers[0];
            const x = tin.x;
            assertClose(layer.input_layernorm.forward(x), await ref(exp.input_layernorm), TOL.activations, "input_layernorm");
            assertClose(layer.post_attention_layernorm.forward(x), await ref(exp.post_attention_layernorm), TOL.activations, "post_attention_layernorm");
            const [cos, sin] = base.rotary_emb.forward(inp.position_ids);
            assertClose(cos, await ref(exp.rotary_cos), TOL.probabilities, "rotary cos");
            assertClose(sin, await ref(exp.rotary_sin), TOL.probabilities, "rotary sin");
            const [qe, ke] = apply_rotary_pos_emb(tin.q, tin.k, cos, sin);
            assertClose(qe, await ref(exp.apply_rotary_q), TOL.activations, "apply_rotary q");
            assertClose(ke, await ref(exp.apply_rotary_k), TOL.activations, "apply_rotary k");
            assertClose(repeat_kv(tin.k, inp.n_rep), await ref(exp.repeat_kv), TOL.activations, "repeat_kv");
            assertClose(layer.mlp.forward(x), await ref(exp.mlp), TOL.activations, "mlp");
            // Our 4D mask builder against HF's, then the attention module with HF's mask.
            const B = inp.attention_mask_2d.length;
            const T = inp.attention_mask_2d[0].length;
            const mask4d = _prepare_4d_causal_attention_mask_with_cache_position(inp.attention_mask_2d, T, T, FLOAT32_MIN, [...Array(T).keys()], B);
            assertClose(mask4d, tin.attention_mask_4d, { atol: 0, rtol: 0 }, "4d mask");
            const args = { attention_mask: tin.attention_mask_4d, position_embeddings: [cos, sin] as [Tensor, Tensor], output_attentions: true };
            const [attnOut, attnW] = layer.self_attn.forward(x, args);
            assertClose(attnOut, await ref(exp.attention_out), TOL.activations, "attention out");
            assertClose(attnW!, await ref(exp.attention_weights), TOL.probabilities, "attention weights");
            const [layerOut] = layer.forward(x, args);
            assertClose(layerOut, await ref(exp.decoder_layer), TOL.activations, "decoder layer");
            assertClose(base.embed_tokens.forward(inp.embedding_ids), await ref(exp.embedding), TOL.activations, "embedding");
            return;
          }

          if (c.kind === "causal_lm_forward" && c.name === "dynamic_long_then_short") {
            const model = (await load()) as LlamaForCausalLM;
            const first = model.forward({ input_ids: inp.first_input_ids, use_cache: false });
            assertClose(first.logits, await ref(exp.first_logits), TOL.activations, "first logits");
            const second = model.forward({ input_ids: inp.second_input_ids, use_cache: false });
            assertClose(second.logits, await ref(exp.second_logits), TOL.activations, "second logits");
            return;
          }

          if (c.kind === "causal_lm_forward" || c.kind === "causal_lm_loss") {
            const model = (await load()) as LlamaForCausalLM;
            const out = model.forward({
              input_ids: inp.input_ids ?? null,
              inputs_embeds: tin.inputs_embeds ?? null,
              attention_mask: inp.attention_mask ?? null,
              position_ids: inp.position_ids ?? null,
              labels: inp.labels ?? null,
              output_hidden_states: inp.output_hidden_states ?? false,
              output_attentions: inp.output_attentions ?? false,
              use_cache: inp.use_cache ?? false,
              num_logits_to_keep: inp.num_logits_to_keep ?? 0,
            });
            if (exp.logits) assertClose(out.logits, await ref(exp.logits), TOL.activations, "logits");
            if (exp.hidden_states) {
              expect(out.hidden_states!.length).toBe(exp.hidden_states.length);
              for (let i = 0; i < exp.hidden_states.length; i++) assertClose(out.hidden_states![i], await ref(exp.hidden_states[i]), TOL.activations, `hidden_states[${i}]`);
            }
            if (exp.attentions) {
              expect(out.attentions!.length).toBe(exp.attentions.length);
              for (let i = 0; i < exp.attentions.length; i++) assertClose(out.attentions![i], await ref(exp.attentions[i]), TOL.probabilities, `attentions[${i}]`);
            }
            if (exp.last_hidden_state) {
              const hs = (model as LlamaForCausalLM).model.forward({ inputs_embeds: tin.inputs_embeds, use_cache: false });
              assertClose(hs.last_hidden_state, await ref(exp.last_hidden_state), TOL.activations, "last_hidden_state");
            }
            if (exp.loss) {
              expect(out.loss!.shape).toEqual([]);
              assertClose([out.loss!.item()], (await ref(exp.loss)).toFloat32(), TOL.loss, "loss");
              assertClose([out.loss!.item()], [ej.loss], TOL.loss, "loss (json)");
            }
            return;
          }

          if (c.kind === "kv_cache_decode") {
            const model = (await load()) as LlamaForCausalLM;
            const padded = inp.steps !== undefined;
            const cache = new DynamicCache();
            const pre = model.forward({
              input_ids: inp.prompt_ids,
              attention_mask: padded ? inp.prompt_attention_mask : inp.attention_mask,
              position_ids: padded ? inp.prompt_position_ids : inp.position_ids,
              past_key_values: cache,
              use_cache: true,
            });
            assertClose(pre.logits, await ref(exp.prefill_logits), TOL.activations, "prefill logits");
            if (exp.prefill_cache_keys) {
              for (let l = 0; l < exp.prefill_cache_keys.length; l++) {
                assertClose(cache.key_cache[l], await ref(exp.prefill_cache_keys[l]), TOL.activations, `prefill key ${l}`);
                assertClose(cache.value_cache[l], await ref(exp.prefill_cache_values[l]), TOL.activations, `prefill value ${l}`);
              }
            }
            let next = argmaxLast(pre.logits);
            const steps = padded ? inp.steps : inp.step_input_ids.map((ids: number[][]) => ({ input_ids: ids }));
            for (let s = 0; s < steps.length; s++) {
              // The step's token is the argmax of the previous logits (exact id match expected).
              expect(steps[s].input_ids.map((r: number[]) => r[0])).toEqual(next);
              const out = model.forward({
                input_ids: steps[s].input_ids,
                attention_mask: steps[s].attention_mask ?? null,
                position_ids: steps[s].position_ids ?? null,
                past_key_values: cache,
                use_cache: true,
              });
              assertClose(out.logits, await ref(exp.step_logits[s]), TOL.activations, `step ${s} logits`);
              next = argmaxLast(out.logits);
            }
            if (exp.final_cache_keys) {
              for (let l = 0; l < exp.final_cache_keys.length; l++) {
                assertClose(cache.key_cache[l], await ref(exp.final_cache_keys[l]), TOL.activations, `final key ${l}`);
                assertClose(cache.value_cache[l], await ref(exp.final_cache_values[l]), TOL.activations, `final value ${l}`);
              }
            }
            if (ej.step_tokens) expect(inp.step_input_ids.map((x: number[][]) => x[0][0])).toEqual(ej.step_tokens);
            return;
          }

          if (c.kind === "greedy_generation") {
            const model = (await load()) as LlamaForCausalLM;
            // HF's reference loop never stops at eos: pass an eos id no token can take.
            const out = model.generate(inp.prompt_ids, { max_new_tokens: inp.max_new_tokens, do_sample: false, eos_token_id: -1, pad_token_id: 0 });
            expect(out.tolist()).toEqual(ej.generated_ids);
            return;
          }

          if (c.kind === "sequence_classification" || c.kind === "sequence_classification_loss") {
            const quirk = c.name === "cls_pooling_quirks";
            const model = (await load(quirk ? { pooling: "first_pad_minus_one" } : {})) as LlamaForSequenceClassification;
            if (c.name === "cls_nopad") {
              expect(() => model.forward({ input_ids: inp.input_ids })).toThrow(ej.batch_error);
              for (let r = 0; r < inp.input_ids.length; r++) {
                const out = model.forward({ input_ids: [inp.input_ids[r]] });
                assertClose(out.logits, await ref(exp.row_logits[r]), TOL.activations, `row ${r} logits`);
              }
              return;
            }
            if (c.config_problem_type !== undefined || inp.config_problem_type !== undefined) model.config.problem_type = inp.config_problem_type ?? null;
            let labels: any = inp.labels ?? null;
            if (labels !== null && inp.labels_dtype === "float32") {
              const flat = (labels as any[]).flat();
              labels = new Tensor("float32", flat, Array.isArray(labels[0]) ? [labels.length, labels[0].length] : [labels.length]);
            }
            const out = model.forward({
              input_ids: inp.input_ids ?? null,
              inputs_embeds: tin.inputs_embeds ?? null,
              attention_mask: inp.attention_mask ?? null,
              position_ids: inp.position_ids ?? null,
              labels,
            });
            if (exp.logits) assertClose(out.logits, await ref(exp.logits), TOL.activations, "pooled logits");
            if (ej.pooled_index && inp.input_ids) {
              const T = inp.input_ids[0].length;
              expect(model.pooled_indices(inp.input_ids, inp.input_ids.length, T)).toEqual(ej.pooled_index);
              if (quirk) {
                // The default rule pools the rightmost non-pad position (recomputed independently here).
                const pad = model.config.pad_token_id;
                const rightmost = inp.input_ids.map((row: number[]) => {
                  for (let t = row.length - 1; t >= 0; t--) if (row[t] !== pad) return t;
                  return 0;
                });
                model.pooling = "last_non_pad";
                expect(model.pooled_indices(inp.input_ids, inp.input_ids.length, T)).toEqual(rightmost);
                const tokenLogits = await ref(exp.token_logits);
                const nl = tokenLogits.shape[2];
                const again = model.forward({ input_ids: inp.input_ids, attention_mask: inp.attention_mask });
                const tl = tokenLogits.toFloat32();
                const want = rightmost.flatMap((t: number, b: number) => Array.from(tl.subarray((b * T + t) * nl, (b * T + t + 1) * nl)));
                assertClose(again.logits.toFloat32(), want, TOL.activations, "default pooling logits");
              }
            }
            if (exp.loss) {
              assertClose([out.loss!.item()], (await ref(exp.loss)).toFloat32(), TOL.loss, "loss");
              assertClose([out.loss!.item()], [ej.loss], TOL.loss, "loss (json)");
              expect(model.config.problem_type).toBe(ej.resolved_problem_type);
            }
            return;
          }
          throw new Error(`unhandled case kind ${c.kind}`);
        });
      }
    });
  }
});
