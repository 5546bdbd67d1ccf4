/**
 * PreTrainedModel: the plumbing every model class shares, as HF `modeling_utils.PreTrainedModel` has it:
 * `post_init` (the family's `_init_weights` on every module, then `tie_weights`), `base_model` and the
 * input/output embedding accessors, `resize_token_embeddings`, `state_dict`, `save_pretrained`, and
 * `from_pretrained` with `torch_dtype`. It knows its model family only through the statics a subclass sets:
 * `config_class` (the config it reads from config.json), `base_model_prefix` (the base model's attribute and
 * checkpoint-name prefix), `_tied_weights_keys` and `_head_keys`.
 *
 * Weight init is deterministic for a seed: `_init_weights` (LlamaPreTrainedModel's) draws from `Random(seed)`
 * (xoshiro128**, Box-Muller) module by module in `named_modules()` order. The draws differ from torch's
 * generator (no port can reproduce torch.normal_), the distribution is the same.
 *
 * Loading (`from_pretrained`): the model is built without allocating weights ("meta" placeholders, as HF's
 * low_cpu_mem_usage path), then each checkpoint tensor is put in place without a copy. torch_dtype:
 *   undefined / "float32": 2-byte weights are upcast to float32 at load (HF's default: the torch default dtype);
 *   "auto": every weight keeps the dtype stored in the file (2 bytes a value for float16/bfloat16);
 *   "float16" / "bfloat16": weights are rounded to that dtype and stay 2 bytes.
 * Compute follows the weights, as in HF: float32 weights compute in float32; float16 / bfloat16 weights (that
 * torch_dtype, or "auto" on such a checkpoint) compute in that dtype, rounding where torch rounds (see
 * src/nn/functional.ts). `compute_dtype: "float32"` keeps 2-byte weights in memory but computes in float32
 * (widened inside the matmul kernels): half the memory of float32 weights, float32 accuracy, not HF's numbers.
 */
import { existsSync } from "node:fs";
import { DynamicCache } from "./cache_utils.ts";
import { basename, join } from "node:path";
import { PretrainedConfig } from "./configuration_utils.ts";
import { CheckpointError, ShapeError, ValueError } from "./errors.ts";
import { GENERATION_CONFIG_NAME, GenerationConfig } from "./generation/configuration_utils.ts";
import { ATTN_IMPLEMENTATIONS, type AttnImplementation } from "./integrations/attention.ts";
import { loadCheckpointTensors, planCheckpointSave, stageCheckpointTensors } from "./formats/checkpoint.ts";
import { MODEL_FILES, resolve_pretrained, split_hub_options, type HubOptions } from "./hub/hub.ts";
import { toKernelMemory } from "./backends/kernel_memory.ts";
import { Embedding, Linear, Module, isMetaInit, withMetaInit } from "./nn/modules.ts";
import { type IntInput, Tensor, toIntRows } from "./tensor/tensor.ts";
import { Random } from "./utils/random.ts";
import { saveAtomically } from "./utils/atomic_save.ts";
import { warning_once } from "./utils/logging.ts";
import {
  checkForwardArgs,
  checkOptions,
  checkPath,
  checkPositions,
  describeValue,
  hardPositionLimit,
} from "./utils/validate.ts";

export type TorchDType = "auto" | "float32" | "float16" | "bfloat16";

export interface ModelOptions {
  /** Seed of the weight init (default 0). */
  seed?: number;
}

export interface FromPretrainedOptions extends HubOptions {
  torch_dtype?: TorchDType;
  /** HF's option: unset = model.safetensors first, else pytorch_model.bin; true = safetensors only; false = .bin only. */
  use_safetensors?: boolean | null;
  /** "float32": compute in float32 whatever the weights' dtype (default: the weights' dtype, as HF). */
  compute_dtype?: "float32";
  /** HF's attention implementations (src/integrations/attention.ts); default "eager". */
  attn_implementation?: AttnImplementation;
}

function convertForLoad(t: Tensor, dtype: TorchDType): Tensor {
  if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16") return t;
  if (dtype === "auto") return t;
  return t.to(dtype);
}

