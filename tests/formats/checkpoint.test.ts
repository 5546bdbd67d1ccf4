/**
 * Checkpoint folders (single model.safetensors or sharded with model.safetensors.index.json).
 *
 * Ground truth: the reference checkpoints in ../shared/reference/models (written by HF's tooling), read here
 * through an independent minimal parser; HF's byte layout for saved files and index; and huggingface_hub's
 * documented sharding rule worked by hand.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CheckpointError, ValueError } from "../../src/errors.ts";
import {
  loadCheckpointTensors,
  parseSizeToInt,
  saveCheckpointTensors,
  splitStateDictIntoShards,
} from "../../src/formats/checkpoint.ts";
import { serializeSafetensors } from "../../src/formats/safetensors.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const REF = path.resolve(process.cwd(), "../shared/reference");
if (!existsSync(REF)) console.warn(`checkpoint tests: ${REF} is absent, the reference-checkpoint tests are skipped`);
const MODELS = path.join(REF, "models");

const FILE_DTYPE: Record<string, string> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I32: "int32",
  I64: "int64",
  BOOL: "bool",
};

interface RawTensor {
  dtype: string;
  shape: number[];
  raw: Buffer;
}

/** Independent minimal reader of one safetensors file: name -> dtype, shape, raw bytes. */
function minimalParse(file: string): Map<string, RawTensor> {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  const out = new Map<string, RawTensor>();
  for (const [name, e] of Object.entries(header as Record<string, any>)) {
    if (name === "__metadata__") continue;
    out.set(name, {
      dtype: e.dtype,
      shape: e.shape,
      raw: bytes.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]),
    });
  }
  return out;
}

/** Every tensor of a reference checkpoint folder, through the index when there is one. */
function minimalCheckpoint(dir: string): Map<string, RawTensor> {
  const single = path.join(dir, "model.safetensors");
  if (existsSync(single)) return minimalParse(single);
  const index = JSON.parse(readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8"));
  const out = new Map<string, RawTensor>();
  for (const shard of new Set(Object.values(index.weight_map) as string[])) {
    for (const [k, v] of minimalParse(path.join(dir, shard))) out.set(k, v);
  }
  return out;
}

function rawBytes(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectSameTensors(got: Map<string, Tensor>, expected: Map<string, RawTensor>): void {
  expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, e] of expected) {
    const t = got.get(name)!;
    expect(t.dtype, name).toBe(FILE_DTYPE[e.dtype]);
    expect(t.shape, name).toEqual(e.shape);
    expect(rawBytes(t).equals(e.raw), name).toBe(true);
  }
}

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), "ckpt-"));
}

const checkpoints = existsSync(REF)
  ? readdirSync(MODELS)
      .filter((d) => existsSync(path.join(MODELS, d, "config.json")))
      .sort()
  : [];

/** HF's state-dict order for a Llama causal LM (module registration order), independent of any file. */
function llamaStateDictOrder(layers: number): string[] {
  const names = ["model.embed_tokens.weight"];
  for (let i = 0; i < layers; i++) {
    for (const m of [
      "self_attn.q_proj",
      "self_attn.k_proj",
      "self_attn.v_proj",
      "self_attn.o_proj",
      "mlp.gate_proj",
      "mlp.up_proj",
      "mlp.down_proj",
    ]) {
      names.push(`model.layers.${i}.${m}.weight`);
    }
    names.push(`model.layers.${i}.input_layernorm.weight`, `model.layers.${i}.post_attention_layernorm.weight`);
  }
  names.push("model.norm.weight", "lm_head.weight");
  return names;
}

