/**
 * Tour (README "Read the code", step 13 of 18): why HF's q/k rows differ from Meta's (see rotate_half).
 *
 * convert_llama_weights_to_hf: mirrors HF `models/llama/convert_llama_weights_to_hf.py` (transformers 4.44.2).
 *
 * This file holds HF's names for the HF <-> Meta q/k permutation (`permute`, as HF's converter names it, and its
 * inverse `unpermute`). Both call the project's one row reorder, `reorderRotaryRows` in formats/rotary_rows.ts,
 * which the GGUF writer uses too (llama.cpp reads q/k in Meta's order).
 *
 * Why a permutation exists at all. Both layouts compute the same rotary position embedding; they only disagree on
 * which two rows of a head form one rotated pair.
 *
 * - Meta (`llama/model.py`, `apply_rotary_emb`) views each head's `hd` query features as `hd/2` complex numbers
 *   `(x[2i], x[2i+1])` and multiplies pair `i` by `e^{i m theta_i}`: the pairs are *interleaved*.
 * - HF (`modeling_llama.py`, `apply_rotary_pos_emb`) computes `q*cos + rotate_half(q)*sin`, where
 *   `rotate_half([x1, x2]) = [-x2, x1]` splits the head into two *halves*: feature `i` is paired with `i + hd/2`.
 *
 * So HF stores the rows of W_q and W_k (each row produces one feature) reordered inside every head such that the
 * Meta pair (2i, 2i+1) lands on rows (i, i + hd/2). HF's helper does this by viewing a head's `hd` rows as an
 * `(hd/2, 2)` grid [pair index i, element j of the pair] and transposing it to `(2, hd/2)`:
 *
 *     HF row  j*hd/2 + i  =  Meta row  2i + j        (i < hd/2, j in {0, 1}, within every head)
 *
 * Worked example, one head with hd = 8, Meta rows named by (pair, element):
 *
 *     Meta rows  0    1    2    3    4    5    6    7
 *               a.re a.im b.re b.im c.re c.im d.re d.im      pairs interleaved: (0,1) (2,3) (4,5) (6,7)
 *     HF rows    0    1    2    3  |  4    5    6    7
 *               a.re b.re c.re d.re| a.im b.im c.im d.im     halves: x1 = real parts, x2 = imaginary parts
 *     HF row r <- Meta row  0, 2, 4, 6, 1, 3, 5, 7
 *
 * With x1 = [a.re..d.re] and x2 = [a.im..d.im], `q*cos + rotate_half(q)*sin` gives x1*cos - x2*sin and
 * x2*cos + x1*sin per pair: exactly Meta's complex product (re*cos - im*sin, im*cos + re*sin). v, o, the MLP,
 * norms and embeddings do not pass through RoPE and are never permuted.
 *
 * The head count matters: q is permuted with `num_attention_heads` heads over `hidden_size` rows, k with
 * `num_key_value_heads` heads over `num_key_value_heads * head_dim` rows. Permuting k with the query-head count
 * would treat its rows as heads of the wrong size (the bug of older revisions of HF's script, harmless only when
 * n_heads = n_kv_heads ** 2, as in Llama 2 70B).
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CheckpointError, ShapeError, ValueError } from "../../errors.ts";
import { FILE_LIMITS, readFileCheckedAsync, readTextFileCheckedAsync } from "../../utils/safe_fs.ts";
import { saveCheckpointTensors } from "../../formats/checkpoint.ts";
import { loadTorchCheckpoint } from "../../formats/pytorch.ts";
import { reorderRotaryRows } from "../../formats/rotary_rows.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { LlamaConfig } from "./configuration_llama.ts";
import { LlamaTokenizerFast } from "./tokenization_llama_fast.ts";

/**
 * HF's `permute(w, n_heads, dim1, dim2)`: Meta's interleaved layout -> HF's rotate_half layout.
 *
 *     w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)
 *
 * `w`: [dim1 = n_heads * hd, dim2]; returns a new tensor of the same shape and dtype. For q pass
 * `num_attention_heads`, for k `num_key_value_heads`.
 */
