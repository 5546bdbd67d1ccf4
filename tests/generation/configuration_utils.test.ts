import { describe, expect, it } from "vitest";
import { GenerationConfig } from "../../src/generation/configuration_utils.ts";
import { ValueError } from "../../src/errors.ts";

describe("GenerationConfig", () => {
  it("has HF v4.44's defaults", () => {
    expect(new GenerationConfig().to_dict()).toEqual({
      max_length: 20,
      max_new_tokens: null,
      min_length: 0,
      min_new_tokens: null,
      do_sample: false,
      num_beams: 1,
      num_return_sequences: 1,
      use_cache: true,
      temperature: 1.0,
      top_k: 50,
      top_p: 1.0,
      min_p: null,
      repetition_penalty: 1.0,
      pad_token_id: null,
      bos_token_id: null,
      eos_token_id: null,
    });
  });

  it("takes the special tokens (and use_cache) from a model config", () => {
    const c = GenerationConfig.from_model_config({
      bos_token_id: 1,
      eos_token_id: [2, 7],
      pad_token_id: null,
      use_cache: false,
    });
    expect([c.bos_token_id, c.eos_token_id, c.pad_token_id, c.use_cache, c.max_length]).toEqual([
      1,
      [2, 7],
      null,
      false,
      20,
    ]);
  });

  it("update() sets fields, skips undefined, and returns the keys that are not fields", () => {
    const c = new GenerationConfig();
    expect(c.update({ top_k: 5, temperature: undefined, attention_mask: [[1]] })).toEqual({ attention_mask: [[1]] });
    expect([c.top_k, c.temperature]).toEqual([5, 1.0]);
  });

  it("clone() is a deep copy", () => {
    const a = new GenerationConfig({ eos_token_id: [2, 3] });
    const b = a.clone();
    (b.eos_token_id as number[]).push(4);
    expect(a.eos_token_id).toEqual([2, 3]);
  });

  it("raises HF's ValueError for max_new_tokens <= 0", () => {
    expect(() => new GenerationConfig({ max_new_tokens: 0 })).toThrow(
      /`max_new_tokens` must be greater than 0, but is 0/,
    );
  });

  it("names the field of a wrongly typed or unknown option", () => {
    expect(() => new GenerationConfig({ max_length: 2.5 })).toThrow(/`max_length` must be an integer/);
    expect(() => new GenerationConfig({ top_k: 1.5 })).toThrow(/`top_k`/);
    expect(() => new GenerationConfig({ do_sample: 1 as unknown as boolean })).toThrow(/`do_sample` must be a boolean/);
    expect(() => new GenerationConfig({ top_p: NaN })).toThrow(/`top_p`/);
    expect(() => new GenerationConfig({ eos_token_id: [] })).toThrow(/`eos_token_id`/);
    expect(() => new GenerationConfig({ eos_token_id: [2, 2.5] })).toThrow(/eos_token_id\[1\]/);
    expect(() => new GenerationConfig({ typical_p: 0.5 } as never)).toThrow(/`typical_p` is not a generation option/);
  });

  it("ignores HF metadata keys of generation_config.json", () => {
    const c = new GenerationConfig({
      transformers_version: "4.31.0",
      _from_model_config: true,
      bos_token_id: 1,
    } as never);
    expect(c.bos_token_id).toBe(1);
  });

  it("refuses strategies llama-ts does not implement", () => {
    expect(() => new GenerationConfig({ num_beams: 4 })).toThrow(ValueError);
    expect(() => new GenerationConfig({ num_return_sequences: 2 })).toThrow(/`num_return_sequences`/);
  });
});
