/**
 * The Meta <-> HF converters, run as users run them (through bin/llama-ts.mjs) where it matters.
 *
 * Ground truth: ../shared/reference/meta, whose expected.json lists, per folder, the config.json HF 4.44.2's
 * convert_llama_weights_to_hf.py writes and the sha256 of every tensor it writes (bfloat16) and of its merged
 * float32 state; the Meta files themselves were written by PyTorch from HF's tensors, so the reverse converter
 * must reproduce them tensor for tensor.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ShapeError } from "../../src/errors.ts";
import { loadCheckpointTensors } from "../../src/formats/checkpoint.ts";
import { loadTorchCheckpoint } from "../../src/formats/pytorch.ts";
import { ffnParamsFor } from "../../src/models/llama/convert_hf_to_llama_weights.ts";
import {
  cat,
  chunk,
  compute_intermediate_size,
  convert_llama_weights_to_hf,
} from "../../src/models/llama/convert_llama_weights_to_hf.ts";
import { LlamaTokenizerFast } from "../../src/models/llama/tokenization_llama_fast.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const BIN = path.resolve(process.cwd(), "bin/llama-ts.mjs");
const REF = path.resolve(process.cwd(), "../shared/reference");
const META = path.join(REF, "meta");
const haveMeta = existsSync(META);
if (!haveMeta) console.warn(`converter tests: ${META} is absent, the reference conversions are skipped`);
const folders = haveMeta ? readdirSync(META).filter((f) => existsSync(path.join(META, f, "expected.json"))) : [];

const tmp = () => mkdtempSync(path.join(tmpdir(), "llama-ts-convert-"));

/** Run the CLI in a child process; runs are started together and awaited where checked (they mostly wait on startup). */
function run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

function sha256(t: Tensor): string {
  return createHash("sha256")
    .update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))
    .digest("hex");
}