/** A model class as `from_pretrained` needs it: constructor, config class, checkpoint pre-check. */
export interface PreTrainedModelClass<T extends PreTrainedModel> {
  new (config: T["config"], opts?: ModelOptions & Record<string, unknown>): T;
  readonly config_class: { from_pretrained(dir: string): Promise<T["config"]> };
  _check_checkpoint(config: T["config"], tensors: Map<string, Tensor>, file: string): void;
}

export abstract class PreTrainedModel extends Module {
  /** The config class this model takes (HF `config_class`); the constructor refuses any other. */
  static config_class: typeof PretrainedConfig = PretrainedConfig;
  /** Attribute name of the base model inside a head model, and the checkpoint name prefix of its weights. */
  static base_model_prefix = "model";
  /** Output weights that are tied to the input embedding when config.tie_word_embeddings (HF's list). */
  static _tied_weights_keys: string[] = [];
  /** Parameters a checkpoint may lack: they are initialized and reported (HF: "newly initialized" warning). */
  static _head_keys: string[] = [];

  config: PretrainedConfig;
  /** Keys the last from_pretrained found missing (and initialized) or unexpected (and ignored). */
  missing_keys: string[] = [];
  unexpected_keys: string[] = [];

  constructor(config: PretrainedConfig) {
    super();
    const cls = (new.target as unknown as typeof PreTrainedModel).config_class;
    if (!(config instanceof cls)) throw new ValueError(`config: expected a ${cls.name}`);
    this.config = config;
  }

  /**
   * Before a model is built from config.json: check that the checkpoint holds tensors of the sizes the config
   * claims, so a config announcing a billion layers or a huge head_dim fails here instead of allocating.
   */
  static _check_checkpoint(_config: PretrainedConfig, _tensors: Map<string, Tensor>, _file: string): void {}

  /** A base-model tensor of a checkpoint by its bare name, whether the checkpoint prefixes it or not. */
  protected static _checkpoint_tensor(tensors: Map<string, Tensor>, name: string): Tensor | undefined {
    return tensors.get(name) ?? tensors.get(`${this.base_model_prefix}.${name}`);
  }

  /** HF `base_model`: the sub-module named `base_model_prefix` (a head's LlamaModel), else the model itself. */
  get base_model(): PreTrainedModel {
    const prefix = (this.constructor as typeof PreTrainedModel).base_model_prefix;
    const found = this.named_modules().find(([name]) => name === prefix);
    return found && found[1] instanceof PreTrainedModel ? found[1] : this;
  }

  /** The token embedding (HF `get_input_embeddings`): the base model's; a base model overrides it. */
  get_input_embeddings(): Embedding {
    const base = this.base_model;
    if (base === this) throw new ValueError(`${this.constructor.name} does not define get_input_embeddings`);
    return base.get_input_embeddings();
  }

  /** HF `set_input_embeddings`: given to the base model; a base model overrides it. */
  set_input_embeddings(value: Embedding): void {
    const base = this.base_model;
    if (base === this) throw new ValueError(`${this.constructor.name} does not define set_input_embeddings`);
    base.set_input_embeddings(value);
  }

  /** The output projection tied to the embedding, if this head has one (HF get_output_embeddings). */
  get_output_embeddings(): Linear | null {
    return null;
  }

  /** HF `set_output_embeddings`: only heads with an output projection define it. */
  set_output_embeddings(_value: Linear): void {
    throw new ValueError(`${this.constructor.name} has no output embeddings`);
  }

  /** HF `_init_weights` applied to every module, in named_modules order, then tie_weights (HF post_init). */
  post_init(opts: ModelOptions = {}): void {
    if (isMetaInit()) return;
    const rng = new Random(opts.seed ?? 0);
    for (const [, m] of this.named_modules()) this._init_weights(m, rng);
    this.tie_weights();
  }

  /** HF `_init_weights`: a model family's own init of one module (LlamaPreTrainedModel's); none here. */
  protected _init_weights(_module: Module, _rng: Random): void {}

