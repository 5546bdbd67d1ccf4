/**
 * The sentencepiece engine: the reference sp_* fields (Google's sentencepiece 0.1.97 on Meta's model), and
 * small hand-built models whose expected segmentations follow from sentencepiece's rules worked by hand
 * (highest score first, leftmost on ties; user-defined symbols never merge; UNUSED pieces split back; unknown
 * characters to bytes or to one fused <unk>; normalizer options; a one-rule precompiled charsmap).
 */
import { describe, expect, it } from "vitest";
import { TokenizerError } from "../../src/errors.ts";
import {
  type ModelProto,
  type NormalizerSpec,
  type SentencePiece,
  PieceType,
  byteToPiece,
} from "../../src/formats/sentencepiece_model.ts";
import { defaultModelProto } from "../../src/models/llama/default_tokenizer.ts";
import { SentencePieceProcessor } from "../../src/tokenizers/sentencepiece.ts";
import { HAVE_REF, TOKENIZER_MODEL, loadCases, warnIfNoReference } from "./reference.ts";
import { readFileSync } from "node:fs";

warnIfNoReference("sentencepiece");

describe.skipIf(!HAVE_REF)("SentencePieceProcessor vs sentencepiece 0.1.97 (sp_ids, sp_pieces, sp_decoded)", () => {
  const sp = HAVE_REF
    ? SentencePieceProcessor.fromBytes(new Uint8Array(readFileSync(TOKENIZER_MODEL)))
    : (undefined as never); // the body runs even when skipped
  it.each(loadCases().map((c) => [c.id, c] as const))("%s", (_id, c) => {
    expect(sp.encode(c.text)).toEqual(c.sp_ids);
    expect(sp.encode_as_pieces(c.text)).toEqual(c.sp_pieces);
    expect(sp.decode(c.sp_ids)).toBe(c.sp_decoded);
  });
});

describe("byte pieces decode as UTF-8, each invalid byte -> U+FFFD", () => {
  const sp = new SentencePieceProcessor(defaultModelProto());
  const bytes = (...b: number[]) => b.map((x) => sp.piece_to_id(byteToPiece(x)));

  it("valid sequences", () => {
    expect(sp.decode(bytes(0xe4, 0xb8, 0xad))).toBe("中");
    expect(sp.decode(bytes(0xf0, 0x9f, 0x98, 0x80))).toBe("😀");
    expect(sp.decode(bytes(0xef, 0xbf, 0xbd))).toBe("\ufffd");
  });

  it("invalid bytes, one U+FFFD each (not one per maximal subpart)", () => {
    expect(sp.decode(bytes(0xe4, 0xb8))).toBe("\ufffd\ufffd");
    expect(sp.decode(bytes(0xe4, 0xb8, 0xad, 0xff))).toBe("中\ufffd");
    expect(sp.decode(bytes(0xc0, 0x80))).toBe("\ufffd\ufffd"); // overlong NUL
    expect(sp.decode(bytes(0xed, 0xa0, 0x80))).toBe("\ufffd\ufffd\ufffd"); // UTF-8 of a surrogate
    expect(sp.decode(bytes(0xf4, 0x90, 0x80, 0x80))).toBe("\ufffd\ufffd\ufffd\ufffd"); // > U+10FFFF
    expect(sp.decode(bytes(0x80, 0x41))).toBe("\ufffdA");
  });

  it("byte runs are split by other pieces", () => {
    const ids = [...bytes(0xe4, 0xb8), sp.piece_to_id("\u2581a"), ...bytes(0xad)];
    expect(sp.decode(ids)).toBe("\ufffd\ufffd a\ufffd");
  });

  it("out-of-range ids are a typed error", () => {
    expect(() => sp.decode([32000])).toThrow(TokenizerError);
    expect(() => sp.decode([-1])).toThrow(TokenizerError);
  });
});