export function permute(w: Tensor, n_heads: number): Tensor {
  return reorderRotaryRows(w, n_heads, "hf", "permute");
}

/**
 * The inverse of {@link permute}: HF's rotate_half layout -> Meta's interleaved layout (Meta row `2i + j` = HF row
 * `j*hd/2 + i`). In torch: `w.view(n_heads, 2, hd // 2, dim2).transpose(1, 2).reshape(dim1, dim2)`.
 */
export function unpermute(w: Tensor, n_heads: number): Tensor {
  return reorderRotaryRows(w, n_heads, "interleaved", "unpermute");
}

// ---------------------------------------------------------------------------------------------------------
// The converter: Meta's params.json + consolidated.NN.pth -> an HF Llama folder
// ---------------------------------------------------------------------------------------------------------

/** HF's `NUM_SHARDS`: model-parallel files of each official release (`--model_size`); "f" = the chat fine-tunes. */
export const NUM_SHARDS: Readonly<Record<string, number>> = {
  "7B": 1,
  "8B": 1,
  "8Bf": 1,
  "7Bf": 1,
  "13B": 2,
  "13Bf": 2,
  "34B": 4,
  "30B": 4,
  "65B": 8,
  "70B": 8,
  "70Bf": 8,
  "405B": 8,
  "405B-MP16": 16,
};

/** HF's `CONTEXT_LENGTH_FOR_VERSION`: max_position_embeddings per `--llama_version`. */
export const CONTEXT_LENGTH_FOR_VERSION: Readonly<Record<LlamaVersion, number>> = {
  "3.1": 131072,
  "3": 8192,
  "2": 4096,
  "1": 2048,
};

export type LlamaVersion = "1" | "2" | "3" | "3.1";
export const LLAMA_VERSIONS: readonly LlamaVersion[] = ["1", "2", "3", "3.1"];

/**
 * HF's `compute_intermediate_size`, i.e. Meta's FeedForward sizing:
 *
 *     multiple_of * ((int(ffn_dim_multiplier * int(8 * n / 3)) + multiple_of - 1) // multiple_of)
 *
 * 2/3 of 4*dim (SwiGLU keeps the parameter count of a 4*dim MLP), scaled, rounded up to a multiple of
 * `multiple_of`. Python's `int()` of a float truncates; JavaScript's doubles give the same values.
 * Llama 2 7B: n = 4096, multiplier 1, multiple_of 256 -> int(8*4096/3) = 10922 -> 11008.
 */
export function compute_intermediate_size(n: number, ffn_dim_multiplier = 1, multiple_of = 256): number {
  return (
    multiple_of * Math.floor((Math.trunc(ffn_dim_multiplier * Math.trunc((8 * n) / 3)) + multiple_of - 1) / multiple_of)
  );
}

/** Meta's `params.json` (`ModelArgs` of Meta's llama repository). */
export interface MetaParams {
  dim: number;
  n_layers: number;
  n_heads: number;
  /** Absent (or null) = multi-head attention: `n_heads`. */
  n_kv_heads?: number | null;
  /** `-1` in the Llama 1/2 releases (the tokenizer decides); HF's converter never reads it. */
  vocab_size?: number;
  multiple_of?: number;
  ffn_dim_multiplier?: number | null;
  norm_eps: number;
  rope_theta?: number;
}

/**
 * `torch.cat` of 2-D tensors along `dim` (0: stack rows, 1: join columns); whole rows are copied, any dtype. One
 * tensor is returned as is (no copy: a single-file checkpoint is not held twice in memory).
 */
