/**
 * export-gguf read back by an independent parser (@huggingface/gguf): header, llama metadata, tokenizer vocabulary
 * from tokenizer.model, tensor names/shapes/types in ggml order, and the tensor bytes: q/k rows in Meta's
 * interleaved order (GGUF row h*hd + 2i + j = HF row h*hd + j*hd/2 + i), every other matrix as in the checkpoint.
 * (That llama.cpp itself loads the file and agrees on next-token probabilities is checked by `npm run bench`.)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gguf } from "@huggingface/gguf";
import { afterAll, describe, expect, it } from "vitest";
import { writeRandomCheckpoint } from "../../src/bench/random_checkpoint.ts";
import { loadCheckpointTensors } from "../../src/formats/checkpoint.ts";
import { writeLlamaGguf } from "../../src/formats/gguf.ts";
import { parseModelProto } from "../../src/formats/sentencepiece_model.ts";
import { float16BitsToFloat32 } from "../../src/tensor/dtypes.ts";

const TOKENIZER = path.resolve(process.cwd(), "../shared/reference/tokenizer.model");
const present = existsSync(TOKENIZER);
if (!present) console.warn(`skipping export-gguf tests: ${TOKENIZER} is absent`);

const shape = {
  vocab_size: 32000,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
};
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe.skipIf(!present)("export-gguf", () => {
  for (const [src, out] of [
    ["float32", "f32"],
    ["bfloat16", "f16"],
  ] as const) {
    it(`${src} checkpoint -> GGUF ${out}: parsed back by @huggingface/gguf`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "llama-ts-gguf-"));
      dirs.push(dir);
      await writeRandomCheckpoint(dir, shape, src, { seed: 3, tokenizerModel: TOKENIZER });
      const config = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8"));
      const { tensors } = await loadCheckpointTensors(dir);
      const file = path.join(dir, "model.gguf");
      await writeLlamaGguf(file, config, tensors, path.join(dir, "tokenizer.model"), { dtype: out });

      const parsed = await gguf(file, { allowLocalFile: true });
      const md = parsed.metadata as Record<string, any>;
      expect(md.version).toBe(3);
      expect(md["general.architecture"]).toBe("llama");
      expect(md["llama.embedding_length"]).toBe(16);
      expect(md["llama.block_count"]).toBe(2);
      expect(md["llama.feed_forward_length"]).toBe(24);
      expect(md["llama.attention.head_count"]).toBe(4);
      expect(md["llama.attention.head_count_kv"]).toBe(2);
      expect(md["llama.rope.dimension_count"]).toBe(4);
      expect(md["llama.attention.layer_norm_rms_epsilon"]).toBeCloseTo(1e-5, 10);
      expect(md["tokenizer.ggml.model"]).toBe("llama");
      const proto = parseModelProto(new Uint8Array(readFileSync(TOKENIZER)));
      expect(md["tokenizer.ggml.tokens"].length).toBe(32000);
      for (const i of [0, 1, 2, 3, 259, 31999]) {
        expect(md["tokenizer.ggml.tokens"][i]).toBe(proto.pieces![i].piece);
        expect(md["tokenizer.ggml.token_type"][i]).toBe(proto.pieces![i].type ?? 1);
        expect(md["tokenizer.ggml.scores"][i]).toBe(proto.pieces![i].score ?? 0);
      }

      const infos = new Map(parsed.tensorInfos.map((t) => [t.name, t]));
      expect(infos.size).toBe(3 + 9 * 2);
      const q = infos.get("blk.1.attn_q.weight")!;
      expect(q.shape.map(Number)).toEqual([16, 16]); // ggml order: innermost (in_features) first
      expect(infos.get("blk.0.attn_k.weight")!.shape.map(Number)).toEqual([16, 8]);
      expect(infos.get("token_embd.weight")!.shape.map(Number)).toEqual([16, 32000]);
      expect(infos.get("blk.0.attn_norm.weight")!.dtype).toBe(0); // F32
      expect(q.dtype).toBe(out === "f32" ? 0 : 1);

      const bytes = readFileSync(file);
      const base = Number(parsed.tensorDataOffset);
      const read = (name: string, n: number): Float64Array => {
        const info = infos.get(name)!;
        const off = base + Number(info.offset);
        const v = new Float64Array(n);
        for (let i = 0; i < n; i++)
          v[i] =
            info.dtype === 0 ? bytes.readFloatLE(off + 4 * i) : float16BitsToFloat32(bytes.readUInt16LE(off + 2 * i));
        return v;
      };
      const hfValue = (name: string, i: number): number => {
        const t = tensors.get(name)!;
        return t.dtype === "float32" ? (t.data as Float32Array)[i] : t.toFloat32()[i];
      };
      // HF -> float16 may round (bfloat16 has a wider exponent and 8 mantissa bits: those fit exactly)
      const tol = out === "f32" ? 0 : 2 ** -11;
      for (const [gg, hf, heads, rows] of [
        ["blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight", 4, 16],
        ["blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", 2, 8],
      ] as const) {
        const cols = 16;
        const hd = rows / heads;
        const g = read(gg, rows * cols);
        for (let h = 0; h < heads; h++)
          for (let i = 0; i < hd / 2; i++)
            for (let j = 0; j < 2; j++)
              for (let c = 0; c < cols; c++) {
                const want = hfValue(hf, (h * hd + j * (hd / 2) + i) * cols + c);
                const got = g[(h * hd + 2 * i + j) * cols + c];
                expect(Math.abs(got - want)).toBeLessThanOrEqual(tol * Math.abs(want) + 1e-12);
              }
      }
      const down = read("blk.0.ffn_down.weight", 16 * 24);
      for (let i = 0; i < 16 * 24; i++) {
        const want = hfValue("model.layers.0.mlp.down_proj.weight", i);
        expect(Math.abs(down[i] - want)).toBeLessThanOrEqual(tol * Math.abs(want) + 1e-12);
      }
    });
  }
});
