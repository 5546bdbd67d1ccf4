/** Public entry points refuse bad arguments with a typed error naming the argument, before doing anything. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  AutoTokenizer,
  blockedBackend,
  CheckpointError,
  getMatmulBackend,
  HubError,
  hf_hub_download,
  LlamaConfig,
  LlamaForCausalLM,
  LlamaTokenizerFast,
  pipeline,
  referenceBackend,
  setMatmulBackend,
  ValueError,
} from "../../src/index.ts";

const MODELS = join(process.cwd(), "../shared/reference/models");
const TOKENIZER = join(process.cwd(), "../shared/reference/tokenizer");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping the guards that need a checkpoint: ${MODELS} is absent`);

describe("setMatmulBackend", () => {
  afterEach(() => setMatmulBackend(referenceBackend));

  it("takes a backend object or the name of a registered one", () => {
    setMatmulBackend(blockedBackend.name);
    expect(getMatmulBackend()).toBe(blockedBackend);
    setMatmulBackend("reference");
    expect(getMatmulBackend()).toBe(referenceBackend);
  });

  it("refuses anything else with a ValueError, keeping the current backend", () => {
    for (const bad of ["blocked", {}, null, 42, { name: "x" }, { name: "", linear() {} }, { linear() {} }]) {
      expect(() => setMatmulBackend(bad as never), JSON.stringify(bad)).toThrow(ValueError);
      expect(getMatmulBackend()).toBe(referenceBackend);
    }
    expect(() => setMatmulBackend("blocked")).toThrow(
      /no backend named "blocked" is registered \(registered: reference/,
    );
  });
});

describe("from_pretrained and friends", () => {
  it("refuse a path that is not a string, and bad Hub options even for a local folder", async () => {
    await expect(LlamaForCausalLM.from_pretrained(42 as never)).rejects.toThrow(ValueError);
    await expect(LlamaConfig.from_pretrained("")).rejects.toThrow(ValueError);
    await expect(LlamaForCausalLM.from_pretrained("/no/such/dir")).rejects.toThrow(
      /\/no\/such\/dir: no such folder, and not a Hub id of the form org\/name/,
    );
    await expect(LlamaForCausalLM.from_pretrained("/no/such/dir")).rejects.toBeInstanceOf(CheckpointError);
    for (const [opts, message] of [
      [{ revision: 5 }, /revision: expected a non-empty string, got 5/],
      [{ revision: "../../x" }, /revision: not a branch, tag or commit name/],
      [{ local_files_only: "yes" }, /local_files_only: expected a boolean/],
      [{ progress_callback: 1 }, /progress_callback: expected a function/],
      [{ token: "" }, /token: expected a non-empty string/],
    ] as const) {
      await expect(LlamaConfig.from_pretrained(MODELS, opts as never)).rejects.toThrow(message);
      await expect(LlamaTokenizerFast.from_pretrained(TOKENIZER, opts as never)).rejects.toThrow(ValueError);
    }
  });

  it("hf_hub_download refuses ids and file names that are not the Hub's", async () => {
    await expect(hf_hub_download("../etc", "config.json")).rejects.toThrow(ValueError);
    await expect(hf_hub_download("org/name", "../../outside")).rejects.toThrow(HubError);
    await expect(hf_hub_download("org/name", "/abs")).rejects.toThrow(/not a relative file name/);
  });

  it.skipIf(!present)("AutoTokenizer and pipeline check their arguments", async () => {
    await expect(AutoTokenizer.from_pretrained(TOKENIZER, { use_fast: "no" as never })).rejects.toThrow(
      /use_fast: expected a boolean/,
    );
    const dir = join(MODELS, "llama-vocab32000");
    await expect(pipeline("text-generation", 5 as never)).rejects.toThrow(ValueError);
    await expect(pipeline("summarization" as never, dir)).rejects.toThrow(/unknown task "summarization"/);
    const gen = await pipeline("text-generation", dir, { tokenizer: TOKENIZER });
    await expect(gen(42 as never)).rejects.toThrow(ValueError);
  });
});
