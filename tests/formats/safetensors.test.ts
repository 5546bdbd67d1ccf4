/**
 * safetensors reader/writer.
 *
 * Ground truth: the reference files in ../shared/reference (written by the real safetensors library), read
 * here by an independent few-line parser; the byte arrays of the Rust crate's own unit tests
 * (`test_serialization`, `test_empty`); and files built by hand byte by byte for every malformation.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CheckpointError, ValueError } from "../../src/errors.ts";
import {
  MAX_HEADER_SIZE,
  loadSafetensors,
  parseSafetensors,
  saveSafetensors,
  serializeSafetensors,
} from "../../src/formats/safetensors.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const REF = path.resolve(process.cwd(), "../shared/reference");
if (!existsSync(REF)) console.warn(`safetensors tests: ${REF} is absent, the reference-file tests are skipped`);

const FILE_DTYPE: Record<string, string> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I32: "int32",
  I64: "int64",
  BOOL: "bool",
};

/** Independent minimal reader: the header JSON and, per tensor, its raw byte range in the file. */
function minimalParse(bytes: Buffer) {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  const { __metadata__: metadata, ...entries } = header;
  const tensors = Object.entries(
    entries as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>,
  ).map(([name, e]) => ({
    name,
    dtype: e.dtype,
    shape: e.shape,
    raw: bytes.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]),
  }));
  return { metadata: metadata ?? null, tensors };
}

