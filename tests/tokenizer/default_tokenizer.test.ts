/**
 * The embedded default tokenizer (data/ in this repository): its two files equal the reference tokenizer.model
 * and tokenizer.json byte for byte, its vocab and merges equal tokenizer.json's (order included), and both
 * tokenizers reproduce the reference ids.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { serializeModelProto } from "../../src/formats/sentencepiece_model.ts";
import {
  DEFAULT_TOKENIZER_JSON_SHA256,
  DEFAULT_TOKENIZER_SHA256,
  defaultModelProto,
  loadDefaultSlowTokenizer,
  loadDefaultTokenizer,
  loadDefaultTokenizerData,
} from "../../src/models/llama/default_tokenizer.ts";
import { HAVE_REF, TOKENIZER_DIR, TOKENIZER_MODEL, loadCases, warnIfNoReference } from "./reference.ts";

warnIfNoReference("default_tokenizer");

const DATA = path.resolve(import.meta.dirname, "../../data");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("default tokenizer (embedded data/)", () => {
  const fast = loadDefaultTokenizer();
  const slow = loadDefaultSlowTokenizer();

  it("has the Llama 2 sizes and special tokens", () => {
    const { vocab, merges } = loadDefaultTokenizerData();
    expect(vocab.length).toBe(32000);
    expect(merges.length).toBe(61249);
    expect(vocab.slice(0, 4)).toEqual(["<unk>", "<s>", "</s>", "<0x00>"]);
    for (const tok of [fast, slow]) {
      expect(tok.vocab_size).toBe(32000);
      expect([tok.unk_token_id, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id]).toEqual([0, 1, 2, null]);
    }
  });

  it("encodes the seed example with both classes", () => {
    expect(fast.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
    expect(slow.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
    expect(fast.decode([1, 15043, 445, 338, 263, 1243])).toBe("<s> Hello this is a test");
    expect(slow.decode([1, 15043, 445, 338, 263, 1243])).toBe("<s>Hello this is a test");
  });
});

describe.skipIf(!HAVE_REF)("default tokenizer vs the reference files", () => {
  it("data/llama2-tokenizer.model is the reference tokenizer.model, byte for byte", () => {
    const mine = readFileSync(path.join(DATA, "llama2-tokenizer.model"));
    const ref = readFileSync(TOKENIZER_MODEL);
    expect(mine.equals(ref)).toBe(true);
    expect(sha256(ref)).toBe(DEFAULT_TOKENIZER_SHA256);
  });

  it("data/llama2-tokenizer.json.gz holds the reference tokenizer.json, byte for byte", () => {
    const mine = gunzipSync(readFileSync(path.join(DATA, "llama2-tokenizer.json.gz")));
    const ref = readFileSync(path.join(TOKENIZER_DIR, "tokenizer.json"));
    expect(mine.equals(ref)).toBe(true);
    expect(sha256(ref)).toBe(DEFAULT_TOKENIZER_JSON_SHA256);
  });

  it("vocab and merges equal tokenizer.json, order included", () => {
    const ref = JSON.parse(readFileSync(path.join(TOKENIZER_DIR, "tokenizer.json"), "utf8"));
    const { vocab, merges } = loadDefaultTokenizerData();
    expect(Object.fromEntries(vocab.map((p, i) => [p, i]))).toEqual(ref.model.vocab);
    expect(merges.map(([a, b]) => `${a} ${b}`)).toEqual(ref.model.merges);
  });

  it("the fast pipeline serializes to the reference tokenizer.json", () => {
    const ref = JSON.parse(readFileSync(path.join(TOKENIZER_DIR, "tokenizer.json"), "utf8"));
    const mine = loadDefaultTokenizer().toJSON() as Record<string, any>;
    for (const k of ["normalizer", "pre_tokenizer", "decoder", "post_processor"]) expect(mine[k], k).toEqual(ref[k]);
    expect(mine.model.merges).toEqual(ref.model.merges);
  });

  it("the parsed ModelProto serializes back to Meta's tokenizer.model", () => {
    expect(Buffer.from(serializeModelProto(defaultModelProto())).equals(readFileSync(TOKENIZER_MODEL))).toBe(true);
  });

  it("reproduces the reference ids and decodes of every case", () => {
    const fast = loadDefaultTokenizer();
    const slow = loadDefaultSlowTokenizer();
    for (const c of loadCases()) {
      expect(fast.encode(c.text), c.id).toEqual(c.fast_rust_ids);
      expect(fast.decode(c.fast_rust_ids), c.id).toBe(c.fast_rust_decoded);
      expect(slow.encode(c.text), c.id).toEqual(c.hf_slow_legacy_ids);
      expect(slow.decode(c.hf_slow_legacy_ids), c.id).toBe(c.hf_slow_legacy_decoded);
    }
  });
});