/** A small BPE model: <unk>, <s>, </s>, then the given pieces. */
function model(
  pieces: SentencePiece[],
  opts: { byte_fallback?: boolean; normalizer?: NormalizerSpec; treat_whitespace_as_suffix?: boolean } = {},
): SentencePieceProcessor {
  const all: SentencePiece[] = [
    { piece: "<unk>", score: 0, type: PieceType.UNKNOWN },
    { piece: "<s>", score: 0, type: PieceType.CONTROL },
    { piece: "</s>", score: 0, type: PieceType.CONTROL },
  ];
  if (opts.byte_fallback)
    for (let b = 0; b < 256; b++) all.push({ piece: byteToPiece(b), score: 0, type: PieceType.BYTE });
  all.push(...pieces);
  const proto: ModelProto = {
    pieces: all,
    trainer_spec: {
      model_type: 2,
      byte_fallback: opts.byte_fallback ?? false,
      treat_whitespace_as_suffix: opts.treat_whitespace_as_suffix,
    },
    normalizer_spec: { add_dummy_prefix: false, remove_extra_whitespaces: false, ...opts.normalizer },
  };
  return new SentencePieceProcessor(proto, "test.model");
}

const p = (piece: string, score: number, type?: number): SentencePiece =>
  type === undefined ? { piece, score } : { piece, score, type };

describe("BPE merge order", () => {
  it("highest score first", () => {
    const sp = model([p("a", -1), p("b", -1), p("ab", -5), p("ba", -2)]);
    // pairs of "aba": (a,b)=ab -5, (b,a)=ba -2 -> ba wins: a | ba
    expect(sp.encode_as_pieces("aba")).toEqual(["a", "ba"]);
  });

  it("ties go to the leftmost pair", () => {
    const sp = model([p("a", -1), p("b", -1), p("ab", -3), p("ba", -3)]);
    expect(sp.encode_as_pieces("aba")).toEqual(["ab", "a"]);
    expect(sp.encode_as_pieces("bab")).toEqual(["ba", "b"]);
  });

  it("merges cascade through newly formed pairs", () => {
    const sp = model([p("a", -1), p("b", -1), p("c", -1), p("ab", -2), p("abc", -3), p("bc", -4)]);
    // ab (-2) beats bc (-4); then ab+c = abc (-3)
    expect(sp.encode_as_pieces("abc")).toEqual(["abc"]);
  });

  it("a pair is formed only if the concatenation is a piece, even if its halves are not", () => {
    const sp = model([p("xy", -1)]);
    expect(sp.encode_as_pieces("xy")).toEqual(["xy"]);
    expect(sp.encode("xyz")).toEqual([3, 0]);
  });
});

describe("parts cut before \u2581", () => {
  const W = "\u2581";
  it("a piece holding \u2581 after another character keeps the text whole", () => {
    // "a▁" (-1) beats "▁b" (-2) on "a▁b": merging part by part ("a", "▁b") would give a, ▁b instead.
    const sp = model([p("a", -3), p("b", -3), p(W, -3), p("a" + W, -1), p(W + "b", -2)]);
    expect(sp.encode_as_pieces(`a${W}b`)).toEqual(["a" + W, "b"]);
  });

  it("without such a piece, each part merges as inside the whole text", () => {
    const sp = model([p("a", -3), p("b", -3), p(W, -3), p(W + "b", -2), p("ab", -1), p(W + W, -4)]);
    // Parts "ab", "▁b", "▁▁b": ab; ▁b; in ▁▁b the pair ▁b (-2) beats ▁▁ (-4).
    expect(sp.encode_as_pieces(`ab${W}b${W}${W}b`)).toEqual(["ab", W + "b", W, W + "b"]);
  });
});

describe("piece types", () => {
  it("USER_DEFINED symbols stay whole and never merge", () => {
    const sp = model([p("a", -1), p("b", -1), p("<sep>", 0, PieceType.USER_DEFINED), p("b<", -0.5), p("ab", -2)]);
    expect(sp.encode_as_pieces("ab<sep>ab")).toEqual(["ab", "<sep>", "ab"]);
  });

  it("UNUSED pieces are formed, then split back into the symbols they came from", () => {
    const sp = model([p("a", -1), p("b", -1), p("c", -1), p("ab", -1, PieceType.UNUSED), p("abc", -3)]);
    // ab (UNUSED) forms, ab+c -> abc is a NORMAL piece and stays
    expect(sp.encode_as_pieces("abc")).toEqual(["abc"]);
    // alone, ab is resegmented
    expect(sp.encode_as_pieces("ab")).toEqual(["a", "b"]);
  });

  it("CONTROL pieces are never formed from text", () => {
    const sp = model([p("<", -1), p("s", -1), p(">", -1), p("<s", -2)]);
    expect(sp.encode_as_pieces("<s>")).toEqual(["<s", ">"]);
  });
});

