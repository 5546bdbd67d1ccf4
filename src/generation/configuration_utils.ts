/**
 * GenerationConfig: the options of `generate`, with HF's defaults and HF's validation.
 *
 * Mirrors HF transformers v4.44 `generation/configuration_utils.py` `GenerationConfig` for the fields that
 * greedy search and multinomial sampling (num_beams = 1) read:
 *
 *   length      max_length = 20, max_new_tokens = null (takes precedence), min_length = 0, min_new_tokens = null
 *   strategy    do_sample = false, num_beams = 1, num_return_sequences = 1, use_cache = true
 *   logits      temperature = 1.0, top_k = 50, top_p = 1.0, min_p = null, repetition_penalty = 1.0
 *   tokens      bos_token_id, eos_token_id (an id or a list of ids), pad_token_id: null, filled from the model config
 *
 * What HF validates where, mirrored here:
 *   - `validate()` raises for `max_new_tokens <= 0` (HF) and, beyond HF, for values of the wrong type
 *     (a non-integer length, a NaN probability, a string id) so a typo fails loudly instead of deep in the loop;
 *   - the sampling parameters are checked by the warpers' constructors in `logits_process.ts` (HF raises there, and
 *     only when the warper is built: `temperature=0` with `do_sample=false` is accepted, as HF only warns);
 *   - beam search, `num_return_sequences > 1` and HF's other strategies are not implemented and raise.
 *
 * HF's other fields (typical_p, epsilon_cutoff, no_repeat_ngram_size, bad_words_ids, ...) are left out; passing one
 * raises a ValueError naming it, rather than being silently ignored.
 */
import { ValueError } from "../errors.ts";

export interface GenerationConfigFields {
  max_length: number;
  max_new_tokens: number | null;
  min_length: number;
  min_new_tokens: number | null;
  do_sample: boolean;
  num_beams: number;
  num_return_sequences: number;
  use_cache: boolean;
  temperature: number | null;
  top_k: number | null;
  top_p: number | null;
  min_p: number | null;
  repetition_penalty: number | null;
  pad_token_id: number | null;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
}

const FIELDS: readonly (keyof GenerationConfigFields)[] = [
  "max_length",
  "max_new_tokens",
  "min_length",
  "min_new_tokens",
  "do_sample",
  "num_beams",
  "num_return_sequences",
  "use_cache",
  "temperature",
  "top_k",
  "top_p",
  "min_p",
  "repetition_penalty",
  "pad_token_id",
  "bos_token_id",
  "eos_token_id",
];

/** Keys HF writes into generation_config.json that carry no generation option. */
const METADATA_KEYS = new Set(["transformers_version"]);

function isField(key: string): key is keyof GenerationConfigFields {
  return (FIELDS as readonly string[]).includes(key);
}

export class GenerationConfig implements GenerationConfigFields {
  max_length = 20;
  max_new_tokens: number | null = null;
  min_length = 0;
  min_new_tokens: number | null = null;
  do_sample = false;
  num_beams = 1;
  num_return_sequences = 1;
  use_cache = true;
  temperature: number | null = 1.0;
  top_k: number | null = 50;
  top_p: number | null = 1.0;
  min_p: number | null = null;
  repetition_penalty: number | null = 1.0;
  pad_token_id: number | null = null;
  bos_token_id: number | null = null;
  eos_token_id: number | number[] | null = null;

  /**
   * Every field takes HF's default unless given. Unlike HF (which stores any extra attribute), a key that is not
   * one of the fields above raises, naming it; `transformers_version` and `_`-prefixed metadata are ignored.
   */
  constructor(kwargs: Partial<GenerationConfigFields> & Record<string, unknown> = {}) {
    for (const [key, value] of Object.entries(kwargs)) {
      if (value === undefined || METADATA_KEYS.has(key) || key.startsWith("_")) continue;
      if (!isField(key))
        throw new ValueError(`GenerationConfig: \`${key}\` is not a generation option supported by llama-ts`);
      (this as Record<string, unknown>)[key] = value;
    }
    this.validate();
  }

