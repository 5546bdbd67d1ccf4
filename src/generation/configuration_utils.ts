/**
 * GenerationConfig: the options of `generate`, with HF's defaults, HF's validation messages, and
 * `generation_config.json` read and written.
 *
 * Mirrors HF transformers v4.44 `generation/configuration_utils.py` (`GenerationMode`, `GenerationConfig`):
 *
 *   length      max_length = 20, max_new_tokens (wins over max_length), min_length = 0, min_new_tokens,
 *               early_stopping = false (true | false | "never"), max_time (seconds), stop_strings
 *   strategy    do_sample, num_beams = 1, num_beam_groups = 1, penalty_alpha, use_cache = true, low_memory,
 *               dola_layers ("low" | "high" | layer indices)
 *   logits      temperature = 1, top_k = 50, top_p = 1, min_p, typical_p = 1, epsilon_cutoff = 0, eta_cutoff = 0,
 *               diversity_penalty = 0, repetition_penalty = 1, encoder_repetition_penalty = 1, length_penalty = 1,
 *               no_repeat_ngram_size = 0, bad_words_ids, force_words_ids, renormalize_logits, constraints,
 *               forced_bos_token_id, forced_eos_token_id, remove_invalid_values, exponential_decay_length_penalty
 *               ([start_index, decay_factor]), suppress_tokens, begin_suppress_tokens, sequence_bias
 *               (a list of [ids, bias] pairs: HF's dict `{tuple(ids): bias}` in JSON form), guidance_scale,
 *               encoder_no_repeat_ngram_size = 0
 *   outputs     num_return_sequences = 1, output_scores, output_logits, return_dict_in_generate (and HF's
 *               output_attentions / output_hidden_states flags, accepted and ignored)
 *   tokens      pad_token_id, bos_token_id, eos_token_id (an id or a list), decoder_start_token_id
 *   assisted    num_assistant_tokens = 5, num_assistant_tokens_schedule = "heuristic", prompt_lookup_num_tokens,
 *               max_matching_ngram_size
 *
 * `validate()` raises HF's ValueError messages for the combinations HF refuses (e.g. greedy with
 * num_return_sequences > 1, num_beams not divisible by num_beam_groups), and, beyond HF, for values of the wrong
 * type, so a typo fails loudly. The processors' own range checks (temperature > 0, 0 <= top_p <= 1, ...) live in
 * their constructors, as in HF. HF's warnings for ignored flags (e.g. `length_penalty` with greedy search) are
 * not printed.
 */
import { join } from "node:path";
import { ValueError } from "../errors.ts";
import { writeFileAtomic } from "../utils/atomic_save.ts";
import { FILE_LIMITS, readTextFileCheckedAsync } from "../utils/safe_fs.ts";

/** HF `GENERATION_CONFIG_NAME`. */
export const GENERATION_CONFIG_NAME = "generation_config.json";

/** HF `GenerationMode` (the value of each member is HF's string). */
export const GenerationMode = {
  CONTRASTIVE_SEARCH: "contrastive_search",
  GREEDY_SEARCH: "greedy_search",
  SAMPLE: "sample",
  ASSISTED_GENERATION: "assisted_generation",
  DOLA_GENERATION: "dola_generation",
  BEAM_SEARCH: "beam_search",
  BEAM_SAMPLE: "beam_sample",
  CONSTRAINED_BEAM_SEARCH: "constrained_beam_search",
  GROUP_BEAM_SEARCH: "group_beam_search",
} as const;
export type GenerationMode = (typeof GenerationMode)[keyof typeof GenerationMode];

/** The JSON/TS shape of HF's `sequence_bias`: `[[token ids], bias]` pairs. */
export type SequenceBias = [number[], number][];

