/**
 * The ModelProto reader/writer: byte-exact round trip of Meta's tokenizer.model, write-then-read identity on
 * random protos (fast-check), and typed errors for malformed files (wire format) and invalid models
 * (sentencepiece's InitializePieces checks).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TokenizerError } from "../../src/errors.ts";
import {
  type ModelProto,
  PieceType,
  parseModelProto,
  serializeModelProto,
  validateModelProto,
} from "../../src/formats/sentencepiece_model.ts";
import { defaultModelProto } from "../../src/models/llama/default_tokenizer.ts";
import { LlamaTokenizer } from "../../src/models/llama/tokenization_llama.ts";
import { SentencePieceProcessor } from "../../src/tokenizers/sentencepiece.ts";
import { HAVE_REF, TOKENIZER_MODEL, warnIfNoReference } from "./reference.ts";
import { expectTokenizerError as expectErrorIn } from "./expect_error.ts";

warnIfNoReference("sentencepiece_model");

/** Hand-encoded wire format helpers (independent of the writer under test). */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const tag = (no: number, wire: number) => varint(no * 8 + wire);
const str = (no: number, s: string) => {
  const b = [...new TextEncoder().encode(s)];
  return [...tag(no, 2), ...varint(b.length), ...b];
};
const msg = (no: number, body: number[]) => [...tag(no, 2), ...varint(body.length), ...body];
const piece = (p: string, type?: number) => msg(1, [...str(1, p), ...(type === undefined ? [] : [...tag(3, 0), type])]);

const expectTokenizerError = (f: () => unknown, pattern: RegExp, file = "tokenizer.model"): void =>
  expectErrorIn(f, pattern, file);