  /**
   * HF `resize_token_embeddings` (v4.44): a new embedding of `new_num_tokens` rows (rounded up to a multiple
   * of `pad_to_multiple_of`) initialized by `_init_weights` (draws from `Random(seed)`), the old rows copied
   * over; an untied output projection is resized the same way, a tied one re-tied; config.vocab_size updated.
   * 2-byte weights keep their dtype. Returns the new embedding.
   */
  resize_token_embeddings(new_num_tokens: number, pad_to_multiple_of?: number, seed = 0): Embedding {
    if (pad_to_multiple_of !== undefined) {
      if (!Number.isSafeInteger(pad_to_multiple_of) || pad_to_multiple_of <= 0)
        throw new ValueError(`pad_to_multiple_of: expected a positive integer, got ${pad_to_multiple_of}`);
      new_num_tokens = Math.ceil(new_num_tokens / pad_to_multiple_of) * pad_to_multiple_of;
    }
    if (!Number.isSafeInteger(new_num_tokens) || new_num_tokens <= 0)
      throw new ValueError(`new_num_tokens: expected a positive integer, got ${new_num_tokens}`);
    const rng = new Random(seed);
    const old = this.get_input_embeddings();
    const emb = new Embedding(new_num_tokens, old.embedding_dim, old.padding_idx);
    this._init_weights(emb, rng);
    emb.weight = copyRows(emb.weight, old.weight);
    this.set_input_embeddings(emb);
    const head = this.get_output_embeddings();
    if (head) {
      const lm = new Linear(head.in_features, new_num_tokens, head.bias !== null);
      if (!this.config.tie_word_embeddings) {
        this._init_weights(lm, rng);
        lm.weight = copyRows(lm.weight, head.weight);
        if (head.bias && lm.bias) lm.bias = copyRows(lm.bias, head.bias);
      }
      this.set_output_embeddings(lm);
    }
    this.config.vocab_size = new_num_tokens;
    this.tie_weights();
    return emb;
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

  /**
   * config.json + model.safetensors (HF tensor names, stored dtypes), or shards past max_shard_size;
   * `safe_serialization: false` writes pytorch_model.bin (torch.save's zip format) instead, as HF.
   * Atomic (atomic_save.ts): the arguments are checked and every file staged before anything in `dir` changes,
   * config.json goes in last, and a save that fails leaves an existing checkpoint in `dir` exactly as it was.
   */
  async save_pretrained(
    dir: string,
    opts: { max_shard_size?: number | string; safe_serialization?: boolean } = {},
  ): Promise<void> {
    checkPath(dir, "save_pretrained: save_directory");
    opts = checkOptions(opts, "save_pretrained: options");
    const plan = planCheckpointSave(this.state_dict(), {
      max_shard_size: opts.max_shard_size,
      metadata: { format: "pt" },
      safe_serialization: opts.safe_serialization,
    });
    const arch = this.constructor.name;
    // HF save_pretrained: config.torch_dtype = the dtype of the model's (first floating) parameters.
    const first = this.named_parameters().find(([, t]) => ["float32", "float16", "bfloat16"].includes(t.dtype));
    if (first) this.config.torch_dtype = first[1].dtype as "float32" | "float16" | "bfloat16";
    const prevArch = this.config.architectures;
    this.config.architectures = [arch];
    let configText: string;
    try {
      configText = this.config.to_json_string(true);
    } finally {
      this.config.architectures = prevArch ?? [arch];
    }
    // HF: models that can generate also write generation_config.json (in the same transaction here)
    const gen = (this as { generation_config?: GenerationConfig }).generation_config;
    const genText = gen instanceof GenerationConfig ? gen.to_json_string(true) : null;
    await saveAtomically(dir, async (tx) => {
      await stageCheckpointTensors(tx, plan);
      if (genText !== null) await tx.stage(GENERATION_CONFIG_NAME, genText);
      await tx.stage("config.json", configText); // last: a folder with a new config.json is a complete checkpoint
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
      // HF initializes each module that has a missing tensor, then loads the checkpoint over it: a loaded
      // tensor of that module (score.weight beside a missing score.bias) is kept, only the missing ones are new.
      const rng = new Random(seed);
      const current = new Map(this.named_parameters());
      const modules = new Map(this.named_modules());
      const ownerOf = (name: string) => name.slice(0, Math.max(0, name.lastIndexOf(".")));
      for (const owner of new Set(this.missing_keys.map(ownerOf))) {
        const own = [...current.keys()].filter((n) => ownerOf(n) === owner);
        for (const n of own) this.set_parameter(n, Tensor.zeros("float32", current.get(n)!.shape));
        this._init_weights(modules.get(owner)!, rng);
        for (const n of own) if (loaded.has(n)) this.set_parameter(n, current.get(n)!);
      }
    }
    this.tie_weights();
  }

  /**
   * Load `dir` (config.json + model.safetensors or an index with shards; else pytorch_model.bin or its shards)
   * into this class.
   * Extra options (e.g. `pooling` for sequence classification) go to the constructor.
   */
  static async from_pretrained<T extends PreTrainedModel>(
    this: PreTrainedModelClass<T>,
    dir: string,
    opts: FromPretrainedOptions & Record<string, unknown> = {},
  ): Promise<T> {
    checkPath(dir, "from_pretrained: pretrained_model_name_or_path");
    opts = checkOptions(opts, "from_pretrained: options");
    const torch_dtype = opts.torch_dtype ?? "float32";
    if (!["auto", "float32", "float16", "bfloat16"].includes(torch_dtype))
      throw new ValueError(
        `torch_dtype: expected "auto", "float32", "float16" or "bfloat16", got ${JSON.stringify(torch_dtype)}`,
      );
    const attn = opts.attn_implementation ?? "eager";
    if (!ATTN_IMPLEMENTATIONS.includes(attn))
      throw new ValueError(
        `attn_implementation: expected one of ${ATTN_IMPLEMENTATIONS.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(attn)}`,
      );
    const compute_dtype = opts.compute_dtype;
    if (compute_dtype !== undefined && compute_dtype !== "float32")
      throw new ValueError(`compute_dtype: expected "float32" (or leave it out), got ${JSON.stringify(compute_dtype)}`);
    // A Hub id ("org/name") becomes its snapshot folder in the HF cache, downloaded when absent.
    const [hub] = split_hub_options(opts);
    const pathOrId = dir;
    dir = await resolve_pretrained(dir, MODEL_FILES, hub);
    const config = await this.config_class.from_pretrained(dir);
    // Runtime choices, not config.json fields: kept off the saved config (HF's config._attn_implementation).
    Object.defineProperty(config, "_attn_implementation", { value: attn, enumerable: false, writable: true });
    if (compute_dtype !== undefined)
      Object.defineProperty(config, "_compute_dtype", { value: compute_dtype, enumerable: false, writable: true });
    // transformers.js' progress events ({ status, name, file, loaded, total, progress }), for the weight files
    // being read; a Hub download reports through the same callback first (src/hub/hub.ts).
    const progress_callback = hub.progress_callback;
    const { tensors, files } = await loadCheckpointTensors(dir, {
      use_safetensors: opts.use_safetensors,
      on_progress:
        progress_callback &&
        ((e) =>
          progress_callback({
            status: e.status,
            name: pathOrId,
            file: basename(e.file),
            loaded: e.loaded,
            total: e.total,
            progress: e.total > 0 ? (100 * e.loaded) / e.total : 100,
          })),
    });
    // Sizes in config.json are untrusted: check them against tensors that exist before building anything.
    this._check_checkpoint(config, tensors, files.join(", "));
    const model = withMetaInit(() => new this(config, opts));
    model.load_state_dict(tensors, files.join(", "), torch_dtype);
    if (torch_dtype !== "auto") config.torch_dtype = torch_dtype;
    // HF: a model that can generate takes its defaults from generation_config.json when the folder has one
    if ("generation_config" in model && existsSync(join(dir, GENERATION_CONFIG_NAME)))
      (model as { generation_config?: GenerationConfig }).generation_config =
        await GenerationConfig.from_pretrained(dir);
    return model;
  }
}

/** `fresh` (an initialized [n, ...] parameter) with its first rows replaced by those of `old`, in `old`'s dtype. */
function copyRows(fresh: Tensor, old: Tensor): Tensor {
  const out = fresh.toFloat32().slice();
  const rowSize = old.shape.slice(1).reduce((a, b) => a * b, 1);
  const rows = Math.min(fresh.shape[0], old.shape[0]);
  out.set(old.toFloat32().subarray(0, rows * rowSize));
  const t = new Tensor("float32", out, fresh.shape);
  return old.dtype === "float32" ? t : t.to(old.dtype);
}

/** A decoder's `forward` inputs as HF receives them (tensors), coerced to plain rows and checked. */
export interface DecoderInputs {
  /** [B, T] token ids, or null when `inputs_embeds` is given. */
  input_ids: number[][] | null;
  /** float32 [B, T, hidden_size], or null when `input_ids` is given. */
  inputs_embeds: Tensor | null;
  /** [B, T] positions (one row given for a batch is repeated), or null: the model derives them. */
  position_ids: number[][] | null;
  /** [T] cache slots, or null: the model derives them from the cache length. */
  cache_position: number[] | null;
}

/**
 * The argument checks and conversions a decoder's `forward` needs before HF's body starts: exactly one of
 * `input_ids` / `inputs_embeds` (HF's ValueError), non-empty shapes, `position_ids` / `cache_position` of the
 * input's [B, T]. Throws ShapeError / ValueError naming the argument.
 */
export function coerceDecoderInputs(
  args: {
    input_ids?: IntInput | null;
    inputs_embeds?: Tensor | null;
    position_ids?: IntInput | null;
    cache_position?: number[] | Tensor | null;
    past_key_values?: DynamicCache | null;
  },
  hidden_size: number,
): DecoderInputs {
  checkForwardArgs(args, "forward");
  const pkv = args.past_key_values;
  if (pkv !== undefined && pkv !== null && !(pkv instanceof DynamicCache))
    throw new ValueError(`past_key_values: expected a DynamicCache or null, got ${describeValue(pkv)}`);
  const hasIds = args.input_ids !== undefined && args.input_ids !== null;
  const hasEmbeds = args.inputs_embeds !== undefined && args.inputs_embeds !== null;
  if (hasIds === hasEmbeds) {
    throw new ValueError(
      "You cannot specify both input_ids and inputs_embeds at the same time, and must specify either one",
    );
  }
  let input_ids: number[][] | null = null;
  let inputs_embeds: Tensor | null = null;
  let B: number;
  let T: number;
  if (hasIds) {
    input_ids = toIntRows(args.input_ids!, "input_ids");
    if (input_ids.length === 0 || input_ids[0].length === 0)
      throw new ShapeError("input_ids", "expected a non-empty [batch, seq] array");
    [B, T] = [input_ids.length, input_ids[0].length];
  } else {
    inputs_embeds = args.inputs_embeds!.float();
    const shape = inputs_embeds.shape;
    if (shape.length !== 3 || shape[2] !== hidden_size || shape[1] === 0)
      throw new ShapeError("inputs_embeds", `expected [batch, seq, ${hidden_size}], got [${shape}]`);
    [B, T] = shape;
  }
  let cache_position: number[] | null = null;
  if (args.cache_position !== undefined && args.cache_position !== null) {
    cache_position = toIntRows(args.cache_position as IntInput, "cache_position")[0] ?? [];
    if (cache_position.length !== T)
      throw new ShapeError("cache_position", `expected ${T} positions, got ${cache_position.length}`);
  }
  let position_ids: number[][] | null = null;
  if (args.position_ids !== undefined && args.position_ids !== null) {
    let rows = toIntRows(args.position_ids, "position_ids");
    if (rows.length === 1 && B > 1) rows = Array.from({ length: B }, () => rows[0]);
    if (rows.length !== B || rows[0].length !== T)
      throw new ShapeError("position_ids", `expected [${B}, ${T}], got [${rows.length}, ${rows[0]?.length}]`);
    position_ids = rows;
  }
  return { input_ids, inputs_embeds, position_ids, cache_position };
}

/**
 * Beyond HF: the positions a decoder's forward will use (given or derived), checked before any attention is
 * computed. They must be non-negative integers below the hard bound (MAX_POSITION_MULTIPLE x
 * max_position_embeddings): HF computes NaN or garbage rotary angles from 0.5 or 1e300, and a prompt far past
 * the trained length is a mistake whose attention needs memory quadratic in its length. Past
 * max_position_embeddings itself it warns, as HF's tokenizer does ("Token indices sequence length is longer").
 */
export function checkDecoderPositions(
  cache_position: number[],
  position_ids: number[][],
  seq_length: number,
  max_position_embeddings: number,
): void {
  const limit = hardPositionLimit(max_position_embeddings);
  checkPositions([cache_position], "cache_position", limit);
  checkPositions(position_ids, "position_ids", limit);
  if (seq_length > max_position_embeddings)
    warning_once(
      `Sequence length ${seq_length} is longer than max_position_embeddings (${max_position_embeddings}); positions past it were not trained on.`,
    );
}