function rawBytes(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function referenceFiles(): string[] {
  if (!existsSync(REF)) return [];
  const models = path.join(REF, "models");
  const out: string[] = [];
  for (const d of readdirSync(models).sort()) {
    const dir = path.join(models, d);
    if (!existsSync(path.join(dir, "config.json"))) continue;
    for (const f of readdirSync(dir).sort()) if (f.endsWith(".safetensors")) out.push(path.join(dir, f));
  }
  return out;
}

/** A file built by hand: u64 LE length, the header text padded with spaces to 8 (unless `pad: false`), data. */
function makeFile(
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  opts: { pad?: boolean; claimedLength?: bigint } = {},
): Uint8Array {
  let text = typeof header === "string" ? header : JSON.stringify(header);
  if (opts.pad !== false) while (Buffer.byteLength(text) % 8 !== 0) text += " ";
  const json = Buffer.from(text, "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(opts.claimedLength ?? BigInt(json.length));
  return new Uint8Array(Buffer.concat([prefix, json, data]));
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function expectCheckpointError(fn: () => unknown, pattern: RegExp, file = "bad.safetensors"): CheckpointError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  const err = caught as CheckpointError;
  expect(err.file).toBe(file);
  expect(err.message).toMatch(pattern);
  return err;
}

describe.skipIf(!existsSync(REF))("reference files", () => {
  const files = referenceFiles();

  it("finds every reference safetensors file", () => {
    // 17 checkpoints: 16 single-file + 1 two-shard, each with reference.safetensors; six of them also hold
    // reference_bf16.safetensors (bfloat16-compute outputs) and three generate_reference.safetensors
    expect(files.length).toBe(16 + 2 + 17 + 6 + 3);
  });

  it.each(files.map((f) => [path.relative(REF, f), f]))(
    "%s: names, shapes, dtypes and bytes match an independent parse",
    async (_rel, file) => {
      const bytes = readFileSync(file);
      const expected = minimalParse(bytes);
      const got = await loadSafetensors(file);
      expect(got.metadata).toEqual(expected.metadata);
      expect(got.tensors.size).toBe(expected.tensors.length);
      for (const e of expected.tensors) {
        const t = got.tensors.get(e.name);
        expect(t, e.name).toBeDefined();
        expect(t!.dtype).toBe(FILE_DTYPE[e.dtype]);
        expect(t!.shape).toEqual(e.shape);
        expect(rawBytes(t!).equals(e.raw), e.name).toBe(true);
      }
    },
  );

  it.each(files.map((f) => [path.relative(REF, f), f]))(
    "%s: serializing what was read reproduces the file byte for byte",
    (_rel, file) => {
      const bytes = readFileSync(file);
      const parsed = parseSafetensors(bytes, file);
      const out = serializeSafetensors(parsed.tensors, parsed.metadata);
      expect(Buffer.from(out).equals(bytes)).toBe(true);
    },
  );

  it("returns views into the file buffer (no second copy) and keeps the file's order", () => {
    const file = path.join(REF, "models/llama-mha/model.safetensors");
    const bytes = readFileSync(file);
    const parsed = parseSafetensors(bytes, file);
    const expectedOrder = minimalParse(bytes).tensors.map((t) => t.name);
    expect([...parsed.tensors.keys()]).toEqual(expectedOrder);
    for (const t of parsed.tensors.values()) expect(t.data.buffer).toBe(bytes.buffer);
    // the first data byte of the first tensor sits right after the header
    const first = parsed.tensors.values().next().value!;
    expect(first.data.byteOffset).toBe(bytes.byteOffset + 8 + Number(bytes.readBigUInt64LE(0)));
  });

  it("loadSafetensors reads the file once: all tensors share one buffer no larger than the file", async () => {
    const file = path.join(REF, "models/llama-vocab32000/model.safetensors");
    const size = readFileSync(file).length;
    const { tensors } = await loadSafetensors(file);
    const buffers = new Set([...tensors.values()].map((t) => t.data.buffer));
    expect(buffers.size).toBe(1);
    // one read: the tensors lie inside one file-sized range of that buffer (kernel memory may be a larger arena)
    const views = [...tensors.values()].map((t) => t.data);
    const lo = Math.min(...views.map((v) => v.byteOffset));
    const hi = Math.max(...views.map((v) => v.byteOffset + v.byteLength));
    expect(hi - lo).toBeLessThanOrEqual(size);
  });
});

describe("serialization matches the safetensors crate", () => {
  it("reproduces test_serialization (F32 [1,2,3] named attn.0) byte for byte", () => {
    const t = new Tensor("float32", new Float32Array([0, 1, 2, 3, 4, 5]), [1, 2, 3]);
    // from safetensors/src/tensor.rs, test_serialization
    const expected = [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95,
      111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0,
      64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ];
    expect([...serializeSafetensors({ "attn.0": t })]).toEqual(expected);
  });

  it("reproduces test_empty with and without metadata", () => {
    expect([...serializeSafetensors(new Map())]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const withMeta = Buffer.from(serializeSafetensors({}, { framework: "pt" }));
    expect(withMeta.readBigUInt64LE(0)).toBe(40n);
    expect(withMeta.subarray(8).toString("latin1")).toBe('{"__metadata__":{"framework":"pt"}}     ');
    expect(parseSafetensors(withMeta, "m").metadata).toEqual({ framework: "pt" });
  });

  it("orders tensors by descending dtype alignment (I64, F32, I32, BF16, F16, BOOL) then by code point", () => {
    const tensors = new Map<string, Tensor>([
      ["b", new Tensor("bool", [1, 0, 1], [3])],
      ["h", new Tensor("float16", [1.5], [1])],
      ["z", new Tensor("float32", [1], [1])],
      ["\u{1F600}", new Tensor("float32", [2], [1])],
      ["\uFB01", new Tensor("float32", [3], [1])], // U+FB01 sorts before U+1F600 by code point, after it in UTF-16
      ["a", new Tensor("float32", [4], [1])],
      ["i", new Tensor("int32", [7], [1])],
      ["l", new Tensor("int64", [9], [1])],
      ["g", new Tensor("bfloat16", [2], [1])],
    ]);
    const bytes = Buffer.from(serializeSafetensors(tensors));
    const names = minimalParse(bytes).tensors.map((t) => t.name);
    expect(names).toEqual(["l", "a", "z", "\uFB01", "\u{1F600}", "i", "g", "h", "b"]);
    const parsed = parseSafetensors(bytes, "mixed");
    expect([...parsed.tensors.keys()]).toEqual(names);
    for (const [name, t] of tensors) {
      const back = parsed.tensors.get(name)!;
      expect(back.dtype).toBe(t.dtype);
      expect(rawBytes(back).equals(rawBytes(t))).toBe(true);
      // every tensor stays aligned, hence a view
      expect(back.data.buffer).toBe(bytes.buffer);
    }
  });

  it("round-trips every dtype with exact values", () => {
    const tensors = {
      f32: new Tensor("float32", [1.5, -0, Infinity, NaN], [2, 2]),
      f16: new Tensor("float16", new Uint16Array([0x3c00, 0x7e00, 0x8001]), [3]),
      bf16: new Tensor("bfloat16", new Uint16Array([0x3f80, 0xffc1]), [2, 1]),
      i32: new Tensor("int32", [-2147483648, 2147483647], [2]),
      i64: new Tensor("int64", new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]), [2]),
      b: new Tensor("bool", [0, 1, 1], [3]),
      empty: new Tensor("float32", [], [0, 4]),
      scalar: new Tensor("int32", [42], []),
    };
    const parsed = parseSafetensors(serializeSafetensors(tensors), "all");
    for (const [name, t] of Object.entries(tensors)) {
      const back = parsed.tensors.get(name)!;
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(rawBytes(back).equals(rawBytes(t))).toBe(true);
    }
    expect(parsed.metadata).toBeNull();
  });

  it("refuses tensors it cannot write, with a ValueError naming them", () => {
    const t = new Tensor("float32", [1], [1]);
    expect(() => serializeSafetensors({ __metadata__: t })).toThrow(ValueError);
    expect(() => serializeSafetensors({ ["bad\uD800"]: t })).toThrow(/surrogate/);
    expect(() => serializeSafetensors({ x: t }, { k: 1 as unknown as string })).toThrow(/metadata "k"/);
    const broken = new Tensor("float32", [1, 2], [2]);
    broken.shape = [3];
    expect(() => serializeSafetensors({ broken })).toThrow(/"broken"/);
  });
});

describe("unaligned data", () => {
  it("copies a tensor whose offset is not a multiple of its element size, and views the aligned ones", () => {
    // The crate does not require the header to be padded; an unpadded one can leave "b" at an odd file offset.
    const header =
      '{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}';
    const data = new Uint8Array([1, ...f32Bytes([1.25, -3])]);
    const bytes = makeFile(header, data, { pad: false });
    expect((8 + header.length + 1) % 4).not.toBe(0);
    const parsed = parseSafetensors(bytes, "unaligned");
    const b = parsed.tensors.get("b")!;
    expect(Array.from(b.data as Float32Array)).toEqual([1.25, -3]);
    expect(b.data.buffer).not.toBe(bytes.buffer);
    expect(parsed.tensors.get("a")!.data.buffer).toBe(bytes.buffer);
  });

  it("handles an input view that starts at an odd offset of its buffer", () => {
    const file = serializeSafetensors({ x: new Tensor("float32", [1, 2, 3], [3]) });
    const big = new Uint8Array(file.length + 1);
    big.set(file, 1);
    const parsed = parseSafetensors(big.subarray(1), "odd");
    expect(Array.from(parsed.tensors.get("x")!.data as Float32Array)).toEqual([1, 2, 3]);
  });
});

describe("malformed files raise a CheckpointError naming the problem", () => {
  const good = () => makeFile({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, f32Bytes([1, 2]));
  const parse = (b: Uint8Array) => () => parseSafetensors(b, "bad.safetensors");

  it("accepts the well-formed base case", () => {
    expect(Array.from(parseSafetensors(good(), "ok").tensors.get("x")!.data as Float32Array)).toEqual([1, 2]);
  });

  it("file shorter than 8 bytes", () => {
    expectCheckpointError(parse(new Uint8Array(5)), /5 bytes, shorter than the 8-byte/);
    expectCheckpointError(parse(new Uint8Array(0)), /0 bytes/);
  });

  it("file cut inside the header", () => {
    const g = good();
    expectCheckpointError(parse(g.subarray(0, 20)), /header length \d+ bytes runs past the end of the file \(20 bytes/);
  });

  it("file cut inside the data", () => {
    const g = good();
    expectCheckpointError(parse(g.subarray(0, g.length - 3)), /"x".*past the end of the data section \(5 bytes/);
  });

  it("header length past the end of the file", () => {
    expectCheckpointError(
      parse(makeFile("{}", new Uint8Array(0), { claimedLength: 1000n })),
      /header length 1000 bytes runs past the end of the file/,
    );
  });

  it.each([
    ["2^40", 2n ** 40n],
    ["2^63", 2n ** 63n],
    ["2^64 - 1", 2n ** 64n - 1n],
    ["MAX_HEADER_SIZE + 1", BigInt(MAX_HEADER_SIZE) + 1n],
  ])("header claiming %s bytes fails at once, before any allocation", (_label, n) => {
    const file = new Uint8Array(16);
    new DataView(file.buffer).setBigUint64(0, n, true);
    file.set([123, 125], 8);
    expectCheckpointError(parse(file), /exceeds the 100000000-byte limit/);
  });

  it("overlapping offsets", () => {
    const f = makeFile(
      { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } },
      f32Bytes([1, 2, 3]),
    );
    expectCheckpointError(parse(f), /"b".*overlap the previous tensor, which ends at 8/);
  });

  it("two tensors at the same offsets", () => {
    const f = makeFile(
      { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [0, 4] } },
      f32Bytes([1]),
    );
    expectCheckpointError(parse(f), /overlap/);
  });

  it("out-of-range offsets", () => {
    const f = makeFile({ x: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f32Bytes([1, 2]));
    expectCheckpointError(parse(f), /"x": data_offsets \[0, 16\] run past the end of the data section \(8 bytes/);
  });

  it("data not starting at byte 0", () => {
    const f = makeFile({ x: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32Bytes([1, 2]));
    expectCheckpointError(parse(f), /"x": gap of 4 bytes/);
  });

  it("a gap between tensors", () => {
    const f = makeFile(
      { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [8, 12] } },
      f32Bytes([1, 2, 3]),
    );
    expectCheckpointError(parse(f), /"b": gap of 4 bytes before data_offsets \[8, 12\]/);
  });

  it("trailing bytes after the last tensor", () => {
    const f = makeFile({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, f32Bytes([1, 2, 3]));
    expectCheckpointError(parse(f), /4 trailing bytes after the last tensor/);
  });

  it("shape / byte length mismatch", () => {
    const f = makeFile({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f32Bytes([1, 2]));
    expectCheckpointError(parse(f), /"x": shape \[3\] of F32 needs 12 bytes, data_offsets \[0, 8\] span 8/);
  });

  it("shape product overflow", () => {
    const f = makeFile(
      { x: { dtype: "F32", shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } },
      f32Bytes([1, 2]),
    );
    expectCheckpointError(parse(f), /"x": shape \[1073741824, 1073741824, 1073741824\] overflows/);
    const g = makeFile({ x: { dtype: "I64", shape: [2 ** 51], data_offsets: [0, 8] } }, f32Bytes([1, 2]));
    expectCheckpointError(parse(g), /byte length beyond 2\^53/);
  });

  it("bad JSON", () => {
    expectCheckpointError(parse(makeFile('{"x": {"dtype": "F32",')), /header is not valid JSON/);
    expectCheckpointError(parse(makeFile("")), /header is not valid JSON/);
  });

  it("header that is not UTF-8", () => {
    const f = makeFile("{}      ");
    f[9] = 0xff;
    expectCheckpointError(parse(f), /header is not valid UTF-8/);
  });

  it("a byte-order mark before the JSON", () => {
    expectCheckpointError(parse(makeFile("\uFEFF{}")), /not valid JSON/);
  });

  it.each([["[]"], ["42"], ["null"], ['"str"']])("non-object JSON %s", (text) => {
    expectCheckpointError(parse(makeFile(text)), /header must be a JSON object/);
  });

  it("unknown dtype", () => {
    const f = makeFile({ x: { dtype: "F33", shape: [1], data_offsets: [0, 4] } }, f32Bytes([1]));
    expectCheckpointError(parse(f), /"x": unknown dtype "F33"/);
    const p = makeFile({ x: { dtype: "constructor", shape: [1], data_offsets: [0, 4] } }, f32Bytes([1]));
    expectCheckpointError(parse(p), /unknown dtype "constructor"/);
  });

  it("format dtypes llama-ts does not hold (U8, F64) are refused by name", () => {
    const u8 = makeFile({ x: { dtype: "U8", shape: [4], data_offsets: [0, 4] } }, new Uint8Array([0, 1, 2, 3]));
    expectCheckpointError(parse(u8), /"x": unsupported dtype "U8"/);
    const f64 = makeFile({ x: { dtype: "F64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    expectCheckpointError(parse(f64), /unsupported dtype "F64"/);
  });

  it.each([
    ["entry not an object", { x: [1, 2] }, /"x": expected an object/],
    ["dtype not a string", { x: { dtype: 5, shape: [1], data_offsets: [0, 4] } }, /"dtype" must be a string/],
    ["missing dtype", { x: { shape: [1], data_offsets: [0, 4] } }, /"dtype" must be a string/],
    ["shape not an array", { x: { dtype: "F32", shape: 1, data_offsets: [0, 4] } }, /"shape" must be an array/],
    [
      "negative dim",
      { x: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } },
      /"shape" must be an array of non-negative integers/,
    ],
    ["fractional dim", { x: { dtype: "F32", shape: [1.5], data_offsets: [0, 4] } }, /"shape"/],
    ["string dim", { x: { dtype: "F32", shape: ["1"], data_offsets: [0, 4] } }, /"shape"/],
    ["dim beyond 2^53", { x: { dtype: "F32", shape: [2 ** 60], data_offsets: [0, 4] } }, /"shape"/],
    [
      "three offsets",
      { x: { dtype: "F32", shape: [1], data_offsets: [0, 4, 8] } },
      /"data_offsets" must be \[begin, end\]/,
    ],
    ["offsets not an array", { x: { dtype: "F32", shape: [1], data_offsets: "0,4" } }, /"data_offsets"/],
    ["negative offset", { x: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } }, /"data_offsets"/],
    ["begin > end", { x: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, /begin > end/],
    [
      "metadata not a map",
      { __metadata__: "pt", x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } },
      /"__metadata__" must be an object of string -> string/,
    ],
    [
      "metadata value not a string",
      { __metadata__: { format: 1 }, x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } },
      /"__metadata__"/,
    ],
  ])("wrong field types: %s", (_label, header, pattern) => {
    expectCheckpointError(parse(makeFile(header, f32Bytes([1]))), pattern as RegExp);
  });

  it("a null __metadata__ reads as no metadata (serde Option), and unknown entry keys are ignored (serde default)", () => {
    const f = makeFile(
      { __metadata__: null, x: { dtype: "F32", shape: [1], data_offsets: [0, 4], extra: true } },
      f32Bytes([7]),
    );
    const parsed = parseSafetensors(f, "ok");
    expect(parsed.metadata).toBeNull();
    expect(Array.from(parsed.tensors.get("x")!.data as Float32Array)).toEqual([7]);
  });

  it("a zero-size tensor and an empty header are valid", () => {
    expect(parseSafetensors(makeFile({}), "e").tensors.size).toBe(0);
    const f = makeFile(
      {
        e: { dtype: "F32", shape: [0, 3], data_offsets: [0, 0] },
        x: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
      },
      f32Bytes([1]),
    );
    const parsed = parseSafetensors(f, "z");
    expect(parsed.tensors.get("e")!.shape).toEqual([0, 3]);
    expect(parsed.tensors.get("e")!.data.length).toBe(0);
  });
});

describe("files on disk", () => {
  it("saveSafetensors writes what serializeSafetensors returns, and loadSafetensors reads it back", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "st-"));
    const file = path.join(dir, "t.safetensors");
    const tensors = { w: new Tensor("bfloat16", [1, 2, 3, 4], [2, 2]), ids: new Tensor("int64", [5, 6], [2]) };
    await saveSafetensors(file, tensors, { format: "pt" });
    expect(readFileSync(file).equals(Buffer.from(serializeSafetensors(tensors, { format: "pt" })))).toBe(true);
    const back = await loadSafetensors(file);
    expect(back.metadata).toEqual({ format: "pt" });
    expect(back.tensors.get("w")!.tolist()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(back.tensors.get("ids")!.tolist()).toEqual([5, 6]);
  });

  it("a missing file is a CheckpointError naming the path", async () => {
    const missing = path.join(tmpdir(), "definitely-missing-llama-ts.safetensors");
    await expect(loadSafetensors(missing)).rejects.toThrow(CheckpointError);
    await expect(loadSafetensors(missing)).rejects.toThrow(`${missing}: file not found`);
  });
});

describe("loadSafetensors reads large files tensor by tensor", () => {
  const REF_MODELS = path.resolve(process.cwd(), "../shared/reference/models");
  it.skipIf(!existsSync(REF_MODELS))(
    "the per-tensor path gives the same names, shapes, dtypes and bytes as the one-read path",
    async () => {
      for (const name of ["llama-bf16", "llama-gqa", "llama-cls"]) {
        const file = path.join(REF_MODELS, name, "model.safetensors");
        const whole = await loadSafetensors(file);
        const pieces = await loadSafetensors(file, { single_read_limit: 0 });
        expect([...pieces.tensors.keys()]).toEqual([...whole.tensors.keys()]);
        expect(pieces.metadata).toEqual(whole.metadata);
        for (const [k, t] of whole.tensors) {
          const p = pieces.tensors.get(k)!;
          expect(p.dtype).toBe(t.dtype);
          expect(p.shape).toEqual(t.shape);
          expect(
            Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).equals(
              Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
            ),
          ).toBe(true);
        }
        // each tensor read into an allocation of its own: no two views overlap
        const ranges = [...pieces.tensors.values()]
          .map((t) => [t.data.byteOffset, t.data.byteOffset + t.data.byteLength] as const)
          .sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
      }
    },
  );

  it("the per-tensor path validates the header first: a huge claimed header fails without reading it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "llama-ts-st-"));
    const file = path.join(dir, "huge.safetensors");
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 1n << 40n, true);
    writeFileSync(file, bytes);
    await expect(loadSafetensors(file, { single_read_limit: 0 })).rejects.toThrow(/exceeds the 100000000-byte limit/);
  });
});
