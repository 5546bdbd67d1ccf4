/**
 * Loading each head class from checkpoints with and without head biases. HF keeps every tensor the checkpoint
 * holds and initializes only the missing ones (a missing bias is zero after `_init_weights`); tensors the class
 * has no slot for are ignored and reported. Expected values: HF 4.44.2's own outputs in ../shared/reference
 * (`token_logits` of llama-cls = score(last_hidden_state) at every position, with `score` bias-free), shifted by
 * the bias the test writes into the checkpoint when it writes one.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCheckpointTensors, saveCheckpointTensors } from "../../src/formats/checkpoint.ts";
import { loadSafetensors } from "../../src/formats/safetensors.ts";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";
import {
  LlamaForCausalLM,
  LlamaForQuestionAnswering,
  LlamaForSequenceClassification,
  LlamaForTokenClassification,
} from "../../src/models/llama/modeling_llama.ts";
import { REFERENCE_TOLERANCES, assertClose } from "../../src/testing/compare.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { referenceDir } from "../reference.ts";

const MODELS = referenceDir("models", "head-loading tests");

/** A checkpoint folder: `dir`'s config.json and tensors, renamed / extended by `edit`. */
async function variant(dir: string, edit: (t: Map<string, Tensor>) => Map<string, Tensor>): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), "llama-ts-heads-"));
  const config = await LlamaConfig.from_pretrained(dir);
  await config.save_pretrained(out);
  const { tensors } = await loadCheckpointTensors(dir);
  await saveCheckpointTensors(out, edit(tensors), { metadata: { format: "pt" } });
  return out;
}

/** `t` [..., C] plus `bias` [C] on the last axis. */
function plusBias(t: Tensor, bias: number[]): Float32Array {
  const src = t.toFloat32();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Math.fround(src[i] + bias[i % bias.length]);
  return out;
}

/** Column `c` of `t` [B, T, C] as [B * T] values. */
function column(t: Tensor, c: number, bias = 0): Float32Array {
  const C = t.shape[t.shape.length - 1];
  const src = t.toFloat32();
  return Float32Array.from({ length: src.length / C }, (_, i) => Math.fround(src[i * C + c] + bias));
}

