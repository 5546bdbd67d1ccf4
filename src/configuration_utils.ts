/**
 * PretrainedConfig: the fields and JSON rules every HF config shares (HF `configuration_utils.py`).
 *
 * What a Llama user meets from here: `id2label`/`label2id`/`num_labels`, `problem_type`, the special token ids,
 * `torch_dtype`, `architectures`, unknown keys kept as attributes (HF's `**kwargs`), and `config.json` written
 * as HF's `to_json_string(use_diff=True)` does: keys whose value equals the PretrainedConfig default are left
 * out, model-specific keys are always written, keys sorted, 2-space indent.
 */
import { ConfigError } from "./errors.ts";

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
  return ka.every((k) => jsonEqual((a as any)[k], (b as any)[k]));
}

/** Sort object keys recursively, as `json.dumps(sort_keys=True)` does. */
export function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = sortKeysDeep((v as any)[k]);
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