export interface GenerationConfigFields {
  // length
  max_length: number;
  max_new_tokens: number | null;
  min_length: number;
  min_new_tokens: number | null;
  early_stopping: boolean | "never";
  max_time: number | null;
  stop_strings: string | string[] | null;
  // strategy
  do_sample: boolean;
  num_beams: number;
  num_beam_groups: number;
  penalty_alpha: number | null;
  use_cache: boolean;
  low_memory: boolean | null;
  dola_layers: "low" | "high" | number[] | null;
  // logits
  temperature: number | null;
  top_k: number | null;
  top_p: number | null;
  min_p: number | null;
  typical_p: number | null;
  epsilon_cutoff: number | null;
  eta_cutoff: number | null;
  diversity_penalty: number | null;
  repetition_penalty: number | null;
  encoder_repetition_penalty: number | null;
  length_penalty: number;
  no_repeat_ngram_size: number | null;
  bad_words_ids: number[][] | null;
  force_words_ids: number[][] | number[][][] | null;
  renormalize_logits: boolean;
  constraints: unknown[] | null;
  forced_bos_token_id: number | null;
  forced_eos_token_id: number | number[] | null;
  remove_invalid_values: boolean;
  exponential_decay_length_penalty: [number, number] | null;
  suppress_tokens: number[] | null;
  begin_suppress_tokens: number[] | null;
  sequence_bias: SequenceBias | null;
  guidance_scale: number | null;
  encoder_no_repeat_ngram_size: number | null;
  // outputs
  num_return_sequences: number;
  output_attentions: boolean;
  output_hidden_states: boolean;
  output_scores: boolean;
  output_logits: boolean | null;
  return_dict_in_generate: boolean;
  // special tokens
  pad_token_id: number | null;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  decoder_start_token_id: number | null;
  // assisted decoding
  num_assistant_tokens: number;
  num_assistant_tokens_schedule: "heuristic" | "heuristic_transient" | "constant";
  prompt_lookup_num_tokens: number | null;
  max_matching_ngram_size: number | null;
}

/** HF's defaults, in HF's order (also the key order of `to_dict` / generation_config.json). */
const DEFAULTS: GenerationConfigFields = {
  max_length: 20,
  max_new_tokens: null,
  min_length: 0,
  min_new_tokens: null,
  early_stopping: false,
  max_time: null,
  stop_strings: null,
  do_sample: false,
  num_beams: 1,
  num_beam_groups: 1,
  penalty_alpha: null,
  use_cache: true,
  low_memory: null,
  dola_layers: null,
  temperature: 1.0,
  top_k: 50,
  top_p: 1.0,
  min_p: null,
  typical_p: 1.0,
  epsilon_cutoff: 0.0,
  eta_cutoff: 0.0,
  diversity_penalty: 0.0,
  repetition_penalty: 1.0,
  encoder_repetition_penalty: 1.0,
  length_penalty: 1.0,
  no_repeat_ngram_size: 0,
  bad_words_ids: null,
  force_words_ids: null,
  renormalize_logits: false,
  constraints: null,
  forced_bos_token_id: null,
  forced_eos_token_id: null,
  remove_invalid_values: false,
  exponential_decay_length_penalty: null,
  suppress_tokens: null,
  begin_suppress_tokens: null,
  sequence_bias: null,
  guidance_scale: null,
  encoder_no_repeat_ngram_size: 0,
  num_return_sequences: 1,
  output_attentions: false,
  output_hidden_states: false,
  output_scores: false,
  output_logits: null,
  return_dict_in_generate: false,
  pad_token_id: null,
  bos_token_id: null,
  eos_token_id: null,
  decoder_start_token_id: null,
  num_assistant_tokens: 5,
  num_assistant_tokens_schedule: "heuristic",
  prompt_lookup_num_tokens: null,
  max_matching_ngram_size: null,
};

const FIELDS = Object.keys(DEFAULTS) as (keyof GenerationConfigFields)[];

/** Keys HF writes into generation_config.json that carry no generation option. */
const METADATA_KEYS = new Set(["transformers_version"]);

function isField(key: string): key is keyof GenerationConfigFields {
  return Object.prototype.hasOwnProperty.call(DEFAULTS, key);
}

