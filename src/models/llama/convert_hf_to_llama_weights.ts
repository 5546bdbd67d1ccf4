/**
 * The reverse of convert_llama_weights_to_hf: an HF Llama folder -> Meta's original layout (`params.json` +
 * `consolidated.NN.pth`), for ports that start from Meta's `llama/model.py` and for golden fixtures in Meta's
 * format. HF ships no such script; this inverts HF's converter step by step, so that converting the result back
 * with convert_llama_weights_to_hf gives the same tensors bit for bit (in float32).
 *
 * Per tensor (inverse of HF's merge table): q_proj/k_proj are un-permuted (rotate_half halves -> interleaved
 * pairs, k with the KEY/VALUE head count), then every tensor is split over the model-parallel files the way
 * Meta's layers split it: ColumnParallelLinear (wq, wk, wv, w1, w3, output) along the output rows (dim 0),
 * RowParallelLinear (wo, w2) along the input columns (dim 1), norms copied into every file, tok_embeddings along
 * the features (dim 1, ParallelEmbedding of Llama 1/2) or the vocabulary (dim 0, VocabParallelEmbedding of
 * Llama 3).
 *
 * What Meta's format cannot hold is refused (biases, `head_dim != hidden_size / num_attention_heads`, a model
 * without a causal-LM head); what params.json cannot say (rope_scaling, pad_token_id, pretraining_tp) is dropped
 * with a note.
 */
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { toPythonJson } from "../../configuration_utils.ts";
import { CheckpointError, ValueError } from "../../errors.ts";
import { loadCheckpointTensors } from "../../formats/checkpoint.ts";
import { saveTorchCheckpoint } from "../../formats/pytorch.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { LlamaConfig } from "./configuration_llama.ts";
import {
  LLAMA_VERSIONS,
  type LlamaVersion,
  type MetaParams,
  chunk,
  compute_intermediate_size,
  unpermute,
} from "./convert_llama_weights_to_hf.ts";

/**
 * `multiple_of` / `ffn_dim_multiplier` that make HF's `compute_intermediate_size(dim, ...)` give
 * `intermediate_size`: Meta's default (256, no multiplier) when it does (Llama 2 7B/13B), else the largest
 * power-of-two `multiple_of` dividing the size with the shortest decimal multiplier that lands on it.
 */
export function ffnParamsFor(
  dim: number,
  intermediate_size: number,
): { multiple_of: number; ffn_dim_multiplier?: number } {
  if (compute_intermediate_size(dim, 1, 256) === intermediate_size) return { multiple_of: 256 };
  const base = Math.trunc((8 * dim) / 3);
  let m = 1;
  while (intermediate_size % (m * 2) === 0 && m < 1 << 20) m *= 2;
  for (; m >= 1; m /= 2) {
    if (compute_intermediate_size(dim, 1, m) === intermediate_size) return { multiple_of: m };
    for (let digits = 1; digits <= 12; digits++) {
      const f = Number((intermediate_size / base).toFixed(digits));
      if (f > 0 && compute_intermediate_size(dim, f, m) === intermediate_size)
        return { multiple_of: m, ffn_dim_multiplier: f };
    }
  }
  throw new ValueError(
    `intermediate_size ${intermediate_size} cannot be expressed with multiple_of / ffn_dim_multiplier`,
  );
}

/** params.json of a config (the fields Meta's ModelArgs reads; `n_kv_heads` only when it differs from n_heads). */
export function paramsFromConfig(config: LlamaConfig): MetaParams {
  const p: MetaParams = {
    dim: config.hidden_size,
    n_layers: config.num_hidden_layers,
    n_heads: config.num_attention_heads,
    ...(config.num_key_value_heads !== config.num_attention_heads ? { n_kv_heads: config.num_key_value_heads } : {}),
    vocab_size: config.vocab_size,
    ...ffnParamsFor(config.hidden_size, config.intermediate_size),
    norm_eps: config.rms_norm_eps,
    rope_theta: config.rope_theta,
  };
  return p;
}

/** Refuse configs Meta's layout cannot represent; return notes for what params.json drops. */
export function checkMetaCompatible(config: LlamaConfig, file: string): string[] {
  if (config.attention_bias || config.mlp_bias)
    throw new CheckpointError(file, "Meta's format has no bias tensors (attention_bias / mlp_bias)");
  if (config.head_dim * config.num_attention_heads !== config.hidden_size)
    throw new CheckpointError(
      file,
      `head_dim ${config.head_dim} != hidden_size / num_attention_heads: Meta's head size is dim // n_heads`,
    );
  const notes: string[] = [];
  if (config.rope_scaling) notes.push("rope_scaling is dropped: params.json has no rope scaling");
  if (config.pad_token_id !== null && config.pad_token_id !== undefined)
    notes.push("pad_token_id is dropped: params.json has none");
  return notes;
}

/**
 * HF state dict -> one Meta state dict per model-parallel file, in Meta's order (tok_embeddings, per layer
 * wq wk wv wo w1 w2 w3 attention_norm ffn_norm, norm, output). A tied model gets `output` = the embedding.
 */
