import { describe, expect, it } from "vitest";
import { GenerationConfig } from "../../src/generation/configuration_utils.ts";
import { ValueError } from "../../src/errors.ts";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

describe("GenerationConfig", () => {
  it("has HF v4.44's defaults", () => {
    expect(new GenerationConfig().to_dict()).toMatchObject({
      early_stopping: false,
      num_beam_groups: 1,
      typical_p: 1.0,
      epsilon_cutoff: 0.0,
      eta_cutoff: 0.0,
      diversity_penalty: 0.0,
      length_penalty: 1.0,
      no_repeat_ngram_size: 0,
      encoder_no_repeat_ngram_size: 0,
      num_assistant_tokens: 5,
      num_assistant_tokens_schedule: "heuristic",
      renormalize_logits: false,
      return_dict_in_generate: false,
      output_scores: false,
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
    expect(() => new GenerationConfig({ typical_pp: 0.5 } as never)).toThrow(/`typical_pp` is not a generation option/);
  });

  it("ignores HF metadata keys of generation_config.json", () => {
    const c = new GenerationConfig({
      transformers_version: "4.31.0",
      _from_model_config: true,
      bos_token_id: 1,
    } as never);
    expect(c.bos_token_id).toBe(1);
  });

  it("refuses HF's invalid combinations with HF's messages", () => {
    expect(() => new GenerationConfig({ num_return_sequences: 2 })).toThrow(
      "Greedy methods without beam search do not support `num_return_sequences` different than 1 (got 2).",
    );
    expect(() => new GenerationConfig({ num_beams: 2, num_return_sequences: 3 })).toThrow(
      "`num_return_sequences` (3) has to be smaller or equal to `num_beams` (2).",
    );
    expect(() => new GenerationConfig({ num_beams: 3, num_beam_groups: 2, diversity_penalty: 1 })).toThrow(
      /`num_beams` should be divisible by `num_beam_groups`/,
    );
    expect(() => new GenerationConfig({ num_beams: 4, num_beam_groups: 2 })).toThrow(
      /`diversity_penalty` should be greater than `0.0`/,
    );
    expect(() => new GenerationConfig({ num_beams: 2, do_sample: true, force_words_ids: [[1]] })).toThrow(
      /triggering constrained beam search/,
    );
    expect(() => new GenerationConfig({ early_stopping: "sometimes" as never })).toThrow(ValueError);
    // accepted: beams, sampling with several sequences
    expect(new GenerationConfig({ num_beams: 4, num_return_sequences: 4 }).num_beams).toBe(4);
    expect(new GenerationConfig({ do_sample: true, num_return_sequences: 3 }).num_return_sequences).toBe(3);
  });

  it("get_generation_mode picks HF's mode and refuses assistants with beams", () => {
    const mode = (kw: Record<string, unknown>, a: unknown = null) => new GenerationConfig(kw).get_generation_mode(a);
    expect(mode({})).toBe("greedy_search");
    expect(mode({ do_sample: true })).toBe("sample");
    expect(mode({ penalty_alpha: 0.6, top_k: 4 })).toBe("contrastive_search");
    expect(mode({ num_beams: 2 })).toBe("beam_search");
    expect(mode({ num_beams: 2, do_sample: true })).toBe("beam_sample");
    expect(mode({ num_beams: 4, num_beam_groups: 2, diversity_penalty: 1 })).toBe("group_beam_search");
    expect(mode({ num_beams: 2, force_words_ids: [[3]] })).toBe("constrained_beam_search");
    expect(mode({ prompt_lookup_num_tokens: 3 })).toBe("assisted_generation");
    expect(mode({ dola_layers: "low" })).toBe("dola_generation");
    expect(() => mode({ num_beams: 2, prompt_lookup_num_tokens: 2 })).toThrow(/assisted generate is only supported/);
  });

  it("generation_config.json: save_pretrained writes the non-default fields, from_pretrained reads them", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "gencfg-"));
    const c = new GenerationConfig({ bos_token_id: 1, eos_token_id: [2, 3], num_beams: 3, no_repeat_ngram_size: 2 });
    await c.save_pretrained(dir);
    const json = JSON.parse(readFileSync(path.join(dir, "generation_config.json"), "utf8"));
    expect(json).toEqual({
      num_beams: 3,
      no_repeat_ngram_size: 2,
      bos_token_id: 1,
      eos_token_id: [2, 3],
      transformers_version: "4.44.2",
    });
    const back = await GenerationConfig.from_pretrained(dir);
    expect(back.to_dict()).toEqual(c.to_dict());
    writeFileSync(path.join(dir, "generation_config.json"), '{"num_beams": "four"}');
    await expect(GenerationConfig.from_pretrained(dir)).rejects.toThrow(
      /generation_config.json: `num_beams` must be an integer/,
    );
  });
});
