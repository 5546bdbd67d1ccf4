import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CheckpointError, ConfigError } from "../../src/errors.ts";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";

const MODELS = resolve(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping config.json checks against references: ${MODELS} is absent`);

describe("LlamaConfig defaults (HF's, Llama-2-7B shape)", () => {
  const c = new LlamaConfig();
  it.each([
    ["vocab_size", 32000],
    ["hidden_size", 4096],
    ["intermediate_size", 11008],
    ["num_hidden_layers", 32],
    ["num_attention_heads", 32],
    ["num_key_value_heads", 32],
    ["hidden_act", "silu"],
    ["max_position_embeddings", 2048],
    ["initializer_range", 0.02],
    ["rms_norm_eps", 1e-6],
    ["use_cache", true],
    ["pad_token_id", null],
    ["bos_token_id", 1],
    ["eos_token_id", 2],
    ["pretraining_tp", 1],
    ["tie_word_embeddings", false],
    ["rope_theta", 10000],
    ["rope_scaling", null],
    ["attention_bias", false],
    ["attention_dropout", 0],
    ["mlp_bias", false],
    ["head_dim", 128],
    ["num_labels", 2],
    ["problem_type", null],
  ])("%s = %j", (field, value) => {
    expect((c as any)[field]).toEqual(value);
  });

  it("num_key_value_heads defaults to num_attention_heads, head_dim to hidden/heads", () => {
    const d = new LlamaConfig({ hidden_size: 64, num_attention_heads: 8 });
    expect(d.num_key_value_heads).toBe(8);
    expect(d.head_dim).toBe(8);
    expect(new LlamaConfig({ hidden_size: 64, num_attention_heads: 8, head_dim: 16 }).head_dim).toBe(16);
  });

  it("keeps unknown keys like HF's **kwargs and copies the BC rope 'type' key", () => {
    const d = new LlamaConfig({ my_extra: [1, 2], rope_scaling: { type: "linear", factor: 2.0 } } as any);
    expect((d as any).my_extra).toEqual([1, 2]);
    expect(d.rope_scaling).toEqual({ type: "linear", factor: 2.0, rope_type: "linear" });
    expect(d.to_dict().my_extra).toEqual([1, 2]);
  });

  it("num_labels builds id2label/label2id as HF", () => {
    const d = new LlamaConfig({ num_labels: 3 });
    expect(d.id2label).toEqual({ 0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2" });
    expect(d.label2id).toEqual({ LABEL_0: 0, LABEL_1: 1, LABEL_2: 2 });
  });
});

describe("LlamaConfig rejects what HF rejects, naming the field", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "hidden_size not divisible by heads without head_dim",
      { hidden_size: 30, num_attention_heads: 4 },
      /^hidden_size: /,
    ],
    [
      "heads not divisible by kv heads",
      { hidden_size: 64, num_attention_heads: 8, num_key_value_heads: 3 },
      /^num_key_value_heads: /,
    ],
    [
      "unknown rope type",
      { rope_scaling: { rope_type: "weird", factor: 2.0 } },
      /^rope_scaling\.rope_type: unknown rope type "weird"/,
    ],
    [
      "linear rope without factor (HF KeyError)",
      { rope_scaling: { rope_type: "linear" } },
      /^rope_scaling\.factor: missing/,
    ],
    ["dynamic rope without factor", { rope_scaling: { type: "dynamic" } }, /^rope_scaling\.factor: missing/],
    [
      "llama3 without low_freq_factor",
      {
        rope_scaling: {
          rope_type: "llama3",
          factor: 8.0,
          high_freq_factor: 4.0,
          original_max_position_embeddings: 1024,
        },
      },
      /^rope_scaling\.low_freq_factor: missing/,
    ],
    [
      "llama3 with high <= low",
      {
        rope_scaling: {
          rope_type: "llama3",
          factor: 8.0,
          low_freq_factor: 4.0,
          high_freq_factor: 1.0,
          original_max_position_embeddings: 1024,
        },
      },
      /^rope_scaling\.high_freq_factor: /,
    ],
    [
      "longrope without long_factor",
      { rope_scaling: { rope_type: "longrope", short_factor: [1] } },
      /^rope_scaling\.long_factor: missing/,
    ],
    ["non-numeric factor", { rope_scaling: { rope_type: "linear", factor: "2" } }, /^rope_scaling\.factor: /],
    ["rope_scaling not an object", { rope_scaling: 3 }, /^rope_scaling: /],
    ["zero vocab", { vocab_size: 0 }, /^vocab_size: /],
    ["fractional layers", { num_hidden_layers: 1.5 }, /^num_hidden_layers: /],
    ["unknown activation", { hidden_act: "swoosh" }, /^hidden_act: /],
    ["negative eps", { rms_norm_eps: -1 }, /^rms_norm_eps: /],
    ["pad id past the vocab", { vocab_size: 10, pad_token_id: 10 }, /^pad_token_id: /],
    ["bad problem_type", { problem_type: "ranking" }, /^problem_type: /],
    [
      "tp not dividing intermediate",
      { hidden_size: 32, num_attention_heads: 4, intermediate_size: 66, pretraining_tp: 4, vocab_size: 64 },
      /^pretraining_tp: intermediate_size/,
    ],
    ["string hidden size", { hidden_size: "4096" }, /^hidden_size: /],
  ];
  it.each(cases)("%s", (_, kwargs, message) => {
    let err: unknown;
    try {
      new LlamaConfig(kwargs as any);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });

  it("warns (does not throw) where HF only warns", () => {
    const c = new LlamaConfig({ rope_scaling: { rope_type: "linear", factor: 0.5, extra: 1 } as any });
    expect(c.warnings.some((w) => w.includes("factor"))).toBe(true);
    expect(c.warnings.some((w) => w.includes("extra"))).toBe(true);
  });

  it("config.json problems are typed errors naming the file", () => {
    expect(() => LlamaConfig.from_json_string("{not json", "x/config.json")).toThrow(CheckpointError);
    expect(() => LlamaConfig.from_json_string("[1]", "x/config.json")).toThrow(
      /x\/config.json: expected a JSON object/,
    );
    expect(() => LlamaConfig.from_json_string('{"model_type": "gpt2"}', "x/config.json")).toThrow(
      /model_type is "gpt2"/,
    );
    expect(() =>
      LlamaConfig.from_json_string('{"hidden_size": 30, "num_attention_heads": 4}', "x/config.json"),
    ).toThrow(/hidden_size: .*x\/config.json/);
  });
});

describe.skipIf(!present)("config.json of every reference checkpoint", () => {
  const names = present ? readdirSync(MODELS).filter((n) => existsSync(join(MODELS, n, "config.json"))) : [];
  for (const name of names) {
    it(`${name}: fields equal config.json, and save_pretrained writes an equivalent file`, async () => {
      const text = readFileSync(join(MODELS, name, "config.json"), "utf8");
      const raw = JSON.parse(text);
      const c = await LlamaConfig.from_pretrained(join(MODELS, name));
      for (const [k, v] of Object.entries(raw)) {
        if (k === "id2label")
          expect(c.id2label).toEqual(Object.fromEntries(Object.entries(v as object).map(([i, l]) => [Number(i), l])));
        else expect((c as any)[k], k).toEqual(v);
      }
      // HF's omitted keys: absent pad_token_id means null, absent id2label means 2 labels.
      if (!("pad_token_id" in raw)) expect(c.pad_token_id).toBeNull();
      if (!("id2label" in raw)) expect(c.num_labels).toBe(2);
      const dir = mkdtempSync(join(tmpdir(), "llama-ts-config-"));
      await c.save_pretrained(dir);
      const written = readFileSync(join(dir, "config.json"), "utf8");
      expect(JSON.parse(written)).toEqual(raw);
      // HF writes these as Python floats; so do we.
      expect(written).toMatch(/"rope_theta": \d+\.\d/);
      expect(written).toMatch(/"rms_norm_eps": 1e-0[56]/);
    });
  }
});