export function convertHfStateDictToMeta(
  config: LlamaConfig,
  tensors: Map<string, Tensor>,
  num_shards: number,
  llama_version: LlamaVersion,
  file = "model.safetensors",
): Map<string, Tensor>[] {
  const S = num_shards;
  if (!Number.isSafeInteger(S) || S < 1) throw new ValueError(`num_shards must be a positive integer, got ${S}`);
  const { num_attention_heads: nH, num_key_value_heads: nKv } = config;
  if (nH % S !== 0 || nKv % S !== 0)
    throw new ValueError(
      `${S} model-parallel files cannot each hold whole heads of ${nH} query / ${nKv} key-value heads`,
    );
  const get = (name: string): Tensor => {
    const t = tensors.get(name) ?? tensors.get(name.replace(/^model\./, ""));
    if (t === undefined) throw new CheckpointError(file, `tensor ${name} is missing`);
    return t;
  };
  const shards = Array.from({ length: S }, () => new Map<string, Tensor>());
  const put = (name: string, parts: Tensor[] | Tensor) => {
    shards.forEach((m, s) => m.set(name, Array.isArray(parts) ? parts[s] : parts));
  };
  const v3 = llama_version === "3" || llama_version === "3.1";
  const embed = get("model.embed_tokens.weight");
  put("tok_embeddings.weight", chunk(embed, S, v3 ? 0 : 1));
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    const m = `layers.${i}.`;
    put(m + "attention.wq.weight", chunk(unpermute(get(p + "self_attn.q_proj.weight"), nH), S, 0));
    put(m + "attention.wk.weight", chunk(unpermute(get(p + "self_attn.k_proj.weight"), nKv), S, 0));
    put(m + "attention.wv.weight", chunk(get(p + "self_attn.v_proj.weight"), S, 0));
    put(m + "attention.wo.weight", chunk(get(p + "self_attn.o_proj.weight"), S, 1));
    put(m + "feed_forward.w1.weight", chunk(get(p + "mlp.gate_proj.weight"), S, 0));
    put(m + "feed_forward.w2.weight", chunk(get(p + "mlp.down_proj.weight"), S, 1));
    put(m + "feed_forward.w3.weight", chunk(get(p + "mlp.up_proj.weight"), S, 0));
    put(m + "attention_norm.weight", get(p + "input_layernorm.weight"));
    put(m + "ffn_norm.weight", get(p + "post_attention_layernorm.weight"));
  }
  put("norm.weight", get("model.norm.weight"));
  const head = tensors.get("lm_head.weight") ?? (config.tie_word_embeddings ? embed : undefined);
  if (head === undefined)
    throw new CheckpointError(file, "no lm_head.weight: Meta's format needs a causal-LM output head");
  put("output.weight", chunk(head, S, 0));
  return shards;
}

export interface ConvertToMetaOptions {
  /** An HF Llama folder (config.json + weights; tokenizer.model is copied when present). */
  input_dir: string;
  output_dir: string;
  /** Model-parallel files to write (default 1). */
  num_shards?: number;
  /** Decides how tok_embeddings is split over the files (1/2: features, 3/3.1: vocabulary). Default "2". */
  llama_version?: LlamaVersion;
  /** Dtype of the written tensors: "auto" (default) keeps the folder's dtypes; Meta's releases are bfloat16. */
  torch_dtype?: "auto" | "float32" | "float16" | "bfloat16";
  progress?: (message: string) => void;
}

/** Write params.json and consolidated.NN.pth (one per model-parallel rank). Returns the params written. */
export async function convert_hf_to_llama_weights(opts: ConvertToMetaOptions): Promise<MetaParams> {
  const progress = opts.progress ?? (() => {});
  const llama_version = opts.llama_version ?? "2";
  if (!LLAMA_VERSIONS.includes(llama_version))
    throw new ValueError(
      `llama_version: expected one of ${LLAMA_VERSIONS.join(", ")}, got ${JSON.stringify(llama_version)}`,
    );
  const config = await LlamaConfig.from_pretrained(opts.input_dir);
  const configFile = join(opts.input_dir, "config.json");
  for (const note of checkMetaCompatible(config, configFile)) progress(note);
  progress("loading the HF weights");
  const { tensors, files } = await loadCheckpointTensors(opts.input_dir);
  const shards = convertHfStateDictToMeta(config, tensors, opts.num_shards ?? 1, llama_version, files.join(", "));
  const params = paramsFromConfig(config);
  await mkdir(opts.output_dir, { recursive: true });
  // Meta's params.json is one line of json.dumps (Python float spelling: 1e-05, 10000.0).
  const floats = new Set(["norm_eps", "rope_theta", "ffn_dim_multiplier"]);
  const text = toPythonJson(params, floats, 0).replace(/^\{\n/, "{").replace(/\n\}$/, "}").replaceAll(",\n", ", ");
  await writeFile(join(opts.output_dir, "params.json"), text);
  const dtype = opts.torch_dtype ?? "auto";
  for (let s = 0; s < shards.length; s++) {
    const name = `consolidated.${String(s).padStart(2, "0")}.pth`;
    progress(`writing ${name} (${s + 1}/${shards.length})`);
    const state = dtype === "auto" ? shards[s] : new Map([...shards[s]].map(([k, t]) => [k, t.to(dtype)]));
    await saveTorchCheckpoint(join(opts.output_dir, name), state);
  }
  const spm = join(opts.input_dir, "tokenizer.model");
  if (existsSync(spm)) await copyFile(spm, join(opts.output_dir, "tokenizer.model"));
  return params;
}