describe.skipIf(!existsSync(REF))("reference checkpoints", () => {
  it("there are 17 of them", () => {
    expect(checkpoints.length).toBe(17);
  });

  it.each(checkpoints)("%s loads with the names, shapes, dtypes and bytes of its files", async (name) => {
    const dir = path.join(MODELS, name);
    const { tensors, files } = await loadCheckpointTensors(dir);
    expectSameTensors(tensors, minimalCheckpoint(dir));
    const expectedFiles = readdirSync(dir)
      .filter((f) => f.startsWith("model") && f.endsWith(".safetensors"))
      .map((f) => path.join(dir, f))
      .sort();
    expect(files).toEqual(expectedFiles);
  });

  it.each(checkpoints)("%s: save then reload gives identical tensors, unsharded and sharded", async (name) => {
    const { tensors } = await loadCheckpointTensors(path.join(MODELS, name));
    const expected = minimalCheckpoint(path.join(MODELS, name));

    const single = tmp();
    expect(await saveCheckpointTensors(single, tensors)).toEqual([path.join(single, "model.safetensors")]);
    expectSameTensors((await loadCheckpointTensors(single)).tensors, expected);

    const sharded = tmp();
    const total = [...tensors.values()].reduce((s, t) => s + t.data.byteLength, 0);
    const written = await saveCheckpointTensors(sharded, tensors, { max_shard_size: Math.ceil(total / 3) });
    expect(written.length).toBeGreaterThanOrEqual(4); // >= 3 shards + index
    expect(readdirSync(sharded)).not.toContain("model.safetensors");
    const reloaded = await loadCheckpointTensors(sharded);
    expect(reloaded.files.length).toBe(written.length - 1);
    expectSameTensors(reloaded.tensors, expected);
  });

  it.each(checkpoints.filter((c) => c !== "llama-sharded"))(
    "%s: saving reproduces model.safetensors byte for byte",
    async (name) => {
      const dir = path.join(MODELS, name);
      const { tensors } = await loadCheckpointTensors(dir);
      const out = tmp();
      await saveCheckpointTensors(out, tensors);
      expect(
        readFileSync(path.join(out, "model.safetensors")).equals(readFileSync(path.join(dir, "model.safetensors"))),
      ).toBe(true);
    },
  );

  it("llama-sharded: saving in state-dict order with max_shard_size 100KB reproduces both shards and the index byte for byte", async () => {
    const dir = path.join(MODELS, "llama-sharded");
    const { tensors } = await loadCheckpointTensors(dir);
    const order = llamaStateDictOrder(3);
    expect(order.length).toBe(tensors.size);
    const out = tmp();
    await saveCheckpointTensors(out, new Map(order.map((n) => [n, tensors.get(n)!])), { max_shard_size: "100KB" });
    const expectedFiles = readdirSync(dir)
      .filter((f) => f.startsWith("model"))
      .sort();
    expect(readdirSync(out).sort()).toEqual(expectedFiles);
    for (const f of expectedFiles)
      expect(readFileSync(path.join(out, f)).equals(readFileSync(path.join(dir, f))), f).toBe(true);
  });
});