export function cat(tensors: Tensor[], dim: 0 | 1): Tensor {
  const first = tensors[0];
  if (tensors.length === 1 && first.shape.length === 2) return first;
  const other = 1 - dim;
  for (const t of tensors)
    if (t.shape.length !== 2 || t.shape[other] !== first.shape[other] || t.dtype !== first.dtype)
      throw new ShapeError(
        "cat",
        `cannot join [${t.shape}] ${t.dtype} with [${first.shape}] ${first.dtype} along dim ${dim}`,
      );
  const total = tensors.reduce((s, t) => s + t.shape[dim], 0);
  const shape = dim === 0 ? [total, first.shape[1]] : [first.shape[0], total];
  const out = Tensor.zeros(first.dtype, shape);
  const dst = out.data as Float32Array;
  if (dim === 0) {
    let at = 0;
    for (const t of tensors) {
      dst.set(t.data as Float32Array, at);
      at += t.size;
    }
  } else {
    const rows = first.shape[0];
    for (let r = 0; r < rows; r++) {
      let at = r * total;
      for (const t of tensors) {
        const w = t.shape[1];
        dst.set((t.data as Float32Array).subarray(r * w, (r + 1) * w), at);
        at += w;
      }
    }
  }
  return out;
}

/** `torch.chunk(t, n, dim)` of a 2-D tensor into `n` equal parts (the inverse of {@link cat}). */
export function chunk(t: Tensor, n: number, dim: 0 | 1): Tensor[] {
  if (t.shape.length !== 2 || t.shape[dim] % n !== 0)
    throw new ShapeError("chunk", `cannot split [${t.shape}] into ${n} equal parts along dim ${dim}`);
  const [rows, cols] = t.shape;
  const part = t.shape[dim] / n;
  const src = t.data as Float32Array;
  const out: Tensor[] = [];
  for (let k = 0; k < n; k++) {
    if (dim === 0) {
      out.push(new Tensor(t.dtype, src.slice(k * part * cols, (k + 1) * part * cols), [part, cols]));
    } else {
      const piece = Tensor.zeros(t.dtype, [rows, part]);
      for (let r = 0; r < rows; r++)
        (piece.data as Float32Array).set(src.subarray(r * cols + k * part, r * cols + (k + 1) * part), r * part);
      out.push(piece);
    }
  }
  return out;
}

/** The shapes and counts HF's `write_model` derives from params.json (names as in HF's script). */
export interface ConversionPlan {
  n_layers: number;
  n_heads: number;
  dim: number;
  dims_per_head: number;
  num_key_value_heads: number;
  key_value_dim: number;
  num_shards: number;
  n_heads_per_shard: number;
  num_key_value_heads_per_shard: number;
  rope_theta: number;
  norm_eps: number;
  max_position_embeddings: number;
  intermediate_size: number;
  bos_token_id: number;
  eos_token_id: number | number[];
}

