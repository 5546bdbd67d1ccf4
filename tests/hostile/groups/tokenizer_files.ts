/** Family 3: tokenizer.json regexes that backtrack, and vocabulary ids that overflow. */
import { TokenizerError } from "../../../src/errors.ts";
import { LlamaTokenizerFast } from "../../../src/models/llama/tokenization_llama_fast.ts";
import { Tokenizer } from "../../../src/tokenizers/tokenizer.ts";
import type { Attack } from "../harness.ts";
import { tinyTokenizerJson, tokenizerFolder } from "../fixtures.ts";

type Json = Record<string, any>;
const withJson = (edit: (j: Json) => void) => {
  const j = tinyTokenizerJson() as Json;
  edit(j);
  return j;
};

/** Load the edited tokenizer.json through from_pretrained and encode a text. */
async function loadAndEncode(edit: (j: Json) => void, text = "ab") {
  const tok = await LlamaTokenizerFast.from_pretrained(tokenizerFolder({}, withJson(edit)));
  return tok.encode(text);
}

const A40 = "a".repeat(40) + "b";

export const attacks: Attack[] = [
  {
    name: "normalizer Replace regex (a+)+$ on 40 a's and a b (linear-time engine: no error, no hang)",
    // RE2 runs this pattern in linear time; the text has no match (the b comes before the end), so it encodes
    // unchanged: BOS (1), 39 a's (3), then "ab" (8), the only merge.
    run: async () => {
      const ids = await loadAndEncode(
        (j) => (j.normalizer = { type: "Replace", pattern: { Regex: "(a+)+$" }, content: "x" }),
        A40,
      );
      const expected = [1, ...Array(39).fill(3), 8];
      if (JSON.stringify(ids) !== JSON.stringify(expected)) throw new Error(`got ${ids}`);
    },
    error: null,
  },
  {
    name: "normalizer regex with lookahead and nested quantifiers (backtracking only): refused",
    run: () =>
      loadAndEncode((j) => (j.normalizer = { type: "Replace", pattern: { Regex: "(a+)+(?=b)" }, content: "x" }), A40),
    error: TokenizerError,
    message: /normalizer\.pattern\.Regex: refused: .*nested quantifiers/,
  },
  {
    name: "decoder regex with a backreference and repetition: refused",
    run: () => loadAndEncode((j) => (j.decoder = { type: "Replace", pattern: { Regex: "(a|aa)\\1*$" }, content: "x" })),
    error: TokenizerError,
    message: /decoder\.pattern\.Regex: refused/,
  },
  {
    name: "alternation overlap (a|a)*(?=c) inside a Sequence normalizer: refused",
    run: () =>
      loadAndEncode(
        (j) =>
          (j.normalizer = {
            type: "Sequence",
            normalizers: [{ type: "Replace", pattern: { Regex: "(a|a)*(?=c)" }, content: "" }],
          }),
        A40,
      ),
    error: TokenizerError,
    message: /Regex: refused/,
  },
  {
    name: "an invalid regex",
    run: () => loadAndEncode((j) => (j.normalizer = { type: "Replace", pattern: { Regex: "(" }, content: "" })),
    error: TokenizerError,
    message: /not a valid regular expression/,
  },
  {
    name: "vocab ids near 2^31 with merges (pairs keyed by both ids: no collision, xz stays xz)",
    run: async () => {
      const ids = await loadAndEncode((j) => {
        j.model.vocab = { "<unk>": 0, x: 2 ** 31 - 3, y: 2 ** 31 - 2, z: 5, xy: 2 ** 31 - 1, xz: 6 };
        j.model.merges = ["x y", "x z"];
        j.added_tokens = [];
      }, "xz");
      if (ids[ids.length - 1] !== 6 || ids.includes(2 ** 31 - 1)) throw new Error(`got ${ids}`);
    },
    error: null,
  },
  {
    name: "a vocab id of 2^31",
    run: () => loadAndEncode((j) => (j.model.vocab.x = 2 ** 31)),
    error: TokenizerError,
    message: /model\.vocab\["x"\]: expected a token id \(an integer from 0 to 2\^31 - 1\)/,
  },
  {
    name: "a negative vocab id",
    run: () => loadAndEncode((j) => (j.model.vocab.x = -1)),
    error: TokenizerError,
    message: /model\.vocab\["x"\]/,
  },
  {
    name: "a fractional vocab id",
    run: () => loadAndEncode((j) => (j.model.vocab.x = 1.5)),
    error: TokenizerError,
    message: /model\.vocab\["x"\]/,
  },
  {
    name: "two tokens with one id",
    run: () => loadAndEncode((j) => (j.model.vocab.x = 3)),
    error: TokenizerError,
    message: /id 3 is given to both/,
  },
  {
    name: "an added token id of 2^32",
    run: () => loadAndEncode((j) => (j.added_tokens[0].id = 2 ** 32)),
    error: TokenizerError,
    message: /added_tokens\[0\]\.id/,
  },
  {
    name: "tokenizer.json with 50,000 added tokens loads in linear time",
    // Adding tokens used to compare each new token with every earlier one and spread all ids into Math.max: a
    // tokenizer.json with 200,000 added tokens took more than five minutes to load.
    run: () => {
      const t = Tokenizer.from_str(
        JSON.stringify(
          withJson((j) => {
            for (let i = 0; i < 50_000; i++)
              j.added_tokens.push({
                id: 9 + i,
                content: `<t${i}>`,
                lstrip: i % 2 === 0,
                normalized: i % 3 === 0,
                special: i % 5 === 0,
              });
          }),
        ),
      );
      const ids = t.encode("a<t49999>b<t7>").ids;
      if (JSON.stringify(ids) !== JSON.stringify([3, 9 + 49999, 4, 9 + 7])) throw new Error(`got ${ids}`);
    },
    error: null,
  },
  {
    name: "a vocab token named __proto__ and constructor",
    run: () => {
      const t = Tokenizer.from_str(
        JSON.stringify(withJson((j) => Object.assign(j.model.vocab, { constructor: 9, toString: 10 }))),
      );
      const got = [t.encode("ab").ids.join(","), t.token_to_id("constructor"), t.token_to_id("hasOwnProperty")];
      if (JSON.stringify(got) !== JSON.stringify(["8", 9, null])) throw new Error(`got ${JSON.stringify(got)}`);
    },
    error: null,
  },
];