describe("ModelProto round trip", () => {
  it.skipIf(!HAVE_REF)("write(read(tokenizer.model)) reproduces the file byte for byte", () => {
    const bytes = new Uint8Array(readFileSync(TOKENIZER_MODEL));
    const proto = parseModelProto(bytes);
    expect(proto.pieces!.length).toBe(32000);
    expect(proto.trainer_spec!.model_type).toBe(2);
    expect(proto.trainer_spec!.byte_fallback).toBe(true);
    expect(proto.normalizer_spec!.add_dummy_prefix).toBe(true);
    expect(proto.normalizer_spec!.remove_extra_whitespaces).toBe(false);
    expect(proto.pieces![259]).toEqual({ piece: "\u2581\u2581", score: -1e9 });
    expect(Buffer.from(serializeModelProto(proto)).equals(Buffer.from(bytes))).toBe(true);
  });

  it("reads hand-encoded bytes (presence kept, negative int32, unknown fields)", () => {
    // pad_id = -1 is the 10-byte varint ff ff ff ff ff ff ff ff ff 01; fields in number order (3, 35, 43).
    const padMinus1 = [...tag(43, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    const bytes = Uint8Array.from([
      ...piece("<unk>", 2),
      ...msg(2, [...tag(3, 0), 2, ...tag(35, 0), 1, ...padMinus1]),
      ...tag(99, 0),
      5,
    ]);
    const p = parseModelProto(bytes);
    expect(p.pieces).toEqual([{ piece: "<unk>", type: 2 }]);
    expect(p.trainer_spec).toEqual({ model_type: 2, pad_id: -1, byte_fallback: true });
    expect(p.normalizer_spec).toBeUndefined();
    expect(p._unknown).toEqual([Uint8Array.from([...tag(99, 0), 5])]);
    expect([...serializeModelProto(p)]).toEqual([...bytes]);
  });

  const float32 = fc.float({ noDefaultInfinity: true });
  const pieceArb = fc.record(
    {
      piece: fc.string({ unit: "binary", minLength: 1, maxLength: 8 }),
      score: float32,
      type: fc.integer({ min: 1, max: 6 }),
    },
    { requiredKeys: ["piece"] },
  );
  const protoArb: fc.Arbitrary<ModelProto> = fc.record(
    {
      pieces: fc.array(pieceArb, { minLength: 1, maxLength: 20 }),
      trainer_spec: fc.record(
        {
          input: fc.array(fc.string(), { minLength: 1, maxLength: 3 }),
          model_type: fc.integer({ min: 1, max: 4 }),
          vocab_size: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
          character_coverage: float32,
          input_sentence_size: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          byte_fallback: fc.boolean(),
          pad_id: fc.integer({ min: -1, max: 10 }),
          unk_surface: fc.string({ unit: "binary" }),
        },
        { requiredKeys: [] },
      ),
      normalizer_spec: fc.record(
        {
          name: fc.string(),
          precompiled_charsmap: fc.uint8Array({ maxLength: 16 }),
          add_dummy_prefix: fc.boolean(),
          remove_extra_whitespaces: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
      _unknown: fc.array(
        fc
          .tuple(fc.integer({ min: 6, max: 1000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }))
          .map(([no, v]) => Uint8Array.from([...tag(no, 0), ...varint(v)])),
        { minLength: 1, maxLength: 3 },
      ),
    },
    // An empty file is refused as "not a ModelProto", so every drawn proto has pieces.
    { requiredKeys: ["pieces"] },
  );

  // Scores are float32 in the file (fc.float draws float32 values); an empty repeated field cannot be told from
  // an absent one on the wire, so the arrays drawn are non-empty.
  it("write-then-read is the identity (fast-check)", () => {
    fc.assert(
      fc.property(protoArb, (proto) => {
        const bytes = serializeModelProto(proto);
        const back = parseModelProto(bytes);
        expect(back).toEqual(proto);
        expect([...serializeModelProto(back)]).toEqual([...bytes]);
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it("the embedded default proto survives write-then-read", () => {
    const proto = defaultModelProto();
    const bytes = serializeModelProto(proto);
    expect(parseModelProto(bytes)).toEqual(proto);
  });
});

describe("malformed tokenizer.model: typed errors", () => {
  const good = Uint8Array.from([
    ...piece("<unk>", 2),
    ...piece("a"),
    ...msg(2, [...tag(3, 0), 2]),
    ...msg(3, [...str(1, "identity")]),
  ]);

  it("the small hand-made model is valid", () => {
    expect(() => new SentencePieceProcessor(parseModelProto(good))).not.toThrow();
  });

  it("every truncation either parses to a valid prefix or raises TokenizerError", () => {
    let errors = 0;
    for (let n = 1; n < good.length; n++) {
      try {
        parseModelProto(good.subarray(0, n));
      } catch (e) {
        expect(e).toBeInstanceOf(TokenizerError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(good.length / 2);
    expectTokenizerError(() => parseModelProto(good.subarray(0, 3)), /length 9 exceeds the 1 bytes that remain/);
  });

  it("empty file", () => expectTokenizerError(() => parseModelProto(new Uint8Array(0)), /empty file/));

  it("wrong wire type for a known field", () => {
    expectTokenizerError(
      () => parseModelProto(Uint8Array.from([...tag(1, 0), 1])),
      /ModelProto\.pieces: wire type varint, expected length-delimited/,
    );
    expectTokenizerError(
      () => parseModelProto(Uint8Array.from(msg(1, [...tag(2, 2), 0]))),
      /pieces\[0\]\.score: wire type length-delimited, expected 32-bit/,
    );
  });

  it("group and invalid wire types", () => {
    expectTokenizerError(() => parseModelProto(Uint8Array.from([...tag(50, 3)])), /unsupported wire type start-group/);
    expectTokenizerError(() => parseModelProto(Uint8Array.from([...tag(50, 7)])), /unsupported wire type 7/);
  });

  it("a length beyond the buffer is refused before any allocation", () => {
    expectTokenizerError(
      () => parseModelProto(Uint8Array.from([...tag(1, 2), ...varint(2 ** 31), 0])),
      /length 2147483648 exceeds the 1 bytes that remain/,
    );
    expectTokenizerError(
      () => parseModelProto(Uint8Array.from([...tag(1, 2), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
      /length > 2\^32/,
    );
  });

  it("over-long and truncated varints, field number 0", () => {
    expectTokenizerError(
      () => parseModelProto(Uint8Array.from([...tag(50, 0), ...new Array(11).fill(0x80), 0])),
      /varint longer than 10 bytes/,
    );
    expectTokenizerError(() => parseModelProto(Uint8Array.from([0x80])), /truncated varint/);
    expectTokenizerError(() => parseModelProto(Uint8Array.from([0x02, 0x00])), /invalid field number/);
  });

  it("strings must be UTF-8", () => {
    expectTokenizerError(
      () => parseModelProto(Uint8Array.from(msg(1, [...tag(1, 2), 2, 0xc3, 0x28]))),
      /pieces\[0\]\.piece: string is not valid UTF-8/,
    );
  });

  const model = (pieces: ModelProto["pieces"], byte_fallback = false): ModelProto => ({
    pieces,
    trainer_spec: { model_type: 2, byte_fallback },
  });

  it("sentencepiece's model checks", () => {
    expectTokenizerError(() => validateModelProto(model([])), /pieces is empty/);
    expectTokenizerError(() => validateModelProto(model([{ piece: "a" }])), /no UNKNOWN piece/);
    expectTokenizerError(
      () => validateModelProto(model([{ piece: "<unk>", type: 2 }, { piece: "a" }, { piece: "a" }])),
      /"a" is defined twice \(#1 and #2\)/,
    );
    expectTokenizerError(
      () => validateModelProto(model([{ piece: "<unk>", type: 2 }, { piece: "" }])),
      /piece #1 is empty/,
    );
    expectTokenizerError(() => validateModelProto(model([{ piece: "<unk>", type: 2 }, { piece: "a\0" }])), /NUL/);
    expectTokenizerError(
      () =>
        validateModelProto(
          model([
            { piece: "<unk>", type: 2 },
            { piece: "a", type: 9 },
          ]),
        ),
      /unknown type 9/,
    );
    expectTokenizerError(
      () =>
        validateModelProto(
          model([
            { piece: "<unk>", type: 2 },
            { piece: "<u2>", type: 2 },
          ]),
        ),
      /second UNKNOWN/,
    );
    expectTokenizerError(
      () =>
        validateModelProto(
          model([
            { piece: "<unk>", type: 2 },
            { piece: "<0x41>", type: PieceType.BYTE },
          ]),
        ),
      /byte_fallback is false/,
    );
    expectTokenizerError(
      () =>
        validateModelProto(
          model(
            [
              { piece: "<unk>", type: 2 },
              { piece: "<0x41>", type: PieceType.BYTE },
            ],
            true,
          ),
        ),
      /only 1 of the 256/,
    );
    expectTokenizerError(
      () =>
        validateModelProto(
          model(
            [
              { piece: "<unk>", type: 2 },
              { piece: "<0xZZ>", type: PieceType.BYTE },
            ],
            true,
          ),
        ),
      /not of the form <0xNN>/,
    );
    expectTokenizerError(
      () => new SentencePieceProcessor({ pieces: [{ piece: "<unk>", type: 2 }], trainer_spec: { model_type: 1 } }),
      /model_type is UNIGRAM; only BPE/,
    );
  });

  it("LlamaTokenizer names the file it could not read", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "bad-spm-"));
    const file = path.join(dir, "tokenizer.model");
    writeFileSync(file, Buffer.from(good.subarray(0, 5)));
    expectTokenizerError(() => new LlamaTokenizer({ vocab_file: file, legacy: true }), /exceeds/, file);
    writeFileSync(file, Buffer.from([...piece("a"), ...msg(2, [...tag(3, 0), 2])]));
    expectTokenizerError(() => new LlamaTokenizer({ vocab_file: file, legacy: true }), /no UNKNOWN piece/, file);
    expectTokenizerError(
      () => new LlamaTokenizer({ vocab_file: path.join(dir, "missing.model"), legacy: true }),
      /file not found/,
      path.join(dir, "missing.model"),
    );
  });
});