function positiveInt(v: unknown, field: string, file: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0)
    throw new CheckpointError(file, `"${field}" must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Read params.json as HF does (`params = params.get("model", params)`) and derive every size, refusing what
 * HF's script would silently mis-convert (heads that do not split over the shards, a head size that is odd).
 */
export function planConversion(
  raw: unknown,
  num_shards: number,
  llama_version: LlamaVersion,
  instruct = false,
  file = "params.json",
): ConversionPlan {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new CheckpointError(file, "expected a JSON object");
  const nested = (raw as Record<string, unknown>).model;
  const params = (typeof nested === "object" && nested !== null ? nested : raw) as Record<string, unknown>;
  const n_layers = positiveInt(params.n_layers, "n_layers", file);
  const n_heads = positiveInt(params.n_heads, "n_heads", file);
  const dim = positiveInt(params.dim, "dim", file);
  if (typeof params.norm_eps !== "number" || !(params.norm_eps > 0))
    throw new CheckpointError(file, `"norm_eps" must be a positive number, got ${JSON.stringify(params.norm_eps)}`);
  if (dim % n_heads !== 0 || (dim / n_heads) % 2 !== 0)
    throw new CheckpointError(file, `dim ${dim} does not split into ${n_heads} heads of an even size`);
  const dims_per_head = dim / n_heads;
  const rope_theta = params.rope_theta ?? 10000.0;
  if (typeof rope_theta !== "number" || !(rope_theta > 0))
    throw new CheckpointError(file, `"rope_theta" must be a positive number, got ${JSON.stringify(rope_theta)}`);
  // HF: 16384 for Code Llama (rope_theta 1e6 on a Llama 2 base), else the version's context length.
  const max_position_embeddings =
    rope_theta > 10000.0 && Number(llama_version) < 3 ? 16384 : CONTEXT_LENGTH_FOR_VERSION[llama_version];
  const num_key_value_heads =
    params.n_kv_heads === undefined || params.n_kv_heads === null
      ? n_heads
      : positiveInt(params.n_kv_heads, "n_kv_heads", file);
  if (n_heads % num_key_value_heads !== 0)
    throw new CheckpointError(file, `n_heads ${n_heads} is not a multiple of n_kv_heads ${num_key_value_heads}`);
  // Each model-parallel file holds whole heads: n_heads / S query heads and n_kv_heads / S key/value heads.
  if (n_heads % num_shards !== 0 || num_key_value_heads % num_shards !== 0)
    throw new CheckpointError(
      file,
      `${num_shards} model-parallel files cannot each hold whole heads of n_heads ${n_heads} / n_kv_heads ${num_key_value_heads}`,
    );
  const ffn = params.ffn_dim_multiplier ?? 1;
  const multiple_of = params.multiple_of ?? 256;
  if (typeof ffn !== "number" || !(ffn > 0))
    throw new CheckpointError(file, `"ffn_dim_multiplier" must be a positive number, got ${JSON.stringify(ffn)}`);
  positiveInt(multiple_of, "multiple_of", file);
  const v3 = llama_version === "3" || llama_version === "3.1";
  return {
    n_layers,
    n_heads,
    dim,
    dims_per_head,
    num_key_value_heads,
    key_value_dim: dims_per_head * num_key_value_heads,
    num_shards,
    n_heads_per_shard: n_heads / num_shards,
    num_key_value_heads_per_shard: num_key_value_heads / num_shards,
    rope_theta,
    norm_eps: params.norm_eps,
    max_position_embeddings,
    intermediate_size: compute_intermediate_size(dim, ffn, multiple_of as number),
    bos_token_id: v3 ? 128000 : 1,
    eos_token_id: v3 ? (instruct ? [128001, 128008, 128009] : 128001) : 2,
  };
}

/**
 * The merged HF state dict of `write_model`, before its final dtype cast: each layer's tensors, then
 * `model.embed_tokens`, `model.norm`, `lm_head`. `loaded[s]` is the state dict of `consolidated.0s.pth`.
 * Tensors keep the files' dtype. Merge dims (see the table in HF's script / our README):
 * wq, wk, wv: per-head blocks stacked (dim 0), then q/k permuted; wo, w2: dim 1; w1, w3, output: dim 0; norms from
 * file 0; tok_embeddings: dim 1 for Llama 1/2 (ParallelEmbedding splits the features), dim 0 for Llama 3
 * (VocabParallelEmbedding splits the vocabulary).
 */
export function convertMetaStateDict(
  plan: ConversionPlan,
  loaded: Map<string, Tensor>[],
  llama_version: LlamaVersion,
  progress: (message: string) => void = () => {},
): Map<string, Tensor> {
  const S = loaded.length;
  const get = (s: number, name: string, shape: number[]): Tensor => {
    const t = loaded[s].get(name);
    if (t === undefined)
      throw new CheckpointError(`consolidated.${String(s).padStart(2, "0")}.pth`, `tensor ${name} is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new CheckpointError(
        `consolidated.${String(s).padStart(2, "0")}.pth`,
        `tensor ${name} has shape [${t.shape}], params.json implies [${shape}]`,
      );
    return t;
  };
  const all = (name: string, shape: number[]) => loaded.map((_, s) => get(s, name, shape));
  const { dim, dims_per_head, key_value_dim, n_heads, num_key_value_heads, intermediate_size: inter } = plan;
  const out = new Map<string, Tensor>();
  for (let i = 0; i < plan.n_layers; i++) {
    const p = `model.layers.${i}.`;
    const m = `layers.${i}.`;
    // HF (sharded): cat([w.view(n_heads_per_shard, dims_per_head, dim) ...], dim=0).reshape(dim, dim); the view
    // keeps row-major order, so this is a plain row concatenation.
    out.set(p + "self_attn.q_proj.weight", permute(cat(all(m + "attention.wq.weight", [dim / S, dim]), 0), n_heads));
    out.set(
      p + "self_attn.k_proj.weight",
      permute(cat(all(m + "attention.wk.weight", [key_value_dim / S, dim]), 0), num_key_value_heads),
    );
    out.set(p + "self_attn.v_proj.weight", cat(all(m + "attention.wv.weight", [key_value_dim / S, dim]), 0));
    out.set(p + "self_attn.o_proj.weight", cat(all(m + "attention.wo.weight", [dim, dim / S]), 1));
    out.set(p + "mlp.gate_proj.weight", cat(all(m + "feed_forward.w1.weight", [inter / S, dim]), 0));
    out.set(p + "mlp.down_proj.weight", cat(all(m + "feed_forward.w2.weight", [dim, inter / S]), 1));
    out.set(p + "mlp.up_proj.weight", cat(all(m + "feed_forward.w3.weight", [inter / S, dim]), 0));
    out.set(p + "input_layernorm.weight", get(0, m + "attention_norm.weight", [dim]));
    out.set(p + "post_attention_layernorm.weight", get(0, m + "ffn_norm.weight", [dim]));
    progress(`layer ${i + 1}/${plan.n_layers} merged`);
  }
  const v3 = llama_version === "3" || llama_version === "3.1";
  const emb0 = loaded[0].get("tok_embeddings.weight");
  if (emb0 === undefined || emb0.shape.length !== 2)
    throw new CheckpointError("consolidated.00.pth", "tok_embeddings.weight is missing");
  const embShape = v3 ? [emb0.shape[0], dim] : [emb0.shape[0], dim / S];
  out.set("model.embed_tokens.weight", cat(all("tok_embeddings.weight", embShape), v3 ? 0 : 1));
  out.set("model.norm.weight", get(0, "norm.weight", [dim]));
  const out0 = loaded[0].get("output.weight");
  if (out0 === undefined || out0.shape.length !== 2)
    throw new CheckpointError("consolidated.00.pth", "output.weight is missing");
  out.set("lm_head.weight", cat(all("output.weight", [out0.shape[0], dim]), 0));
  return out;
}

