/**
 * PretrainedConfig: the fields and JSON rules every HF config shares (HF `configuration_utils.py`). A model's
 * config (LlamaConfig) extends it with its own keys and defaults and its validation.
 *
 * What a user meets from here: `id2label`/`label2id`/`num_labels`, `problem_type`, the special token ids,
 * `torch_dtype`, `architectures`, unknown keys kept as attributes (HF's `**kwargs`), `to_dict`, and
 * `config.json` written as HF's `to_json_string(use_diff=True)` does (`to_diff_dict`): keys whose value equals
 * the PretrainedConfig default are left out unless it differs from the model class's own default,
 * model-specific keys are always written, keys sorted, 2-space indent; `from_json_string` / `from_pretrained`
 * read it back, refusing another `model_type`.
 */
import { join } from "node:path";
import { CheckpointError, ConfigError } from "./errors.ts";
import { saveAtomically } from "./utils/atomic_save.ts";
import { FILE_LIMITS, readTextFileCheckedAsync } from "./utils/safe_fs.ts";
import { checkPath } from "./utils/validate.ts";
import { CONFIG_FILES, resolve_pretrained, type HubOptions } from "./hub/hub.ts";

/** PretrainedConfig's own defaults (transformers 4.44), generation defaults included (to_dict lists them). */
export const PRETRAINED_CONFIG_DEFAULTS: Readonly<Record<string, unknown>> = {
  return_dict: true,
  output_hidden_states: false,
  output_attentions: false,
  torchscript: false,
  torch_dtype: null,
  use_bfloat16: false,
  tf_legacy_loss: false,
  pruned_heads: {},
  tie_word_embeddings: true,
  chunk_size_feed_forward: 0,
  is_encoder_decoder: false,
  is_decoder: false,
  cross_attention_hidden_size: null,
  add_cross_attention: false,
  tie_encoder_decoder: false,
  max_length: 20,
  min_length: 0,
  do_sample: false,
  early_stopping: false,
  num_beams: 1,
  num_beam_groups: 1,
  diversity_penalty: 0.0,
  temperature: 1.0,
  top_k: 50,
  top_p: 1.0,
  typical_p: 1.0,
  repetition_penalty: 1.0,
  length_penalty: 1.0,
  no_repeat_ngram_size: 0,
  encoder_no_repeat_ngram_size: 0,
  bad_words_ids: null,
  num_return_sequences: 1,
  output_scores: false,
  return_dict_in_generate: false,
  forced_bos_token_id: null,
  forced_eos_token_id: null,
  remove_invalid_values: false,
  exponential_decay_length_penalty: null,
  suppress_tokens: null,
  begin_suppress_tokens: null,
  architectures: null,
  finetuning_task: null,
  id2label: { 0: "LABEL_0", 1: "LABEL_1" },
  label2id: { LABEL_0: 0, LABEL_1: 1 },
  tokenizer_class: null,
  prefix: null,
  bos_token_id: null,
  pad_token_id: null,
  eos_token_id: null,
  sep_token_id: null,
  decoder_start_token_id: null,
  task_specific_params: null,
  problem_type: null,
  _name_or_path: "",
};

export const PROBLEM_TYPES = ["regression", "single_label_classification", "multi_label_classification"] as const;
export type ProblemType = (typeof PROBLEM_TYPES)[number];

/** Deep equality for JSON values (config diffing). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Sort object keys recursively, as `json.dumps(sort_keys=True)` does. */
export function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = sortKeysDeep((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/**
 * Python's json.dumps(indent=2) spelling of numbers: floats that are integral keep a ".0" only when the value
 * was a float in Python; JS cannot tell, so callers pass the set of keys whose values are floats.
 */
export function toPythonJson(value: unknown, floatKeys: ReadonlySet<string>, indent = 2): string {
  const pad = (n: number) => " ".repeat(n);
  const write = (v: unknown, depth: number, key: string | null): string => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
      if (key !== null && floatKeys.has(key) && Number.isInteger(v)) return v.toFixed(1);
      return pyFloatRepr(v);
    }
    if (typeof v === "string" || typeof v === "boolean") return JSON.stringify(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return (
        "[\n" +
        v.map((x) => pad((depth + 1) * indent) + write(x, depth + 1, key)).join(",\n") +
        "\n" +
        pad(depth * indent) +
        "]"
      );
    }
    const entries = Object.entries(v as object);
    if (entries.length === 0) return "{}";
    return (
      "{\n" +
      entries
        .map(([k, x]) => pad((depth + 1) * indent) + JSON.stringify(k) + ": " + write(x, depth + 1, k))
        .join(",\n") +
      "\n" +
      pad(depth * indent) +
      "}"
    );
  };
  return write(value, 0, null);
}