describe.skipIf(MODELS === null)("from_pretrained keeps every loaded tensor, initializes only the missing ones", () => {
  const cls = join(MODELS ?? "", "llama-cls");
  // cls_right_padded (llama-cls/cases.json): the batch, and HF's outputs for it.
  const input_ids = [
    [29, 44, 122, 42, 68, 0, 0],
    [90, 108, 60, 70, 124, 94, 77],
    [106, 97, 86, 0, 0, 0, 0],
  ];
  const attention_mask = input_ids.map((row, r) => row.map((_, t) => (t < [5, 7, 3][r] ? 1 : 0)));
  const reference = async () => {
    const ref = await loadSafetensors(join(cls, "reference.safetensors"));
    return {
      token: ref.tensors.get("cls_right_padded.token_logits")!,
      pooled: ref.tensors.get("cls_right_padded.logits")!,
    };
  };
  const bias = [0.5, -1.25, 2];

  it("LlamaForTokenClassification: score.weight without score.bias keeps the loaded weight, bias zero", async () => {
    const { token } = await reference();
    const model = await LlamaForTokenClassification.from_pretrained(cls);
    expect(model.missing_keys).toEqual(["score.bias"]);
    const { logits } = model.forward({ input_ids, attention_mask });
    assertClose(logits, token, REFERENCE_TOLERANCES.activations, "token logits");
  });

  it("LlamaForTokenClassification: score.weight and score.bias both loaded", async () => {
    const { token } = await reference();
    const dir = await variant(cls, (t) => t.set("score.bias", new Tensor("float32", Float32Array.from(bias), [3])));
    const model = await LlamaForTokenClassification.from_pretrained(dir);
    expect(model.missing_keys).toEqual([]);
    const { logits } = model.forward({ input_ids, attention_mask });
    assertClose(logits, plusBias(token, bias), REFERENCE_TOLERANCES.activations, "token logits + bias");
  });

  it("LlamaForSequenceClassification: a score.bias in the checkpoint is unexpected and ignored (HF's score has none)", async () => {
    const { pooled } = await reference();
    const dir = await variant(cls, (t) => t.set("score.bias", new Tensor("float32", Float32Array.from(bias), [3])));
    const model = await LlamaForSequenceClassification.from_pretrained(dir);
    expect(model.unexpected_keys).toEqual(["score.bias"]);
    expect(model.missing_keys).toEqual([]);
    assertClose(model.forward({ input_ids, attention_mask }).logits, pooled, REFERENCE_TOLERANCES.activations);
  });

  // QA's base model is `transformer` (HF's base_model_prefix): the checkpoint names carry that prefix.
  const qaCheckpoint = (withBias: boolean) =>
    variant(cls, (t) => {
      const out = new Map<string, Tensor>();
      for (const [name, tensor] of t) if (name.startsWith("model.")) out.set(`transformer.${name.slice(6)}`, tensor);
      const score = t.get("score.weight")!; // [3, H]: rows 0 and 1 become the start / end projections
      const H = score.shape[1];
      out.set("qa_outputs.weight", new Tensor("float32", score.toFloat32().slice(0, 2 * H), [2, H]));
      if (withBias) out.set("qa_outputs.bias", new Tensor("float32", Float32Array.from(bias.slice(0, 2)), [2]));
      return out;
    });

  for (const withBias of [false, true]) {
    it(`LlamaForQuestionAnswering: qa_outputs.weight ${withBias ? "with" : "without"} qa_outputs.bias`, async () => {
      const { token } = await reference();
      const model = await LlamaForQuestionAnswering.from_pretrained(await qaCheckpoint(withBias));
      expect(model.missing_keys).toEqual(withBias ? [] : ["qa_outputs.bias"]);
      const out = model.forward({ input_ids, attention_mask });
      const [b0, b1] = withBias ? bias : [0, 0];
      assertClose(out.start_logits, column(token, 0, b0), REFERENCE_TOLERANCES.activations, "start_logits");
      assertClose(out.end_logits, column(token, 1, b1), REFERENCE_TOLERANCES.activations, "end_logits");
    });
  }

  it("LlamaForQuestionAnswering: a checkpoint without the head initializes both head tensors", async () => {
    const dir = await variant(cls, (t) => {
      const out = new Map<string, Tensor>();
      for (const [name, tensor] of t) if (name.startsWith("model.")) out.set(`transformer.${name.slice(6)}`, tensor);
      return out;
    });
    const model = await LlamaForQuestionAnswering.from_pretrained(dir);
    expect(model.missing_keys).toEqual(["qa_outputs.weight", "qa_outputs.bias"]);
    expect([...model.qa_outputs.bias!.toFloat32()]).toEqual([0, 0]);
    expect(model.qa_outputs.weight.toFloat32().some((v) => v !== 0)).toBe(true);
  });

  it("LlamaForCausalLM: an lm_head.bias in the checkpoint is unexpected and ignored (HF's lm_head has none)", async () => {
    const dir = join(MODELS ?? "", "llama-bias");
    const ref = await loadSafetensors(join(dir, "reference.safetensors"));
    const V = (await LlamaConfig.from_pretrained(dir)).vocab_size;
    const withBias = await variant(dir, (t) =>
      t.set("lm_head.bias", new Tensor("float32", new Float32Array(V).fill(1), [V])),
    );
    const model = await LlamaForCausalLM.from_pretrained(withBias);
    expect(model.unexpected_keys).toEqual(["lm_head.bias"]);
    const ids = [[127, 21, 60, 150, 48, 169]]; // loss_single in llama-bias/cases.json
    assertClose(
      model.forward({ input_ids: ids }).logits,
      ref.tensors.get("loss_single.logits")!,
      REFERENCE_TOLERANCES.activations,
    );
  });
});
