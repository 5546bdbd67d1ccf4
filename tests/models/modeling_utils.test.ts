import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CheckpointError, ShapeError, ValueError } from "../../src/errors.ts";
import { loadCheckpointTensors, saveCheckpointTensors } from "../../src/formats/checkpoint.ts";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";
import {
  LlamaForCausalLM,
  LlamaForQuestionAnswering,
  LlamaForSequenceClassification,
  LlamaForTokenClassification,
  LlamaModel,
} from "../../src/models/llama/modeling_llama.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const MODELS = resolve(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping checkpoint round trips: ${MODELS} is absent`);
const names = present ? readdirSync(MODELS).filter((n) => existsSync(join(MODELS, n, "config.json"))) : [];

const tiny = (extra: Record<string, unknown> = {}) =>
  new LlamaConfig({
    vocab_size: 64,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    pad_token_id: 0,
    ...extra,
  });

function bytes(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function modelClass(dir: string) {
  const arch = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).architectures[0];
  return arch === "LlamaForSequenceClassification" ? LlamaForSequenceClassification : LlamaForCausalLM;
}

describe.skipIf(!present)("from_pretrained / save_pretrained on every reference checkpoint", () => {
  for (const name of names) {
    it(`${name}: torch_dtype "auto" keeps every tensor bit-identical; save then reload is identical`, async () => {
      const dir = join(MODELS, name);
      const { tensors } = await loadCheckpointTensors(dir);
      const Cls = modelClass(dir) as typeof LlamaForCausalLM;
      const model = await Cls.from_pretrained(dir, { torch_dtype: "auto" });
      const sd = model.state_dict();
      expect([...sd.keys()].sort()).toEqual([...tensors.keys()].sort());
      for (const [k, t] of tensors) {
        expect(sd.get(k)!.dtype, k).toBe(t.dtype);
        expect(sd.get(k)!.shape, k).toEqual(t.shape);
        expect(bytes(sd.get(k)!).equals(bytes(t)), k).toBe(true);
      }
      const out = mkdtempSync(join(tmpdir(), `llama-ts-${name}-`));
      await model.save_pretrained(out);
      const again = await loadCheckpointTensors(out);
      expect([...again.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
      for (const [k, t] of tensors) expect(bytes(again.tensors.get(k)!).equals(bytes(t)), k).toBe(true);
      const cfgIn = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      const cfgOut = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      expect(cfgOut).toEqual(cfgIn);
    });
  }

  it("default torch_dtype upcasts 2-byte weights to float32 exactly; 'auto' keeps 2 bytes a value", async () => {
    for (const name of ["llama-bf16", "llama-fp16"]) {
      const dir = join(MODELS, name);
      const { tensors } = await loadCheckpointTensors(dir);
      const up = await LlamaForCausalLM.from_pretrained(dir);
      const auto = await LlamaForCausalLM.from_pretrained(dir, { torch_dtype: "auto", compute_dtype: "float32" });
      const w = tensors.get("model.layers.0.mlp.up_proj.weight")!;
      expect(w.dtype).toBe(name === "llama-bf16" ? "bfloat16" : "float16");
      const upW = up.model.layers[0].mlp.up_proj.weight;
      expect(upW.dtype).toBe("float32");
      expect(auto.model.layers[0].mlp.up_proj.weight.dtype).toBe(w.dtype);
      expect(auto.model.layers[0].mlp.up_proj.weight.data.BYTES_PER_ELEMENT).toBe(2);
      // Exact widening, checked bit by bit: bfloat16 is the top half of a float32.
      const bits = new Uint32Array(upW.data.buffer, upW.data.byteOffset, upW.size);
      const src = w.data as Uint16Array;
      if (name === "llama-bf16") for (let i = 0; i < src.length; i++) expect(bits[i]).toBe((src[i] << 16) >>> 0);
      // Both give the same logits (compute_dtype "float32": compute is float32 either way).
      const ids = [[1, 2, 3, 4]];
      const a = up.forward({ input_ids: ids }).logits.toFloat32();
      const b = auto.forward({ input_ids: ids }).logits.toFloat32();
      expect(Array.from(b)).toEqual(Array.from(a));
    }
  });

  it("a bare LlamaModel loads a causal-LM checkpoint (model.* names) as HF strips the prefix", async () => {
    const dir = join(MODELS, "llama-mha");
    const base = await LlamaModel.from_pretrained(dir);
    const full = await LlamaForCausalLM.from_pretrained(dir);
    expect(base.unexpected_keys).toEqual(["lm_head.weight"]);
    const ids = [[5, 6, 7]];
    expect(Array.from(base.forward({ input_ids: ids }).last_hidden_state.toFloat32())).toEqual(
      Array.from(full.model.forward({ input_ids: ids }).last_hidden_state.toFloat32()),
    );
  });

  it("a classification head loaded from a causal-LM checkpoint is newly initialized and reported", async () => {
    const cls = await LlamaForSequenceClassification.from_pretrained(join(MODELS, "llama-mha"));
    expect(cls.missing_keys).toEqual(["score.weight"]);
    expect(cls.unexpected_keys).toEqual(["lm_head.weight"]);
    expect(cls.score.weight.toFloat32().some((x) => x !== 0)).toBe(true);
  });

  it("a checkpoint missing a base weight, or with a wrong shape, is a CheckpointError naming the tensor", async () => {
    const src = join(MODELS, "llama-mha");
    const { tensors } = await loadCheckpointTensors(src);
    const dir = mkdtempSync(join(tmpdir(), "llama-ts-broken-"));
    copyFileSync(join(src, "config.json"), join(dir, "config.json"));
    const missing = new Map(tensors);
    missing.delete("model.layers.1.mlp.down_proj.weight");
    await saveCheckpointTensors(dir, missing);
    await expect(LlamaForCausalLM.from_pretrained(dir)).rejects.toThrow(/model\.layers\.1\.mlp\.down_proj\.weight/);
    const wrong = new Map(tensors);
    wrong.set("model.norm.weight", new Tensor("float32", new Float32Array(31), [31]));
    await saveCheckpointTensors(dir, wrong);
    await expect(LlamaForCausalLM.from_pretrained(dir)).rejects.toThrow(CheckpointError);
    await expect(LlamaForCausalLM.from_pretrained(dir)).rejects.toThrow(
      /model\.norm\.weight has shape \[31\], the model expects \[32\]/,
    );
    // Sizes in config.json are checked against the tensors before anything is built or allocated.
    await saveCheckpointTensors(dir, tensors);
    const cfg = JSON.parse(readFileSync(join(src, "config.json"), "utf8"));
    for (const [field, value, message] of [
      [
        "num_hidden_layers",
        1_000_000_000,
        /missing layers\.999999999\.input_layernorm\.weight, which config\.json \(num_hidden_layers\)/,
      ],
      [
        "head_dim",
        1 << 28,
        /layers\.0\.self_attn\.q_proj\.weight has shape \[32,32\], config\.json \(num_attention_heads, head_dim\) says \[1073741824,32\]/,
      ],
      ["vocab_size", 1e12, /embed_tokens\.weight has shape \[256,32\], config\.json \(vocab_size, hidden_size\)/],
    ] as const) {
      writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg, [field]: value }));
      await expect(LlamaForCausalLM.from_pretrained(dir)).rejects.toThrow(message);
    }
    writeFileSync(join(dir, "config.json"), "{");
    await expect(LlamaForCausalLM.from_pretrained(dir)).rejects.toThrow(/config\.json: not valid JSON/);
    await expect(LlamaForCausalLM.from_pretrained(join(dir, "nope"))).rejects.toThrow(CheckpointError);
  });
});