/** The transformers release whose converter (and config.json) this mirrors. */
export const HF_CONVERTER_VERSION = "4.44.2";

export type OutputDType = "bfloat16" | "float16" | "float32";

export interface ConvertOptions {
  input_dir: string;
  output_dir: string;
  /** HF's `--model_size` (7B, 13B, 70B, ...): only maps to a shard count (NUM_SHARDS). */
  model_size?: string;
  /** HF's `--num_shards`. Without it and `model_size`, the number of `consolidated.*.pth` files. */
  num_shards?: number;
  /** HF's `--llama_version` (default "1", as HF). */
  llama_version?: LlamaVersion;
  /** HF's `--instruct` (Llama 3: eos [128001, 128008, 128009] and a sampling generation_config). */
  instruct?: boolean;
  /** HF's `--safe_serialization` (default true: model.safetensors; false: pytorch_model.bin). */
  safe_serialization?: boolean;
  /**
   * Dtype of the written weights. HF's script always writes bfloat16 (`from_pretrained(torch_dtype=bfloat16)` then
   * `save_pretrained`); "float32" keeps the exact merged values (beyond HF).
   */
  torch_dtype?: OutputDType;
  /** One line per step (the CLI prints them on stderr). */
  progress?: (message: string) => void;
}

const CONSOLIDATED = /^consolidated\.\d+\.pth$/;

