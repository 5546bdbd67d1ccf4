/**
 * The shared tokenizer surface (call, padding, truncation, attention_mask, pairs, special tokens, added
 * tokens, decode options, saving) on the embedded Llama 2 tokenizers, slow and fast.
 *
 * Expected values are assembled by hand from Llama 2 piece ids (from the reference cases: "Hello world!" ->
 * [1, 15043 "▁Hello", 3186 "▁world", 29991 "!"], " Hello" -> [1, 29871 "▁", 15043]) and HF's documented rules
 * (padding side, truncation side, template "<s> $A <s> $B", ...), not from the code under test.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TokenizerError, ValueError } from "../../src/errors.ts";
import { serializeModelProto } from "../../src/formats/sentencepiece_model.ts";
import {
  defaultModelProto,
  loadDefaultSlowTokenizer,
  loadDefaultTokenizer,
} from "../../src/models/llama/default_tokenizer.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import type { PreTrainedTokenizerBase } from "../../src/tokenization_utils_base.ts";

const BOS = 1;
const EOS = 2;
const HELLO = 15043; // "▁Hello"
const WORLD = 3186; // "▁world"
const SPACE = 29871; // "▁"
const A = 263; // "▁a"
const B = 289; // "▁b"
const PAD = 32000; // the first id after the 32,000 pieces

type Tok = ReturnType<typeof loadDefaultTokenizer> | ReturnType<typeof loadDefaultSlowTokenizer>;
const makers: Array<[string, () => Tok]> = [
  ["slow", () => loadDefaultSlowTokenizer()],
  ["fast", () => loadDefaultTokenizer()],
];

describe.each(makers)("%s tokenizer", (name, make) => {
  const withPad = () => {
    const tok = make();
    expect(tok.add_special_tokens({ pad_token: "<pad>" })).toBe(1);
    return tok;
  };

  it("ids of the special tokens, sizes", () => {
    const tok = make();
    expect([tok.bos_token_id, tok.eos_token_id, tok.unk_token_id, tok.pad_token_id]).toEqual([BOS, EOS, 0, null]);
    expect([tok.bos_token, tok.eos_token, tok.unk_token, tok.pad_token]).toEqual(["<s>", "</s>", "<unk>", null]);
    expect(tok.vocab_size).toBe(32000);
    expect(tok.length).toBe(32000);
  });

  it("encode with and without special tokens", () => {
    const tok = make();
    expect(tok.encode("Hello world")).toEqual([BOS, HELLO, WORLD]);
    expect(tok.encode("Hello world", { add_special_tokens: false })).toEqual([HELLO, WORLD]);
    expect(tok.tokenize("Hello world")).toEqual(["▁Hello", "▁world"]);
  });

  it("padding needs a pad token; add_special_tokens returns the number added", () => {
    const tok = make();
    expect(() => tok.call(["Hello", "Hello world"], { padding: true })).toThrow(ValueError);
    expect(tok.add_special_tokens({ pad_token: "<pad>" })).toBe(1);
    expect(tok.add_special_tokens({ pad_token: "<pad>" })).toBe(0);
    expect(tok.pad_token_id).toBe(PAD);
    expect(tok.length).toBe(32001);
    expect(tok.vocab_size).toBe(32000);
    expect(tok.convert_ids_to_tokens(PAD)).toBe("<pad>");
    expect(tok.add_special_tokens({ pad_token: "</s>" })).toBe(0);
    expect(tok.pad_token_id).toBe(EOS);
  });

  it(`padding=true pads to the longest, on the ${name === "fast" ? "left" : "right"} by default (HF's class default)`, () => {
    const tok = withPad();
    const out = tok.call(["Hello", "Hello world"], { padding: true });
    if (name === "fast") {
      expect(out.input_ids).toEqual([
        [PAD, BOS, HELLO],
        [BOS, HELLO, WORLD],
      ]);
      expect(out.attention_mask).toEqual([
        [0, 1, 1],
        [1, 1, 1],
      ]);
    } else {
      expect(out.input_ids).toEqual([
        [BOS, HELLO, PAD],
        [BOS, HELLO, WORLD],
      ]);
      expect(out.attention_mask).toEqual([
        [1, 1, 0],
        [1, 1, 1],
      ]);
    }
    expect(tok.call(["Hello", "Hello world"], { padding: "longest", padding_side: "left" }).input_ids).toEqual([
      [PAD, BOS, HELLO],
      [BOS, HELLO, WORLD],
    ]);
  });

  it("padding='max_length', pad_to_multiple_of", () => {
    const tok = withPad();
    const out = tok.call(["Hello", "Hello world"], { padding: "max_length", max_length: 5, padding_side: "right" });
    expect(out.input_ids).toEqual([
      [BOS, HELLO, PAD, PAD, PAD],
      [BOS, HELLO, WORLD, PAD, PAD],
    ]);
    expect(out.attention_mask).toEqual([
      [1, 1, 0, 0, 0],
      [1, 1, 1, 0, 0],
    ]);
    expect(tok.call(["Hello"], { padding: true, pad_to_multiple_of: 4, padding_side: "right" }).input_ids).toEqual([
      [BOS, HELLO, PAD, PAD],
    ]);
    // No model_max_length and no max_length: HF warns and does not pad.
    expect(tok.call(["Hello", "Hello world"], { padding: "max_length" }).input_ids).toEqual([
      [BOS, HELLO],
      [BOS, HELLO, WORLD],
    ]);
  });

  it("truncation keeps max_length tokens, special tokens included", () => {
    const tok = make();
    expect(tok.call("Hello world Hello world", { truncation: true, max_length: 3 }).input_ids).toEqual([
      [BOS, HELLO, WORLD],
    ]);
    // max_length alone activates truncation (HF's backward-compatible default).
    expect(tok.call("Hello world Hello world", { max_length: 2 }).input_ids).toEqual([[BOS, HELLO]]);
    tok.truncation_side = "left";
    expect(tok.call("Hello world Hello", { truncation: true, max_length: 3 }).input_ids).toEqual([[BOS, WORLD, HELLO]]);
    // truncation=true without max_length and no model maximum: no truncation.
    expect(tok.call("Hello world Hello", { truncation: true }).input_ids).toEqual([[BOS, HELLO, WORLD, HELLO]]);
  });

  it("pairs: <s> A <s> B, token types and special-token mask", () => {
    const tok = make();
    const out = tok.call("Hello", {
      text_pair: "world",
      return_token_type_ids: true,
      return_special_tokens_mask: true,
    });
    expect(out.input_ids).toEqual([[BOS, HELLO, BOS, WORLD]]);
    expect(out.token_type_ids).toEqual([[0, 0, 1, 1]]);
    expect(out.special_tokens_mask).toEqual([[1, 0, 1, 0]]);
    expect(tok.build_inputs_with_special_tokens([HELLO], [WORLD])).toEqual([BOS, HELLO, BOS, WORLD]);
    expect(tok.create_token_type_ids_from_sequences([HELLO, WORLD], [WORLD])).toEqual([0, 0, 0, 1, 1]);
    expect(tok.get_special_tokens_mask([HELLO, WORLD])).toEqual([1, 0, 0]);
    expect(tok.get_special_tokens_mask([HELLO], [WORLD])).toEqual([1, 0, 1, 0]);
    expect(tok.get_special_tokens_mask([BOS, HELLO, EOS], null, true)).toEqual([1, 0, 1]);
    expect(tok.num_special_tokens_to_add()).toBe(1);
    expect(tok.num_special_tokens_to_add(true)).toBe(2);
  });

  it("add_eos_token / add_bos_token change encode (fast: update_post_processor)", () => {
    const tok = make();
    tok.add_eos_token = true;
    expect(tok.encode("Hello")).toEqual([BOS, HELLO, EOS]);
    expect(tok.get_special_tokens_mask([HELLO])).toEqual([1, 0, 1]);
    tok.add_bos_token = false;
    expect(tok.encode("Hello")).toEqual([HELLO, EOS]);
    expect(tok.call("Hello", { text_pair: "world" }).input_ids).toEqual([[HELLO, EOS, WORLD, EOS]]);
  });

  it("special tokens inside the text become their ids", () => {
    const tok = make();
    expect(tok.encode("Hello</s>")).toEqual([BOS, HELLO, EOS]);
    expect(tok.encode("<unk>", { add_special_tokens: false })).toEqual([0]);
    // split_special_tokens: the text "<s>" is plain text, as raw sentencepiece sees it (sp_ids of "<s>")
    expect(tok.encode("<s>", { split_special_tokens: true, add_special_tokens: false })).toEqual([529, 29879, 29958]);
  });

  it("additional special tokens are cut out of the text the same way by slow and fast", () => {
    const tok = make();
    expect(tok.add_special_tokens({ additional_special_tokens: ["<foo>"] })).toBe(1);
    // "a " and " b" are encoded on their own: "▁a▁" -> ▁a ▁ ; "▁▁b" -> ▁ ▁b
    expect(tok.encode("a <foo> b")).toEqual([BOS, A, SPACE, PAD, SPACE, B]);
    expect(tok.decode([BOS, A, SPACE, PAD], { skip_special_tokens: true })).toBe("a ");
  });

  it("convert_tokens_to_ids / convert_ids_to_tokens", () => {
    const tok = make();
    expect(tok.convert_tokens_to_ids(["▁Hello", "<s>", "not-a-piece"])).toEqual([HELLO, BOS, 0]);
    expect(tok.convert_tokens_to_ids("▁world")).toBe(WORLD);
    expect(tok.convert_ids_to_tokens([BOS, HELLO, WORLD])).toEqual(["<s>", "▁Hello", "▁world"]);
    expect(tok.convert_ids_to_tokens([BOS, HELLO], true)).toEqual(["▁Hello"]);
  });

  it("decode options, batch_decode, Tensor input, bad ids", () => {
    const tok = make();
    const ids = tok.encode("Hello , world . I 'm here");
    expect(tok.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: true })).toBe(
      "Hello, world. I'm here",
    );
    expect(tok.decode(ids, { skip_special_tokens: true })).toBe("Hello , world . I 'm here");
    const rows = [tok.encode("Hello world"), tok.encode("Hello ! world")];
    expect(tok.batch_decode(rows, { skip_special_tokens: true })).toEqual(["Hello world", "Hello ! world"]);
    expect(tok.batch_decode(new Tensor("int64", rows[0], [1, 3]), { skip_special_tokens: true })).toEqual([
      "Hello world",
    ]);
    expect(tok.decode(new Tensor("int32", rows[0], [3]), { skip_special_tokens: true })).toBe("Hello world");
    expect(() => tok.decode([HELLO, 32000])).toThrow(TokenizerError);
    expect(() => tok.decode([1.5])).toThrow(TokenizerError);
  });

  it("save_vocabulary writes Llama 2's tokenizer.model", async () => {
    const tok = make();
    const dir = mkdtempSync(path.join(tmpdir(), `save-${name}-`));
    const [file] = await tok.save_vocabulary(dir, "x");
    expect(path.basename(file)).toBe("x-tokenizer.model");
    expect(readFileSync(file).equals(Buffer.from(serializeModelProto(defaultModelProto())))).toBe(true);
    await expect(tok.save_vocabulary(path.join(dir, "missing"))).rejects.toThrow(TokenizerError);
  });
});

describe("slow and fast differ where HF's do", () => {
  const slow = loadDefaultSlowTokenizer();
  const fast = loadDefaultTokenizer();

  it("the leading-space quirk of decode", () => {
    const ids = [BOS, HELLO, WORLD];
    expect(slow.decode(ids)).toBe("<s>Hello world");
    expect(fast.decode(ids)).toBe("<s> Hello world");
    expect(slow.decode([SPACE, HELLO])).toBe("Hello");
    expect(fast.decode([SPACE, HELLO])).toBe(" Hello");
  });

  it("non-special added tokens: slow splits the raw text, fast matches the normalized text", () => {
    expect(slow.add_tokens(["<bar>"])).toBe(1);
    expect(fast.add_tokens(["<bar>"])).toBe(1);
    const x = 921; // "▁x"
    const y = 343; // "▁y"
    expect(slow.encode("x <bar> y")).toEqual([BOS, x, SPACE, PAD, SPACE, y]);
    // tokenizers normalizes the added token too ("▁<bar>"), so it swallows the space before it
    expect(fast.encode("x <bar> y")).toEqual([BOS, x, PAD, y]);
    // slow decode joins the text around a non-special added token with spaces (HF's default
    // spaces_between_special_tokens=True in _decode)
    expect(slow.decode([BOS, x, SPACE, PAD, SPACE, y])).toBe("<s>x  <bar> y");
    expect(slow.decode([BOS, x, SPACE, PAD, SPACE, y], { spaces_between_special_tokens: false })).toBe("<s>x <bar>y");
  });

  it("get_special_tokens_mask without already_has_special_tokens works for both", () => {
    const both: PreTrainedTokenizerBase[] = [slow, fast];
    for (const t of both) expect(t.get_special_tokens_mask([HELLO])).toEqual([1, 0]);
  });
});

describe.each(makers)("%s save_pretrained -> from_pretrained", (name, make) => {
  it("rebuilds the same tokenizer, added tokens and options included", async () => {
    const tok = make();
    tok.add_special_tokens({ pad_token: "<pad>", additional_special_tokens: ["<foo>"] });
    tok.add_eos_token = true;
    const dir = mkdtempSync(path.join(tmpdir(), `pretrained-${name}-`));
    const files = (await tok.save_pretrained(dir)).map((f) => path.basename(f)).sort();
    expect(files).toEqual(
      name === "fast"
        ? ["special_tokens_map.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json"]
        : ["special_tokens_map.json", "tokenizer.model", "tokenizer_config.json"],
    );
    const { LlamaTokenizer } = await import("../../src/models/llama/tokenization_llama.ts");
    const { LlamaTokenizerFast } = await import("../../src/models/llama/tokenization_llama_fast.ts");
    const back =
      name === "fast" ? await LlamaTokenizerFast.from_pretrained(dir) : await LlamaTokenizer.from_pretrained(dir);
    expect([back.pad_token_id, back.eos_token_id, back.length]).toEqual([PAD, EOS, 32002]);
    expect(back.additional_special_tokens).toEqual(["<foo>"]);
    expect(back.encode("Hello <foo>")).toEqual([BOS, HELLO, SPACE, 32001, EOS]);
    expect(back.padding_side).toBe(tok.padding_side);
    expect(back.call(["Hello", "Hello world"], { padding: true }).input_ids).toEqual(
      tok.call(["Hello", "Hello world"], { padding: true }).input_ids,
    );
  });
});