describe("sharding as huggingface_hub splits a state dict", () => {
  const t = (bytes: number) => new Tensor("bool", new Uint8Array(bytes), [bytes]);

  it("is greedy in the given order", () => {
    // the docstring's example: limit 10, sizes [6, 6, 2, 6, 2, 2] -> [6], [6+2], [6+2+2]
    const entries: [string, Tensor][] = [6, 6, 2, 6, 2, 2].map((s, i) => [`t${i}`, t(s)]);
    const split = splitStateDictIntoShards(entries, 10);
    expect(split.shards).toEqual([["t0"], ["t1", "t2"], ["t3", "t4", "t5"]]);
    expect(split.total_size).toBe(24);
  });

  it("puts an oversized tensor in its own shard ahead of the shard being filled (HF quirk)", () => {
    const entries: [string, Tensor][] = [
      ["a", t(3)],
      ["big", t(20)],
      ["b", t(3)],
    ];
    expect(splitStateDictIntoShards(entries, 10).shards).toEqual([["big"], ["a", "b"]]);
  });

  it("parses HF size strings", () => {
    expect(parseSizeToInt("5GB")).toBe(5_000_000_000);
    expect(parseSizeToInt("100KB")).toBe(100_000);
    expect(parseSizeToInt(" 1.5mb ")).toBe(1_500_000);
    expect(parseSizeToInt("2TB")).toBe(2e12);
    expect(parseSizeToInt(1234)).toBe(1234);
    expect(() => parseSizeToInt("5GiB")).toThrow(ValueError);
    expect(() => parseSizeToInt("GB")).toThrow(ValueError);
    expect(() => parseSizeToInt(-1)).toThrow(ValueError);
  });

  it("writes the index as Python json.dumps(indent=2, sort_keys=True) with ensure_ascii", async () => {
    const out = tmp();
    const tensors = new Map<string, Tensor>([
      ["z", t(8)],
      ["é", t(8)],
      ["10", t(8)],
      ["9", t(8)],
    ]);
    await saveCheckpointTensors(out, tensors, { max_shard_size: 16 });
    const index = readFileSync(path.join(out, "model.safetensors.index.json"), "utf8");
    expect(index).toBe(
      [
        "{",
        '  "metadata": {',
        '    "total_size": 32',
        "  },",
        '  "weight_map": {',
        '    "10": "model-00002-of-00002.safetensors",',
        '    "9": "model-00002-of-00002.safetensors",',
        '    "z": "model-00001-of-00002.safetensors",',
        '    "\\u00e9": "model-00001-of-00002.safetensors"',
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    expect([...(await loadCheckpointTensors(out)).tensors.keys()].sort()).toEqual(["10", "9", "z", "é"]);
  });
});

describe("saving into a folder with an earlier save", () => {
  const tensors = () =>
    new Map<string, Tensor>([0, 1, 2].map((i) => [`w${i}`, new Tensor("float32", [i, i + 0.5], [2])]));

  it("sharded then single: the old shards and index go, as does nothing else", async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "config.json"), "{}");
    await saveCheckpointTensors(dir, tensors(), { max_shard_size: 8 });
    expect(readdirSync(dir).sort()).toEqual([
      "config.json",
      "model-00001-of-00003.safetensors",
      "model-00002-of-00003.safetensors",
      "model-00003-of-00003.safetensors",
      "model.safetensors.index.json",
    ]);
    await saveCheckpointTensors(dir, tensors());
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"]);
  });

  it("single then sharded: model.safetensors goes (it would shadow the index)", async () => {
    const dir = tmp();
    await saveCheckpointTensors(dir, tensors());
    await saveCheckpointTensors(dir, tensors(), { max_shard_size: 16 });
    expect(readdirSync(dir).sort()).toEqual([
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "model.safetensors.index.json",
    ]);
    expect((await loadCheckpointTensors(dir)).tensors.size).toBe(3);
  });

  it("bad input is refused before the folder is touched", async () => {
    const dir = tmp();
    await saveCheckpointTensors(dir, tensors());
    const before = readFileSync(path.join(dir, "model.safetensors"));
    await expect(
      saveCheckpointTensors(dir, { __metadata__: new Tensor("float32", [1], [1]) }, { max_shard_size: 1 }),
    ).rejects.toThrow(ValueError);
    expect(readFileSync(path.join(dir, "model.safetensors")).equals(before)).toBe(true);
  });
});

