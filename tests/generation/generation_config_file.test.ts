/**
 * generation_config.json on a model: from_pretrained reads it into `model.generation_config`, generate takes its
 * values as defaults (call options win, as HF), save_pretrained writes it back.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GenerationConfig } from "../../src/generation/configuration_utils.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";

const SRC = path.resolve(process.cwd(), "../shared/reference/models/llama-gqa");
if (!existsSync(SRC)) console.warn(`skipping generation_config.json tests: ${SRC} not found`);

describe.skipIf(!existsSync(SRC))("generation_config.json", () => {
  it("from_pretrained reads it; generate uses it as defaults and call options win; save_pretrained writes it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "gencfg-model-"));
    for (const f of ["config.json", "model.safetensors"]) cpSync(path.join(SRC, f), path.join(dir, f));
    writeFileSync(
      path.join(dir, "generation_config.json"),
      JSON.stringify({ max_new_tokens: 3, no_repeat_ngram_size: 1, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 }),
    );
    const model = await LlamaForCausalLM.from_pretrained(dir);
    expect(model.generation_config).toBeInstanceOf(GenerationConfig);
    expect(model.generation_config.max_new_tokens).toBe(3);
    const prompt = [[161, 87, 220, 19, 221, 39]];
    const a = (model.generate(prompt).tolist() as number[][])[0];
    expect(a.length).toBe(6 + 3);
    // no_repeat_ngram_size 1 from the file: no id occurs twice (the prompt's ids are all distinct)
    expect(new Set(a).size).toBe(a.length);
    const b = (model.generate(prompt, { max_new_tokens: 5, no_repeat_ngram_size: 0 }).tolist() as number[][])[0];
    expect(b.length).toBe(6 + 5);
    // the reference greedy continuation of this prompt repeats id 14 (generate_cases.json "greedy")
    expect(b.slice(6)).toEqual([14, 14, 161, 255, 197]);

    const out = mkdtempSync(path.join(tmpdir(), "gencfg-save-"));
    await model.save_pretrained(out);
    const saved = JSON.parse(readFileSync(path.join(out, "generation_config.json"), "utf8"));
    expect(saved).toMatchObject({ max_new_tokens: 3, no_repeat_ngram_size: 1, eos_token_id: 2 });
    const again = await LlamaForCausalLM.from_pretrained(out);
    expect(again.generation_config.to_dict()).toEqual(model.generation_config.to_dict());
  });

  it("without the file, the defaults come from config.json's special tokens; saved as HF writes it", async () => {
    const model = await LlamaForCausalLM.from_pretrained(SRC);
    const out = mkdtempSync(path.join(tmpdir(), "gencfg-default-"));
    await model.save_pretrained(out);
    // what HF 4.44 writes for this config.json (GenerationConfig.from_model_config, use_diff, sort_keys)
    expect(readFileSync(path.join(out, "generation_config.json"), "utf8")).toBe(
      '{\n  "_from_model_config": true,\n  "bos_token_id": 1,\n  "eos_token_id": 2,\n  "pad_token_id": 0,\n  "transformers_version": "4.44.2"\n}\n',
    );
    expect(model.generation_config.to_dict()).toMatchObject({
      bos_token_id: 1,
      eos_token_id: 2,
      pad_token_id: 0,
      max_length: 20,
    });
  });
});
