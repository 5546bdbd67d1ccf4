/**
 * A random Llama checkpoint written straight to disk, tensor by tensor (a 7B-shaped one never needs the whole
 * model in memory): config.json, model.safetensors in HF's names and layout, and tokenizer.model when one is
 * given (export-gguf takes the tokenizer metadata from it). Weights are uniform with HF's init std 0.02
 * (`initializer_range`), norms are 1; values do not change speed, and the same file feeds llama-ts and, through
 * export-gguf, llama.cpp.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { float32ToHalf } from "../tensor/dtypes.ts";

export interface RandomModelShape {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
}

export type WeightDType = "float32" | "float16" | "bfloat16";

const ST_DTYPE: Record<WeightDType, string> = { float32: "F32", float16: "F16", bfloat16: "BF16" };

/** Tensor names and shapes of a LlamaForCausalLM state dict, in HF's order. */
export function llamaTensorShapes(s: RandomModelShape): [string, number[]][] {
  const H = s.hidden_size;
  const D = H / s.num_attention_heads;
  const KV = s.num_key_value_heads * D;
  const out: [string, number[]][] = [["model.embed_tokens.weight", [s.vocab_size, H]]];
  for (let l = 0; l < s.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      [`${p}.self_attn.q_proj.weight`, [H, H]],
      [`${p}.self_attn.k_proj.weight`, [KV, H]],
      [`${p}.self_attn.v_proj.weight`, [KV, H]],
      [`${p}.self_attn.o_proj.weight`, [H, H]],
      [`${p}.mlp.gate_proj.weight`, [s.intermediate_size, H]],
      [`${p}.mlp.up_proj.weight`, [s.intermediate_size, H]],
      [`${p}.mlp.down_proj.weight`, [H, s.intermediate_size]],
      [`${p}.input_layernorm.weight`, [H]],
      [`${p}.post_attention_layernorm.weight`, [H]],
    );
  }
  out.push(["model.norm.weight", [H]], ["lm_head.weight", [s.vocab_size, H]]);
  return out;
}

/** Bytes of the checkpoint's tensors. */
export function checkpointBytes(s: RandomModelShape, dtype: WeightDType): number {
  const size = dtype === "float32" ? 4 : 2;
  return llamaTensorShapes(s).reduce((a, [, shape]) => a + shape.reduce((x, y) => x * y, 1) * size, 0);
}

/** Write the checkpoint folder; returns its size in bytes. `log` reports progress. */
export async function writeRandomCheckpoint(
  dir: string,
  shape: RandomModelShape,
  dtype: WeightDType,
  opts: { seed?: number; tokenizerModel?: string; log?: (s: string) => void } = {},
): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    ...shape,
    hidden_act: "silu",
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    initializer_range: 0.02,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: dtype,
  };
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  if (opts.tokenizerModel) copyFileSync(opts.tokenizerModel, path.join(dir, "tokenizer.model"));

  const entries = llamaTensorShapes(shape);
  const esize = dtype === "float32" ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, dims] of entries) {
    const bytes = dims.reduce((a, b) => a * b, 1) * esize;
    header[name] = { dtype: ST_DTYPE[dtype], shape: dims, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // data starts 8-byte aligned, as the safetensors crate pads
  const headerBytes = Buffer.from(json, "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));

  const file = await open(path.join(dir, "model.safetensors"), "w");
  try {
    await file.write(prefix);
    await file.write(headerBytes);
    // xorshift32: fast, seeded, identical on every machine
    let state = (opts.seed ?? 0) * 2654435761 + 1;
    state = state >>> 0 || 1;
    const amp = 0.02 * Math.sqrt(3); // uniform on [-amp, amp) has std 0.02
    for (let i = 0; i < entries.length; i++) {
      const [name, dims] = entries[i];
      const n = dims.reduce((a, b) => a * b, 1);
      const values = new Float32Array(n);
      if (name.endsWith("norm.weight")) values.fill(1);
      else {
        for (let j = 0; j < n; j++) {
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          values[j] = ((state >>> 0) / 2 ** 31 - 1) * amp;
        }
      }
      const data = dtype === "float32" ? values : float32ToHalf(values, dtype);
      await file.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (i % 20 === 0) opts.log?.(`  writing ${name} (${i + 1}/${entries.length})`);
    }
  } finally {
    await file.close();
  }
  return 8 + headerBytes.length + offset;
}