function bytesOf(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

const expectedOf = (folder: string) => JSON.parse(readFileSync(path.join(META, folder, "expected.json"), "utf8"));

describe("compute_intermediate_size (HF's formula)", () => {
  it("gives the Llama releases' sizes and the README's table", () => {
    expect(compute_intermediate_size(4096)).toBe(11008); // Llama 2 7B
    expect(compute_intermediate_size(5120)).toBe(13824); // Llama 2 13B
    expect(compute_intermediate_size(8192, 1.3, 4096)).toBe(28672); // Llama 2 70B
    expect(compute_intermediate_size(4096, 1.3, 1024)).toBe(14336); // Llama 3 8B
    expect(compute_intermediate_size(32, 0.74, 8)).toBe(64);
    expect(compute_intermediate_size(64, 0.57, 32)).toBe(96);
    expect(compute_intermediate_size(32, 0.7, 16)).toBe(64);
  });

  it("ffnParamsFor finds params that give the size back", () => {
    for (const [dim, inter] of [
      [4096, 11008],
      [8192, 28672],
      [64, 96],
      [32, 64],
      [16, 32],
      [48, 130],
    ]) {
      const p = ffnParamsFor(dim, inter);
      expect(compute_intermediate_size(dim, p.ffn_dim_multiplier ?? 1, p.multiple_of), `${dim} ${inter}`).toBe(inter);
    }
    expect(ffnParamsFor(4096, 11008)).toEqual({ multiple_of: 256 });
  });
});

describe("cat / chunk", () => {
  it("join and split 2-D tensors as torch.cat / torch.chunk", () => {
    const a = new Tensor("float32", [1, 2, 3, 4], [2, 2]);
    const b = new Tensor("float32", [5, 6], [2, 1]);
    expect(cat([a, b], 1).tolist()).toEqual([
      [1, 2, 5],
      [3, 4, 6],
    ]);
    expect(cat([a, a], 0).tolist()).toEqual([
      [1, 2],
      [3, 4],
      [1, 2],
      [3, 4],
    ]);
    const c = new Tensor("float32", [1, 2, 3, 4, 5, 6], [2, 3]).to("bfloat16");
    const [x, y, z] = chunk(c, 3, 1);
    expect(x.tolist()).toEqual([[1], [4]]);
    expect(bytesOf(cat([x, y, z], 1)).equals(bytesOf(c))).toBe(true);
    expect(() => cat([a, new Tensor("float32", [1, 2, 3], [3, 1])], 1)).toThrow(ShapeError);
    expect(() => chunk(c, 2, 1)).toThrow(ShapeError);
  });
});

describe.skipIf(!haveMeta)("llama-ts convert_llama_weights_to_hf on ../shared/reference/meta", () => {
  const runs = new Map(
    folders.map((folder) => {
      const out = tmp();
      const args = expectedOf(folder).converter_args;
      const dir = path.join(META, folder);
      return [
        folder,
        {
          out,
          result: run(
            "convert_llama_weights_to_hf",
            "--input_dir",
            dir,
            "--output_dir",
            out,
            "--llama_version",
            String(args.llama_version),
          ),
        },
      ];
    }),
  );
  for (const folder of folders) {
    it(`${folder}: the CLI writes expected.json's config and bfloat16 tensors bit for bit`, async () => {
      const expected = expectedOf(folder);
      const { out } = runs.get(folder)!;
      const r = await runs.get(folder)!.result;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("merged"); // progress lines go to stderr
      expect(r.stdout).toContain(path.join(out, "model.safetensors"));
      expect(JSON.parse(readFileSync(path.join(out, "config.json"), "utf8"))).toEqual(expected.expected_config_json);
      const { tensors } = await loadCheckpointTensors(out);
      expect([...tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
      for (const [name, e] of Object.entries(expected.tensors as Record<string, any>)) {
        const t = tensors.get(name)!;
        expect(t.dtype, name).toBe("bfloat16");
        expect(t.shape, name).toEqual(e.shape);
        expect(sha256(t), name).toBe(e.sha256_bfloat16_le);
      }
    });

    it(`${folder}: the merged float32 state (torch_dtype float32) matches sha256_float32_le`, async () => {
      const expected = expectedOf(folder);
      const out = tmp();
      await convert_llama_weights_to_hf({
        input_dir: path.join(META, folder),
        output_dir: out,
        llama_version: String(expected.converter_args.llama_version) as "1",
        torch_dtype: "float32",
      });
      const { tensors } = await loadCheckpointTensors(out);
      for (const [name, e] of Object.entries(expected.tensors as Record<string, any>))
        expect(sha256(tensors.get(name)!), name).toBe(e.sha256_float32_le);
      expect(JSON.parse(readFileSync(path.join(out, "config.json"), "utf8")).torch_dtype).toBe("float32");
    });
  }

  it("HF's flag spellings: --instruct True (Llama 3 eos list, sampling generation_config), --safe_serialization False", async () => {
    const dir = path.join(META, "llama-eps-theta-mp2-llama3");
    const [a, b] = [tmp(), tmp()];
    const [ra, rb] = await Promise.all([
      run(
        "convert_llama_weights_to_hf",
        "--input_dir",
        dir,
        "--output_dir",
        a,
        "--llama_version",
        "3.1",
        "--instruct",
        "True",
      ),
      run(
        "convert_llama_weights_to_hf",
        "--input_dir",
        dir,
        "--output_dir",
        b,
        "--llama_version",
        "3",
        "--safe_serialization",
        "False",
      ),
    ]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const config = JSON.parse(readFileSync(path.join(a, "config.json"), "utf8"));
    expect(config.eos_token_id).toEqual([128001, 128008, 128009]);
    expect(config.max_position_embeddings).toBe(131072);
    expect(JSON.parse(readFileSync(path.join(a, "generation_config.json"), "utf8"))).toEqual({
      bos_token_id: 128000,
      do_sample: true,
      eos_token_id: [128001, 128008, 128009],
      temperature: 0.6,
      top_p: 0.9,
      transformers_version: "4.44.2",
    });
    expect(readdirSync(b)).toContain("pytorch_model.bin");
    expect(readdirSync(b)).not.toContain("model.safetensors");
    const expected = expectedOf("llama-eps-theta-mp2-llama3");
    const { tensors } = await loadCheckpointTensors(b);
    for (const [name, e] of Object.entries(expected.tensors as Record<string, any>))
      expect(sha256(tensors.get(name)!), name).toBe(e.sha256_bfloat16_le);
  });

  it("--model_size 13B names the shard count; a size that disagrees with the files is refused", async () => {
    const dir = path.join(META, "llama-gqa-mp2");
    const [ok, bad, ...usage] = await Promise.all([
      run(
        "convert_llama_weights_to_hf",
        "--input_dir",
        dir,
        "--output_dir",
        tmp(),
        "--model_size",
        "13B",
        "--llama_version",
        "2",
      ),
      run("convert_llama_weights_to_hf", "--input_dir", dir, "--output_dir", tmp(), "--model_size", "70B"),
      run("convert_llama_weights_to_hf", "--input_dir", dir),
      run("convert_llama_weights_to_hf", "--input_dir", dir, "--output_dir", tmp(), "--llama_version", "4"),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^llama-ts convert_llama_weights_to_hf: .*expected 8 model-parallel \.pth files, found 2/,
    );
    for (const r of usage) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n").length).toBe(1);
    }
  });
});

describe.skipIf(!haveMeta)("llama-ts convert_hf_to_llama_weights (the reverse)", () => {
  for (const folder of folders) {
    it(`${folder}: reproduces PyTorch's Meta files from the HF checkpoint, and converts back exactly`, async () => {
      const expected = expectedOf(folder);
      const source = path.resolve(META, folder, expected.source_hf_checkpoint);
      const { num_shards, llama_version } = expected.converter_args;
      const metaOut = tmp();
      const { convert_hf_to_llama_weights } = await import("../../src/models/llama/convert_hf_to_llama_weights.ts");
      await convert_hf_to_llama_weights({
        input_dir: source,
        output_dir: metaOut,
        num_shards,
        llama_version: String(llama_version) as "2",
      });
      // Tensor for tensor, what PyTorch wrote (Llama 1 files also carry rope.freqs, which no converter reads).
      for (let s = 0; s < num_shards; s++) {
        const name = `consolidated.${String(s).padStart(2, "0")}.pth`;
        const ours = loadTorchCheckpoint(path.join(metaOut, name)).tensors;
        const ref = loadTorchCheckpoint(path.join(META, folder, name)).tensors;
        expect([...ours.keys()]).toEqual([...ref.keys()].filter((k) => k !== "rope.freqs"));
        for (const [k, t] of ours) {
          expect(t.shape, k).toEqual(ref.get(k)!.shape);
          expect(bytesOf(t).equals(bytesOf(ref.get(k)!)), `${name} ${k}`).toBe(true);
        }
      }
      // params.json: the reference's sizes, and HF's formula gives back the source's intermediate_size.
      const params = JSON.parse(readFileSync(path.join(metaOut, "params.json"), "utf8"));
      for (const k of ["dim", "n_layers", "n_heads", "norm_eps"]) expect(params[k], k).toEqual(expected.params[k]);
      // Round trip: back to HF in float32 gives the source tensors bit for bit.
      const hfOut = tmp();
      const config = await convert_llama_weights_to_hf({
        input_dir: metaOut,
        output_dir: hfOut,
        llama_version: String(llama_version) as "2",
        torch_dtype: "float32",
      });
      expect(config.intermediate_size).toBe(expected.expected_config.intermediate_size);
      const back = (await loadCheckpointTensors(hfOut)).tensors;
      const src = (await loadCheckpointTensors(source)).tensors;
      for (const [name, e] of Object.entries(expected.tensors as Record<string, any>)) {
        const t = back.get(name)!;
        expect(sha256(t), name).toBe(e.sha256_float32_le);
        expect(bytesOf(t).equals(bytesOf(src.get(e.source_tensor)!)), name).toBe(true);
      }
    });
  }

  it("bfloat16 Meta files (as Meta's Llama 2 releases) convert to the same bfloat16 HF tensors", async () => {
    const expected = expectedOf("llama-gqa-mp2");
    const { convert_hf_to_llama_weights } = await import("../../src/models/llama/convert_hf_to_llama_weights.ts");
    const metaOut = tmp();
    await convert_hf_to_llama_weights({
      input_dir: path.resolve(META, "llama-gqa-mp2", expected.source_hf_checkpoint),
      output_dir: metaOut,
      num_shards: 2,
      torch_dtype: "bfloat16",
    });
    const shard = loadTorchCheckpoint(path.join(metaOut, "consolidated.01.pth")).tensors;
    expect([...shard.values()].every((t) => t.dtype === "bfloat16")).toBe(true);
    const hfOut = tmp();
    await convert_llama_weights_to_hf({ input_dir: metaOut, output_dir: hfOut, llama_version: "2" });
    const { tensors } = await loadCheckpointTensors(hfOut);
    for (const [name, e] of Object.entries(expected.tensors as Record<string, any>))
      expect(sha256(tensors.get(name)!), name).toBe(e.sha256_bfloat16_le);
  });

  const V32K = path.join(REF, "models/llama-vocab32000");
  it.skipIf(!existsSync(V32K) || !existsSync(path.join(REF, "tokenizer.model")))(
    "with a tokenizer.model: through both CLIs, vocab_size comes from the tokenizer, whose files are written",
    async () => {
      const hfIn = tmp();
      for (const f of ["config.json", "model.safetensors"]) copyFileSync(path.join(V32K, f), path.join(hfIn, f));
      copyFileSync(path.join(REF, "tokenizer.model"), path.join(hfIn, "tokenizer.model"));
      const metaOut = tmp();
      const r1 = await run(
        "convert_hf_to_llama_weights",
        "--input_dir",
        hfIn,
        "--output_dir",
        metaOut,
        "--num_shards",
        "2",
      );
      expect(r1.code, r1.stderr).toBe(0);
      expect(readdirSync(metaOut).sort()).toEqual([
        "consolidated.00.pth",
        "consolidated.01.pth",
        "params.json",
        "tokenizer.model",
      ]);
      const hfOut = tmp();
      const r2 = await run(
        "convert_llama_weights_to_hf",
        "--input_dir",
        metaOut,
        "--output_dir",
        hfOut,
        "--llama_version",
        "2",
        "--torch_dtype",
        "float32",
      );
      expect(r2.code, r2.stderr).toBe(0);
      const config = JSON.parse(readFileSync(path.join(hfOut, "config.json"), "utf8"));
      expect(config.vocab_size).toBe(32000);
      const back = (await loadCheckpointTensors(hfOut)).tensors;
      for (const [name, t] of (await loadCheckpointTensors(V32K)).tensors)
        expect(bytesOf(back.get(name)!).equals(bytesOf(t)), name).toBe(true);
      const tok = await LlamaTokenizerFast.from_pretrained(hfOut);
      // "Hello" in the Llama 2 tokenizer: <s> ▁Hello
      expect(tok.encode("Hello")).toEqual([1, 15043]);

      // A tokenizer whose length disagrees with the embedding rows is refused (HF would write an unloadable folder).
      const mismatch = tmp();
      for (const f of readdirSync(path.join(META, "llama-gqa")))
        copyFileSync(path.join(META, "llama-gqa", f), path.join(mismatch, f));
      copyFileSync(path.join(REF, "tokenizer.model"), path.join(mismatch, "tokenizer.model"));
      const r3 = await run("convert_llama_weights_to_hf", "--input_dir", mismatch, "--output_dir", tmp());
      expect(r3.code).toBe(2);
      expect(r3.stderr).toMatch(/32000 tokens but tok_embeddings has 256 rows/);
    },
  );
});