describe("HF _init_weights, deterministic for a seed", () => {
  it("same seed gives identical weights, another seed different ones", () => {
    const a = new LlamaForCausalLM(tiny(), { seed: 7 }).state_dict();
    const b = new LlamaForCausalLM(tiny(), { seed: 7 }).state_dict();
    const c = new LlamaForCausalLM(tiny(), { seed: 8 }).state_dict();
    for (const [k, t] of a) expect(bytes(b.get(k)!).equals(bytes(t)), k).toBe(true);
    expect(bytes(c.get("lm_head.weight")!).equals(bytes(a.get("lm_head.weight")!))).toBe(false);
  });

  it("normal(0, initializer_range) weights, zero padding row and biases, RMSNorm ones", () => {
    const cfg = tiny({
      initializer_range: 0.5,
      attention_bias: true,
      vocab_size: 512,
      hidden_size: 64,
      num_attention_heads: 4,
    });
    const m = new LlamaForCausalLM(cfg, { seed: 1 });
    const emb = m.model.embed_tokens.weight.toFloat32();
    expect(Array.from(emb.subarray(0, 64)).every((x) => x === 0)).toBe(true); // pad_token_id 0
    let n = 0,
      sum = 0,
      sq = 0;
    for (let i = 64; i < emb.length; i++) {
      n++;
      sum += emb[i];
      sq += emb[i] * emb[i];
    }
    const mean = sum / n;
    const std = Math.sqrt(sq / n - mean * mean);
    // n = 32,704 draws: the sample std is within 2% of 0.5 and the mean within 5 standard errors of 0.
    expect(Math.abs(std - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(mean)).toBeLessThan((5 * 0.5) / Math.sqrt(n));
    expect(Array.from(m.model.layers[0].self_attn.q_proj.bias!.toFloat32()).every((x) => x === 0)).toBe(true);
    expect(Array.from(m.model.norm.weight.toFloat32()).every((x) => x === 1)).toBe(true);
  });

  it("tie_word_embeddings shares one tensor and save_pretrained drops lm_head.weight", () => {
    const m = new LlamaForCausalLM(tiny({ tie_word_embeddings: true }));
    expect(m.lm_head.weight).toBe(m.model.embed_tokens.weight);
    expect(m.state_dict().has("lm_head.weight")).toBe(false);
    expect(new LlamaForCausalLM(tiny()).state_dict().has("lm_head.weight")).toBe(true);
  });
});

describe("forward input errors are typed and name the argument", () => {
  const m = new LlamaForCausalLM(tiny());
  it.each([
    ["id past the vocabulary", () => m.forward({ input_ids: [[1, 64]] }), ShapeError, /input_ids: id 64 at \[0, 1\]/],
    ["negative id", () => m.forward({ input_ids: [[-1]] }), ShapeError, /input_ids/],
    [
      "both ids and embeds",
      () => m.forward({ input_ids: [[1]], inputs_embeds: new Tensor("float32", new Float32Array(16), [1, 1, 16]) }),
      ValueError,
      /both input_ids and inputs_embeds/,
    ],
    ["neither", () => m.forward({}), ValueError, /must specify either one/],
    ["ragged rows", () => m.forward({ input_ids: [[1, 2], [3]] }), ShapeError, /equal length/],
    ["short mask", () => m.forward({ input_ids: [[1, 2]], attention_mask: [[1]] }), ShapeError, /attention_mask/],
    [
      "embeds of the wrong width",
      () => m.forward({ inputs_embeds: new Tensor("float32", new Float32Array(8), [1, 1, 8]) }),
      ShapeError,
      /inputs_embeds/,
    ],
    [
      "labels out of range",
      () => m.forward({ input_ids: [[1, 2]], labels: [[1, 99]] }),
      ShapeError,
      /labels: target 99/,
    ],
    ["labels of the wrong shape", () => m.forward({ input_ids: [[1, 2]], labels: [[1]] }), ShapeError, /labels/],
  ])("%s", (_, call, type, message) => {
    expect(call).toThrow(type as any);
    expect(call).toThrow(message);
  });
});

describe("heads", () => {
  it("loss averages over counted labels only; all -100 gives NaN as torch", () => {
    const m = new LlamaForCausalLM(tiny(), { seed: 3 });
    const ids = [[5, 6, 7, 8]];
    const logits = m.forward({ input_ids: ids }).logits.toFloat32();
    // Independent check: position 1 predicts label 7 only (other labels -100).
    const V = 64;
    const row = logits.subarray(1 * V, 2 * V);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    const loss = m.forward({ input_ids: ids, labels: [[-100, -100, 7, -100]] }).loss!;
    expect(loss.shape).toEqual([]);
    expect(loss.item()).toBeCloseTo(lse - row[7], 5);
    expect(Number.isNaN(m.forward({ input_ids: ids, labels: [[-100, -100, -100, -100]] }).loss!.item())).toBe(true);
  });

  it("num_logits_to_keep keeps the last positions' logits", () => {
    const m = new LlamaForCausalLM(tiny(), { seed: 3 });
    const full = m.forward({ input_ids: [[1, 2, 3, 4, 5]] }).logits;
    const last2 = m.forward({ input_ids: [[1, 2, 3, 4, 5]], num_logits_to_keep: 2 }).logits;
    expect(last2.shape).toEqual([1, 2, 64]);
    // Within float32 rounding, not bit for bit (as HF's own check, torch.testing.assert_close): lm_head over 2 rows
    // runs the kernels' GEMV path, over 5 rows the GEMM path, which sum in different orders.
    const kept = last2.toFloat32();
    const tail = full.toFloat32().subarray(3 * 64);
    for (let i = 0; i < tail.length; i++)
      expect(Math.abs(kept[i] - tail[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(tail[i])));
  });

  it("resize_token_embeddings keeps old rows, grows lm_head and config.vocab_size", () => {
    const m = new LlamaForCausalLM(tiny(), { seed: 2 });
    const old = m.model.embed_tokens.weight.toFloat32().slice();
    const oldHead = m.lm_head.weight.toFloat32().slice();
    m.resize_token_embeddings(70, 8);
    expect(m.config.vocab_size).toBe(72);
    expect(m.model.embed_tokens.weight.shape).toEqual([72, 16]);
    expect(m.lm_head.weight.shape).toEqual([72, 16]);
    expect(Array.from(m.model.embed_tokens.weight.toFloat32().subarray(0, old.length))).toEqual(Array.from(old));
    expect(Array.from(m.lm_head.weight.toFloat32().subarray(0, oldHead.length))).toEqual(Array.from(oldHead));
    expect(m.forward({ input_ids: [[71]] }).logits.shape).toEqual([1, 1, 72]);
    expect(m.named_parameters().find(([n]) => n === "model.embed_tokens.weight")![1]).toBe(m.model.embed_tokens.weight);
  });

  it("token classification and question answering heads run with losses", () => {
    const cfg = tiny({ num_labels: 3 });
    const tok = new LlamaForTokenClassification(cfg, { seed: 1 });
    const out = tok.forward({ input_ids: [[1, 2, 3]], labels: [[0, -100, 2]] });
    expect(out.logits.shape).toEqual([1, 3, 3]);
    expect(Number.isFinite(out.loss!.item())).toBe(true);
    const qa = new LlamaForQuestionAnswering(tiny(), { seed: 1 });
    const q = qa.forward({ input_ids: [[1, 2, 3, 4]], start_positions: [1], end_positions: [9] });
    expect(q.start_logits.shape).toEqual([1, 4]);
    // end position 9 is clamped to T = 4 = ignored_index: only the start loss counts, halved.
    const s = q.start_logits.toFloat32();
    const max = Math.max(...s);
    const lse = max + Math.log(s.reduce((a, x) => a + Math.exp(x - max), 0));
    expect(q.loss!.item()).toBeNaN(); // CrossEntropyLoss with every target ignored is NaN, and NaN/2 stays NaN
    const q2 = qa.forward({ input_ids: [[1, 2, 3, 4]], start_positions: [1], end_positions: [1] });
    const e = q2.end_logits.toFloat32();
    const maxE = Math.max(...e);
    const lseE = maxE + Math.log(e.reduce((a, x) => a + Math.exp(x - maxE), 0));
    expect(q2.loss!.item()).toBeCloseTo((lse - s[1] + lseE - e[1]) / 2, 5);
    expect(qa.named_parameters()[0][0]).toBe("transformer.embed_tokens.weight");
  });

  it("sequence classification without a pad token refuses batches, as HF", () => {
    const m = new LlamaForSequenceClassification(tiny({ pad_token_id: null, num_labels: 2 }));
    expect(() =>
      m.forward({
        input_ids: [
          [1, 2],
          [3, 4],
        ],
      }),
    ).toThrow("Cannot handle batch sizes > 1 if no padding token is defined.");
    expect(m.forward({ input_ids: [[1, 2]] }).logits.shape).toEqual([1, 2]);
  });
});

describe("sequence classification labels given as plain arrays", () => {
  it("[B, num_labels] arrays of 0/1 are multi-label targets (BCE), [B] integers are class indices (CE)", () => {
    const m = new LlamaForSequenceClassification(tiny({ num_labels: 3 }), { seed: 4 });
    const ids = [
      [5, 6, 7],
      [8, 9, 10],
    ];
    const out = m.forward({
      input_ids: ids,
      labels: [
        [0, 0, 1],
        [1, 1, 0],
      ],
    });
    expect(m.config.problem_type).toBe("multi_label_classification");
    const x = out.logits.toFloat32();
    const y = [0, 0, 1, 1, 1, 0];
    const bce =
      y.reduce((s, yi, i) => s + Math.max(x[i], 0) - x[i] * yi + Math.log1p(Math.exp(-Math.abs(x[i]))), 0) / 6;
    expect(out.loss!.item()).toBeCloseTo(bce, 5);
    const m2 = new LlamaForSequenceClassification(tiny({ num_labels: 3 }), { seed: 4 });
    m2.forward({ input_ids: ids, labels: [2, 0] });
    expect(m2.config.problem_type).toBe("single_label_classification");
  });
});
