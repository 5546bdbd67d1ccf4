/**
 * The committed tokenizer cases (golden/llama2_tokenizer/tokenizer): ids and decodes agree with HF's Rust
 * tokenizer on the shared reference strings, the seed's example holds, streaming chunks add up to the decode, and
 * the llama.cpp files hold the same texts and ids in test-tokenizer-0's layout.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const DIR = resolve(process.cwd(), "golden/llama2_tokenizer/tokenizer");
const REF = resolve(process.cwd(), "../shared/reference/tokenizer/cases.jsonl");
const doc = JSON.parse(readFileSync(join(DIR, "cases.json"), "utf8"));

describe("golden tokenizer cases", () => {
  it("hold the seed's example and add up: stream chunks = decode without specials", () => {
    const hello = doc.cases.find((c: any) => c.text === "Hello this is a test");
    expect(hello.ids).toEqual([1, 15043, 445, 338, 263, 1243]);
    expect(hello.ids_no_special).toEqual([15043, 445, 338, 263, 1243]);
    for (const c of doc.cases) expect(c.stream_chunks.join(""), JSON.stringify(c.text)).toBe(c.decode_skip_special);
  });

  it("llama.cpp .inp/.out: each text then \\n__ggml_vocab_test__\\n; one line of ' id' per text, no BOS", () => {
    const inp = readFileSync(join(DIR, "llama-spm.inp"), "utf8").split("\n__ggml_vocab_test__\n");
    expect(inp.pop()).toBe("");
    expect(inp).toEqual(doc.cases.map((c: any) => c.text));
    const out = readFileSync(join(DIR, "llama-spm.out"), "utf8").split("\n");
    expect(out.pop()).toBe("");
    expect(out).toEqual(doc.cases.map((c: any) => c.ids_no_special.map((id: number) => ` ${id}`).join("")));
  });

  it.skipIf(!existsSync(REF))("agree with HF's Rust tokenizer (shared reference) on every common string", () => {
    const ref = new Map(
      readFileSync(REF, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .map((c) => [c.text, c]),
    );
    let common = 0;
    for (const c of doc.cases) {
      const r = ref.get(c.text);
      if (!r) continue;
      common++;
      expect(c.ids, c.text).toEqual(r.fast_rust_ids);
      expect(c.decode, c.text).toBe(r.fast_rust_decoded);
      expect(c.decode_skip_special, c.text).toBe(r.fast_rust_decoded_skip_special);
    }
    expect(common).toBeGreaterThan(3);
  });
});
