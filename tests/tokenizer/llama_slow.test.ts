/**
 * LlamaTokenizer (slow) against the shared reference cases: ids, decodes with and without special tokens,
 * legacy and non-legacy, each field produced by HF's LlamaTokenizer logic on top of Google's sentencepiece.
 */
import { describe, expect, it } from "vitest";
import { LlamaTokenizer } from "../../src/models/llama/tokenization_llama.ts";
import { HAVE_REF, TOKENIZER_DIR, TOKENIZER_MODEL, loadCases, warnIfNoReference } from "./reference.ts";

warnIfNoReference("llama_slow");
const cases = loadCases();

describe.skipIf(!HAVE_REF)("LlamaTokenizer legacy=true vs hf_slow_legacy_*", () => {
  const tok = HAVE_REF ? new LlamaTokenizer({ vocab_file: TOKENIZER_MODEL, legacy: true }) : (undefined as never); // the body runs even when skipped

  it("encodes the seed example", () => {
    expect(tok.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
  });

  it.each(cases.map((c) => [c.id, c] as const))("%s", (_id, c) => {
    expect(tok.encode(c.text)).toEqual(c.hf_slow_legacy_ids);
    expect(tok.decode(c.hf_slow_legacy_ids)).toBe(c.hf_slow_legacy_decoded);
    expect(tok.decode(c.hf_slow_legacy_ids, { skip_special_tokens: true })).toBe(c.hf_slow_legacy_decoded_skip_special);
  });

  it("tokenize gives sentencepiece's pieces for text without special-token text", () => {
    for (const c of cases) {
      if (c.text.includes("<s>") || c.text.includes("</s>") || c.text.includes("<unk>")) continue;
      expect(tok.tokenize(c.text)).toEqual(c.sp_pieces);
    }
  });
});

describe.skipIf(!HAVE_REF)("LlamaTokenizer legacy=false vs hf_slow_nonlegacy_*", () => {
  const tok = HAVE_REF ? new LlamaTokenizer({ vocab_file: TOKENIZER_MODEL, legacy: false }) : (undefined as never);

  it.each(cases.map((c) => [c.id, c] as const))("%s", (_id, c) => {
    expect(tok.encode(c.text)).toEqual(c.hf_slow_nonlegacy_ids);
    expect(tok.decode(c.hf_slow_nonlegacy_ids)).toBe(c.hf_slow_nonlegacy_decoded);
    expect(tok.decode(c.hf_slow_nonlegacy_ids, { skip_special_tokens: true })).toBe(
      c.hf_slow_nonlegacy_decoded_skip_special,
    );
  });
});

describe.skipIf(!HAVE_REF)("LlamaTokenizer.from_pretrained", () => {
  it("reads tokenizer.model + tokenizer_config.json (legacy=true there)", async () => {
    const { copyFileSync, mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const path = await import("node:path");
    const dir = mkdtempSync(path.join(tmpdir(), "llama-tok-"));
    copyFileSync(TOKENIZER_MODEL, path.join(dir, "tokenizer.model"));
    copyFileSync(path.join(TOKENIZER_DIR, "tokenizer_config.json"), path.join(dir, "tokenizer_config.json"));
    const tok = await LlamaTokenizer.from_pretrained(dir);
    expect(tok.legacy).toBe(true);
    expect(tok.add_bos_token).toBe(true);
    expect(tok.add_eos_token).toBe(false);
    expect(tok.vocab_size).toBe(32000);
    expect([tok.bos_token_id, tok.eos_token_id, tok.unk_token_id, tok.pad_token_id]).toEqual([1, 2, 0, null]);
    expect(tok.encode("Hello <s>.")).toEqual([1, 15043, 29871, 1, 869]);
  });
});
