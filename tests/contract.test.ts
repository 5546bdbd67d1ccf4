/**
 * ../shared/CONTRACT.md, walked through as a new user would, importing only the package entry.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import * as llama from "../src/index.ts";
import {
  DynamicCache,
  LlamaConfig,
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  LlamaModel,
  LlamaTokenizer,
  LlamaTokenizerFast,
  Tensor,
  loadDefaultTokenizer,
} from "../src/index.ts";

const REF = resolve(process.cwd(), "../shared/reference");
const present = existsSync(REF);
if (!present) console.warn(`skipping contract checks that need ${REF}: it is absent`);

const cfg = () =>
  new LlamaConfig({
    vocab_size: 128,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    pad_token_id: 0,
  });

describe("CONTRACT.md", () => {
  it("exports every public name", () => {
    for (const name of [
      "Tensor",
      "LlamaConfig",
      "LlamaModel",
      "LlamaForCausalLM",
      "LlamaForSequenceClassification",
      "LlamaForTokenClassification",
      "LlamaForQuestionAnswering",
      "DynamicCache",
      "LlamaTokenizer",
      "LlamaTokenizerFast",
      "LlamaError",
    ]) {
      expect(typeof (llama as any)[name], name).toBe("function");
    }
  });

  it("Tensor(type, data, dims) and tolist()", () => {
    const t = new Tensor("int64", [1, 2, 3, 4], [2, 2]);
    expect(t.dtype).toBe("int64");
    expect(t.shape).toEqual([2, 2]);
    expect(t.data).toBeInstanceOf(BigInt64Array);
    expect(t.tolist()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(new Tensor("float16", [1.5], [1]).tolist()).toEqual([1.5]);
  });

  it("ids, masks and labels accept int Tensors or nested arrays alike", () => {
    const m = new LlamaForCausalLM(cfg(), { seed: 1 });
    const a = m.forward({ input_ids: [[3, 4, 5]], attention_mask: [[1, 1, 1]], labels: [[3, 4, 5]] });
    const b = m.forward({
      input_ids: new Tensor("int64", [3, 4, 5], [1, 3]),
      attention_mask: new Tensor("int32", [1, 1, 1], [1, 3]),
      labels: new Tensor("int64", [3, 4, 5], [1, 3]),
    });
    expect(Array.from(b.logits.toFloat32())).toEqual(Array.from(a.logits.toFloat32()));
    expect(b.loss!.item()).toBe(a.loss!.item());
    expect(a.logits.dtype).toBe("float32");
    expect(a.loss!.shape).toEqual([]);
  });

  it("forward returns cache, hidden states and attentions with HF's shapes; DynamicCache is exported", () => {
    const m = new LlamaForCausalLM(cfg(), { seed: 1 });
    const out = m.forward({
      input_ids: [[3, 4, 5]],
      use_cache: true,
      output_hidden_states: true,
      output_attentions: true,
    });
    expect(out.past_key_values).toBeInstanceOf(DynamicCache);
    expect(out.past_key_values!.get_seq_length()).toBe(3);
    expect(out.past_key_values!.key_cache[0].shape).toEqual([1, 2, 3, 8]);
    expect(out.past_key_values!.value_cache[1].shape).toEqual([1, 2, 3, 8]);
    expect(out.hidden_states!.length).toBe(3);
    expect(out.attentions![0].shape).toEqual([1, 4, 3, 3]);
    const step = m.forward({ input_ids: [[6]], past_key_values: out.past_key_values, use_cache: true });
    expect(step.logits.shape).toEqual([1, 1, 128]);
    expect(step.past_key_values!.get_seq_length()).toBe(4);
    expect(new LlamaModel(cfg()).forward({ input_ids: [[1]] }).last_hidden_state!.shape).toEqual([1, 1, 32]);
  });

  it("generate returns [batch, prompt + new] ids; seeded sampling repeats", () => {
    const m = new LlamaForCausalLM(cfg(), { seed: 1 });
    const g = m.generate([[5, 6, 7]], { max_new_tokens: 4, eos_token_id: -1 });
    expect(g.shape).toEqual([1, 7]);
    expect(g.tolist()[0].slice(0, 3)).toEqual([5, 6, 7]);
    const s1 = m
      .generate([[5, 6, 7]], { max_new_tokens: 4, do_sample: true, temperature: 1.5, top_k: 0, seed: 42 })
      .tolist();
    const s2 = m
      .generate([[5, 6, 7]], { max_new_tokens: 4, do_sample: true, temperature: 1.5, top_k: 0, seed: 42 })
      .tolist();
    expect(s2).toEqual(s1);
  });

  it("config is live: setting problem_type changes the classification loss, as in HF", () => {
    const m = new LlamaForSequenceClassification(
      new LlamaConfig({
        vocab_size: 128,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        pad_token_id: 0,
        num_labels: 3,
      }),
      { seed: 2 },
    );
    const ids = [[5, 6, 7]];
    const single = m.forward({ input_ids: ids, labels: [1] });
    expect(m.config.problem_type).toBe("single_label_classification");
    m.config.problem_type = "regression";
    const reg = m.forward({ input_ids: ids, labels: new Tensor("float32", [0.5, -1, 2], [1, 3]) });
    const p = reg.logits.toFloat32();
    const mse = ((p[0] - 0.5) ** 2 + (p[1] + 1) ** 2 + (p[2] - 2) ** 2) / 3;
    expect(reg.loss!.item()).toBeCloseTo(mse, 5);
    expect(reg.loss!.item()).not.toBeCloseTo(single.loss!.item(), 3);
  });

  it("save_pretrained / from_pretrained round trip keeps the outputs", async () => {
    const m = new LlamaForCausalLM(cfg(), { seed: 5 });
    const dir = mkdtempSync(join(tmpdir(), "llama-ts-contract-"));
    await m.save_pretrained(dir);
    const again = await LlamaForCausalLM.from_pretrained(dir);
    const c2 = await LlamaConfig.from_pretrained(dir);
    expect(c2.to_dict()).toMatchObject({ hidden_size: 32, num_key_value_heads: 2, pad_token_id: 0 });
    expect(Array.from(again.forward({ input_ids: [[1, 2]] }).logits.toFloat32())).toEqual(
      Array.from(m.forward({ input_ids: [[1, 2]] }).logits.toFloat32()),
    );
  });

  it("the seed example holds for the embedded tokenizer", () => {
    const tok = loadDefaultTokenizer();
    expect(tok.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
  });

  it.skipIf(!present)("the seed example holds for both tokenizer classes loaded from files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llama-ts-tok-"));
    const { copyFileSync } = await import("node:fs");
    copyFileSync(join(REF, "tokenizer.model"), join(dir, "tokenizer.model"));
    copyFileSync(join(REF, "tokenizer", "tokenizer.json"), join(dir, "tokenizer.json"));
    copyFileSync(join(REF, "tokenizer", "tokenizer_config.json"), join(dir, "tokenizer_config.json"));
    const slow = await LlamaTokenizer.from_pretrained(dir);
    const fast = await LlamaTokenizerFast.from_pretrained(dir);
    for (const tok of [slow, fast]) {
      expect(tok.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
      expect(tok.encode("Hello this is a test", { add_special_tokens: false })).toEqual([15043, 445, 338, 263, 1243]);
      expect(tok.decode([1, 15043, 445], { skip_special_tokens: true })).toBe("Hello this");
      expect(tok.bos_token_id).toBe(1);
      expect(tok.eos_token_id).toBe(2);
      expect(tok.unk_token_id).toBe(0);
      expect(tok.vocab_size).toBe(32000);
      const n = tok.add_special_tokens({ pad_token: "<pad>" });
      expect(n).toBe(1);
      expect(tok.pad_token_id).toBe(32000);
      const batch = tok.call(["Hello", "Hello this is"], { padding: true, padding_side: "left" });
      expect(batch.input_ids).toEqual([
        [32000, 32000, 1, 15043],
        [1, 15043, 445, 338],
      ]);
      expect(batch.attention_mask).toEqual([
        [0, 0, 1, 1],
        [1, 1, 1, 1],
      ]);
    }
  });
});
