/**
 * Fuzzing the safetensors reader: valid files, mutated (bit flips, truncations, byte insertions, header
 * rewrites, length-prefix rewrites), and random bytes. Every input must end in a parsed file or a
 * CheckpointError, never another exception (a RangeError from a typed array, a TypeError, a hang).
 *
 * When a mutated file does parse, the result is checked against an independent reading of its header
 * (names, shapes, raw bytes), so "success" cannot hide a wrong answer. Seeded: the same 2,000 inputs each run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CheckpointError } from "../../src/errors.ts";
import { parseSafetensors, serializeSafetensors } from "../../src/formats/safetensors.ts";
import { type DType, Tensor } from "../../src/tensor/tensor.ts";

const DTYPES: DType[] = ["float32", "float16", "bfloat16", "int32", "int64", "bool"];
const SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, BOOL: 1 };

/** A valid file made of a few small tensors with arbitrary bytes. */
const validFile = fc
  .record({
    tensors: fc.array(
      fc.record({
        name: fc.string({ maxLength: 6 }),
        dtype: fc.constantFrom(...DTYPES),
        shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
        fill: fc.integer({ min: 0, max: 255 }),
      }),
      { maxLength: 4 },
    ),
    metadata: fc.option(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }), { nil: undefined }),
  })
  .map(({ tensors, metadata }) => {
    const map = new Map<string, Tensor>();
    for (const { name, dtype, shape, fill } of tensors) {
      if (name === "__metadata__") continue;
      const t = Tensor.zeros(dtype, shape);
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (fill + 31 * i) & 0xff;
      map.set(name, t);
    }
    return serializeSafetensors(map, metadata);
  });

/** Values a header rewrite puts in place of a field: edge numbers, wrong types, arbitrary JSON. */
const oddValue = fc.oneof(
  fc.constantFrom(-1, 0, 1, 0.5, 2 ** 31, 2 ** 53, 2 ** 53 - 1, 2 ** 64, 1e308, "F32", "BF16", "U8", "I64", "BOOL", "F64", null, true, [], {}),
  fc.constantFrom([0, 0], [0, 2 ** 53], [2 ** 62, 2 ** 62], [8, 4], [0, 4, 8], [2 ** 20, 2 ** 20, 2 ** 20], ["1"]),
  fc.integer({ min: -8, max: 64 }),
  fc.array(fc.integer({ min: -2, max: 40 }), { maxLength: 3 }),
  fc.jsonValue({ maxDepth: 2 }),
);

function headerOf(file: Uint8Array): { text: string; end: number } | null {
  if (file.length < 8) return null;
  const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > file.length) return null;
  return { text: new TextDecoder().decode(file.subarray(8, 8 + n)), end: 8 + n };
}

function withHeader(text: string, data: Uint8Array, pad: boolean): Uint8Array {
  const json = new TextEncoder().encode(pad ? text + " ".repeat((8 - (new TextEncoder().encode(text).length % 8)) % 8) : text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

type Mutation = (file: Uint8Array) => Uint8Array;

const bitFlips: fc.Arbitrary<Mutation> = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }).map((flips) => (file) => {
  const out = file.slice();
  if (out.length === 0) return out;
  for (const [pos, bit] of flips) out[pos % out.length] ^= 1 << bit;
  return out;
});

const truncation: fc.Arbitrary<Mutation> = fc.nat().map((cut) => (file) => file.slice(0, cut % (file.length + 1)));

const insertion: fc.Arbitrary<Mutation> = fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([pos, bytes]) => (file) => {
  const at = pos % (file.length + 1);
  const out = new Uint8Array(file.length + bytes.length);
  out.set(file.subarray(0, at), 0);
  out.set(bytes, at);
  out.set(file.subarray(at), at + bytes.length);
  return out;
});

const lengthRewrite: fc.Arbitrary<Mutation> = fc
  .oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: -16, max: 16 }).map((d) => BigInt(d)))
  .map((v) => (file) => {
    const out = file.slice();
    if (out.length < 8) return out;
    const dv = new DataView(out.buffer);
    const next = v >= 0n && v > 16n ? v : dv.getBigUint64(0, true) + v; // small values are deltas
    dv.setBigUint64(0, BigInt.asUintN(64, next), true);
    return out;
  });

/** Replace one field of one entry (or the entry, or the metadata) by an odd value; keep the length prefix right. */
const headerRewrite: fc.Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.constantFrom("dtype", "shape", "data_offsets", "entry", "extra", "__metadata__", "delete"), oddValue, fc.boolean())
  .map(([pick, field, value, pad]) => (file) => {
    const h = headerOf(file);
    if (h === null) return file;
    const header = JSON.parse(h.text) as Record<string, any>;
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    const data = file.subarray(h.end);
    if (field === "__metadata__") header.__metadata__ = value;
    else if (names.length > 0) {
      const name = names[pick % names.length];
      const entry = header[name];
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) header[name] = {}; // an earlier rewrite replaced it
      if (field === "entry") header[name] = value;
      else if (field === "delete") delete header[name];
      else if (field === "extra") header[name].extra = value;
      else header[name][field] = value;
    }
    return withHeader(JSON.stringify(header), data, pad);
  });

const input: fc.Arbitrary<Uint8Array> = fc.oneof(
  validFile,
  fc.tuple(validFile, fc.oneof(bitFlips, truncation, insertion, lengthRewrite, headerRewrite, headerRewrite)).map(([f, m]) => m(f)),
  fc.tuple(validFile, headerRewrite, headerRewrite).map(([f, a, b]) => b(a(f))),
  fc.uint8Array({ maxLength: 128 }),
);

/** Independent check of a successful parse: every header entry is there with its shape and raw bytes. */
function checkAgainstHeader(file: Uint8Array, tensors: Map<string, Tensor>): void {
  const h = headerOf(file)!;
  const header = JSON.parse(h.text) as Record<string, any>;
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  expect(tensors.size).toBe(names.length);
  let covered = 0;
  for (const name of names) {
    const e = header[name];
    const t = tensors.get(name)!;
    expect(t.shape).toEqual(e.shape);
    expect(t.data.byteLength).toBe(e.shape.reduce((a: number, b: number) => a * b, 1) * SIZE[e.dtype]);
    const raw = file.subarray(h.end + e.data_offsets[0], h.end + e.data_offsets[1]);
    expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(raw)).toBe(true);
    covered += e.data_offsets[1] - e.data_offsets[0];
  }
  expect(covered).toBe(file.length - h.end);
}

describe("fuzzing parseSafetensors", () => {
  it("every input parses correctly or raises a CheckpointError (2,000 seeded inputs)", () => {
    const outcomes = { ok: 0, checkpointError: 0 };
    fc.assert(
      fc.property(input, (file) => {
        let parsed;
        try {
          parsed = parseSafetensors(file, "fuzz.safetensors");
        } catch (e) {
          if (!(e instanceof CheckpointError)) throw e;
          expect(e.file).toBe("fuzz.safetensors");
          outcomes.checkpointError++;
          return;
        }
        checkAgainstHeader(file, parsed.tensors);
        outcomes.ok++;
      }),
      { seed: 20240611, numRuns: 2000 },
    );
    // Both outcomes are exercised in quantity, so neither branch is vacuous.
    expect(outcomes.ok + outcomes.checkpointError).toBe(2000);
    expect(outcomes.ok).toBeGreaterThan(300);
    expect(outcomes.checkpointError).toBeGreaterThan(300);
  });
});
