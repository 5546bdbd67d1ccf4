/**
 * PreTrainedModel: the plumbing every model class shares, as HF `modeling_utils.PreTrainedModel` has it:
 * `post_init` (HF `_init_weights` on every module, then `tie_weights`), `state_dict`, `save_pretrained`,
 * `from_pretrained` with `torch_dtype`, and `resize_token_embeddings`.
 *
 * Weight init (`_init_weights`, deterministic for a seed): Linear and Embedding weights ~ normal(0,
 * initializer_range) drawn from `Random(seed)` (xoshiro128**, Box-Muller) in `named_parameters()` order, Linear
 * biases zero, the Embedding's padding_idx row zero, RMSNorm weights one. The draws differ from torch's
 * generator (no port can reproduce torch.normal_), the distribution is the same.
 *
 * Loading (`from_pretrained`): the model is built without allocating weights ("meta" placeholders, as HF's
 * low_cpu_mem_usage path), then each checkpoint tensor is put in place without a copy. torch_dtype:
 *   undefined / "float32": 2-byte weights are upcast to float32 at load (HF's default: the torch default dtype);
 *   "auto": every weight keeps the dtype stored in the file (2 bytes a value for float16/bfloat16);
 *   "float16" / "bfloat16": weights are rounded to that dtype and stay 2 bytes.
 * Compute is float32 in every case (activations, softmax, norms); 2-byte weights are widened inside the matmul.
 */
import { CheckpointError, ValueError } from "./errors.ts";
import { loadCheckpointTensors, saveCheckpointTensors } from "./formats/checkpoint.ts";
import { LlamaConfig } from "./models/llama/configuration_llama.ts";
import { toKernelMemory } from "./backends/kernel_memory.ts";
import { Embedding, Linear, Module, isMetaInit, withMetaInit } from "./nn/modules.ts";
import { Tensor } from "./tensor/tensor.ts";
import { Random } from "./utils/random.ts";

export type TorchDType = "auto" | "float32" | "float16" | "bfloat16";

export interface ModelOptions {
  /** Seed of the weight init (default 0). */
  seed?: number;
  /** Internal: a base model built inside a head skips its own init (the head initializes everything). */
  _nested?: boolean;
}

export interface FromPretrainedOptions {
  torch_dtype?: TorchDType;
  attn_implementation?: "eager" | "sdpa" | "flash_attention_2";
}

function convertForLoad(t: Tensor, dtype: TorchDType): Tensor {
  if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16") return t;
  if (dtype === "auto") return t;
  return t.to(dtype);
}

export abstract class PreTrainedModel extends Module {
  static base_model_prefix = "model";
  /** Output weights that are tied to the input embedding when config.tie_word_embeddings (HF's list). */
  static _tied_weights_keys: string[] = [];
  /** Parameters a checkpoint may lack: they are initialized and reported (HF: "newly initialized" warning). */
  static _head_keys: string[] = [];

  config: LlamaConfig;
  /** Keys the last from_pretrained found missing (and initialized) or unexpected (and ignored). */
  missing_keys: string[] = [];
  unexpected_keys: string[] = [];

  constructor(config: LlamaConfig) {
    super();
    if (!(config instanceof LlamaConfig)) throw new ValueError("config: expected a LlamaConfig");
    this.config = config;
  }

  /**
   * Before a model is built from config.json: check that the checkpoint holds tensors of the sizes the config
   * claims, so a config announcing a billion layers or a huge head_dim fails here instead of allocating.
   */
  static _check_checkpoint(_config: LlamaConfig, _tensors: Map<string, Tensor>, _file: string): void {}

  /** The token embedding (HF get_input_embeddings). */
  abstract get_input_embeddings(): Embedding;

  /** The output projection tied to the embedding, if this head has one (HF get_output_embeddings). */
  get_output_embeddings(): Linear | null {
    return null;
  }

  /** HF `_init_weights` applied to every module, in named_parameters order, then tie_weights (HF post_init). */
  post_init(opts: ModelOptions = {}): void {
    if (isMetaInit()) return;
    const rng = new Random(opts.seed ?? 0);
    for (const [, m] of this.named_modules()) this._init_weights(m, rng);
    this.tie_weights();
  }

  protected _init_weights(module: Module, rng: Random): void {
    const std = this.config.initializer_range;
    const normal = (t: Tensor) => {
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = Math.fround(std * rng.normal());
    };
    if (module instanceof Linear) {
      normal(module.weight);
      if (module.bias) (module.bias.data as Float32Array).fill(0);
    } else if (module instanceof Embedding) {
      normal(module.weight);
      if (module.padding_idx !== null) {
        const D = module.embedding_dim;
        (module.weight.data as Float32Array).fill(0, module.padding_idx * D, (module.padding_idx + 1) * D);
      }
    }
  }

  /** Share the input embedding's tensor with the output projection when config.tie_word_embeddings. */
  tie_weights(): void {
    const out = this.get_output_embeddings();
    if (out && this.config.tie_word_embeddings) out.weight = this.get_input_embeddings().weight;
  }

  /** name -> tensor, HF names; the tied output weight is left out (HF drops the tied copy when saving). */
  state_dict(): Map<string, Tensor> {
    const ctor = this.constructor as typeof PreTrainedModel;
    const tied = this.config.tie_word_embeddings ? new Set(ctor._tied_weights_keys) : new Set<string>();
    const out = new Map<string, Tensor>();
    for (const [name, t] of this.named_parameters()) if (!tied.has(name)) out.set(name, t);
    return out;
  }

