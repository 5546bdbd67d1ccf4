/**
 * tokenizer.json / tokenizer_config.json / special_tokens_map.json validation: each malformed file gives a
 * TokenizerError naming the file and the JSON path of the problem. Plus the small hand-made pipeline used
 * here encodes and decodes as tokenizers' rules say.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TokenizerError } from "../../src/errors.ts";
import { parseTokenizerJSON } from "../../src/formats/tokenizer_json.ts";
import { LlamaTokenizer } from "../../src/models/llama/tokenization_llama.ts";
import { LlamaTokenizerFast } from "../../src/models/llama/tokenization_llama_fast.ts";
import { serializeModelProto } from "../../src/formats/sentencepiece_model.ts";
import { Tokenizer } from "../../src/tokenizers/tokenizer.ts";
import { expectTokenizerError } from "./expect_error.ts";

/** A tiny legacy-Llama-style tokenizer.json. */
function tiny(): any {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: "<unk>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: "<s>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: false,
      vocab: { "<unk>": 0, "<s>": 1, "▁": 2, a: 3, b: 4, "▁a": 5, ab: 6, "▁ab": 7 },
      merges: ["▁ a", "a b", "▁a b"],
    },
  };
}

const expectError = (f: () => unknown, pattern: RegExp, file = "tokenizer.json") =>
  expectTokenizerError(f, pattern, file);

const load = (obj: unknown) => Tokenizer.from_str(JSON.stringify(obj));

describe("a tiny tokenizer.json works as tokenizers would", () => {
  const tok = load(tiny());
  it("encodes: Prepend + Replace, merges by rank, fused unk, template", () => {
    // "ab ab" -> "▁ab▁ab": ▁a (rank 0) then ▁a+b (rank 2), twice
    expect(tok.encode("ab ab").ids).toEqual([1, 7, 7]);
    // "ba": ▁ b a -> (▁,b) no merge; (b,a) no merge
    expect(tok.encode("ba").ids).toEqual([1, 2, 4, 3]);
    // unknown x, y fused into one <unk>
    expect(tok.encode("axyb", null, false).ids).toEqual([5, 0, 4]);
    expect(tok.encode("a", "b").type_ids).toEqual([0, 0, 1, 1]);
  });
  it("decodes: Replace, Fuse, Strip", () => {
    expect(tok.decode([1, 7, 7])).toBe("<s> ab ab");
    expect(tok.decode([1, 7, 7], true)).toBe("ab ab");
    expect(() => tok.decode([8])).toThrow(TokenizerError);
  });
});

