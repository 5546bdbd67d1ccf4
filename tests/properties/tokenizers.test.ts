/**
 * Tokenizer properties over random Unicode text: decode(encode(s)) round trips and slow/fast agreement, as HF
 * behaves (see tokenizer_invariants.ts). They need the Llama 2 tokenizer files in ../shared/reference and are
 * skipped, with a warning, when that folder is absent.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, it } from "vitest";
import { LlamaTokenizer } from "../../src/models/llama/tokenization_llama.ts";
import { LlamaTokenizerFast } from "../../src/models/llama/tokenization_llama_fast.ts";
import { assertProperty } from "./seed.ts";
import {
  decodeEncodeRoundTrip,
  fastRoundTrip,
  noLeadingSpace,
  slowFastAgree,
  slowLegacyRoundTrip,
} from "./tokenizer_invariants.ts";

const REF = path.resolve(process.cwd(), "../shared/reference");
const MODEL = path.join(REF, "tokenizer.model");
const JSON_LEGACY = path.join(REF, "tokenizer", "tokenizer.json");
const JSON_NONLEGACY = path.join(REF, "tokenizer", "tokenizer.nonlegacy.json");
const present = existsSync(MODEL) && existsSync(JSON_LEGACY) && existsSync(JSON_NONLEGACY);
if (!present) console.warn(`skipping tokenizer properties: the Llama 2 tokenizer files are absent from ${REF}`);

describe.skipIf(!present)("tokenizer properties (Llama 2 tokenizer)", () => {
  const slow = present ? new LlamaTokenizer({ vocab_file: MODEL, legacy: true }) : null!;
  const fast = present ? new LlamaTokenizerFast({ tokenizer_file: JSON_LEGACY, legacy: true }) : null!;

  it("fast: decode(encode(s)) == s (with '▁' read as ' ') for text without special-token strings", () => {
    assertProperty(decodeEncodeRoundTrip(fast, fastRoundTrip), 300);
  });
  it("slow legacy: decode(encode(s)) == s minus one leading space (HF's convert_tokens_to_string)", () => {
    assertProperty(decodeEncodeRoundTrip(slow, slowLegacyRoundTrip), 300);
  });
  it("slow legacy and fast give identical ids, special-token texts included", () => {
    assertProperty(slowFastAgree(slow, fast), 300);
  });
  it("slow and fast non-legacy give identical ids for text not starting with ' ' or '▁'", () => {
    const slowNL = new LlamaTokenizer({ vocab_file: MODEL, legacy: false });
    const fastNL = new LlamaTokenizerFast({ tokenizer_file: JSON_NONLEGACY, legacy: false });
    assertProperty(slowFastAgree(slowNL, fastNL, noLeadingSpace), 300);
  });
});
