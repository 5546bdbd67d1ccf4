/**
 * Folders with PyTorch weights (`pytorch_model.bin`, sharded with `pytorch_model.bin.index.json`) load through
 * `from_pretrained` exactly as safetensors folders do, and `save_pretrained({ safe_serialization: false })`
 * writes them.
 *
 * Ground truth: ../shared/reference/pth (PyTorch's own torch.save of llama-gqa's tensors) and
 * ../shared/reference/models/llama-gqa/model.safetensors; a pytorch_model.bin assembled byte by byte in
 * torch_bytes.ts (not by the project's writer) from that checkpoint's tensors.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ValueError } from "../../src/errors.ts";
import { loadSafetensors } from "../../src/formats/safetensors.ts";
import { saveTorchCheckpoint } from "../../src/formats/pytorch.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { type TestTensor, stateDictPickle, storedZip } from "./torch_bytes.ts";

const REF = path.resolve(process.cwd(), "../shared/reference");
const GQA = path.join(REF, "models/llama-gqa");
const have = existsSync(path.join(REF, "pth")) && existsSync(GQA);
if (!have) console.warn(`.bin checkpoint tests: ${REF} is absent, they are skipped`);

const tmp = () => mkdtempSync(path.join(tmpdir(), "llama-ts-bin-"));

function bytesOf(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

async function sourceTensors(): Promise<Map<string, Tensor>> {
  return (await loadSafetensors(path.join(GQA, "model.safetensors"))).tensors;
}

/** The model's state dict equals the reference tensors bit for bit (float32 checkpoint, default torch_dtype). */
function expectStateDict(model: LlamaForCausalLM, want: Map<string, Tensor>) {
  const sd = model.state_dict();
  expect([...sd.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, t] of want) {
    expect(sd.get(k)!.shape, k).toEqual(t.shape);
    expect(bytesOf(sd.get(k)!).equals(bytesOf(t)), k).toBe(true);
  }
}

describe.skipIf(!have)("from_pretrained on PyTorch-format folders", () => {
  for (const folder of ["zip", "legacy", "sharded"]) {
    it(`pth/${folder} loads to the tensors of llama-gqa's model.safetensors`, async () => {
      const model = await LlamaForCausalLM.from_pretrained(path.join(REF, "pth", folder));
      expectStateDict(model, await sourceTensors());
    });
  }

  it("pth/evil is refused naming the global", async () => {
    await expect(LlamaForCausalLM.from_pretrained(path.join(REF, "pth/evil"))).rejects.toThrow(/posix\.system/);
  });

  it("prefers model.safetensors when both formats are in the folder (as HF)", async () => {
    const dir = tmp();
    copyFileSync(path.join(GQA, "config.json"), path.join(dir, "config.json"));
    copyFileSync(path.join(GQA, "model.safetensors"), path.join(dir, "model.safetensors"));
    const zeros = new Map([...(await sourceTensors())].map(([k, t]) => [k, Tensor.zeros(t.dtype, t.shape)]));
    await saveTorchCheckpoint(path.join(dir, "pytorch_model.bin"), zeros);
    expectStateDict(await LlamaForCausalLM.from_pretrained(dir), await sourceTensors());
    // HF's use_safetensors: false reads only the PyTorch file, true only the safetensors one.
    expectStateDict(await LlamaForCausalLM.from_pretrained(dir, { use_safetensors: false }), zeros);
    expectStateDict(await LlamaForCausalLM.from_pretrained(dir, { use_safetensors: true }), await sourceTensors());
    await expect(
      LlamaForCausalLM.from_pretrained(path.join(REF, "pth/zip"), { use_safetensors: true }),
    ).rejects.toThrow(
      /no model\.safetensors or model\.safetensors\.index\.json in the folder \(use_safetensors: true\)/,
    );
    await expect(LlamaForCausalLM.from_pretrained(GQA, { use_safetensors: false })).rejects.toThrow(
      /no pytorch_model\.bin or pytorch_model\.bin\.index\.json/,
    );
    await expect(LlamaForCausalLM.from_pretrained(GQA, { use_safetensors: "yes" as never })).rejects.toThrow(
      ValueError,
    );
  });

  it("save_pretrained({ safe_serialization: false }) writes pytorch_model.bin, single and sharded, and reloads", async () => {
    const model = await LlamaForCausalLM.from_pretrained(GQA);
    const want = await sourceTensors();
    const single = tmp();
    await model.save_pretrained(single, { safe_serialization: false });
    // a causal LM also writes generation_config.json, as HF's save_pretrained does for models that can generate
    expect(readdirSync(single).sort()).toEqual(["config.json", "generation_config.json", "pytorch_model.bin"]);
    expectStateDict(await LlamaForCausalLM.from_pretrained(single), want);

    const sharded = tmp();
    await model.save_pretrained(sharded, { safe_serialization: false, max_shard_size: "100KB" });
    const files = readdirSync(sharded).sort();
    expect(files).toContain("pytorch_model.bin.index.json");
    expect(files.filter((f) => /^pytorch_model-\d{5}-of-\d{5}\.bin$/.test(f)).length).toBeGreaterThan(1);
    const index = JSON.parse(readFileSync(path.join(sharded, "pytorch_model.bin.index.json"), "utf8"));
    expect(Object.keys(index.weight_map).sort()).toEqual([...want.keys()].sort());
    expectStateDict(await LlamaForCausalLM.from_pretrained(sharded), want);

    // A .bin save over an earlier safetensors save removes the safetensors file loading would prefer.
    await model.save_pretrained(single);
    expect(readdirSync(single)).toContain("model.safetensors");
    await model.save_pretrained(single, { safe_serialization: false });
    expect(readdirSync(single)).not.toContain("model.safetensors");
  });

  it("a pytorch_model.bin assembled byte by byte (OrderedDict + _metadata, unaligned storages) loads identically", async () => {
    const want = await sourceTensors();
    const dir = tmp();
    copyFileSync(path.join(GQA, "config.json"), path.join(dir, "config.json"));
    const entries: TestTensor[] = [];
    const records: [string, Uint8Array][] = [];
    let key = 0;
    for (const [name, t] of want) {
      expect(t.dtype).toBe("float32");
      const numel = t.size;
      const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      entries.push({ name, type: "FloatStorage", key: String(key), numel, offset: 0, size: t.shape, stride });
      records.push([`pytorch_model/data/${key++}`, new Uint8Array(bytesOf(t))]);
    }
    const zip = storedZip([
      ["pytorch_model/data.pkl", stateDictPickle(entries)],
      ...records,
      ["pytorch_model/version", new TextEncoder().encode("3\n")],
    ]);
    writeFileSync(path.join(dir, "pytorch_model.bin"), zip);
    expectStateDict(await LlamaForCausalLM.from_pretrained(dir), want);
  });
});
