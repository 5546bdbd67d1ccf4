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
import {
  bitFlips,
  insertion,
  safetensorsHeaderOf as headerOf,
  safetensorsHeaderRewrite as headerRewrite,
  safetensorsLengthRewrite as lengthRewrite,
  truncation,
} from "../fuzz/mutate.ts";

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
    metadata: fc.option(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }), {
      nil: undefined,
    }),
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

const input: fc.Arbitrary<Uint8Array> = fc.oneof(
  validFile,
  fc
    .tuple(validFile, fc.oneof(bitFlips, truncation, insertion, lengthRewrite, headerRewrite, headerRewrite))
    .map(([f, m]) => m(f)),
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