function deepCopy<T>(v: T): T {
  return v === null || typeof v !== "object" ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** HF's `sequence_bias` arrives as a dict in Python; accept a Map keyed by id arrays too and store pairs. */
/**
 * HF's `sequence_bias` is a dict `{tuple(ids): bias}`. Accepted here as `[[ids], bias]` pairs (the JSON
 * spelling), a Map keyed by id arrays, or a plain object keyed by "id" / "id,id" / "[id, id]" strings.
 */
function normalizeSequenceBias(v: unknown): unknown {
  if (v instanceof Map) return [...v.entries()].map(([ids, bias]) => [Array.isArray(ids) ? [...ids] : [ids], bias]);
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    return Object.entries(v as Record<string, unknown>).map(([key, bias]) => {
      const ids = key
        .replace(/[[\]()\s]/g, "")
        .split(",")
        .filter((x) => x.length > 0)
        .map(Number);
      return [ids, bias];
    });
  }
  return v;
}

export interface GenerationConfig extends GenerationConfigFields {}

export class GenerationConfig {
  /** HF metadata: this config was derived from the model's config.json (`from_model_config`). */
  _from_model_config = false;

  /**
   * Every field takes HF's default unless given. Unlike HF (which stores any extra attribute), a key that is not
   * a generation field raises, naming it; `transformers_version` and `_`-prefixed metadata are ignored.
   */
  constructor(kwargs: Partial<GenerationConfigFields> & Record<string, unknown> = {}) {
    for (const k of FIELDS) (this as Record<string, unknown>)[k] = deepCopy(DEFAULTS[k]);
    for (const [key, value] of Object.entries(kwargs)) {
      if (key === "_from_model_config") this._from_model_config = value === true;
      if (value === undefined || METADATA_KEYS.has(key) || key.startsWith("_")) continue;
      if (!isField(key)) throw new ValueError(`GenerationConfig: \`${key}\` is not a generation option`);
      (this as Record<string, unknown>)[key] = key === "sequence_bias" ? normalizeSequenceBias(value) : value;
    }
    this.validate();
  }

  /**
   * HF `GenerationConfig.from_model_config`: the generation defaults of a model, i.e. every generation field the
   * model config holds (bos/eos/pad, use_cache, and the legacy generation attributes PretrainedConfig keeps:
   * max_length, do_sample, top_k, ...), HF's defaults for the rest.
   */
  static from_model_config(config: object): GenerationConfig {
    const kwargs: Record<string, unknown> = {};
    for (const k of FIELDS) {
      const v = (config as Record<string, unknown>)[k];
      if (v !== undefined) kwargs[k] = v;
    }
    let c: GenerationConfig;
    try {
      c = new GenerationConfig(kwargs);
    } catch (e) {
      throw new ValueError(`the model config's generation parameters: ${(e as Error).message}`);
    }
    c._from_model_config = true;
    return c;
  }