  /**
   * HF `GenerationConfig.from_model_config`: the generation defaults of a model, i.e. the defaults above with
   * bos/eos/pad (and `use_cache`) taken from the model config.
   */
  static from_model_config(config: {
    bos_token_id?: number | null;
    eos_token_id?: number | number[] | null;
    pad_token_id?: number | null;
    use_cache?: boolean;
  }): GenerationConfig {
    return new GenerationConfig({
      bos_token_id: config.bos_token_id ?? null,
      eos_token_id: config.eos_token_id ?? null,
      pad_token_id: config.pad_token_id ?? null,
      ...(typeof config.use_cache === "boolean" ? { use_cache: config.use_cache } : {}),
    });
  }

  /**
   * HF `update(**kwargs)`: set every key that is a field (undefined values are skipped), validate, and return the
   * keys that are not fields (HF hands those to the model as model kwargs).
   */
  update(kwargs: Record<string, unknown>): Record<string, unknown> {
    const unused: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(kwargs)) {
      if (value === undefined) continue;
      if (isField(key)) (this as Record<string, unknown>)[key] = value;
      else unused[key] = value;
    }
    this.validate();
    return unused;
  }

  /** A deep copy (HF deep-copies the config at the start of `generate`, so the caller's object never changes). */
  clone(): GenerationConfig {
    return new GenerationConfig(this.to_dict() as Partial<GenerationConfigFields>);
  }

  to_dict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const k of FIELDS) {
      const v = this[k];
      out[k] = Array.isArray(v) ? [...v] : v;
    }
    return out;
  }

  /**
   * HF `validate()`: `max_new_tokens` must be > 0. Also checks each field's type (integers for lengths and ids,
   * finite numbers for the sampling knobs), and refuses the strategies llama-ts does not implement.
   * The range checks of temperature / top_k / top_p / min_p / repetition_penalty live in the processors'
   * constructors, as in HF.
   */
  validate(): void {
    if (this.max_new_tokens !== null && !(this.max_new_tokens > 0)) {
      throw new ValueError(`\`max_new_tokens\` must be greater than 0, but is ${this.max_new_tokens}.`);
    }
    checkInt("max_length", this.max_length, false);
    checkInt("max_new_tokens", this.max_new_tokens, true);
    checkInt("min_length", this.min_length, false);
    checkInt("min_new_tokens", this.min_new_tokens, true);
    checkInt("num_beams", this.num_beams, false);
    checkInt("num_return_sequences", this.num_return_sequences, false);
    checkInt("top_k", this.top_k, true);
    checkBool("do_sample", this.do_sample);
    checkBool("use_cache", this.use_cache);
    checkNumber("temperature", this.temperature, true);
    checkNumber("top_p", this.top_p, true);
    checkNumber("min_p", this.min_p, true);
    checkNumber("repetition_penalty", this.repetition_penalty, true);
    checkInt("pad_token_id", this.pad_token_id, true);
    checkInt("bos_token_id", this.bos_token_id, true);
    if (Array.isArray(this.eos_token_id)) {
      if (this.eos_token_id.length === 0)
        throw new ValueError("`eos_token_id` must be an id or a non-empty list of ids, got []");
      this.eos_token_id.forEach((id, i) => checkInt(`eos_token_id[${i}]`, id, false));
    } else {
      checkInt("eos_token_id", this.eos_token_id, true);
    }
    if (this.num_beams !== 1) {
      throw new ValueError(
        `\`num_beams\` is ${this.num_beams}: beam search is not implemented in llama-ts (only num_beams=1).`,
      );
    }
    if (this.num_return_sequences !== 1) {
      // HF raises this for greedy search; for sampling it would expand the batch, which llama-ts does not do.
      throw new ValueError(`\`num_return_sequences\` is ${this.num_return_sequences}: only 1 is supported.`);
    }
  }
}

function checkInt(name: string, v: unknown, nullable: boolean): void {
  if (v === null && nullable) return;
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new ValueError(`\`${name}\` must be an integer${nullable ? " or null" : ""}, got ${JSON.stringify(v)}`);
  }
}

function checkNumber(name: string, v: unknown, nullable: boolean): void {
  if (v === null && nullable) return;
  if (typeof v !== "number" || Number.isNaN(v)) {
    throw new ValueError(`\`${name}\` must be a number${nullable ? " or null" : ""}, got ${JSON.stringify(v)}`);
  }
}

function checkBool(name: string, v: unknown): void {
  if (typeof v !== "boolean") throw new ValueError(`\`${name}\` must be a boolean, got ${JSON.stringify(v)}`);
}