  /** config.json + model.safetensors (HF tensor names, stored dtypes), or shards past max_shard_size. */
  async save_pretrained(dir: string, opts: { max_shard_size?: number | string } = {}): Promise<void> {
    const arch = this.constructor.name;
    const prevArch = this.config.architectures;
    this.config.architectures = [arch];
    await this.config.save_pretrained(dir);
    this.config.architectures = prevArch ?? [arch];
    await saveCheckpointTensors(dir, this.state_dict(), {
      max_shard_size: opts.max_shard_size,
      metadata: { format: "pt" },
    });
  }

  /** Fill this model's parameters from `tensors` (HF names). Missing base weights are an error. */
  load_state_dict(tensors: Map<string, Tensor>, file: string, torch_dtype: TorchDType, seed = 0): void {
    const ctor = this.constructor as typeof PreTrainedModel;
    const prefix = ctor.base_model_prefix;
    const params = this.named_parameters();
    const expected = new Set(params.map(([n]) => n));
    const tied = this.config.tie_word_embeddings ? new Set(ctor._tied_weights_keys) : new Set<string>();
    // A bare LlamaModel reads a head checkpoint's "model.*" names; a head model reads a bare checkpoint's names.
    const resolve = (name: string): string | null => {
      if (expected.has(name)) return name;
      if (name.startsWith(prefix + ".") && expected.has(name.slice(prefix.length + 1)))
        return name.slice(prefix.length + 1);
      if (expected.has(`${prefix}.${name}`)) return `${prefix}.${name}`;
      return null;
    };
    const loaded = new Set<string>();
    this.unexpected_keys = [];
    for (const [name, t] of tensors) {
      const target = resolve(name);
      if (target === null || tied.has(target)) {
        this.unexpected_keys.push(name);
        continue;
      }
      const slot = params.find(([n]) => n === target)![1];
      if (slot.shape.length !== t.shape.length || slot.shape.some((d, i) => d !== t.shape[i])) {
        throw new CheckpointError(
          file,
          `tensor ${name} has shape [${t.shape}], the model expects [${slot.shape}] (check config.json)`,
        );
      }
      if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16") {
        throw new CheckpointError(file, `tensor ${name} has dtype ${t.dtype}, expected a float dtype`);
      }
      this.set_parameter(target, toKernelMemory(convertForLoad(t, torch_dtype)));
      loaded.add(target);
    }
    this.missing_keys = params.map(([n]) => n).filter((n) => !loaded.has(n) && !tied.has(n));
    const headKeys = new Set(ctor._head_keys);
    const missingBase = this.missing_keys.filter((n) => !headKeys.has(n));
    if (missingBase.length) {
      throw new CheckpointError(
        file,
        `missing ${missingBase.length} weight(s) the config requires, e.g. ${missingBase.slice(0, 3).join(", ")}`,
      );
    }
    if (this.missing_keys.length) {
      // HF: "Some weights of X were not initialized from the model checkpoint ... and are newly initialized".
      const rng = new Random(seed);
      for (const name of this.missing_keys) {
        const dot = name.lastIndexOf(".");
        const m = this.named_modules().find(([n]) => n === name.slice(0, dot))![1];
        const slot = (m as any)[name.slice(dot + 1)] as Tensor;
        (m as any)[name.slice(dot + 1)] = Tensor.zeros("float32", slot.shape);
        this._init_weights(m, rng);
      }
    }
    this.tie_weights();
  }

  /**
   * Load `dir` (config.json + model.safetensors or an index with shards) into this class.
   * Extra options (e.g. `pooling` for sequence classification) go to the constructor.
   */
  static async from_pretrained<T extends PreTrainedModel>(
    this: new (config: LlamaConfig, opts?: any) => T,
    dir: string,
    opts: FromPretrainedOptions & Record<string, unknown> = {},
  ): Promise<T> {
    const torch_dtype = opts.torch_dtype ?? "float32";
    if (!["auto", "float32", "float16", "bfloat16"].includes(torch_dtype))
      throw new ValueError(
        `torch_dtype: expected "auto", "float32", "float16" or "bfloat16", got ${JSON.stringify(torch_dtype)}`,
      );
    const attn = opts.attn_implementation ?? "eager";
    if (attn === "flash_attention_2") {
      // HF raises ImportError without the flash-attn CUDA package; there is no such kernel here.
      throw new ValueError(
        'attn_implementation: "flash_attention_2" needs CUDA flash-attn kernels; use "eager" (or "sdpa", same math)',
      );
    }
    if (attn !== "eager" && attn !== "sdpa")
      throw new ValueError(`attn_implementation: expected "eager" or "sdpa", got ${JSON.stringify(attn)}`);
    const config = await LlamaConfig.from_pretrained(dir);
    (config as any)._attn_implementation = attn;
    Object.defineProperty(config, "_attn_implementation", { enumerable: false });
    const { tensors, files } = await loadCheckpointTensors(dir);
    // Sizes in config.json are untrusted: check them against tensors that exist before building anything.
    (this as unknown as typeof PreTrainedModel)._check_checkpoint(config, tensors, files.join(", "));
    const model = withMetaInit(() => new this(config, opts));
    model.load_state_dict(tensors, files.join(", "), torch_dtype);
    if (torch_dtype !== "auto") config.torch_dtype = torch_dtype;
    return model;
  }
}