  /** HF `GenerationConfig.from_pretrained(dir)`: reads `dir/generation_config.json` (or the file given). */
  static async from_pretrained(dir: string, config_file_name = GENERATION_CONFIG_NAME): Promise<GenerationConfig> {
    const file = join(dir, config_file_name);
    // bounded, regular-file-only read (a CheckpointError names the file otherwise)
    const text = await readTextFileCheckedAsync(file, FILE_LIMITS.generation_config);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ValueError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (json === null || typeof json !== "object" || Array.isArray(json))
      throw new ValueError(`${file}: expected a JSON object of generation options`);
    const known: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      // HF stores unknown keys as attributes and ignores them in generate; keep to the known ones.
      if (isField(k) || k === "_from_model_config") known[k] = v;
    }
    try {
      return new GenerationConfig(known);
    } catch (e) {
      throw new ValueError(`${file}: ${(e as Error).message}`);
    }
  }

  /** HF `save_pretrained(dir)`: writes `generation_config.json` with the non-default fields (HF's diff form). */
  async save_pretrained(dir: string, config_file_name = GENERATION_CONFIG_NAME): Promise<void> {
    await writeFileAtomic(join(dir, config_file_name), this.to_json_string(true));
  }

  /** HF `to_json_string(use_diff)`: only the fields that differ from the defaults when `use_diff`, keys sorted. */
  to_json_string(use_diff = true): string {
    const all = this.to_dict();
    const out: Record<string, unknown> = {};
    for (const k of FIELDS) {
      if (use_diff && JSON.stringify(all[k]) === JSON.stringify(DEFAULTS[k])) continue;
      out[k] = all[k];
    }
    // HF writes `_from_model_config: true` for a config derived from config.json (and keeps it on reload)
    if (this._from_model_config) out._from_model_config = true;
    out.transformers_version = "4.44.2";
    // HF: json.dumps(..., indent=2, sort_keys=True)
    const sorted = Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return JSON.stringify(sorted, null, 2) + "\n";
  }

  /**
   * HF `update(**kwargs)`: set every key that is a field (undefined values are skipped), validate, and return the
   * keys that are not fields (HF hands those to the model as model kwargs).
   */
  update(kwargs: Record<string, unknown>): Record<string, unknown> {
    const unused: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(kwargs)) {
      if (value === undefined) continue;
      if (isField(key))
        (this as Record<string, unknown>)[key] = key === "sequence_bias" ? normalizeSequenceBias(value) : value;
      else unused[key] = value;
    }
    this.validate();
    return unused;
  }

  /** A deep copy (HF deep-copies the config at the start of `generate`, so the caller's object never changes). */
  clone(): GenerationConfig {
    return new GenerationConfig({ ...this.to_dict(), _from_model_config: this._from_model_config });
  }

  to_dict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const k of FIELDS) out[k] = deepCopy(this[k]);
    return out;
  }

  /**
   * HF `get_generation_mode(assistant_model)`: which decoding method the options select.
   * Constraints pick constrained beam search; then num_beams = 1 gives contrastive search (penalty_alpha > 0 and
   * top_k > 1), greedy or sample; num_beams > 1 gives group beam search (num_beam_groups > 1), beam sample or beam
   * search. An assistant (model or prompt lookup) or dola_layers then turn greedy/sample into their own mode.
   */
  get_generation_mode(assistant_model: unknown = null): GenerationMode {
    let mode: GenerationMode;
    if (this.constraints !== null || this.force_words_ids !== null) mode = GenerationMode.CONSTRAINED_BEAM_SEARCH;
    else if (this.num_beams === 1) {
      if (this.do_sample === false) {
        mode =
          this.top_k !== null && this.top_k > 1 && this.penalty_alpha !== null && this.penalty_alpha > 0
            ? GenerationMode.CONTRASTIVE_SEARCH
            : GenerationMode.GREEDY_SEARCH;
      } else mode = GenerationMode.SAMPLE;
    } else if (this.num_beam_groups > 1) mode = GenerationMode.GROUP_BEAM_SEARCH;
    else if (this.do_sample === true) mode = GenerationMode.BEAM_SAMPLE;
    else mode = GenerationMode.BEAM_SEARCH;

    if ((assistant_model !== null && assistant_model !== undefined) || this.prompt_lookup_num_tokens !== null) {
      if (mode === "greedy_search" || mode === "sample") mode = GenerationMode.ASSISTED_GENERATION;
      else
        throw new ValueError(
          "You've set `assistant_model`, which triggers assisted generate. Currently, assisted generate is only supported with Greedy Search and Sample.",
        );
    }
    if (this.dola_layers !== null) {
      if (mode === "greedy_search" || mode === "sample") mode = GenerationMode.DOLA_GENERATION;
      else
        throw new ValueError(
          "You've set `dola_layers`, which triggers DoLa generate. Currently, DoLa generate is only supported with Greedy Search and Sample.",
        );
    }
    return mode;
  }

  /**
   * HF `validate()`: the field types (llama-ts addition), then HF's checks in HF's order: early_stopping,
   * max_new_tokens, the beam-only modes (constrained: no sampling, no groups; group beam search: no sampling,
   * num_beams divisible by num_beam_groups, diversity_penalty > 0), num_return_sequences (greedy: 1; beams:
   * <= num_beams).
   */
  validate(): void {
    this.validateTypes();
    if (this.early_stopping !== true && this.early_stopping !== false && this.early_stopping !== "never") {
      throw new ValueError(
        `\`early_stopping\` must be a boolean or 'never', but is ${JSON.stringify(this.early_stopping)}.`,
      );
    }
    if (this.max_new_tokens !== null && this.max_new_tokens <= 0) {
      throw new ValueError(`\`max_new_tokens\` must be greater than 0, but is ${this.max_new_tokens}.`);
    }
    if (this.num_beams > 1) {
      if (this.constraints !== null || this.force_words_ids !== null) {
        const msg = (flag: string, value: unknown) =>
          `one of \`constraints\`, \`force_words_ids\` is not \`None\`, triggering constrained beam search. However, \`${flag}\` is set to \`${value}\`, which is incompatible with this generation mode. Set \`constraints\` and \`force_words_ids\` to \`None\` or unset \`${flag}\` to continue.`;
        if (this.do_sample) throw new ValueError(msg("do_sample", "True"));
        if (this.num_beam_groups !== 1) throw new ValueError(msg("num_beam_groups", this.num_beam_groups));
      }
      if (this.diversity_penalty !== 0.0 || this.num_beam_groups !== 1) {
        const prefix =
          "`diversity_penalty` is not 0.0 or `num_beam_groups` is not 1, triggering group beam search. In this generation mode, ";
        if (this.do_sample) throw new ValueError(prefix + "`do_sample` must be set to `False`");
        if (this.num_beams % this.num_beam_groups !== 0)
          throw new ValueError(prefix + "`num_beams` should be divisible by `num_beam_groups`");
        if (this.diversity_penalty === 0.0)
          throw new ValueError(
            prefix + "`diversity_penalty` should be greater than `0.0`, otherwise your groups will be identical.",
          );
      }
    }
    if (this.num_return_sequences !== 1) {
      if (this.num_beams === 1) {
        if (this.do_sample === false)
          throw new ValueError(
            `Greedy methods without beam search do not support \`num_return_sequences\` different than 1 (got ${this.num_return_sequences}).`,
          );
      } else if (this.num_return_sequences > this.num_beams) {
        throw new ValueError(
          `\`num_return_sequences\` (${this.num_return_sequences}) has to be smaller or equal to \`num_beams\` (${this.num_beams}).`,
        );
      }
    }
  }

  private validateTypes(): void {
    for (const k of ["max_length", "min_length", "num_beams", "num_beam_groups", "num_return_sequences"] as const)
      checkInt(k, this[k], false, 0);
    if (this.num_beams < 1) throw new ValueError(`\`num_beams\` must be a positive integer, got ${this.num_beams}`);
    if (this.num_beam_groups < 1)
      throw new ValueError(`\`num_beam_groups\` must be a positive integer, got ${this.num_beam_groups}`);
    if (this.num_return_sequences < 1)
      throw new ValueError(`\`num_return_sequences\` must be a positive integer, got ${this.num_return_sequences}`);
    for (const k of [
      "max_new_tokens",
      "min_new_tokens",
      "top_k",
      "no_repeat_ngram_size",
      "encoder_no_repeat_ngram_size",
      "prompt_lookup_num_tokens",
      "max_matching_ngram_size",
      "pad_token_id",
      "bos_token_id",
      "decoder_start_token_id",
      "forced_bos_token_id",
    ] as const)
      checkInt(k, this[k], true, -Infinity);
    checkInt("num_assistant_tokens", this.num_assistant_tokens, false, 0);
    for (const k of [
      "do_sample",
      "use_cache",
      "renormalize_logits",
      "remove_invalid_values",
      "output_attentions",
      "output_hidden_states",
      "output_scores",
      "return_dict_in_generate",
    ] as const)
      checkBool(k, this[k], false);
    checkBool("low_memory", this.low_memory, true);
    checkBool("output_logits", this.output_logits, true);
    for (const k of [
      "temperature",
      "top_p",
      "min_p",
      "typical_p",
      "epsilon_cutoff",
      "eta_cutoff",
      "diversity_penalty",
      "repetition_penalty",
      "encoder_repetition_penalty",
      "penalty_alpha",
      "guidance_scale",
      "max_time",
    ] as const)
      checkNumber(k, this[k], true);
    checkNumber("length_penalty", this.length_penalty, false);
    checkIdList("eos_token_id", this.eos_token_id);
    checkIdList("forced_eos_token_id", this.forced_eos_token_id);
    for (const k of ["suppress_tokens", "begin_suppress_tokens"] as const) {
      const v = this[k];
      if (v !== null && (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))))
        throw new ValueError(`\`${k}\` must be a list of token ids or null, got ${JSON.stringify(v)}`);
    }
    if (this.stop_strings !== null) {
      const ok =
        typeof this.stop_strings === "string" ||
        (Array.isArray(this.stop_strings) && this.stop_strings.every((s) => typeof s === "string"));
      if (!ok)
        throw new ValueError(
          `\`stop_strings\` must be a string or a list of strings, got ${JSON.stringify(this.stop_strings)}`,
        );
    }
    const d = this.dola_layers;
    if (d !== null && d !== "low" && d !== "high" && !(Array.isArray(d) && d.every((x) => Number.isInteger(x))))
      throw new ValueError(`dola_layers must be either 'low', 'high' or a list of integers.`);
    const e = this.exponential_decay_length_penalty;
    if (e !== null && !(Array.isArray(e) && e.length === 2 && Number.isInteger(e[0]) && typeof e[1] === "number"))
      throw new ValueError(
        `\`exponential_decay_length_penalty\` must be [start_index (int), decay_factor (float)], got ${JSON.stringify(e)}`,
      );
    const sb = this.sequence_bias;
    if (sb !== null && !(Array.isArray(sb) && sb.every((p) => Array.isArray(p) && p.length === 2)))
      throw new ValueError(
        `\`sequence_bias\` has to be a list of [token ids, bias] pairs (HF: a dict of tuples to floats), but is ${JSON.stringify(sb)}.`,
      );
    const s = this.num_assistant_tokens_schedule;
    if (s !== "heuristic" && s !== "heuristic_transient" && s !== "constant")
      throw new ValueError(
        `\`num_assistant_tokens_schedule\` must be "heuristic", "heuristic_transient" or "constant", got ${JSON.stringify(s)}`,
      );
  }
}

function checkInt(name: string, v: unknown, nullable: boolean, min: number): void {
  if (v === null && nullable) return;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new ValueError(`\`${name}\` must be an integer${nullable ? " or null" : ""}, got ${JSON.stringify(v)}`);
  }
}

function checkNumber(name: string, v: unknown, nullable: boolean): void {
  if (v === null && nullable) return;
  if (typeof v !== "number" || Number.isNaN(v)) {
    throw new ValueError(`\`${name}\` must be a number${nullable ? " or null" : ""}, got ${JSON.stringify(v)}`);
  }
}

function checkBool(name: string, v: unknown, nullable: boolean): void {
  if (v === null && nullable) return;
  if (typeof v !== "boolean") throw new ValueError(`\`${name}\` must be a boolean, got ${JSON.stringify(v)}`);
}

function checkIdList(name: string, v: unknown): void {
  if (Array.isArray(v)) {
    if (v.length === 0) throw new ValueError(`\`${name}\` must be an id or a non-empty list of ids, got []`);
    v.forEach((id, i) => checkInt(`${name}[${i}]`, id, false, -Infinity));
  } else checkInt(name, v, true, -Infinity);
}
