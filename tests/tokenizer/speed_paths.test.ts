/**
 * The data structures that make the tokenizers fast must not change what they compute. Each fast path is
 * checked against the plain path it replaces, on generated input (fast-check, fixed seeds):
 * - `PairTable` (merge lookups) against a `Map` of string keys, ids up to 2^31 - 1 included, where the old
 *   composite key `left * bound + right` collided;
 * - sentencepiece's rule-free normalizer (string operations) against its UTF-8 byte loop;
 * - the BPE word cache: ids with the cache on equal ids with it off, and the cache holds at most its capacity
 *   (tokenizers' `DEFAULT_CACHE_CAPACITY`, 10,000 words, each shorter than 256 UTF-8 bytes);
 * - BPE's cut of a word before "▁": a vocabulary with a merge across such a cut keeps its words whole (the
 *   expected tokens worked out by hand; Llama's own vocabulary is checked against HF's Rust library on random
 *   strings in oracle.test.ts);
 * - the ids-only encode (`encodeIds`: no token strings, type ids, mask or Encoding objects) against the ids of
 *   the full `Encoding`, with and without a pair and special tokens, for the legacy and Metaspace pipelines;
 * - a batch (`call` on many texts: ids gathered in one run, rows made at the end) against the same texts encoded
 *   one by one, fast and slow tokenizers, with pairs, truncation and padding;
 * - the one-pass fused decoder against the decoder stages run one after the other on token strings, on id
 *   sequences dense in byte tokens (valid and invalid UTF-8 runs) and special tokens.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizerSpecWithDefaults } from "../../src/formats/sentencepiece_model.ts";
import { loadDefaultSlowTokenizer, loadDefaultTokenizer } from "../../src/models/llama/default_tokenizer.ts";
import { BPE, DEFAULT_CACHE_CAPACITY } from "../../src/tokenizers/bpe.ts";
import { PairTable } from "../../src/tokenizers/pair_table.ts";
import { buildDecoder } from "../../src/tokenizers/pipeline.ts";
import { Tokenizer } from "../../src/tokenizers/tokenizer.ts";
import { SentencePieceNormalizer } from "../../src/tokenizers/sentencepiece.ts";
import { PrefixTree } from "../../src/tokenizers/trie.ts";
import { unicodeTextArb } from "../../src/testing/arbitraries.ts";

describe("PairTable", () => {
  const idArb = fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 2 ** 31 - 100, max: 2 ** 31 - 1 }));

  it("returns what was stored last for each pair and -1 for any other pair", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(idArb, idArb, fc.integer({ min: 0, max: 2 ** 31 - 1 })), { maxLength: 300 }),
        fc.array(fc.tuple(idArb, idArb), { maxLength: 50 }),
        (entries, probes) => {
          const table = new PairTable(4);
          const model = new Map<string, number>();
          for (const [a, b, v] of entries) {
            table.set(a, b, v);
            model.set(`${a},${b}`, v);
          }
          expect(table.size).toBe(model.size);
          for (const [a, b] of [...entries.map(([a, b]) => [a, b] as const), ...probes])
            expect(table.get(a, b)).toBe(model.get(`${a},${b}`) ?? -1);
        },
      ),
      { seed: 16, numRuns: 200 },
    );
  });

  it("keeps apart pairs whose old composite keys were equal", () => {
    // With bound = 2^31, (1, 0) and (0, 2^31) had the same key 2^31; (0, 2^31 - 1) and (1, -1) likewise.
    const table = new PairTable();
    table.set(1, 0, 7);
    table.set(0, 2 ** 31 - 1, 9);
    expect(table.get(1, 0)).toBe(7);
    expect(table.get(0, 2 ** 31 - 1)).toBe(9);
    expect(table.get(0, 1)).toBe(-1);
  });
});

describe("sentencepiece normalizer without rules", () => {
  // A user-defined symbol that can never match (0xFF is no UTF-8 byte) forces the byte loop.
  const never = new PrefixTree<number>();
  never.add([0xff]);
  const textArb = fc.oneof(
    unicodeTextArb({ maxPieces: 10 }),
    fc
      .array(fc.constantFrom(" ", "  ", "▁", "a", "é", "\t", "😀", "\uD800", "\uDC00", "\n", "x y"), { maxLength: 12 })
      .map((xs) => xs.join("")),
  );

  it("equals the UTF-8 byte loop for every combination of the spec's switches", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        textArb,
        (dummy, extra, escape, suffix, text) => {
          const spec = normalizerSpecWithDefaults({
            add_dummy_prefix: dummy,
            remove_extra_whitespaces: extra,
            escape_whitespaces: escape,
          });
          const plain = new SentencePieceNormalizer(spec, suffix, null, "test");
          const bytes = new SentencePieceNormalizer(spec, suffix, never, "test");
          expect(plain.normalize(text)).toBe(bytes.normalize(text));
        },
      ),
      { seed: 16, numRuns: 2000 },
    );
  });
});

describe("BPE word cache", () => {
  it("gives the ids the uncached merge gives", () => {
    const cached = loadDefaultTokenizer();
    const uncached = loadDefaultTokenizer();
    uncached._tokenizer.model.resize_cache(0);
    fc.assert(
      fc.property(fc.array(unicodeTextArb({ maxPieces: 6 }), { minLength: 1, maxLength: 8 }), (texts) => {
        // Each text twice: the second encode of a short text is served from the cache.
        for (const t of [...texts, ...texts]) expect(cached.encode(t)).toEqual(uncached.encode(t));
      }),
      { seed: 16, numRuns: 150 },
    );
    expect(uncached._tokenizer.model.cache_size).toBe(0);
    expect(cached._tokenizer.model.cache_size).toBeGreaterThan(0);
  });

  it("holds at most its capacity, and no word of 256 UTF-8 bytes or more", () => {
    const tokenizer = loadDefaultTokenizer();
    const model = tokenizer._tokenizer.model;
    for (let i = 0; i < DEFAULT_CACHE_CAPACITY + 2000; i++) tokenizer.encode(`w${i}`);
    expect(model.cache_size).toBe(DEFAULT_CACHE_CAPACITY);
    model.clear_cache();
    // The model sees the normalized word "▁" + text: 3 + 2 * 127 = 257 bytes, then 3 + 2 * 126 = 255.
    tokenizer.encode("é".repeat(127));
    expect(model.cache_size).toBe(0);
    tokenizer.encode("é".repeat(126));
    expect(model.cache_size).toBe(1);
  });
});

describe("BPE cut before \u2581", () => {
  const bpe = (merges: Array<[string, string]>) => {
    const tokens = ["a", "b", "\u2581", ...merges.map(([l, r]) => l + r)];
    return new BPE({
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: new Map(tokens.map((t, i) => [t, i])),
      merges,
    });
  };

  it("gives the whole word's merges, cut or not", () => {
    // "a▁" crosses the cut in "a▁b": rank 0 makes it, so "▁b" (rank 1) never forms.
    expect(
      bpe([
        ["a", "\u2581"],
        ["\u2581", "b"],
      ])
        .tokenize("a\u2581b")
        .map((t) => t.value),
    ).toEqual(["a\u2581", "b"]);
    // Without a merge across the cut, the same word is cut into "a" and "▁b" and merges as a whole would.
    expect(
      bpe([
        ["\u2581", "b"],
        ["a", "b"],
      ])
        .tokenize("a\u2581b\u2581\u2581b")
        .map((t) => t.value),
    ).toEqual(["a", "\u2581b", "\u2581", "\u2581b"]);
  });
});

describe("ids-only encode", () => {
  it("equals the ids of the full Encoding", () => {
    const engines = [loadDefaultTokenizer()._tokenizer];
    // The Metaspace pipeline (prepend_scheme "first") of a non-legacy tokenizer.json, on the same vocabulary.
    const metaspace = Tokenizer.from_str(JSON.stringify(engines[0].toJSON()));
    metaspace.normalizer = null;
    metaspace.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
    engines.push(metaspace);
    fc.assert(
      fc.property(
        unicodeTextArb({ maxPieces: 6 }),
        fc.option(unicodeTextArb({ maxPieces: 4 })),
        fc.boolean(),
        (text, pair, special) => {
          for (const engine of engines)
            expect(engine.encodeIds(text, pair, special)).toEqual(engine.encode(text, pair, special).ids);
        },
      ),
      { seed: 16, numRuns: 500 },
    );
  });
});

describe("batched call", () => {
  it("equals the texts encoded one by one", () => {
    const tokenizers = [loadDefaultTokenizer(), loadDefaultSlowTokenizer()];
    for (const t of tokenizers) t.pad_token = t.eos_token;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(unicodeTextArb({ maxPieces: 5 }), fc.option(unicodeTextArb({ maxPieces: 3 }))), {
          minLength: 2,
          maxLength: 6,
        }),
        fc.boolean(),
        fc.constantFrom(false, true, "longest") as fc.Arbitrary<boolean | "longest">,
        fc.option(fc.integer({ min: 4, max: 12 })),
        (rows, withPairs, padding, max_length) => {
          const texts = rows.map(([t]) => t);
          const pairs = withPairs ? rows.map(([t, p]) => p ?? t) : undefined;
          const opts = { text_pair: pairs, padding, max_length, truncation: max_length !== null };
          for (const tokenizer of tokenizers) {
            const batch = tokenizer.call(texts, opts);
            const single = texts.map((t, i) => tokenizer.call(t, { ...opts, padding: false, text_pair: pairs?.[i] }));
            if (padding === false)
              for (let i = 0; i < texts.length; i++) {
                expect(batch.input_ids[i]).toEqual(single[i].input_ids[0]);
                expect(batch.attention_mask[i]).toEqual(single[i].attention_mask[0]);
              }
            else
              for (let i = 0; i < texts.length; i++) {
                const ids = single[i].input_ids[0];
                const kept = batch.attention_mask[i].map((m, k) => (m === 1 ? batch.input_ids[i][k] : null));
                expect(kept.filter((x) => x !== null)).toEqual(ids);
              }
          }
        },
      ),
      { seed: 16, numRuns: 200 },
    );
  });
});

describe("fused decoder", () => {
  const tokenizer = loadDefaultTokenizer();
  const engine = tokenizer._tokenizer;
  const stages = buildDecoder(engine.decoder!);
  // Byte tokens <0x00>..<0xFF> are ids 3..258 in Llama's vocabulary; 0-2 are <unk>, <s>, </s>.
  const idArb = fc.oneof(
    fc.integer({ min: 3, max: 258 }),
    fc.integer({ min: 0, max: 2 }),
    fc.integer({ min: 259, max: 31999 }),
    fc.constantFrom(29871, 259, 1678, 13), // "▁", "▁▁", "▁▁▁", "<0x0A>"
  );

  it("equals the decoder stages run one by one, with and without skipping special tokens", () => {
    fc.assert(
      fc.property(fc.array(idArb, { maxLength: 40 }), fc.boolean(), (ids, skip) => {
        const tokens = ids
          .map((id) => engine.id_to_token(id)!)
          .filter((t) => !(skip && engine.added_vocabulary.is_special_token(t)));
        expect(engine.decode(ids, skip)).toBe(stages(tokens).join(""));
      }),
      { seed: 16, numRuns: 3000 },
    );
  });
});