/** The `.pth` files HF reads: `consolidated.00.pth` alone for one shard, else every `*.pth`, sorted. */
async function shardFiles(input_dir: string, num_shards: number | undefined): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(input_dir);
  } catch (e) {
    throw new CheckpointError(input_dir, `cannot read the input folder (${(e as Error).message})`);
  }
  const pth = names.filter((n) => n.endsWith(".pth")).sort();
  const count = num_shards ?? pth.filter((n) => CONSOLIDATED.test(n)).length;
  if (count === 0) throw new CheckpointError(input_dir, "no consolidated.NN.pth file in the folder");
  if (count === 1) {
    if (!names.includes("consolidated.00.pth")) throw new CheckpointError(input_dir, "consolidated.00.pth is missing");
    return ["consolidated.00.pth"];
  }
  if (pth.length !== count)
    throw new CheckpointError(
      input_dir,
      `expected ${count} model-parallel .pth files, found ${pth.length}: ${pth.join(", ")}`,
    );
  return pth;
}

/** HF's `write_tokenizer` for Llama 1/2: a LlamaTokenizerFast from `tokenizer.model`, saved; returns its length. */
export async function write_tokenizer(output_dir: string, tokenizer_model: string): Promise<number> {
  const bytes = await readFileCheckedAsync(tokenizer_model, FILE_LIMITS.sentencepiece_model);
  const tokenizer = new LlamaTokenizerFast({ vocab_file: tokenizer_model, sp_model_proto: bytes });
  await tokenizer.save_pretrained(output_dir);
  return tokenizer.length;
}

/** Python `json.dumps(obj, indent=2, sort_keys=True)` for the small flat objects written here. */
function sortedJson(obj: Record<string, unknown>): string {
  const sorted = Object.fromEntries(
    Object.keys(obj)
      .sort()
      .map((k) => [k, obj[k]]),
  );
  return JSON.stringify(sorted, null, 2) + "\n";
}

/**
 * HF's `main()` + `write_model`: tokenizer files (when `tokenizer.model` is present), then the weights and
 * config.json of an HF Llama folder. Returns the config written.
 *
 * Differences from HF, each where HF would fail or mis-convert: without `tokenizer.model` (HF would crash)
 * vocab_size is the row count of `tok_embeddings`; a tokenizer whose length differs from that row count is
 * refused (HF would write a folder that does not load); Llama 3's tiktoken `tokenizer.model` is not converted
 * (only the weights are). HF writes through a temporary pytorch_model.bin folder and `from_pretrained`; here the
 * merged state is written directly, with the same values, names, dtype and config.
 */