describe("malformed folders raise a CheckpointError naming the path", () => {
  const shard = (entries: Record<string, number[]>) =>
    serializeSafetensors(
      Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, new Tensor("float32", v, [v.length])])),
    );

  /** A folder with the given shards and index text. */
  function folder(shards: Record<string, Record<string, number[]>>, index: unknown): string {
    const dir = tmp();
    for (const [name, entries] of Object.entries(shards)) writeFileSync(path.join(dir, name), shard(entries));
    writeFileSync(
      path.join(dir, "model.safetensors.index.json"),
      typeof index === "string" ? index : JSON.stringify(index),
    );
    return dir;
  }

  async function expectError(dir: string, file: string, pattern: RegExp): Promise<void> {
    let caught: unknown;
    try {
      await loadCheckpointTensors(dir);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CheckpointError);
    expect((caught as CheckpointError).file).toBe(file);
    expect((caught as CheckpointError).message).toMatch(pattern);
  }

  it("a well-formed sharded folder loads", async () => {
    const dir = folder(
      { "a.safetensors": { x: [1] }, "b.safetensors": { y: [2, 3] } },
      { metadata: { total_size: 12 }, weight_map: { x: "a.safetensors", y: "b.safetensors" } },
    );
    const { tensors, files } = await loadCheckpointTensors(dir);
    expect(tensors.get("y")!.tolist()).toEqual([2, 3]);
    expect(files).toEqual([path.join(dir, "a.safetensors"), path.join(dir, "b.safetensors")]);
  });

  it("missing folder", async () => {
    const dir = path.join(tmpdir(), "no-such-llama-ts-checkpoint");
    await expectError(dir, dir, /checkpoint folder not found/);
  });

  it("a file instead of a folder", async () => {
    const file = path.join(tmp(), "x");
    writeFileSync(file, "");
    await expectError(file, file, /not a folder/);
  });

  it("a folder without weights", async () => {
    const dir = tmp();
    await expectError(
      dir,
      dir,
      /no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json/,
    );
  });

  it("a malformed model.safetensors names that file", async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "model.safetensors"), new Uint8Array(3));
    await expectError(dir, path.join(dir, "model.safetensors"), /shorter than the 8-byte/);
  });

  it("model.safetensors wins over an index, as in HF", async () => {
    const dir = folder({ "a.safetensors": { x: [1] } }, { weight_map: { x: "a.safetensors" } });
    writeFileSync(path.join(dir, "model.safetensors"), shard({ only: [5] }));
    expect([...(await loadCheckpointTensors(dir)).tensors.keys()]).toEqual(["only"]);
  });

  const idx = (dir: string) => path.join(dir, "model.safetensors.index.json");

  it("index that is not JSON", async () => {
    const dir = folder({}, "{weight_map:");
    await expectError(dir, idx(dir), /index is not valid JSON/);
  });

  it("index that is not an object", async () => {
    const dir = folder({}, "[1]");
    await expectError(dir, idx(dir), /index must be a JSON object/);
  });

  it.each([
    ["missing weight_map", { metadata: {} }, /"weight_map" must be an object/],
    ["weight_map an array", { weight_map: ["a"] }, /"weight_map" must be an object/],
    ["a shard name that is not a string", { weight_map: { x: 3 } }, /weight_map\["x"\] must be a file name string/],
  ])("%s", async (_label, index, pattern) => {
    const dir = folder({}, index);
    await expectError(dir, idx(dir), pattern as RegExp);
  });

  it.each([["../a.safetensors"], ["sub/a.safetensors"], ["sub\\a.safetensors"], [".."], [""], ["/etc/passwd"]])(
    "shard name %j is not a plain file name",
    async (name) => {
      const dir = folder({}, { weight_map: { x: name } });
      await expectError(dir, idx(dir), /a shard must be a plain file name inside the folder/);
    },
  );

  it("a shard listed in the index is missing", async () => {
    const dir = folder({}, { weight_map: { x: "gone.safetensors" } });
    await expectError(
      dir,
      path.join(dir, "gone.safetensors"),
      /shard listed in model.safetensors.index.json is missing/,
    );
  });

  it("a listed tensor is absent from its shard", async () => {
    const dir = folder({ "a.safetensors": { x: [1] } }, { weight_map: { x: "a.safetensors", y: "a.safetensors" } });
    await expectError(
      dir,
      path.join(dir, "a.safetensors"),
      /tensor "y" listed in model.safetensors.index.json is missing from this shard/,
    );
  });

  it("a tensor in two shards", async () => {
    const dir = folder(
      { "a.safetensors": { x: [1] }, "b.safetensors": { x: [1], y: [2] } },
      { weight_map: { x: "a.safetensors", y: "b.safetensors" } },
    );
    await expectError(
      dir,
      path.join(dir, "b.safetensors"),
      /tensor "x" is in two shards: a.safetensors and b.safetensors/,
    );
  });

  it("a tensor in a shard the index does not map it to", async () => {
    const dir = folder(
      { "a.safetensors": { y: [1] }, "b.safetensors": { x: [2] } },
      { weight_map: { x: "a.safetensors", y: "b.safetensors" } },
    );
    await expectError(
      dir,
      path.join(dir, "a.safetensors"),
      /tensor "y" is in a.safetensors but model.safetensors.index.json maps it to b.safetensors/,
    );
  });

  it("a shard tensor absent from the index", async () => {
    const dir = folder({ "a.safetensors": { x: [1], extra: [2] } }, { weight_map: { x: "a.safetensors" } });
    await expectError(
      dir,
      path.join(dir, "a.safetensors"),
      /tensor "extra" is not listed in model.safetensors.index.json/,
    );
  });

  it("a malformed shard names the shard", async () => {
    const dir = folder({}, { weight_map: { x: "a.safetensors" } });
    writeFileSync(path.join(dir, "a.safetensors"), new Uint8Array([255, 255, 255, 255, 255, 255, 255, 255, 0]));
    await expectError(dir, path.join(dir, "a.safetensors"), /exceeds the 100000000-byte limit/);
  });

  it("a shard that is a folder", async () => {
    const dir = folder({}, { weight_map: { x: "a.safetensors" } });
    mkdirSync(path.join(dir, "a.safetensors"));
    await expectError(dir, path.join(dir, "a.safetensors"), /missing/);
  });
});
