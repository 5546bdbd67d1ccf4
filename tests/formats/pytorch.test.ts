/**
 * PyTorch checkpoints: the restricted unpickler, the zip and legacy containers, the torch.save writer.
 *
 * Ground truth: ../shared/reference/pth (files written by PyTorch 1.13's own torch.save from the tensors of
 * ../models/llama-gqa, so every tensor must equal that model.safetensors bit for bit), the Meta .pth files of
 * ../shared/reference/meta (shapes listed in their expected.json), and files assembled byte by byte in
 * torch_bytes.ts, independently of the code under test.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CheckpointError, UnsafePickleError } from "../../src/errors.ts";
import {
  concatChunks,
  loadTorchCheckpoint,
  memorySource,
  parseTorchCheckpoint,
  serializeTorchCheckpoint,
} from "../../src/formats/pytorch.ts";
import { loadSafetensors } from "../../src/formats/safetensors.ts";
import { ALLOWED_GLOBALS } from "../../src/formats/torch_pickle.ts";
import { type ByteSource, crc32 } from "../../src/formats/zip.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { PickleBytes, type TestTensor, f32bytes, legacyFile, stateDictPickle, storedZip } from "./torch_bytes.ts";

const REF = path.resolve(process.cwd(), "../shared/reference");
const PTH = path.join(REF, "pth");
const havePth = existsSync(PTH);
if (!havePth) console.warn(`pytorch tests: ${PTH} is absent, the reference-file tests are skipped`);

function bytesOf(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function parse(bytes: Uint8Array) {
  return parseTorchCheckpoint(memorySource(bytes), "test.bin").tensors;
}

function expectSameTensors(got: Map<string, Tensor>, want: Map<string, Tensor>) {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, t] of want) {
    const g = got.get(name)!;
    expect(g.dtype, name).toBe(t.dtype);
    expect(g.shape, name).toEqual(t.shape);
    expect(bytesOf(g).equals(bytesOf(t)), name).toBe(true);
  }
}

describe.skipIf(!havePth)("reference .bin files written by PyTorch", () => {
  const source = () => loadSafetensors(path.join(REF, "models/llama-gqa/model.safetensors"));

  it("zip/ and legacy/ load to the tensors of llama-gqa's model.safetensors", async () => {
    const want = (await source()).tensors;
    const zip = loadTorchCheckpoint(path.join(PTH, "zip/pytorch_model.bin"));
    expect(zip.format).toBe("zip");
    expectSameTensors(zip.tensors, want);
    const legacy = loadTorchCheckpoint(path.join(PTH, "legacy/pytorch_model.bin"));
    expect(legacy.format).toBe("legacy");
    expectSameTensors(legacy.tensors, want);
  });

  it("sharded/: the two shards together hold every tensor, each where the index says", async () => {
    const want = (await source()).tensors;
    const index = JSON.parse(readFileSync(path.join(PTH, "sharded/pytorch_model.bin.index.json"), "utf8"));
    const all = new Map<string, Tensor>();
    for (const shard of new Set(Object.values(index.weight_map) as string[])) {
      for (const [k, t] of loadTorchCheckpoint(path.join(PTH, "sharded", shard)).tensors) {
        expect(index.weight_map[k]).toBe(shard);
        all.set(k, t);
      }
    }
    expectSameTensors(all, want);
  });

  for (const [folder, global] of [
    ["evil", "posix.system"],
    ["evil_eval", "__builtin__.eval"],
  ]) {
    it(`${folder}/ is refused naming ${global}, before any storage is read`, () => {
      const bytes = readFileSync(path.join(PTH, folder, "pytorch_model.bin"));
      const reads: [number, number][] = [];
      const src: ByteSource = {
        size: bytes.length,
        read: (o, n) => (reads.push([o, n]), bytes.subarray(o, o + n)),
      };
      let err: unknown;
      try {
        parseTorchCheckpoint(src, "pytorch_model.bin");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UnsafePickleError);
      expect((err as UnsafePickleError).global).toBe(global);
      expect((err as Error).message).toContain(global);
      // Only the zip directory, the small text records and data.pkl were read: no storage entry (>= 256 bytes).
      const pklSize = 2200;
      expect(reads.every(([, n]) => n <= pklSize || n === Math.min(bytes.length, 22 + 0xffff))).toBe(true);
      expect(reads.filter(([, n]) => n === 256 || n === 4096 || n === 65536)).toEqual([]);
    });
  }
});

describe.skipIf(!existsSync(path.join(REF, "meta")))("Meta consolidated.NN.pth files", () => {
  const META = path.join(REF, "meta");
  for (const folder of existsSync(META) ? readdirSync(META).filter((f) => !f.endsWith(".md")) : []) {
    it(`${folder}: every file holds the tensors and shapes expected.json lists`, () => {
      const expected = JSON.parse(readFileSync(path.join(META, folder, "expected.json"), "utf8"));
      for (const file of expected.meta_files.filter((f: string) => f.endsWith(".pth"))) {
        const { tensors } = loadTorchCheckpoint(path.join(META, folder, file));
        expect([...tensors.keys()].sort()).toEqual(Object.keys(expected.meta_tensors).sort());
        for (const [name, m] of Object.entries(expected.meta_tensors as Record<string, any>)) {
          expect(tensors.get(name)!.shape, name).toEqual(m.shape_in_each_file);
          expect(tensors.get(name)!.dtype).toBe("float32");
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Hand-built files
// ---------------------------------------------------------------------------------------------------------

const A: TestTensor = { name: "a", type: "FloatStorage", key: "0", numel: 6, offset: 0, size: [2, 3], stride: [3, 1] };

function zipOf(pkl: Uint8Array, storages: [string, Uint8Array][], extra: [string, Uint8Array][] = []): Uint8Array {
  return storedZip([
    ["archive/data.pkl", pkl],
    ...storages.map(([k, d]) => [`archive/data/${k}`, d] as [string, Uint8Array]),
    ["archive/version", new TextEncoder().encode("3\n")],
    ...extra,
  ]);
}

describe("hand-built torch.save files", () => {
  it("an OrderedDict state dict with _metadata (as model.state_dict()), plain dicts too", () => {
    for (const ordered of [true, false]) {
      const t = parse(zipOf(stateDictPickle([A], { ordered }), [["0", f32bytes([1, 2, 3, 4, 5, 6])]])).get("a")!;
      expect(t.shape).toEqual([2, 3]);
      expect([...t.data]).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it("views: shared storages with offsets, a transposed (strided) view, a 0-d and an empty tensor", () => {
    const data = f32bytes([0, 1, 2, 3, 4, 5, 6, 7]);
    const ts: TestTensor[] = [
      { name: "lo", type: "FloatStorage", key: "s", numel: 8, offset: 0, size: [2, 2], stride: [2, 1] },
      { name: "hi", type: "FloatStorage", key: "s", numel: 8, offset: 4, size: [4], stride: [1] },
      { name: "t", type: "FloatStorage", key: "s", numel: 8, offset: 0, size: [4, 2], stride: [1, 4] },
      { name: "scalar", type: "FloatStorage", key: "s", numel: 8, offset: 7, size: [], stride: [] },
      { name: "empty", type: "FloatStorage", key: "s", numel: 8, offset: 8, size: [0, 3], stride: [3, 1] },
    ];
    const got = parse(zipOf(stateDictPickle(ts), [["s", data]]));
    expect(got.get("lo")!.tolist()).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect([...got.get("hi")!.data]).toEqual([4, 5, 6, 7]);
    expect(got.get("t")!.tolist()).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(got.get("scalar")!.item()).toBe(7);
    expect(got.get("empty")!.shape).toEqual([0, 3]);
  });

  it("dtypes: half, bfloat16, int64, int32, bool storages", () => {
    const ts: TestTensor[] = [
      { name: "h", type: "HalfStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1] },
      { name: "b", type: "BFloat16Storage", key: "1", numel: 2, offset: 0, size: [2], stride: [1] },
      { name: "l", type: "LongStorage", key: "2", numel: 1, offset: 0, size: [1], stride: [1] },
      { name: "i", type: "IntStorage", key: "3", numel: 1, offset: 0, size: [1], stride: [1] },
      { name: "m", type: "BoolStorage", key: "4", numel: 2, offset: 0, size: [2], stride: [1] },
    ];
    const got = parse(
      zipOf(stateDictPickle(ts), [
        ["0", new Uint8Array([0x00, 0x3c, 0x00, 0xc0])], // float16 1, -2
        ["1", new Uint8Array([0x80, 0x3f, 0x40, 0x40])], // bfloat16 1, 3
        ["2", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])], // -1
        ["3", new Uint8Array([7, 0, 0, 0])],
        ["4", new Uint8Array([1, 0])],
      ]),
    );
    expect(got.get("h")!.tolist()).toEqual([1, -2]);
    expect(got.get("b")!.tolist()).toEqual([1, 3]);
    expect(got.get("l")!.dtype).toBe("int64");
    expect(got.get("l")!.item()).toBe(-1);
    expect(got.get("i")!.item()).toBe(7);
    expect(got.get("m")!.tolist()).toEqual([1, 0]);
  });

  it("a big-endian archive (byteorder record) is byte-swapped", () => {
    const be = new Uint8Array(new ArrayBuffer(24));
    const dv = new DataView(be.buffer);
    [1, 2, 3, 4, 5, 6].forEach((v, i) => dv.setFloat32(4 * i, v, false));
    const bytes = zipOf(stateDictPickle([A]), [["0", be]], [["archive/byteorder", new TextEncoder().encode("big")]]);
    expect([...parse(bytes).get("a")!.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("the legacy format, with a storage shared by two tensors", () => {
    const ts: TestTensor[] = [
      { name: "x", type: "FloatStorage", key: "140", numel: 4, offset: 0, size: [2], stride: [1] },
      { name: "y", type: "FloatStorage", key: "140", numel: 4, offset: 2, size: [2], stride: [1] },
      { name: "z", type: "FloatStorage", key: "99", numel: 1, offset: 0, size: [1], stride: [1] },
    ];
    const file = legacyFile(stateDictPickle(ts, { ordered: false, legacy: true }), [
      ["140", 4, f32bytes([1, 2, 3, 4])],
      ["99", 1, f32bytes([9])],
    ]);
    const { tensors, format } = parseTorchCheckpoint(memorySource(file), "legacy.bin");
    expect(format).toBe("legacy");
    expect([...tensors.get("x")!.data]).toEqual([1, 2]);
    expect([...tensors.get("y")!.data]).toEqual([3, 4]);
    expect([...tensors.get("z")!.data]).toEqual([9]);
  });

  const refused: [string, () => Uint8Array, RegExp][] = [
    [
      "GLOBAL os.system",
      () => new PickleBytes().op(0x80, 2).global("os", "system").str("echo").op(0x85, 0x52, 0x2e).done(),
      /"os\.system"/,
    ],
    [
      "STACK_GLOBAL builtins.eval",
      () => new PickleBytes().op(0x80, 4).str("builtins").str("eval").op(0x93).str("1").op(0x85, 0x52, 0x2e).done(),
      /"builtins\.eval"/,
    ],
    [
      "INST subprocess.Popen",
      () => new PickleBytes().op(0x80, 2, 0x28).str("ls").op(0x69).text("subprocess\nPopen\n").op(0x2e).done(),
      /"subprocess\.Popen"/,
    ],
    [
      "NEWOBJ on an allowed class",
      () => new PickleBytes().op(0x80, 2).global("collections", "OrderedDict").op(0x29, 0x81, 0x2e).done(),
      /instantiates a class/,
    ],
    [
      "REDUCE on a string",
      () => new PickleBytes().op(0x80, 2).str("x").op(0x29, 0x52, 0x2e).done(),
      /not an allowed callable/,
    ],
    ["a list as the object", () => new PickleBytes().op(0x80, 2, 0x5d, 0x2e).done(), /not a state dict/],
    ["truncated pickle", () => new PickleBytes().op(0x80, 2, 0x7d, 0x28).str("a").done(), /more bytes|MARK/],
  ];
  for (const [what, pkl, message] of refused) {
    it(`refuses ${what}`, () => {
      expect(() => parse(zipOf(pkl(), []))).toThrow(CheckpointError);
      expect(() => parse(zipOf(pkl(), []))).toThrow(message);
    });
  }

  it("refuses views and storages the file does not back", () => {
    const cases: [Partial<TestTensor>, number, RegExp][] = [
      [{ offset: 1 }, 24, /reaches element 6/], // last element past the storage
      [{ size: [3, 3], stride: [3, 1] }, 24, /reaches element 8/],
      [{ size: [1e9, 1e9], stride: [0, 0] }, 24, /too many elements/],
      [{ size: [1e7, 1e7], stride: [0, 0] }, 24, /would copy more bytes than the \d+-byte file holds/], // expand()
      [{ numel: 7 }, 24, /28 bytes\), its record has 24/],
      [{ type: "DoubleStorage", numel: 3 }, 24, /DoubleStorage holds a dtype/],
      [{ key: "../../etc/passwd" }, 24, /not a plain record name/],
      [{ key: "1" }, 24, /record archive\/data\/1 is missing/],
    ];
    for (const [change, size, message] of cases) {
      const t = { ...A, ...change };
      const bytes = zipOf(stateDictPickle([t]), [["0", new Uint8Array(size)]]);
      expect(() => parse(bytes), JSON.stringify(change)).toThrow(message);
      expect(() => parse(bytes)).toThrow(CheckpointError);
    }
  });

  it("refuses a bool storage holding other bytes than 0/1", () => {
    const t = { ...A, type: "BoolStorage", numel: 6 };
    expect(() => parse(zipOf(stateDictPickle([t]), [["0", new Uint8Array([0, 1, 2, 0, 0, 0])]]))).toThrow(/bool/);
  });

  it("names every allowed global in ALLOWED_GLOBALS (the allowlist is closed)", () => {
    expect(ALLOWED_GLOBALS).toContain("torch._utils._rebuild_tensor_v2");
    expect(ALLOWED_GLOBALS).toContain("collections.OrderedDict");
    expect(ALLOWED_GLOBALS.filter((g) => !g.startsWith("torch.") && g !== "collections.OrderedDict")).toEqual([]);
  });

  it("every truncation of a small archive and of a legacy file is a CheckpointError", () => {
    const zip = zipOf(stateDictPickle([A]), [["0", f32bytes([1, 2, 3, 4, 5, 6])]]);
    const legacy = legacyFile(stateDictPickle([{ ...A, key: "7" }], { legacy: true }), [
      ["7", 6, f32bytes([1, 2, 3, 4, 5, 6])],
    ]);
    for (const file of [zip, legacy]) {
      expect(parse(file).size).toBe(1);
      for (let n = 0; n < file.length; n++) {
        let err: unknown = null;
        try {
          parse(file.subarray(0, n));
        } catch (e) {
          err = e;
        }
        expect(err, `prefix of ${n} bytes`).toBeInstanceOf(CheckpointError);
      }
    }
  });
});

describe("torch.save writer", () => {
  it("crc32 gives the standard check value (CRC-32 of the ASCII digits 1-9 is 0xCBF43926)", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  const tensors = new Map<string, Tensor>([
    ["w", new Tensor("float32", [1.5, -2, 3e-8, 4, 5, 6], [3, 2])],
    ["h", new Tensor("float32", [1, -0.5], [2]).to("float16")],
    ["b", new Tensor("float32", [7, 8, 9], [3, 1]).to("bfloat16")],
    ["ids", new Tensor("int64", [1, 2, 70000], [3])],
    ["s", new Tensor("float32", [42], [])],
  ]);

  it("round-trips through the reader, in the zip and the Zip64 layout", () => {
    for (const forceZip64 of [false, true]) {
      const bytes = concatChunks(serializeTorchCheckpoint(tensors, "pytorch_model", { forceZip64 }));
      expectSameTensors(parse(bytes), tensors);
    }
  });

  it("writes 64-byte-aligned storage data, records named after the archive, version 3", () => {
    const bytes = concatChunks(serializeTorchCheckpoint(tensors, "pytorch_model"));
    const text = Buffer.from(bytes).toString("latin1");
    for (const name of [
      "pytorch_model/data.pkl",
      "pytorch_model/byteorder",
      "pytorch_model/data/0",
      "pytorch_model/version",
    ])
      expect(text).toContain(name);
    // The first storage's float32 bytes start at a multiple of 64.
    const at = Buffer.from(bytes).indexOf(bytesOf(tensors.get("w")!));
    expect(at % 64).toBe(0);
  });
});