describe("normalized added tokens (expected values observed with HF tokenizers 0.23.2 on this same file)", () => {
  const j = tiny();
  j.added_tokens.push(
    { id: 8, content: "zz", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
    { id: 9, content: "<q>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
  );
  const tok = load(j);
  it("are matched in the normalized text, in their normalized form", () => {
    expect(tok.encode("a zz").ids).toEqual([1, 5, 8]);
    expect(tok.encode("a zz").tokens).toEqual(["<s>", "▁a", "▁zz"]);
    expect(tok.encode("azz").ids).toEqual([1, 5, 0]);
    expect(tok.encode("x <q> a").ids).toEqual([1, 2, 0, 9, 5]);
  });
  it("decode shows the normalized form, and skip_special_tokens keeps a normalized special token", () => {
    expect(tok.decode([1, 5, 8])).toBe("<s> a zz");
    expect(tok.decode([1, 5, 8], true)).toBe("a zz");
    expect(tok.decode([5, 9, 5], true)).toBe("a <q> a");
    expect(tok.id_to_token(8)).toBe("▁zz");
    expect(tok.token_to_id("zz")).toBe(8);
  });
});

describe("malformed tokenizer.json", () => {
  const mutate = (f: (j: any) => void) => {
    const j = tiny();
    f(j);
    return j;
  };

  it("not JSON / not an object / no model", () => {
    expectError(() => parseTokenizerJSON("{ not json"), /not valid JSON/);
    expectError(() => parseTokenizerJSON("[]"), /\(top level\): expected an object, got an array/);
    expectError(() => load(mutate((j) => delete j.model)), /model: missing/);
  });

  it("model: unsupported type, missing or bad vocab", () => {
    expectError(() => load(mutate((j) => (j.model.type = "WordPiece"))), /model\.type: unsupported model "WordPiece"/);
    expectError(() => load(mutate((j) => delete j.model.vocab)), /model\.vocab: missing/);
    expectError(() => load(mutate((j) => (j.model.vocab = []))), /model\.vocab: expected an object, got an array/);
    expectError(() => load(mutate((j) => (j.model.vocab = {}))), /model\.vocab: empty vocabulary/);
    expectError(
      () => load(mutate((j) => (j.model.vocab.a = "3"))),
      /model\.vocab\["a"\]: expected a token id \(an integer from 0 to 2\^31 - 1\), got string "3"/,
    );
    expectError(() => load(mutate((j) => (j.model.vocab.a = -1))), /model\.vocab\["a"\]: expected a token id/);
    expectError(() => load(mutate((j) => (j.model.vocab.a = 4))), /model\.vocab: id 4 is given to both "a" and "b"/);
    expectError(
      () => load(mutate((j) => (j.model.unk_token = "<oov>"))),
      /model\.unk_token: "<oov>" is not in the vocabulary/,
    );
    expectError(() => load(mutate((j) => (j.model.dropout = 0.1))), /model\.dropout: BPE-dropout/);
    expectError(
      () => load(mutate((j) => (j.model.fuse_unk = "yes"))),
      /model\.fuse_unk: expected a boolean, got string "yes"/,
    );
  });

  it("merges naming unknown tokens, or malformed", () => {
    expectError(
      () => load(mutate((j) => j.model.merges.push("a c"))),
      /model\.merges\[3\]: token "c" of merge "a c" is not in the vocabulary/,
    );
    expectError(
      () => load(mutate((j) => j.model.merges.push("b a"))),
      /model\.merges\[3\]: merged token "ba" of merge "b a" is not in the vocabulary/,
    );
    expectError(() => load(mutate((j) => j.model.merges.push("a b c"))), /model\.merges\[3\]: expected "a b"/);
    expectError(
      () => load(mutate((j) => j.model.merges.push(42))),
      /model\.merges\[3\]: expected a "a b" string or a \["a", "b"\] pair/,
    );
    expectError(() => load(mutate((j) => (j.model.merges = "a b"))), /model\.merges: expected an array/);
    // The newer pair form is accepted.
    expect(
      load(
        mutate(
          (j) =>
            (j.model.merges = [
              ["▁", "a"],
              ["a", "b"],
              ["▁a", "b"],
            ]),
        ),
      ).encode("ab").ids,
    ).toEqual([1, 7]);
  });

  it("pipeline components", () => {
    expectError(
      () => load(mutate((j) => (j.normalizer = { type: "Precompiled" }))),
      /normalizer\.type: unsupported normalizer "Precompiled"/,
    );
    expectError(
      () => load(mutate((j) => (j.normalizer.normalizers[1].pattern = { Glob: "*" }))),
      /normalizer\.normalizers\[1\]\.pattern: expected \{"String": \.\.\.\} or \{"Regex": \.\.\.\}/,
    );
    expectError(
      () => load(mutate((j) => (j.normalizer.normalizers[1].pattern = { Regex: "(" }))),
      /normalizer\.normalizers\[1\]\.pattern\.Regex: not a valid regular expression/,
    );
    expectError(
      () => load(mutate((j) => (j.pre_tokenizer = { type: "Metaspace", replacement: "ab" }))),
      /pre_tokenizer\.replacement: expected a single character/,
    );
    expectError(
      () =>
        load(mutate((j) => (j.pre_tokenizer = { type: "Metaspace", replacement: "▁", prepend_scheme: "sometimes" }))),
      /prepend_scheme: expected "first", "always" or "never"/,
    );
    expectError(
      () => load(mutate((j) => (j.pre_tokenizer = { type: "ByteLevel" }))),
      /pre_tokenizer\.type: unsupported pre_tokenizer "ByteLevel"/,
    );
    expectError(
      () => load(mutate((j) => (j.decoder.decoders[3].start = -1))),
      /decoder\.decoders\[3\]\.start: expected a non-negative integer/,
    );
    expectError(
      () => load(mutate((j) => (j.decoder = { type: "WordPiece" }))),
      /decoder\.type: unsupported decoder "WordPiece"/,
    );
    expectError(
      () => load(mutate((j) => (j.post_processor.single[0].SpecialToken.id = "<cls>"))),
      /post_processor\.single: special token "<cls>" is missing from special_tokens/,
    );
    expectError(
      () => load(mutate((j) => (j.post_processor.special_tokens["<s>"].ids = [1, 2]))),
      /ids and tokens differ in length/,
    );
  });

  it("added tokens", () => {
    expectError(
      () => load(mutate((j) => (j.added_tokens[0].content = 5))),
      /added_tokens\[0\]\.content: expected a string, got number 5/,
    );
    expectError(
      () => load(mutate((j) => (j.added_tokens[1].special = "true"))),
      /added_tokens\[1\]\.special: expected a boolean/,
    );
    expectError(
      () => load(mutate((j) => j.added_tokens.push({ id: 12, content: "<new>", special: true }))),
      /added token "<new>" declares id 12 but gets id 8/,
    );
  });

  it("a missing file names its path", () => {
    expectError(
      () => new LlamaTokenizerFast({ tokenizer_file: "/nonexistent/tokenizer.json", legacy: true }),
      /\/nonexistent\/tokenizer\.json: file not found/,
      "/nonexistent/tokenizer.json",
    );
  });
});

/** A minimal valid sentencepiece BPE model (the config tests need one, not Llama's 32,000 pieces). */
const TINY_MODEL = {
  pieces: [
    { piece: "<unk>", score: 0, type: 2 },
    { piece: "<s>", score: 0, type: 3 },
    { piece: "</s>", score: 0, type: 3 },
    { piece: "\u2581", score: -1 },
    { piece: "a", score: -2 },
  ],
  trainer_spec: { model_type: 2 },
};

describe("malformed tokenizer_config.json / special_tokens_map.json", () => {
  function dirWith(files: Record<string, string>): string {
    const dir = mkdtempSync(path.join(tmpdir(), "tokcfg-"));
    writeFileSync(path.join(dir, "tokenizer.model"), serializeModelProto(TINY_MODEL));
    writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tiny()));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    return dir;
  }
  async function expectAsyncError(p: Promise<unknown>, pattern: RegExp, file: string): Promise<void> {
    const e = await p.then(
      () => null,
      (err) => err,
    );
    expect(e).toBeInstanceOf(TokenizerError);
    expect((e as TokenizerError).file).toBe(file);
    expect((e as Error).message).toMatch(pattern);
  }

  it("each bad field is named", async () => {
    const cases: Array<[string, RegExp]> = [
      ["{ nope", /not valid JSON/],
      ["[1]", /expected a JSON object/],
      [`{"add_bos_token": "yes"}`, /add_bos_token: expected a boolean or null, got "yes"/],
      [`{"legacy": 1}`, /legacy: expected a boolean or null/],
      [`{"padding_side": "up"}`, /padding_side: expected "left" or "right", got "up"/],
      [`{"model_max_length": "big"}`, /model_max_length: expected a non-negative number/],
      [`{"pad_token": 5}`, /pad_token: expected a token object, got 5/],
      [`{"bos_token": {"content": 1}}`, /bos_token\.content: expected a string/],
      [`{"additional_special_tokens": "<x>"}`, /additional_special_tokens: expected a list/],
      [`{"added_tokens_decoder": []}`, /added_tokens_decoder: expected an object/],
      [
        `{"added_tokens_decoder": {"x": {"content": "<s>"}}}`,
        /added_tokens_decoder: key "x" is not a non-negative integer id/,
      ],
      [
        `{"added_tokens_decoder": {"1": {"content": "<s>", "lstrip": "no"}}}`,
        /added_tokens_decoder\[1\]\.lstrip: expected a boolean/,
      ],
    ];
    for (const [text, pattern] of cases) {
      const dir = dirWith({ "tokenizer_config.json": text });
      await expectAsyncError(LlamaTokenizer.from_pretrained(dir), pattern, "tokenizer_config.json");
      await expectAsyncError(LlamaTokenizerFast.from_pretrained(dir), pattern, "tokenizer_config.json");
    }
  });

  it("special_tokens_map.json is read when the config has no added_tokens_decoder", async () => {
    await expectAsyncError(
      LlamaTokenizer.from_pretrained(dirWith({ "special_tokens_map.json": `{"pad_token": []}` })),
      /pad_token: expected a token object/,
      "special_tokens_map.json",
    );
    const tok = await LlamaTokenizer.from_pretrained(
      dirWith({
        "special_tokens_map.json": `{"pad_token": {"content": "</s>", "lstrip": false}}`,
        "tokenizer_config.json": `{"legacy": true}`,
      }),
    );
    expect(tok.pad_token).toBe("</s>");
    expect(tok.pad_token_id).toBe(2);
  });

  it("a folder without tokenizer files", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tokcfg-empty-"));
    await expectAsyncError(LlamaTokenizer.from_pretrained(dir), /not found/, "tokenizer.model");
    await expectAsyncError(
      LlamaTokenizerFast.from_pretrained(dir),
      /neither tokenizer\.json nor tokenizer\.model/,
      "tokenizer.json",
    );
  });
});
