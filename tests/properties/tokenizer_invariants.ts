/**
 * Tokenizer invariants as fast-check properties over Unicode text (src/testing/arbitraries.ts unicodeTextArb),
 * built from the tokenizers they check so mutations.test.ts can run them against broken variants.
 *
 * What HF itself guarantees, from ../shared/reference/tokenizer/README.md (HF's Rust tokenizers and HF's
 * LlamaTokenizer over Google's sentencepiece, 235 cases plus an 80,000-string random cross-check):
 * - fast: decode(encode(s), skip_special_tokens) == s with every "▁" read as " ", for every s that contains no
 *   special-token text ("<s>", "</s>", "<unk>" become control ids and are skipped);
 * - slow, legacy: the same, minus one leading space (convert_tokens_to_string strips the first "▁" and then
 *   sentencepiece strips the dummy prefix as well);
 * - slow legacy and fast (tokenizer.json) give identical ids on every string, special-token texts included;
 * - slow and fast non-legacy give identical ids except for texts starting with " " or "▁" (Metaspace's
 *   prepend_scheme "first" does not add a second "▁", the slow tokenizer always does).
 */
import fc from "fast-check";
import { unicodeTextArb } from "../../src/testing/arbitraries.ts";
import { InvariantViolation } from "./invariants.ts";

/** The part of the tokenizer surface these properties use (both LlamaTokenizer and LlamaTokenizerFast). */
export interface TextTokenizer {
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
}

const SPECIAL_TEXTS = ["<s>", "</s>", "<unk>"];

/** Text with anything a tokenizer meets (ASCII control characters included), but no special-token text. */
export const plainTextArb = unicodeTextArb({ controls: true }).filter((s) => !SPECIAL_TEXTS.some((t) => s.includes(t)));

/** Text dense in special-token look-alikes as well. */
export const anyTextArb = unicodeTextArb({ controls: true });

const show = (s: string) => JSON.stringify(s);

/** What decode(encode(s)) gives in HF's fast tokenizer: "▁" comes back as " ". */
export const fastRoundTrip = (s: string): string => s.replaceAll("\u2581", " ");

/** ... and in HF's slow legacy tokenizer: the same, minus one leading space. */
export const slowLegacyRoundTrip = (s: string): string => {
  const t = fastRoundTrip(s);
  return t.startsWith(" ") ? t.slice(1) : t;
};

/** decode(encode(s), skip_special_tokens=true) equals `expected(s)` (see the header for why per tokenizer). */
export function decodeEncodeRoundTrip(tok: TextTokenizer, expected: (s: string) => string) {
  return fc.property(plainTextArb, (s) => {
    const ids = tok.encode(s);
    const back = tok.decode(ids, { skip_special_tokens: true });
    if (back !== expected(s))
      throw new InvariantViolation(
        `decode(encode(${show(s)})) = ${show(back)}, expected ${show(expected(s))} (ids ${JSON.stringify(ids)})`,
      );
  });
}

/** The two tokenizers give the same ids for every text `applies` accepts. */
export function slowFastAgree(slow: TextTokenizer, fast: TextTokenizer, applies: (s: string) => boolean = () => true) {
  return fc.property(anyTextArb.filter(applies), (s) => {
    const a = slow.encode(s);
    const b = fast.encode(s);
    if (a.length !== b.length || a.some((id, i) => id !== b[i])) {
      throw new InvariantViolation(`encode(${show(s)}): slow ${JSON.stringify(a)} != fast ${JSON.stringify(b)}`);
    }
  });
}

/** Where HF's non-legacy slow and fast tokenizers agree: texts not starting with " " or "▁". */
export const noLeadingSpace = (s: string): boolean => !s.startsWith(" ") && !s.startsWith("\u2581");