/** repr() of a Python float for the values JS prints differently (1e-06 vs 0.000001, 1e+20). */
function pyFloatRepr(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return String(v);
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
    const [mant, exp] = v.toExponential().split("e");
    const e = Number(exp);
    return `${mant}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return String(v);
}

export function checkPositiveInt(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function checkOptionalTokenId(field: string, v: unknown): void {
  if (v === null || v === undefined) return;
  const ok = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x);
  if (ok(v)) return;
  if (Array.isArray(v) && v.length > 0 && v.every(ok)) return;
  throw new ConfigError(field, `expected an integer token id (or a list of them) or null, got ${JSON.stringify(v)}`);
}

/** Keys PretrainedConfig's own defaults hold as Python floats (so `1.0` stays `1.0` in config.json). */
const PRETRAINED_FLOAT_KEYS = [
  "temperature",
  "top_p",
  "typical_p",
  "repetition_penalty",
  "length_penalty",
  "diversity_penalty",
];

/** The fields every config has (HF names); a model's config adds its own. */
export interface PretrainedConfigFields {
  num_labels: number;
  id2label: Record<number, string>;
  label2id: Record<string, number>;
  problem_type: ProblemType | null;
  torch_dtype: string | null;
  architectures: string[] | null;
  output_attentions: boolean;
  output_hidden_states: boolean;
  tie_word_embeddings: boolean;
  pad_token_id: number | null;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  [key: string]: unknown;
}

export interface PretrainedConfig extends PretrainedConfigFields {}

/**
 * HF `PretrainedConfig`. A subclass passes its own keys with their defaults (in HF's `__init__` order) to the
 * constructor, sets the fields it derives, then validates; `static model_type` names it in config.json and
 * `static float_keys` lists its keys that Python writes as floats.
 */
/**
 * The largest `num_labels` accepted (2^17 = 131,072, above any classification head on the Hub): each label
 * gets an id2label and a label2id entry (building a million of them takes seconds) and a row of the head.
 */
export const MAX_NUM_LABELS = 1 << 17;

export class PretrainedConfig {
  static readonly model_type: string = "";
  static readonly float_keys: ReadonlySet<string> = new Set(PRETRAINED_FLOAT_KEYS);
  /** What HF would only log as a warning (a subclass's validation adds to it). */
  declare warnings: string[];

  constructor(kwargs: Record<string, unknown> = {}, classDefaults: Readonly<Record<string, unknown>> = {}) {
    Object.defineProperty(this, "warnings", { value: [], enumerable: false, writable: true });
    const self = this as Record<string, unknown>;
    // PretrainedConfig.__init__: base defaults first, then the class's keys, then every other kwarg (unknown ones
    // kept as attributes).
    for (const [key, v] of Object.entries(PRETRAINED_CONFIG_DEFAULTS)) self[key] = structuredClone(v);
    for (const [key, v] of Object.entries(classDefaults)) self[key] = key in kwargs ? kwargs[key] : v;
    for (const [key, v] of Object.entries(kwargs)) {
      if (key === "num_labels" || Object.hasOwn(classDefaults, key)) continue;
      // A key naming a method or accessor (rope_type, validate, to_dict, __proto__, ...) cannot become an
      // attribute without replacing it; HF would set it and break later (or, for rope_type, ignore it).
      if (key in this && !Object.prototype.propertyIsEnumerable.call(this, key)) {
        throw new ConfigError(key, `is the name of a ${new.target.name} method or accessor, not a config field`);
      }
      self[key] = v;
    }
    const modelType = (new.target as typeof PretrainedConfig).model_type;
    if (modelType) self.model_type = modelType;
    if (kwargs.id2label !== undefined && kwargs.id2label !== null) this.id2label = normalizeId2Label(kwargs.id2label);
    if (kwargs.label2id !== undefined && kwargs.label2id !== null)
      this.label2id = { ...(kwargs.label2id as Record<string, number>) };
    if (kwargs.num_labels !== undefined && kwargs.num_labels !== null && (kwargs.id2label ?? null) === null)
      this.num_labels = kwargs.num_labels as number;
  }

  /** Number of labels of a classification head (HF: a property backed by id2label). */
  get num_labels(): number {
    return Object.keys(this.id2label).length;
  }

  set num_labels(n: number) {
    checkPositiveInt("num_labels", n);
    // Beyond HF: the setter builds an id2label entry per label, so the count is bounded before allocating.
    if (n > MAX_NUM_LABELS)
      throw new ConfigError("num_labels", `at most ${MAX_NUM_LABELS} labels (MAX_NUM_LABELS), got ${n}`);
    if (this.id2label === undefined || this.id2label === null || Object.keys(this.id2label).length !== n) {
      this.id2label = {};
      this.label2id = {};
      for (let i = 0; i < n; i++) {
        this.id2label[i] = `LABEL_${i}`;
        this.label2id[`LABEL_${i}`] = i;
      }
    }
  }

  /** The checks every config shares: special token ids and problem_type. Subclasses add theirs. */
  validate(): void {
    checkOptionalTokenId("pad_token_id", this.pad_token_id);
    checkOptionalTokenId("bos_token_id", this.bos_token_id);
    checkOptionalTokenId("eos_token_id", this.eos_token_id);
    if (Array.isArray(this.pad_token_id)) throw new ConfigError("pad_token_id", "expected a single id or null");
    if (this.problem_type !== null && this.problem_type !== undefined && !PROBLEM_TYPES.includes(this.problem_type)) {
      throw new ConfigError(
        "problem_type",
        `expected one of ${PROBLEM_TYPES.join(", ")} or null, got ${JSON.stringify(this.problem_type)}`,
      );
    }
  }

  /** Every attribute, as HF's `to_dict()` (`transformers_version` is not invented: kept only if read). */
  to_dict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(this)) {
      if (v === undefined || typeof v === "function") continue;
      out[key] = structuredClone(v);
    }
    return out;
  }

  /**
   * HF's `to_diff_dict()`: a key is written when PretrainedConfig has no such key, when the value differs from
   * PretrainedConfig's default, or when it differs from the class's own default (so for Llama
   * `pad_token_id: null` is left out, `bos_token_id: 1` and `tie_word_embeddings: true` are written).
   */
  to_diff_dict(): Record<string, unknown> {
    const classDefaults = classDefaultDict(this.constructor as new () => PretrainedConfig);
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(this.to_dict())) {
      if (
        key === "transformers_version" ||
        !(key in PRETRAINED_CONFIG_DEFAULTS) ||
        !jsonEqual(v, PRETRAINED_CONFIG_DEFAULTS[key]) ||
        (key in classDefaults && !jsonEqual(v, classDefaults[key]))
      ) {
        out[key] = v;
      }
    }
    return out;
  }

  /** config.json text as HF writes it (use_diff=True, sorted keys, indent 2, trailing newline). */
  to_json_string(use_diff = true): string {
    const d = use_diff ? this.to_diff_dict() : this.to_dict();
    return toPythonJson(sortKeysDeep(d), (this.constructor as typeof PretrainedConfig).float_keys) + "\n";
  }

  /** Write `dir/config.json` atomically (temporary file, fsync, rename: see atomic_save.ts). */
  async save_pretrained(dir: string): Promise<void> {
    checkPath(dir, "save_pretrained: save_directory");
    const text = this.to_json_string(true);
    await saveAtomically(dir, (tx) => tx.stage("config.json", text));
  }

  /** Parse a config.json text into this class; `file` names it in errors. */
  static from_json_string<T extends PretrainedConfig>(this: ConfigClass<T>, text: string, file = "config.json"): T {
    return parseConfig(this, text, file);
  }

  /** Read `config.json` of a folder, or of a Hub id through the HF cache (see src/hub/hub.ts), into this class. */
  static async from_pretrained<T extends PretrainedConfig>(
    this: ConfigClass<T>,
    dirOrId: string,
    opts: HubOptions = {},
  ): Promise<T> {
    checkPath(dirOrId, "from_pretrained: pretrained_model_name_or_path");
    const dir = await resolve_pretrained(dirOrId, CONFIG_FILES, opts);
    const file = join(dir, "config.json");
    return parseConfig(this, await readTextFileCheckedAsync(file, FILE_LIMITS.config), file);
  }
}

/** A config class: what `PreTrainedModel.config_class` holds. */
export interface ConfigClass<T extends PretrainedConfig = PretrainedConfig> {
  new (kwargs?: Record<string, unknown>): T;
  readonly model_type: string;
  readonly float_keys: ReadonlySet<string>;
}

/** config.json text -> a config of class `cls` (HF `from_dict` after `json.loads`); `file` names it in errors. */
function parseConfig<T extends PretrainedConfig>(cls: ConfigClass<T>, text: string, file: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new CheckpointError(file, "expected a JSON object");
  const model_type = (raw as Record<string, unknown>).model_type;
  if (cls.model_type && model_type !== undefined && model_type !== cls.model_type) {
    throw new CheckpointError(
      file,
      `model_type is ${JSON.stringify(model_type)}, expected ${JSON.stringify(cls.model_type)}`,
    );
  }
  try {
    return new cls(raw as Record<string, unknown>);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.field, `${e.message.slice(e.field.length + 2)} (in ${file})`);
    throw e;
  }
}

const classDefaultDicts = new WeakMap<object, Record<string, unknown>>();

/** `to_dict()` of a default-constructed instance of the class, computed once per class. */
function classDefaultDict(cls: new () => PretrainedConfig): Record<string, unknown> {
  let d = classDefaultDicts.get(cls);
  if (d === undefined) {
    d = new cls().to_dict();
    classDefaultDicts.set(cls, d);
  }
  return d;
}

/** JSON object keys are strings; HF converts id2label keys back to ints. */
function normalizeId2Label(v: unknown): Record<number, string> {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new ConfigError("id2label", "expected an object mapping ids to label names");
  const out: Record<number, string> = {};
  for (const [key, label] of Object.entries(v as object)) {
    const id = Number(key);
    if (!Number.isSafeInteger(id) || id < 0)
      throw new ConfigError("id2label", `keys must be non-negative integers, got ${JSON.stringify(key)}`);
    out[id] = String(label);
  }
  return out;
}
