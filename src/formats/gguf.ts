/**
 * GGUF v3 writer for Llama checkpoints: what llama.cpp's `convert_hf_to_gguf.py` writes for a LlamaForCausalLM,
 * so llama.cpp (and node-llama-cpp) load it.
 *
 * File layout (little-endian): "GGUF", version u32 = 3, tensor count u64, metadata count u64; the metadata
 * (key: u64-length string, value type u32, value); the tensor infos (name, n_dims u32, dims u64 innermost first,
 * ggml type u32, data offset u64); zero padding to `general.alignment` (32); the tensor data, each tensor
 * starting at a multiple of 32.
 *
 * Names and layout follow convert_hf_to_gguf's LlamaModel: `model.layers.N.self_attn.q_proj.weight` ->
 * `blk.N.attn_q.weight` and so on; q_proj and k_proj rows go back from HF's rotate_half order to Meta's
 * interleaved order (llama.cpp's rope pairs neighbouring dimensions); 1-D tensors (norms) stay float32, 2-D ones
 * take the requested type. Tokenizer metadata (tokens, scores, token types) comes from sentencepiece's
 * tokenizer.model, as the converter's `_create_vocab_sentencepiece` does.
 */
import { existsSync, readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { CheckpointError, ValueError } from "../errors.ts";
import { float32ToHalf, halfToFloat32 } from "../tensor/dtypes.ts";
import { Tensor } from "../tensor/tensor.ts";
import { reorderRotaryRows } from "./rotary_rows.ts";
import { parseModelProto } from "./sentencepiece_model.ts";

const ALIGN = 32;
const GGML_F32 = 0;
const GGML_F16 = 1;
const enum T {
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

type MetaValue =
  | { t: T.U32 | T.I32 | T.F32; v: number }
  | { t: T.BOOL; v: boolean }
  | { t: T.STRING; v: string }
  | { t: T.ARRAY; of: T.F32 | T.I32 | T.STRING; v: (number | string)[] };

/** A growable little-endian byte writer for the header. */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private room(n: number) {
    if (this.length + n > this.buf.length) {
      const b = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(b, 0, 0, this.length);
      this.buf = b;
    }
  }
  u32(v: number) {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.length);
    this.length += 4;
  }
  i32(v: number) {
    this.room(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  f32(v: number) {
    this.room(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  u64(v: number) {
    this.room(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  u8(v: number) {
    this.room(1);
    this.buf[this.length++] = v;
  }
  str(s: string) {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.room(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }
  pad(align: number) {
    while (this.length % align !== 0) this.u8(0);
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(b: Bytes, m: MetaValue): void {
  b.u32(m.t);
  if (m.t === T.U32) b.u32(m.v);
  else if (m.t === T.I32) b.i32(m.v);
  else if (m.t === T.F32) b.f32(m.v);
  else if (m.t === T.BOOL) b.u8(m.v ? 1 : 0);
  else if (m.t === T.STRING) b.str(m.v);
  else if (m.t === T.ARRAY) {
    b.u32(m.of);
    b.u64(m.v.length);
    for (const x of m.v) {
      if (m.of === T.STRING) b.str(x as string);
      else if (m.of === T.F32) b.f32(x as number);
      else b.i32(x as number);
    }
  }
}

/** HF tensor name -> GGUF name (null for tensors llama.cpp does not read, e.g. rotary inv_freq buffers). */
export function ggufTensorName(hf: string): string | null {
  const fixed: Record<string, string> = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
  };
  if (fixed[hf]) return fixed[hf];
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (!m) return null;
  const sub: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
  };
  return sub[m[2]] ? `blk.${m[1]}.${sub[m[2]]}` : null;
}

export interface ExportGgufOptions {
  dtype: "f32" | "f16";
  log?: (s: string) => void;
}

/**
 * Write `tensors` (an HF Llama state dict) with `config` (config.json's fields) and the folder's tokenizer.model
 * to `out` as GGUF v3. Returns the file size.
 */
export async function writeLlamaGguf(
  out: string,
  config: Record<string, any>,
  tensors: Map<string, Tensor>,
  tokenizerModel: string,
  opts: ExportGgufOptions,
): Promise<number> {
  const need = (k: string) => {
    if (typeof config[k] !== "number") throw new CheckpointError("config.json", `${k}: expected a number`);
    return config[k] as number;
  };
  const H = need("hidden_size");
  const nHead = need("num_attention_heads");
  const nKv = typeof config.num_key_value_heads === "number" ? config.num_key_value_heads : nHead;
  const vocab = need("vocab_size");
  if (config.rope_scaling) throw new ValueError("export-gguf: rope_scaling is not supported by this exporter");
  if (!existsSync(tokenizerModel))
    throw new CheckpointError(tokenizerModel, "file not found (export-gguf takes the vocabulary from it)");
  const proto = parseModelProto(new Uint8Array(readFileSync(tokenizerModel)), tokenizerModel);
  const pieces = proto.pieces ?? [];
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocab; i++) {
    const p = pieces[i];
    // convert_hf_to_gguf pads a vocabulary shorter than the embedding with [PAD{i}] user-defined tokens
    tokens.push(p ? (p.piece ?? "") : `[PAD${i}]`);
    scores.push(p ? (p.score ?? 0) : -1000);
    types.push(p ? (p.type ?? 1) : 4);
  }
  const ts = proto.trainer_spec ?? {};
  const meta: [string, MetaValue][] = [
    ["general.architecture", { t: T.STRING, v: "llama" }],
    ["general.name", { t: T.STRING, v: path.basename(path.dirname(path.resolve(tokenizerModel))) }],
    ["general.alignment", { t: T.U32, v: ALIGN }],
    ["general.file_type", { t: T.U32, v: opts.dtype === "f32" ? 0 : 1 }],
    ["llama.vocab_size", { t: T.U32, v: vocab }],
    ["llama.context_length", { t: T.U32, v: config.max_position_embeddings ?? 2048 }],
    ["llama.embedding_length", { t: T.U32, v: H }],
    ["llama.block_count", { t: T.U32, v: need("num_hidden_layers") }],
    ["llama.feed_forward_length", { t: T.U32, v: need("intermediate_size") }],
    ["llama.rope.dimension_count", { t: T.U32, v: config.head_dim ?? H / nHead }],
    ["llama.attention.head_count", { t: T.U32, v: nHead }],
    ["llama.attention.head_count_kv", { t: T.U32, v: nKv }],
    ["llama.attention.layer_norm_rms_epsilon", { t: T.F32, v: config.rms_norm_eps ?? 1e-6 }],
    ["llama.rope.freq_base", { t: T.F32, v: config.rope_theta ?? 10000 }],
    ["tokenizer.ggml.model", { t: T.STRING, v: "llama" }],
    ["tokenizer.ggml.tokens", { t: T.ARRAY, of: T.STRING, v: tokens }],
    ["tokenizer.ggml.scores", { t: T.ARRAY, of: T.F32, v: scores }],
    ["tokenizer.ggml.token_type", { t: T.ARRAY, of: T.I32, v: types }],
    ["tokenizer.ggml.bos_token_id", { t: T.U32, v: config.bos_token_id ?? ts.bos_id ?? 1 }],
    ["tokenizer.ggml.eos_token_id", { t: T.U32, v: config.eos_token_id ?? ts.eos_id ?? 2 }],
    ["tokenizer.ggml.unknown_token_id", { t: T.U32, v: ts.unk_id ?? 0 }],
    ["tokenizer.ggml.add_bos_token", { t: T.BOOL, v: true }],
    ["tokenizer.ggml.add_eos_token", { t: T.BOOL, v: false }],
  ];

  // tensors in llama.cpp's order: embedding, the blocks, the final norm, the head
  const plan: { name: string; hf: string; t: Tensor; type: number; bytes: number; offset: number }[] = [];
  let offset = 0;
  // (tied embeddings have no lm_head.weight: llama.cpp then uses token_embd as the output matrix)
  for (const hf of tensors.keys()) {
    const name = ggufTensorName(hf);
    if (name === null) continue;
    const t = tensors.get(hf)!;
    const type = t.shape.length === 1 || opts.dtype === "f32" ? GGML_F32 : GGML_F16;
    const bytes = t.size * (type === GGML_F32 ? 4 : 2);
    plan.push({ name, hf, t, type, bytes, offset });
    offset += Math.ceil(bytes / ALIGN) * ALIGN;
  }

  const b = new Bytes();
  b.u32(0x46554747); // "GGUF"
  b.u32(3);
  b.u64(plan.length);
  b.u64(meta.length);
  for (const [k, v] of meta) {
    b.str(k);
    writeValue(b, v);
  }
  for (const p of plan) {
    b.str(p.name);
    b.u32(p.t.shape.length);
    for (let i = p.t.shape.length - 1; i >= 0; i--) b.u64(p.t.shape[i]); // ggml: innermost dimension first
    b.u32(p.type);
    b.u64(p.offset);
  }
  b.pad(ALIGN);

  const fh = await open(out, "w");
  try {
    await fh.write(b.bytes());
    let pos = 0;
    for (const [i, p] of plan.entries()) {
      let f32 = p.t.dtype === "float32" ? (p.t.data as Float32Array) : null;
      const permuteHeads = p.hf.endsWith("q_proj.weight") ? nHead : p.hf.endsWith("k_proj.weight") ? nKv : 0;
      if (permuteHeads > 0 || p.type === GGML_F32 || p.t.dtype === "bfloat16") {
        f32 ??= halfToFloat32(p.t.data as Uint16Array, p.t.dtype as "float16" | "bfloat16");
        if (permuteHeads > 0)
          // llama.cpp reads q/k rows in Meta's interleaved order (rotary_rows.ts)
          f32 = reorderRotaryRows(new Tensor("float32", f32, p.t.shape), permuteHeads, "interleaved", p.hf)
            .data as Float32Array;
      }
      let data: Uint8Array;
      if (p.type === GGML_F32) data = new Uint8Array(f32!.buffer, f32!.byteOffset, f32!.byteLength);
      else {
        const h = f32 === null ? (p.t.data as Uint16Array) : float32ToHalf(f32, "float16");
        data = new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
      }
      if (pos !== p.offset) throw new Error(`gguf writer: offset ${pos} != planned ${p.offset}`);
      await fh.write(data);
      pos += data.byteLength;
      const padded = Math.ceil(pos / ALIGN) * ALIGN;
      if (padded > pos) await fh.write(Buffer.alloc(padded - pos));
      pos = padded;
      if (i % 30 === 0) opts.log?.(`  ${p.name} (${i + 1}/${plan.length})`);
    }
  } finally {
    await fh.close();
  }
  return b.length + offset;
}
