/**
 * `stop_strings` with the fast tokenizer. HF's StopStringCriteria reads the vocabulary through
 * `get_vocab`, `convert_ids_to_tokens` and `convert_tokens_to_string`, which both tokenizer classes have, so
 * the stop positions (and the ids) do not depend on the class. The reference cases were made by HF 4.44.2 with
 * the slow LlamaTokenizer; here the same cases run with LlamaTokenizerFast and must give HF's ids.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import { loadDefaultTokenizer } from "../../src/models/llama/default_tokenizer.ts";
import { referenceDir } from "../reference.ts";

const models = referenceDir("models", "stop_strings with the fast tokenizer");

describe.skipIf(models === null)("stop_strings with LlamaTokenizerFast", () => {
  it("gives HF's ids on every stop_strings case of llama-vocab32000", async () => {
    const dir = path.join(models!, "llama-vocab32000");
    const cases = (
      JSON.parse(readFileSync(path.join(dir, "generate_cases.json"), "utf8")).cases as Array<{
        name: string;
        inputs: { input_ids: number[][]; attention_mask: number[][] | null };
        kwargs: Record<string, unknown>;
        expected: { sequences: number[][] };
      }>
    ).filter((c) => c.kwargs.stop_strings !== undefined);
    expect(cases.length).toBeGreaterThan(0);
    const model = await LlamaForCausalLM.from_pretrained(dir);
    const tokenizer = loadDefaultTokenizer();
    for (const c of cases) {
      const out = model.generate(c.inputs.input_ids, {
        ...c.kwargs,
        attention_mask: c.inputs.attention_mask ?? undefined,
        tokenizer,
      });
      expect((out as { tolist(): number[][] }).tolist(), c.name).toEqual(c.expected.sequences);
    }
  });
});