describe("unknown characters", () => {
  it("without byte_fallback, consecutive unknowns fuse into one <unk> and decode as ' ⁇ '", () => {
    const sp = model([p("a", -1)]);
    expect(sp.encode_as_pieces("xyaz")).toEqual(["xy", "a", "z"]);
    expect(sp.encode("xyaz")).toEqual([0, 3, 0]);
    expect(sp.decode([0, 3, 0])).toBe(" \u2047 a \u2047 ");
  });

  it("with byte_fallback, each unknown character becomes its UTF-8 bytes", () => {
    const sp = model([p("a", -1)], { byte_fallback: true });
    expect(sp.encode_as_pieces("a中")).toEqual(["a", "<0xE4>", "<0xB8>", "<0xAD>"]);
    expect(sp.decode(sp.encode("a中a"))).toBe("a中a");
  });
});

describe("normalizer options", () => {
  const pieces = [p("\u2581", -1), p("a", -1), p("b", -1), p("\u2581a", -2), p("\u2581b", -2), p("a\u2581", -3)];

  it("add_dummy_prefix + escape_whitespaces", () => {
    const sp = model(pieces, { normalizer: { add_dummy_prefix: true } });
    expect(sp.normalize("a b")).toBe("\u2581a\u2581b");
    expect(sp.encode_as_pieces("a b")).toEqual(["\u2581a", "\u2581b"]);
    expect(sp.decode(sp.encode("a b"))).toBe("a b");
  });

  it("remove_extra_whitespaces drops leading/trailing spaces and folds runs", () => {
    const sp = model(pieces, { normalizer: { add_dummy_prefix: true, remove_extra_whitespaces: true } });
    expect(sp.normalize("  a   b  ")).toBe("\u2581a\u2581b");
    expect(sp.normalize("   ")).toBe("");
  });

  it("escape_whitespaces=false keeps spaces", () => {
    const sp = model(pieces, { normalizer: { add_dummy_prefix: true, escape_whitespaces: false } });
    expect(sp.normalize("a b")).toBe(" a b");
  });

  it("treat_whitespace_as_suffix puts the dummy space at the end", () => {
    const sp = model(pieces, { normalizer: { add_dummy_prefix: true }, treat_whitespace_as_suffix: true });
    expect(sp.normalize("a b")).toBe("a\u2581b\u2581");
  });

  it("decode strips the dummy prefix only when the model adds one", () => {
    const withPrefix = model(pieces, { normalizer: { add_dummy_prefix: true } });
    const without = model(pieces, { normalizer: { add_dummy_prefix: false } });
    const ids = [withPrefix.piece_to_id("\u2581a"), withPrefix.piece_to_id("\u2581b")];
    expect(withPrefix.decode(ids)).toBe("a b");
    expect(without.decode(ids)).toBe(" a b");
  });

  it("a precompiled charsmap rule (hand-built double array: 'A' -> 'a')", () => {
    // Darts units: root (offset 1); node 1^0x41 = 64 with label 0x41, has_leaf, offset 1; leaf 65 with value 0.
    // A real double array spans whole 256-unit blocks, so every byte lookup stays inside it.
    const units = new Uint32Array(256);
    units[0] = 1 << 10;
    units[64] = 0x41 | (1 << 8) | (1 << 10);
    units[65] = 0x80000000 | 0;
    const trie = new Uint8Array(units.buffer);
    const normalized = new TextEncoder().encode("a\0");
    const blob = new Uint8Array(4 + trie.length + normalized.length);
    new DataView(blob.buffer).setUint32(0, trie.length, true);
    blob.set(trie, 4);
    blob.set(normalized, 4 + trie.length);
    const sp = model(pieces, { normalizer: { add_dummy_prefix: true, precompiled_charsmap: blob } });
    expect(sp.normalize("AbA B")).toBe("\u2581aba\u2581B");

    const broken = blob.slice();
    new DataView(broken.buffer).setUint32(0, 10_000, true);
    expect(() => model(pieces, { normalizer: { precompiled_charsmap: broken } })).toThrow(
      /trie size 10000 exceeds the blob size/,
    );
  });
});
