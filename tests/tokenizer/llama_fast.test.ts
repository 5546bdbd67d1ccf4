/**
 * LlamaTokenizerFast against the shared reference cases (fields produced by HF's Rust `tokenizers` 0.23.2
 * loading the same tokenizer.json files), and the slow -> fast conversion (LlamaConverter) against the
 * reference tokenizer.json files.
 */
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LlamaTokenizerFast } from "../../src/models/llama/tokenization_llama_fast.ts";
import { HAVE_REF, TOKENIZER_DIR, TOKENIZER_MODEL, loadCases, warnIfNoReference } from "./reference.ts";

warnIfNoReference("llama_fast");
const cases = loadCases();
const JSON_LEGACY = path.join(TOKENIZER_DIR, "tokenizer.json");
const JSON_NONLEGACY = path.join(TOKENIZER_DIR, "tokenizer.nonlegacy.json");

describe.skipIf(!HAVE_REF)("LlamaTokenizerFast(tokenizer.json) vs fast_rust_*", () => {
  const tok = HAVE_REF ? new LlamaTokenizerFast({ tokenizer_file: JSON_LEGACY, legacy: true }) : (undefined as never); // the body runs even when skipped

  it("encodes the seed example", () => {
    expect(tok.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
  });

  it.each(cases.map((c) => [c.id, c] as const))("%s", (_id, c) => {
    expect(tok.encode(c.text)).toEqual(c.fast_rust_ids);
    expect(tok.decode(c.fast_rust_ids)).toBe(c.fast_rust_decoded);
    expect(tok.decode(c.fast_rust_ids, { skip_special_tokens: true })).toBe(c.fast_rust_decoded_skip_special);
  });
});

describe.skipIf(!HAVE_REF)("LlamaTokenizerFast(tokenizer.nonlegacy.json) vs fast_rust_nonlegacy_*", () => {
  const tok = HAVE_REF
    ? new LlamaTokenizerFast({ tokenizer_file: JSON_NONLEGACY, legacy: false })
    : (undefined as never);

  it.each(cases.map((c) => [c.id, c] as const))("%s", (_id, c) => {
    expect(tok.encode(c.text)).toEqual(c.fast_rust_nonlegacy_ids);
    expect(tok.decode(c.fast_rust_nonlegacy_ids)).toBe(c.fast_rust_nonlegacy_decoded);
    expect(tok.decode(c.fast_rust_nonlegacy_ids, { skip_special_tokens: true })).toBe(
      c.fast_rust_nonlegacy_decoded_skip_special,
    );
  });
});

describe.skipIf(!HAVE_REF)("LlamaConverter: tokenizer.model -> fast pipeline", () => {
  const sortKeys = (a: unknown[]) =>
    JSON.stringify(a.map((t) => Object.fromEntries(Object.entries(t as object).sort())));

  for (const [legacy, file, field] of [
    [true, JSON_LEGACY, "fast_rust_ids"],
    [false, JSON_NONLEGACY, "fast_rust_nonlegacy_ids"],
  ] as const) {
    it(`legacy=${legacy}: same pipeline, vocab and merge set as ${path.basename(file)}, same ids on every case`, () => {
      const conv = new LlamaTokenizerFast({ vocab_file: TOKENIZER_MODEL, legacy, from_slow: true });
      const ref = JSON.parse(readFileSync(file, "utf8"));
      const mine = conv.toJSON() as Record<string, any>;
      for (const k of ["normalizer", "pre_tokenizer", "decoder", "post_processor"]) expect(mine[k], k).toEqual(ref[k]);
      expect(sortKeys(mine.added_tokens)).toBe(sortKeys(ref.added_tokens));
      expect(mine.model.vocab).toEqual(ref.model.vocab);
      // Same merges; the order differs only among the score-tied whitespace merges ("▁▁ ▁▁", ...), where the
      // Hub file (older converter) and transformers 4.44's extractor disagree without changing any encoding.
      expect([...mine.model.merges].sort()).toEqual([...ref.model.merges].sort());
      const differing = mine.model.merges.filter((m: string, i: number) => m !== ref.model.merges[i]);
      expect(differing.every((m: string) => /^▁+ ▁+$/.test(m))).toBe(true);
      for (const c of cases) expect(conv.encode(c.text), c.id).toEqual(c[field]);
    });
  }
});

describe.skipIf(!HAVE_REF)("LlamaTokenizerFast.from_pretrained", () => {
  it("reads tokenizer.json + tokenizer_config.json", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "llama-fast-"));
    copyFileSync(JSON_LEGACY, path.join(dir, "tokenizer.json"));
    copyFileSync(path.join(TOKENIZER_DIR, "tokenizer_config.json"), path.join(dir, "tokenizer_config.json"));
    const tok = await LlamaTokenizerFast.from_pretrained(dir);
    expect(tok.vocab_size).toBe(32000);
    expect([tok.bos_token_id, tok.eos_token_id, tok.unk_token_id, tok.pad_token_id]).toEqual([1, 2, 0, null]);
    expect(tok.padding_side).toBe("left");
    expect(tok.encode("Hello <s>.")).toEqual([1, 15043, 29871, 1, 869]);
  });

  it("converts tokenizer.model when the folder has no tokenizer.json", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "llama-fast-"));
    copyFileSync(TOKENIZER_MODEL, path.join(dir, "tokenizer.model"));
    const tok = await LlamaTokenizerFast.from_pretrained(dir, { legacy: true });
    expect(tok.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
    const out = mkdtempSync(path.join(tmpdir(), "llama-fast-out-"));
    const [saved] = await tok.save_vocabulary(out);
    expect(readFileSync(saved).equals(readFileSync(TOKENIZER_MODEL))).toBe(true);
  });
});
