/**
 * The HF <-> Meta q/k permutation (`permute` / `unpermute` of convert_llama_weights_to_hf.ts).
 *
 * Ground truth: the closed-form row map of the worked example (HF row j*hd/2 + i = Meta row 2i + j), and the
 * Meta files of ../shared/reference/meta, written by PyTorch from HF's tensors: the bytes of `unpermute(HF
 * q_proj)` (and of k_proj with the KV-head count), sliced as each model-parallel shard holds them, must occur
 * verbatim in that shard's `.pth` (storages are stored raw and uncompressed), while the un-permuted HF bytes
 * must not (control). This needs no pickle reader, so it checks the permutation independently of the loader.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ShapeError } from "../../src/errors.ts";
import { loadSafetensors } from "../../src/formats/safetensors.ts";
import { permute, unpermute } from "../../src/models/llama/convert_llama_weights_to_hf.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const META = path.resolve(process.cwd(), "../shared/reference/meta");
const haveMeta = existsSync(META);
if (!haveMeta) console.warn(`permutation tests: ${META} is absent, the Meta reference-file tests are skipped`);

/** A [rows, cols] float32 tensor whose row r holds the value r in every column. */
function rowIds(rows: number, cols: number): Tensor {
  const d = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) d.fill(r, r * cols, (r + 1) * cols);
  return new Tensor("float32", d, [rows, cols]);
}

function rowOrder(t: Tensor): number[] {
  return Array.from({ length: t.shape[0] }, (_, r) => t.item(r * t.shape[1]));
}

describe("permute / unpermute", () => {
  it("moves Meta's interleaved pairs to rotate_half halves (hd = 8 worked example)", () => {
    expect(rowOrder(permute(rowIds(8, 3), 1))).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
    // two heads: the map applies inside each head
    expect(rowOrder(permute(rowIds(8, 2), 2))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(rowOrder(unpermute(rowIds(8, 3), 1))).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
  });

  it("are inverse to each other on every dtype", () => {
    for (const dtype of ["float32", "bfloat16", "float16", "int32"] as const) {
      const t = rowIds(24, 5).to(dtype);
      for (const heads of [1, 2, 3, 6]) {
        expect([...unpermute(permute(t, heads), heads).data]).toEqual([...t.data]);
        expect([...permute(unpermute(t, heads), heads).data]).toEqual([...t.data]);
        expect(permute(t, heads).dtype).toBe(dtype);
      }
    }
  });

  it("refuses shapes that do not split into heads of an even size", () => {
    expect(() => permute(rowIds(12, 2), 4)).toThrow(ShapeError); // head size 3
    expect(() => permute(rowIds(10, 2), 4)).toThrow(ShapeError);
    expect(() => permute(rowIds(8, 2), 0)).toThrow(ShapeError);
    expect(() => permute(new Tensor("float32", [1, 2], [2]), 1)).toThrow(ShapeError);
  });
});

describe.skipIf(!haveMeta)("unpermute(HF weights) is what Meta's files hold", () => {
  const folders = haveMeta ? readdirSync(META).filter((f) => existsSync(path.join(META, f, "expected.json"))) : [];
  for (const folder of folders) {
    it(folder, async () => {
      const dir = path.join(META, folder);
      const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));
      const params = JSON.parse(readFileSync(path.join(dir, "params.json"), "utf8"));
      const src = (await loadSafetensors(path.join(dir, expected.source_hf_checkpoint, "model.safetensors"))).tensors;
      const shards = readdirSync(dir)
        .filter((f) => /^consolidated\.\d+\.pth$/.test(f))
        .sort()
        .map((f) => readFileSync(path.join(dir, f)));
      const S = shards.length;
      const nKv = params.n_kv_heads ?? params.n_heads;
      let checked = 0;
      for (let l = 0; l < params.n_layers; l++) {
        for (const [proj, heads] of [
          ["q_proj", params.n_heads],
          ["k_proj", nKv],
        ] as const) {
          const hf = src.get(`model.layers.${l}.self_attn.${proj}.weight`)!.float();
          const meta = unpermute(hf, heads);
          const rowBytes = hf.shape[1] * 4;
          const per = (hf.shape[0] / S) * rowBytes;
          const metaBytes = Buffer.from(meta.data.buffer, meta.data.byteOffset, meta.data.byteLength);
          const hfBytes = Buffer.from(hf.data.buffer, hf.data.byteOffset, hf.data.byteLength);
          for (let s = 0; s < S; s++) {
            expect(shards[s].indexOf(metaBytes.subarray(s * per, (s + 1) * per))).toBeGreaterThan(0);
            expect(shards[s].indexOf(hfBytes.subarray(s * per, (s + 1) * per))).toBe(-1);
            checked++;
          }
        }
      }
      expect(checked).toBe(2 * params.n_layers * S);
    });
  }
});