export async function convert_llama_weights_to_hf(opts: ConvertOptions): Promise<LlamaConfig> {
  const progress = opts.progress ?? (() => {});
  const llama_version = opts.llama_version ?? "1";
  if (!LLAMA_VERSIONS.includes(llama_version))
    throw new ValueError(
      `llama_version: expected one of ${LLAMA_VERSIONS.join(", ")}, got ${JSON.stringify(llama_version)}`,
    );
  let num_shards = opts.num_shards;
  if (num_shards === undefined && opts.model_size !== undefined) {
    if (!Object.hasOwn(NUM_SHARDS, opts.model_size))
      throw new ValueError(
        `model_size: expected one of ${Object.keys(NUM_SHARDS).join(", ")}, got ${JSON.stringify(opts.model_size)}`,
      );
    num_shards = NUM_SHARDS[opts.model_size];
  }
  const files = await shardFiles(opts.input_dir, num_shards);
  const paramsPath = join(opts.input_dir, "params.json");
  let paramsRaw: unknown;
  try {
    paramsRaw = JSON.parse(await readTextFileCheckedAsync(paramsPath, FILE_LIMITS.config));
  } catch (e) {
    throw new CheckpointError(paramsPath, `cannot read params.json (${(e as Error).message})`);
  }
  const plan = planConversion(paramsRaw, files.length, llama_version, opts.instruct ?? false, paramsPath);

  const loaded: Map<string, Tensor>[] = [];
  for (const f of files) {
    const path = join(opts.input_dir, f);
    progress(`loading ${f} (${((await stat(path)).size / 1e6).toFixed(1)} MB)`);
    loaded.push(loadTorchCheckpoint(path).tensors);
  }
  const state = convertMetaStateDict(plan, loaded, llama_version, progress);
  loaded.length = 0;
  const embedRows = state.get("model.embed_tokens.weight")!.shape[0];

  await mkdir(opts.output_dir, { recursive: true });
  let vocab_size = embedRows;
  const spm = join(opts.input_dir, "tokenizer.model");
  if (existsSync(spm)) {
    if (llama_version === "3" || llama_version === "3.1") {
      progress("tokenizer.model of Llama 3 is a tiktoken file: not converted (weights only)");
    } else {
      progress("writing the tokenizer");
      vocab_size = await write_tokenizer(opts.output_dir, spm);
      if (vocab_size !== embedRows)
        throw new CheckpointError(
          spm,
          `the tokenizer has ${vocab_size} tokens but tok_embeddings has ${embedRows} rows`,
        );
    }
  } else progress(`no tokenizer.model: vocab_size ${embedRows} taken from tok_embeddings`);

  const torch_dtype = opts.torch_dtype ?? "bfloat16";
  const config = new LlamaConfig({
    hidden_size: plan.dim,
    intermediate_size: plan.intermediate_size,
    num_attention_heads: plan.n_heads,
    num_hidden_layers: plan.n_layers,
    rms_norm_eps: plan.norm_eps,
    num_key_value_heads: plan.num_key_value_heads,
    vocab_size,
    rope_theta: plan.rope_theta,
    max_position_embeddings: plan.max_position_embeddings,
    bos_token_id: plan.bos_token_id,
    eos_token_id: plan.eos_token_id,
    // What HF's save_pretrained adds: the class and the parameters' dtype (it overwrites the script's float16).
    architectures: ["LlamaForCausalLM"],
    torch_dtype,
    transformers_version: HF_CONVERTER_VERSION,
  });
  // 4.44.2's LlamaConfig has no head_dim attribute, so its config.json has no head_dim key.
  const written = Object.assign(Object.create(Object.getPrototypeOf(config)), config, { head_dim: undefined });
  await writeFile(join(opts.output_dir, "config.json"), written.to_json_string(true));
  // HF's save_pretrained also writes the generation defaults (GenerationConfig.from_model_config, or the
  // script's sampling config for --instruct).
  const generation: Record<string, unknown> = opts.instruct
    ? { do_sample: true, temperature: 0.6, top_p: 0.9 }
    : { _from_model_config: true };
  Object.assign(generation, {
    bos_token_id: plan.bos_token_id,
    eos_token_id: plan.eos_token_id,
    transformers_version: HF_CONVERTER_VERSION,
  });
  await writeFile(join(opts.output_dir, "generation_config.json"), sortedJson(generation));

  // state_dict order of LlamaForCausalLM (embed_tokens, layers, norm, lm_head), which decides HF's shards.
  const names = [
    "model.embed_tokens.weight",
    ...[...state.keys()].filter((k) => k.startsWith("model.layers.")),
    "model.norm.weight",
    "lm_head.weight",
  ];
  const out = new Map(names.map((n) => [n, state.get(n)!.to(torch_dtype)]));
  progress(`writing ${opts.safe_serialization === false ? "pytorch_model.bin" : "model.safetensors"} (${torch_dtype})`);
  await saveCheckpointTensors(opts.output_dir, out, { safe_serialization: opts.safe_serialization });
  return config;
}
