import { describe, expect, it } from "vitest";
import { loadDefaultSlowTokenizer, loadDefaultTokenizer } from "../../src/models/llama/default_tokenizer.ts";

describe("long inputs", () => {
  // 200,000+ tokens: appending them with push(...ids) would overflow the call stack.
  const text = "Hello world, this is a long text. ".repeat(25000);
  it.each([
    ["fast", loadDefaultTokenizer],
    ["slow", loadDefaultSlowTokenizer],
  ])("%s: a 850 KB text encodes  and round-trips", (_, load) => {
    const tok = load();
    const ids = tok.encode(text);
    // "▁Hello ▁world , ▁this ▁is ▁a ▁long ▁text ." = 9 pieces per repetition, plus BOS, plus the final
    // space on its own ("▁", id 29871).
    expect(ids.length).toBe(1 + 9 * 25000 + 1);
    expect(ids[ids.length - 1]).toBe(29871);
    expect(tok.decode(ids, { skip_special_tokens: true })).toBe(text);
  });
});
