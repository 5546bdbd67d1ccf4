/**
 * generate: HF transformers v4.44 `generation/utils.py` `GenerationMixin.generate` for decoder-only models,
 * with every decoding method HF has for them:
 *
 *   greedy / sample           `_sample`              argmax, or multinomial(softmax) from injected uniform draws
 *   beam search               `_beam_search`         BeamSearchScorer (beam_search.ts)
 *   group (diverse) beams     `_group_beam_search`   num_beam_groups, HammingDiversityLogitsProcessor
 *   constrained beam search   `_constrained_beam_search`  force_words_ids (beam_constraints.ts)
 *   contrastive search        `_contrastive_search`  penalty_alpha, top_k, low_memory
 *   assisted decoding         `_assisted_decoding`   assistant_model or prompt_lookup_num_tokens (candidate_generator.ts)
 *   DoLa                      `_dola_decoding`       dola_layers
 *   classifier-free guidance  guidance_scale (a logits processor, logits_process.ts)
 *
 * One decoding step, whatever the method (shapes for R = batch * beams rows, V = vocab):
 *   ids [R, cur_len] --prepare_inputs_for_generation--> model inputs (only the ids not yet in the cache)
 *     --forward--> logits [R, q, V] -> last position [R, V] -> logits processors (-> warpers when sampling)
 *     -> next ids [R] -> ids [R, cur_len + 1]; stopping criteria -> which rows are done.
 * The model is reached only through {@link GenerationModel}: its config, `forward`, and
 * `prepare_inputs_for_generation` (HF keeps that one on the model class: LlamaForCausalLM has it).
 *
 * Sampling never touches a global generator: each row draws one uniform number per step from `rng` (a seeded
 * `Random`, or any `{ random(): number }` the caller injects), and multinomial sampling inverts the CDF at it.
 * torch's own generator cannot be reproduced, so HF's sampled ids are reproduced only in distribution; the
 * processors and warpers themselves are checked against HF's per-step scores.
 *
 * Beam sampling (num_beams > 1 with do_sample) draws its 2 * num_beams candidates without replacement as torch
 * does (exponential race: keys p_i / E_i, E_i = -log(1 - u_i), one draw per row and id).
 *
 * HF's warnings (right padding, ignored flags, max_length defaults) are not printed. Left out: watermarking,
 * static and quantized caches, token healing, inputs_embeds, synced_gpus.
 */
import { DynamicCache } from "../cache_utils.ts";
import { cat, narrow } from "../nn/functional.ts";
import { ShapeError, ValueError } from "../errors.ts";
import { Tensor, toIntRows, type IntInput } from "../tensor/tensor.ts";
import { warning_once } from "../utils/logging.ts";
import { Random } from "../utils/random.ts";
import { checkOptions, describeValue, hardPositionLimit } from "../utils/validate.ts";
import { DisjunctiveConstraint, PhrasalConstraint, type Constraint } from "./beam_constraints.ts";
import {
  BeamSearchScorer,
  ConstrainedBeamSearchScorer,
  type BeamOutputs,
  type BeamSearchOutput,
} from "./beam_search.ts";
import {
  AssistedCandidateGenerator,
  PromptLookupCandidateGenerator,
  type CandidateGenerator,
} from "./candidate_generator.ts";
import { GenerationConfig, GenerationMode, type GenerationConfigFields } from "./configuration_utils.ts";
import {
  EncoderNoRepeatNGramLogitsProcessor,
  EncoderRepetitionPenaltyLogitsProcessor,
  EpsilonLogitsWarper,
  EtaLogitsWarper,
  ExponentialDecayLengthPenalty,
  ForcedBOSTokenLogitsProcessor,
  ForcedEOSTokenLogitsProcessor,
  HammingDiversityLogitsProcessor,
  InfNanRemoveLogitsProcessor,
  LogitNormalization,
  LogitsProcessorList,
  logSoftmax,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  MinPLogitsWarper,
  NoBadWordsLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
  PrefixConstrainedLogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
  SequenceBiasLogitsProcessor,
  SuppressTokensAtBeginLogitsProcessor,
  SuppressTokensLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
  TypicalLogitsWarper,
  UnbatchedClassifierFreeGuidanceLogitsProcessor,
  type LogitsProcessor,
} from "./logits_process.ts";
import { argmax, multinomial, softmax } from "./sampling.ts";
import {
  EosTokenCriteria,
  MaxLengthCriteria,
  MaxTimeCriteria,
  StopStringCriteria,
  StoppingCriteriaList,
  type StoppingCriteria,
  type StopStringTokenizer,
} from "./stopping_criteria.ts";
import type { BaseStreamer } from "./streamers.ts";

/** The keyword arguments generate threads between steps (HF `model_kwargs`). */
export interface GenerationModelKwargs {
  attention_mask?: number[][];
  past_key_values?: DynamicCache;
  use_cache?: boolean;
  /** Positions of the ids not yet in the cache (HF `cache_position`). */
  cache_position: number[];
  position_ids?: number[][];
}

/** What `prepare_inputs_for_generation` hands to `forward`. */
export interface GenerationModelInputs {
  input_ids: number[][];
  attention_mask?: number[][];
  position_ids?: number[][];
  past_key_values?: DynamicCache;
  use_cache?: boolean;
  cache_position?: number[];
  num_logits_to_keep?: number;
}

/** What `generate` needs from a model: its config, one forward step, and HF's `prepare_inputs_for_generation`. */
export interface GenerationModel {
  config: {
    bos_token_id?: number | null;
    eos_token_id?: number | number[] | null;
    pad_token_id?: number | null;
    vocab_size: number;
    /** Read like HF's `GenerationConfig.from_model_config` does (LlamaConfig has it, default true). */
    use_cache?: boolean;
    /** DoLa: the number of decoder layers, and whether lm_head is tied to the embeddings. */
    num_hidden_layers?: number;
    tie_word_embeddings?: boolean;
    max_position_embeddings?: number;
  };
  /** The model's generation defaults (HF `model.generation_config`, from generation_config.json when present). */
  generation_config?: GenerationConfig | null;
  /** One forward step. Returns logits float32 [batch, q_len_kept, vocab] (and all hidden states on request). */
  forward(args: GenerationModelInputs & { output_hidden_states?: boolean }): {
    logits: Tensor;
    past_key_values?: DynamicCache;
    hidden_states?: Tensor[];
  };
  /** HF `prepare_inputs_for_generation`: the model inputs of one step from the ids so far and `model_kwargs`. */
  prepare_inputs_for_generation(input_ids: number[][], kwargs: GenerationModelKwargs): GenerationModelInputs;
  /** DoLa: the output projection (lm_head), applied to early layers' hidden states. */
  get_output_embeddings?(): { forward(x: Tensor): Tensor } | null;
}

/** HF `GenerateDecoderOnlyOutput` (greedy, sample, contrastive, assisted, DoLa). */
export interface GenerateDecoderOnlyOutput {
  sequences: Tensor;
  /** Processed scores, one [batch, vocab] per step (output_scores). */
  scores?: Tensor[];
  /** Raw last-position logits, one [batch, vocab] per step (output_logits). */
  logits?: Tensor[];
  past_key_values?: DynamicCache;
}

/** HF `GenerateBeamDecoderOnlyOutput` (the beam methods). */
export interface GenerateBeamDecoderOnlyOutput extends GenerateDecoderOnlyOutput {
  /** Final score of each returned sequence, [batch * num_return_sequences] (output_scores). */
  sequences_scores?: Tensor;
  /** The beam each token came from, [rows, len], -1-padded (output_scores). */
  beam_indices?: Tensor;
}

export type GenerateOutput = GenerateDecoderOnlyOutput | GenerateBeamDecoderOnlyOutput;

/** A source of uniform draws in [0, 1): one per row and step when sampling. */
export interface UniformSource {
  random(): number;
}

export interface GenerateOptions extends Partial<GenerationConfigFields> {
  attention_mask?: IntInput;
  /** Seed of the `Random` that draws one uniform per row and step when sampling (default 0). Not an HF option:
   * HF samples from torch's global generator (`set_seed`). */
  seed?: number;
  /** The uniform draws themselves (overrides `seed`): e.g. a recorded sequence replayed by a test. */
  rng?: UniformSource;
  generation_config?: GenerationConfig | Partial<GenerationConfigFields>;
  /** Receives the prompt, then each step's new ids, then `end()` (HF `streamer`, e.g. a TextStreamer). */
  streamer?: BaseStreamer | null;
  /** Extra processors, merged with the ones the config builds (HF refuses a type given twice). */
  logits_processor?: LogitsProcessor[];
  /** Extra stopping criteria (custom ones included), merged like `logits_processor`. */
  stopping_criteria?: StoppingCriteria[];
  /** Needed with `stop_strings`. */
  tokenizer?: StopStringTokenizer | null;
  /** A smaller model proposing tokens for assisted decoding (same vocabulary). */
  assistant_model?: GenerationModel | null;
  /** HF `prefix_allowed_tokens_fn(batch_id, ids)`: the ids allowed next for a row (PrefixConstrainedLogitsProcessor). */
  prefix_allowed_tokens_fn?: ((batch_id: number, input_ids: number[]) => number[]) | null;
  /** Classifier-free guidance: the unconditional prompt (default: the last prompt id). */
  negative_prompt_ids?: IntInput | null;
  negative_prompt_attention_mask?: IntInput | null;
}

/** The keys of GenerateOptions that are not GenerationConfig fields. */
const NON_CONFIG_OPTIONS = new Set([
  "attention_mask",
  "seed",
  "rng",
  "generation_config",
  "streamer",
  "logits_processor",
  "stopping_criteria",
  "tokenizer",
  "assistant_model",
  "negative_prompt_ids",
  "negative_prompt_attention_mask",
  "prefix_allowed_tokens_fn",
]);

// ---------------------------------------------------------------------------------------------------------------
// Cache plumbing (HF `_temporary_reorder_cache` / `DynamicCache.reorder_cache`, `crop`, `batch_repeat_interleave`)

/** Rows `index[i]` of every cached key/value tensor [B, H, S, D], in that order (torch `index_select(0, ...)`). */
export function reorderCache(cache: DynamicCache, beam_idx: number[]): void {
  const B = cache.key_cache[0]?.shape[0] ?? 0;
  for (const b of beam_idx)
    if (!(b >= 0 && b < B)) throw new ShapeError("beam_idx", `row ${b} outside the cached batch of ${B}`);
  cache.reorder_cache(beam_idx);
}

/** HF `DynamicCache.crop(max_length)`: keep the first `max_length` cached positions of every layer. */
export function cropCache(cache: DynamicCache, max_length: number): void {
  cache.crop(max_length);
}

function cloneCache(cache: DynamicCache): DynamicCache {
  const c = new DynamicCache();
  c.key_cache = [...cache.key_cache];
  c.value_cache = [...cache.value_cache];
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs

/**
 * HF `_prepare_attention_mask_for_generation`: without a pad id, all ones. With one, `input_ids != pad` — but
 * only when the pad id occurs in the inputs and is not an eos id; otherwise all ones again.
 */
export function prepareAttentionMaskForGeneration(
  input_ids: number[][],
  pad_token_id: number | null,
  eos_token_id: number[] | null,
): number[][] {
  const ones = () => input_ids.map((r) => r.map(() => 1));
  if (pad_token_id === null) return ones();
  const padInInputs = input_ids.some((r) => r.includes(pad_token_id));
  const padIsNotEos = eos_token_id === null || !eos_token_id.includes(pad_token_id);
  if (!(padInInputs && padIsNotEos)) return ones();
  return input_ids.map((r) => r.map((id) => (id !== pad_token_id ? 1 : 0)));
}

/** HF's position ids for generation: cumsum(mask) - 1, with 1 wherever mask == 0. Full length. */
export function positionIdsFromAttentionMask(attention_mask: number[][]): number[][] {
  return attention_mask.map((row) => {
    let c = 0;
    return row.map((m) => {
      c += m;
      return m === 0 ? 1 : c - 1;
    });
  });
}

/** Token ids as rows, checked: an int Tensor or arrays, non-empty, equal-length rows, ids in [0, vocab). */
function readInputIds(input_ids: IntInput, vocab_size: number, name = "input_ids"): number[][] {
  if (input_ids instanceof Tensor && input_ids.dtype !== "int32" && input_ids.dtype !== "int64") {
    throw new ShapeError(name, `expected an int32 or int64 Tensor, got ${input_ids.dtype}`);
  }
  const rows = toIntRows(input_ids, name);
  if (rows.length === 0 || rows[0].length === 0) {
    throw new ShapeError(
      name,
      `expected a non-empty prompt [batch >= 1, seq >= 1], got [${rows.length}, ${rows[0]?.length ?? 0}]`,
    );
  }
  rows.forEach((row, b) =>
    row.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab_size) {
        throw new ShapeError(name, `id ${id} at [${b}, ${t}] is outside the vocabulary [0, ${vocab_size})`);
      }
    }),
  );
  return rows.map((r) => [...r]);
}

function readAttentionMask(attention_mask: IntInput, batch: number, seq: number, name = "attention_mask"): number[][] {
  if (attention_mask instanceof Tensor && attention_mask.dtype.startsWith("float")) {
    throw new ShapeError(name, `expected an int or bool Tensor, got ${attention_mask.dtype}`);
  }
  const rows = toIntRows(attention_mask, name);
  if (rows.length !== batch || rows.some((r) => r.length !== seq)) {
    throw new ShapeError(
      name,
      `expected shape [${batch}, ${seq}] like input_ids, got [${rows.length}, ${rows[0]?.length ?? 0}]`,
    );
  }
  for (const row of rows) {
    for (const m of row) {
      // HF does not check; any other value would make cumsum positions and the 4-D mask meaningless.
      if (m !== 0 && m !== 1) throw new ShapeError(name, `expected 0 or 1, got ${m}`);
    }
  }
  return rows.map((r) => [...r]);
}

/** HF `_expand_inputs_for_generation`: each row repeated `expand_size` times in place (repeat_interleave). */
function expandRows<T>(rows: T[][], expand_size: number): T[][] {
  return rows.flatMap((r) => Array.from({ length: expand_size }, () => [...r]));
}

// ---------------------------------------------------------------------------------------------------------------
// Processors and stopping criteria, in HF's order

/** What `_get_logits_processor` needs besides the config. */
export interface LogitsProcessorContext {
  input_ids_seq_length: number;
  /** The prompt as given (HF `encoder_input_ids = inputs_tensor` for decoder-only models). */
  encoder_input_ids: number[][];
  eos_token_id: number[] | null;
  /** The model, for classifier-free guidance. */
  model?: GenerationModel;
  negative_prompt_ids?: number[][] | null;
  negative_prompt_attention_mask?: number[][] | null;
  use_cache?: boolean;
  prefix_allowed_tokens_fn?: ((batch_id: number, input_ids: number[]) => number[]) | null;
}

/**
 * HF `_get_logits_processor`, in HF's order: guidance_scale, sequence_bias, diversity_penalty,
 * encoder_repetition_penalty, repetition_penalty, no_repeat_ngram_size, encoder_no_repeat_ngram_size,
 * bad_words_ids, min_length, min_new_tokens, prefix_allowed_tokens_fn, forced_bos, forced_eos, remove_invalid_values,
 * exponential_decay_length_penalty, suppress_tokens, begin_suppress_tokens, then the caller's processors, then
 * renormalize_logits (always last).
 */
export function getLogitsProcessor(
  config: GenerationConfig,
  ctx: LogitsProcessorContext,
  logits_processor: LogitsProcessor[] = [],
): LogitsProcessorList {
  const p = new LogitsProcessorList();
  const eos = ctx.eos_token_id;
  if (config.guidance_scale !== null && config.guidance_scale !== 1) {
    if (ctx.model === undefined) throw new ValueError("guidance_scale needs the model (classifier-free guidance)");
    const model = ctx.model;
    p.append(
      new UnbatchedClassifierFreeGuidanceLogitsProcessor(
        config.guidance_scale,
        { forward: (a) => model.forward(a), newCache: () => new DynamicCache() },
        ctx.negative_prompt_ids ?? null,
        ctx.negative_prompt_attention_mask ?? null,
        ctx.use_cache ?? true,
      ),
    );
  }
  if (config.sequence_bias !== null) p.append(new SequenceBiasLogitsProcessor(config.sequence_bias));
  if (config.diversity_penalty !== null && config.diversity_penalty > 0.0)
    p.append(new HammingDiversityLogitsProcessor(config.diversity_penalty, config.num_beams, config.num_beam_groups));
  if (config.encoder_repetition_penalty !== null && config.encoder_repetition_penalty !== 1.0)
    p.append(new EncoderRepetitionPenaltyLogitsProcessor(config.encoder_repetition_penalty, ctx.encoder_input_ids));
  if (config.repetition_penalty !== null && config.repetition_penalty !== 1.0)
    p.append(new RepetitionPenaltyLogitsProcessor(config.repetition_penalty));
  if (config.no_repeat_ngram_size !== null && config.no_repeat_ngram_size > 0)
    p.append(new NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size));
  if (config.encoder_no_repeat_ngram_size !== null && config.encoder_no_repeat_ngram_size > 0)
    p.append(new EncoderNoRepeatNGramLogitsProcessor(config.encoder_no_repeat_ngram_size, ctx.encoder_input_ids));
  if (config.bad_words_ids !== null) p.append(new NoBadWordsLogitsProcessor(config.bad_words_ids, eos));
  if (eos !== null && config.min_length > 0) p.append(new MinLengthLogitsProcessor(config.min_length, eos));
  if (config.min_new_tokens !== null && eos !== null && config.min_new_tokens > 0)
    p.append(new MinNewTokensLengthLogitsProcessor(ctx.input_ids_seq_length, config.min_new_tokens, eos));
  if (ctx.prefix_allowed_tokens_fn != null)
    p.append(
      new PrefixConstrainedLogitsProcessor(
        ctx.prefix_allowed_tokens_fn,
        Math.floor(config.num_beams / config.num_beam_groups),
      ),
    );
  if (config.forced_bos_token_id !== null) p.append(new ForcedBOSTokenLogitsProcessor(config.forced_bos_token_id));
  if (config.forced_eos_token_id !== null)
    p.append(new ForcedEOSTokenLogitsProcessor(config.max_length, config.forced_eos_token_id));
  if (config.remove_invalid_values === true) p.append(new InfNanRemoveLogitsProcessor());
  if (config.exponential_decay_length_penalty !== null) {
    if (eos === null) throw new ValueError("`exponential_decay_length_penalty` needs an `eos_token_id`");
    p.append(new ExponentialDecayLengthPenalty(config.exponential_decay_length_penalty, eos, ctx.input_ids_seq_length));
  }
  if (config.suppress_tokens !== null) p.append(new SuppressTokensLogitsProcessor(config.suppress_tokens));
  if (config.begin_suppress_tokens !== null) {
    let begin_index = ctx.input_ids_seq_length;
    if (!(ctx.input_ids_seq_length > 1 || config.forced_bos_token_id === null)) begin_index += 1;
    p.append(new SuppressTokensAtBeginLogitsProcessor(config.begin_suppress_tokens, begin_index));
  }
  mergeLists(p, logits_processor, "logits processor");
  if (config.renormalize_logits === true) p.append(new LogitNormalization());
  return p;
}

/**
 * HF v4.44 `_get_logits_warper` (sampling only), in HF's order: temperature, top_k, top_p, min_p, typical_p,
 * epsilon_cutoff, eta_cutoff, each only when it changes something, then renormalize_logits. Beam modes keep at
 * least 1 + (number of eos ids) tokens (min_tokens_to_keep), greedy/sample keep 1. The default top_k = 50 is
 * active whenever sampling.
 */
export function getLogitsWarper(config: GenerationConfig, eos_token_id: number[] | null = null): LogitsProcessorList {
  const w = new LogitsProcessorList();
  const min_tokens_to_keep = config.num_beams > 1 ? (eos_token_id !== null ? eos_token_id.length + 1 : 2) : 1;
  if (config.temperature !== null && config.temperature !== 1.0)
    w.append(new TemperatureLogitsWarper(config.temperature));
  if (config.top_k !== null && config.top_k !== 0)
    w.append(new TopKLogitsWarper(config.top_k, -Infinity, min_tokens_to_keep));
  if (config.top_p !== null && config.top_p < 1.0)
    w.append(new TopPLogitsWarper(config.top_p, -Infinity, min_tokens_to_keep));
  if (config.min_p !== null) w.append(new MinPLogitsWarper(config.min_p, -Infinity, min_tokens_to_keep));
  if (config.typical_p !== null && config.typical_p < 1.0)
    w.append(new TypicalLogitsWarper(config.typical_p, -Infinity, min_tokens_to_keep));
  if (config.epsilon_cutoff !== null && config.epsilon_cutoff > 0.0 && config.epsilon_cutoff < 1.0)
    w.append(new EpsilonLogitsWarper(config.epsilon_cutoff, -Infinity, min_tokens_to_keep));
  if (config.eta_cutoff !== null && config.eta_cutoff > 0.0 && config.eta_cutoff < 1.0)
    w.append(new EtaLogitsWarper(config.eta_cutoff, -Infinity, min_tokens_to_keep));
  if (config.renormalize_logits === true) w.append(new LogitNormalization());
  return w;
}

/**
 * HF `_get_stopping_criteria`, in HF's order: max_length, max_time, stop_strings (needs the tokenizer), eos,
 * then the caller's criteria.
 */
export function getStoppingCriteria(
  config: GenerationConfig,
  eos_token_id: number[] | null,
  tokenizer: StopStringTokenizer | null = null,
  stopping_criteria: StoppingCriteria[] = [],
  max_position_embeddings: number | null = null,
): StoppingCriteriaList {
  const c = new StoppingCriteriaList();
  c.append(new MaxLengthCriteria(config.max_length, max_position_embeddings));
  if (config.max_time !== null) c.append(new MaxTimeCriteria(config.max_time));
  if (config.stop_strings !== null) {
    if (tokenizer === null)
      throw new ValueError(
        "There are one or more stop strings, either in the arguments to `generate` or in the model's generation config, but we could not locate a tokenizer. When generating with stop strings, you must pass the model's tokenizer to the `tokenizer` argument of `generate`.",
      );
    c.append(new StopStringCriteria(tokenizer, config.stop_strings));
  }
  if (eos_token_id !== null) c.append(new EosTokenCriteria(eos_token_id));
  mergeLists(c, stopping_criteria, "stopping criteria");
  return c;
}

/** HF `_merge_criteria_processor_list`: a custom object of a type the config already built is refused. */
function mergeLists<T extends object>(base: T[], custom: T[], what: string): void {
  for (const item of custom) {
    const clash = base.find((b) => b.constructor === item.constructor && item.constructor !== Object);
    if (clash)
      throw new ValueError(
        `A custom ${what} of type ${item.constructor.name} with values ${JSON.stringify(item)} has been passed to \`.generate()\`, but it has already been created with the values ${JSON.stringify(clash)}. ${clash.constructor.name} has been created by passing the corresponding arguments to generate or by the model's config default values. If you just want to change the default values of ${what} consider passing them as arguments to \`.generate()\` instead of using a custom ${what}.`,
      );
    base.push(item);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// generate

/** Everything the decoding methods share. */
interface DecodingContext {
  model: GenerationModel;
  config: GenerationConfig;
  logits_processor: LogitsProcessorList;
  logits_warper: LogitsProcessorList | null;
  stopping_criteria: StoppingCriteriaList;
  eos_token_id: number[] | null;
  pad_token_id: number | null;
  rng: UniformSource | null;
  streamer: BaseStreamer | null;
  vocab: number;
}

/**
 * HF `GenerationMixin.generate` for decoder-only models: the prompt followed by the generated ids, int64
 * [batch * num_return_sequences, len]; with `return_dict_in_generate`, HF's output object instead.
 */
export function generate(
  model: GenerationModel,
  input_ids: IntInput,
  opts: GenerateOptions & { return_dict_in_generate: true },
): GenerateOutput;
export function generate(model: GenerationModel, input_ids: IntInput, opts?: GenerateOptions): Tensor;
export function generate(
  model: GenerationModel,
  input_ids: IntInput,
  opts: GenerateOptions = {},
): Tensor | GenerateOutput {
  opts = checkOptions(opts, "generate: options");
  // 1. The generation config (HF `_prepare_generation_config`): the caller's config, else the model's
  // generation_config (generation_config.json) or its config's defaults, deep-copied and updated with the option
  // keys; keys that are neither options nor fields are refused as HF's `_validate_model_kwargs` refuses them.
  const kwargs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) if (!NON_CONFIG_OPTIONS.has(k)) kwargs[k] = v;
  const given = opts.generation_config;
  const config =
    given === undefined
      ? (model.generation_config?.clone() ?? GenerationConfig.from_model_config(model.config))
      : given instanceof GenerationConfig
        ? given.clone()
        : new GenerationConfig(given);
  const unused = Object.keys(config.update(kwargs));
  if (unused.length > 0) {
    throw new ValueError(
      `The following \`model_kwargs\` are not used by the model: [${unused.map((k) => `'${k}'`).join(", ")}] (note: typos in the generate arguments will also show up in this list)`,
    );
  }
  if (given !== undefined) {
    // HF: with an explicit generation_config, unset special tokens fall back to the model's.
    if (config.bos_token_id === null) config.bos_token_id = model.config.bos_token_id ?? null;
    if (config.eos_token_id === null) config.eos_token_id = model.config.eos_token_id ?? null;
    if (config.pad_token_id === null) config.pad_token_id = model.config.pad_token_id ?? null;
    config.validate();
  }
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ValueError(`\`seed\` must be an integer, got ${seed}`);

  const vocab_size = model.config.vocab_size;
  if (!Number.isInteger(vocab_size) || vocab_size <= 0)
    throw new ValueError(`model.config.vocab_size must be a positive integer, got ${vocab_size}`);
  let ids = readInputIds(input_ids, vocab_size);
  const batch_size = ids.length;
  const input_ids_length = ids[0].length;

  // 2. Special tokens (HF `_prepare_special_tokens`): eos is always a list; a missing pad becomes the first eos.
  const eos: number[] | null =
    config.eos_token_id === null
      ? null
      : Array.isArray(config.eos_token_id)
        ? [...config.eos_token_id]
        : [config.eos_token_id];
  const pad: number | null = config.pad_token_id ?? (eos !== null ? eos[0] : null);

  // 3. The attention mask: given, or inferred from the pad id.
  let attention_mask =
    opts.attention_mask !== undefined && opts.attention_mask !== null
      ? readAttentionMask(opts.attention_mask, batch_size, input_ids_length)
      : prepareAttentionMaskForGeneration(ids, pad, eos);

  const streamer = opts.streamer ?? null;
  if (
    streamer !== null &&
    (typeof streamer !== "object" || typeof streamer.put !== "function" || typeof streamer.end !== "function")
  )
    throw new ValueError(
      `streamer: expected an object with put(ids) and end() methods, got ${describeValue(streamer)}`,
    );
  if (streamer !== null && config.num_beams > 1)
    throw new ValueError("`streamer` cannot be used with beam search (yet!). Make sure that `num_beams` is set to 1.");

  // 4. Lengths (HF `_prepare_generated_length`): max_new_tokens and min_new_tokens take precedence.
  if (config.max_new_tokens !== null) config.max_length = config.max_new_tokens + input_ids_length;
  if (config.min_new_tokens !== null) config.min_length = config.min_new_tokens + input_ids_length;
  // Beyond HF, which only warns past max_position_embeddings: the total length is capped at the hard position
  // bound that forward enforces (MAX_POSITION_MULTIPLE x max_position_embeddings, room for rope scaling such as
  // dynamic NTK), so `max_new_tokens: 1e9` ends instead of running for days.
  const maxPositions = model.config.max_position_embeddings;
  if (maxPositions !== undefined && config.max_length > maxPositions) {
    const cap = hardPositionLimit(maxPositions);
    warning_once(
      `generate: max_length ${config.max_length} (prompt + max_new_tokens) exceeds max_position_embeddings (${maxPositions})${config.max_length > cap ? `; capped at the hard position bound ${cap}` : ""}`,
    );
    config.max_length = Math.min(config.max_length, cap);
  }
  // HF `_validate_generated_length`.
  if (input_ids_length >= config.max_length) {
    throw new ValueError(
      `Input length of input_ids is ${input_ids_length}, but \`max_length\` is set to ${config.max_length}. This can lead to unexpected behavior. You should consider increasing \`max_length\` or, better yet, setting \`max_new_tokens\`.`,
    );
  }

  // 5. The decoding method (HF `get_generation_mode`, which also refuses assistants with beams).
  const assistant_model = opts.assistant_model ?? null;
  const mode = config.get_generation_mode(assistant_model);
  // Sizes that allocate per row: refuse values no vocabulary can use (llama-ts check; HF would try and run out
  // of memory).
  for (const [k, v] of [
    ["num_beams", config.num_beams],
    ["num_return_sequences", config.num_return_sequences],
  ] as const) {
    if (v > vocab_size) throw new ValueError(`\`${k}\` (${v}) must not exceed the vocabulary size (${vocab_size})`);
  }
  if (mode === GenerationMode.CONTRASTIVE_SEARCH && (config.top_k as number) > vocab_size)
    throw new ValueError(
      `contrastive search: \`top_k\` (${config.top_k}) must not exceed the vocabulary size (${vocab_size})`,
    );
  if (assistant_model !== null && assistant_model?.config?.vocab_size !== vocab_size)
    throw new ValueError(
      `\`assistant_model\` must share the model's vocabulary: vocab_size ${assistant_model?.config?.vocab_size} != ${vocab_size}`,
    );

  // 6. Processors, warpers and stopping criteria.
  const negative_prompt_ids =
    opts.negative_prompt_ids != null ? readInputIds(opts.negative_prompt_ids, vocab_size, "negative_prompt_ids") : null;
  const negative_prompt_attention_mask =
    opts.negative_prompt_attention_mask != null && negative_prompt_ids !== null
      ? readAttentionMask(
          opts.negative_prompt_attention_mask,
          negative_prompt_ids.length,
          negative_prompt_ids[0].length,
          "negative_prompt_attention_mask",
        )
      : null;
  const logits_processor = getLogitsProcessor(
    config,
    {
      input_ids_seq_length: input_ids_length,
      encoder_input_ids: ids,
      eos_token_id: eos,
      model,
      negative_prompt_ids,
      negative_prompt_attention_mask,
      use_cache: config.use_cache,
      prefix_allowed_tokens_fn: opts.prefix_allowed_tokens_fn ?? null,
    },
    opts.logits_processor ?? [],
  );
  const stopping_criteria = getStoppingCriteria(
    config,
    eos,
    opts.tokenizer ?? null,
    opts.stopping_criteria ?? [],
    model.config.max_position_embeddings ?? null,
  );
  const sampling = config.do_sample;
  const ctx: DecodingContext = {
    model,
    config,
    logits_processor,
    logits_warper: sampling ? getLogitsWarper(config, eos) : null,
    stopping_criteria,
    eos_token_id: eos,
    pad_token_id: pad,
    rng: sampling ? (opts.rng ?? new Random(seed)) : null,
    streamer,
    vocab: vocab_size,
  };
  if (streamer !== null) streamer.put(new Tensor("int64", ids.flat(), [batch_size, input_ids_length]));

  // 7. Run the method. The beam methods (and sampling with num_return_sequences) expand every row first.
  let result: GenerateOutput;
  switch (mode) {
    case GenerationMode.ASSISTED_GENERATION: {
      if (config.num_return_sequences > 1)
        throw new ValueError(
          `num_return_sequences has to be 1 when doing assisted generate, but is ${config.num_return_sequences}.`,
        );
      if (batch_size > 1) throw new ValueError("assisted generate is only supported for batch_size = 1");
      if (!config.use_cache) throw new ValueError("assisted generate requires `use_cache=True`");
      const candidate_generator: CandidateGenerator =
        config.prompt_lookup_num_tokens !== null
          ? new PromptLookupCandidateGenerator(
              eos,
              config.prompt_lookup_num_tokens,
              config.max_matching_ngram_size,
              config.max_length,
            )
          : new AssistedCandidateGenerator(assistant_model as GenerationModel, config, (m, prefix, n) => {
              const out = generate(m, [prefix], {
                max_new_tokens: n,
                do_sample: false,
                eos_token_id: eos ?? undefined,
                pad_token_id: pad ?? undefined,
              });
              return (out.tolist() as number[][])[0];
            });
      result = _assisted_decoding(ctx, ids, attention_mask, candidate_generator);
      break;
    }
    case GenerationMode.DOLA_GENERATION:
      result = _dola_decoding(ctx, ids, attention_mask, config.dola_layers as "low" | "high" | number[]);
      break;
    case GenerationMode.CONTRASTIVE_SEARCH:
      if (!config.use_cache) throw new ValueError("Contrastive search requires `use_cache=True`");
      result = _contrastive_search(ctx, ids, attention_mask);
      break;
    case GenerationMode.SAMPLE:
    case GenerationMode.GREEDY_SEARCH:
      ids = expandRows(ids, config.num_return_sequences);
      attention_mask = expandRows(attention_mask, config.num_return_sequences);
      result = _sample(ctx, ids, attention_mask);
      break;
    case GenerationMode.BEAM_SEARCH:
    case GenerationMode.BEAM_SAMPLE:
    case GenerationMode.GROUP_BEAM_SEARCH:
    case GenerationMode.CONSTRAINED_BEAM_SEARCH: {
      const num_beams = config.num_beams;
      ids = expandRows(ids, num_beams);
      attention_mask = expandRows(attention_mask, num_beams);
      if (mode === GenerationMode.CONSTRAINED_BEAM_SEARCH) {
        const scorer = new ConstrainedBeamSearchScorer({
          batch_size,
          num_beams,
          constraints: buildConstraints(config),
          length_penalty: config.length_penalty,
          do_early_stopping: config.early_stopping,
          num_beam_hyps_to_keep: config.num_return_sequences,
          max_length: config.max_length,
        });
        result = _constrained_beam_search(ctx, ids, attention_mask, scorer);
      } else {
        const scorer = new BeamSearchScorer({
          batch_size,
          num_beams,
          length_penalty: config.length_penalty,
          do_early_stopping: config.early_stopping,
          num_beam_hyps_to_keep: config.num_return_sequences,
          num_beam_groups: config.num_beam_groups,
          max_length: config.max_length,
        });
        result =
          mode === GenerationMode.GROUP_BEAM_SEARCH
            ? _group_beam_search(ctx, ids, attention_mask, scorer)
            : _beam_search(ctx, ids, attention_mask, scorer);
      }
      break;
    }
  }
  if (streamer !== null) streamer.end();
  return config.return_dict_in_generate ? result : result.sequences;
}

/** HF generate's step 10: `force_words_ids` (a list of words, or of alternatives) -> constraints. */
function buildConstraints(config: GenerationConfig): Constraint[] {
  const final: Constraint[] = [...((config.constraints as Constraint[] | null) ?? [])];
  const fw = config.force_words_ids;
  if (fw !== null) {
    const typeerror = () =>
      new ValueError(
        `\`force_words_ids\` has to either be a \`List[List[List[int]]]\` or \`List[List[int]]\` of positive integers, but is ${JSON.stringify(fw)}.`,
      );
    if (!Array.isArray(fw) || fw.length === 0) throw typeerror();
    const isIds = (w: unknown) => Array.isArray(w) && w.length > 0 && w.every((t) => Number.isInteger(t) && t >= 0);
    for (const word_ids of fw as unknown[]) {
      if (!Array.isArray(word_ids) || word_ids.length === 0) throw typeerror();
      if (Array.isArray(word_ids[0])) {
        if (!word_ids.every(isIds)) throw typeerror();
        final.push(new DisjunctiveConstraint(word_ids as number[][]));
      } else {
        if (!isIds(word_ids)) throw typeerror();
        final.push(new PhrasalConstraint(word_ids as number[]));
      }
    }
  }
  return final;
}

// ---------------------------------------------------------------------------------------------------------------
// Step helpers

/** HF `_get_initial_cache_position` + the empty DynamicCache 4.44 creates before the loop. */
function initialModelKwargs(attention_mask: number[][], cur_len: number, use_cache: boolean): GenerationModelKwargs {
  return {
    attention_mask,
    use_cache,
    past_key_values: use_cache ? new DynamicCache() : undefined,
    cache_position: Array.from({ length: cur_len }, (_, i) => i),
  };
}

/**
 * HF `_update_model_kwargs_for_generation`: keep the returned cache, grow the mask by one column of ones, and
 * move cache_position past the `num_new_tokens` new ids (without a cache it lists every position).
 */
function updateModelKwargs(
  outputs: { past_key_values?: DynamicCache },
  mk: GenerationModelKwargs,
  num_new_tokens = 1,
): GenerationModelKwargs {
  const past = mk.use_cache ? (outputs.past_key_values ?? mk.past_key_values) : undefined;
  const last = mk.cache_position[mk.cache_position.length - 1];
  return {
    ...mk,
    past_key_values: past,
    attention_mask: mk.attention_mask?.map((r) => [...r, 1]),
    cache_position: mk.use_cache
      ? [last + num_new_tokens]
      : [...mk.cache_position, ...Array.from({ length: num_new_tokens }, (_, i) => last + 1 + i)],
  };
}

/** forward with HF's output checks; returns the logits as one flat float32 array [rows, q, V]. */
function runModel(
  model: GenerationModel,
  inputs: GenerationModelInputs,
  rows: number,
  vocab: number,
  output_hidden_states = false,
): { logits: Float32Array; q: number; past_key_values?: DynamicCache; hidden_states?: Tensor[] } {
  const outputs = model.forward(output_hidden_states ? { ...inputs, output_hidden_states } : inputs);
  const logits = outputs?.logits;
  if (
    !(logits instanceof Tensor) ||
    logits.shape.length !== 3 ||
    logits.shape[0] !== rows ||
    logits.shape[1] < 1 ||
    logits.shape[2] !== vocab
  ) {
    const got = logits instanceof Tensor ? `[${logits.shape.join(", ")}]` : String(logits);
    throw new ShapeError("logits", `model.forward must return logits [${rows}, q_len >= 1, ${vocab}], got ${got}`);
  }
  return {
    logits: logits.toFloat32(),
    q: logits.shape[1],
    past_key_values: outputs.past_key_values,
    hidden_states: outputs.hidden_states,
  };
}

/** `outputs.logits[:, -1 - offset, :]` as a [rows, V] float32 Tensor. */
function lastLogits(out: { logits: Float32Array; q: number }, rows: number, vocab: number, offset = 0): Tensor {
  const res = new Float32Array(rows * vocab);
  const t = out.q - 1 - offset;
  for (let b = 0; b < rows; b++)
    res.set(out.logits.subarray((b * out.q + t) * vocab, (b * out.q + t + 1) * vocab), b * vocab);
  return new Tensor("float32", res, [rows, vocab]);
}

function rowOf(t: Tensor, r: number, vocab: number): Float32Array {
  return (t.data as Float32Array).subarray(r * vocab, (r + 1) * vocab);
}

function selectRows(t: Tensor, rows: number[], vocab: number): Tensor {
  const out = new Float32Array(rows.length * vocab);
  rows.forEach((r, i) => out.set(rowOf(t, r, vocab), i * vocab));
  return new Tensor("float32", out, [rows.length, vocab]);
}

/** Choose the next id of each row: multinomial(softmax) at one uniform draw when sampling, else argmax. */
function chooseTokens(ctx: DecodingContext, scores: Tensor, rows: number): number[] {
  const next: number[] = [];
  for (let b = 0; b < rows; b++) {
    const row = rowOf(scores, b, ctx.vocab);
    next.push(ctx.rng !== null ? multinomial(softmax(row), ctx.rng.random()) : argmax(row));
  }
  return next;
}

/**
 * The end of a `_sample`-style step: finished rows get the pad id instead of their choice (only when an eos
 * criterion exists, HF's `has_eos_stopping_criteria`), the ids grow by one column, the streamer gets them, and
 * the stopping criteria update `unfinished`. Returns whether any row is still running.
 */
function appendAndCheck(
  ctx: DecodingContext,
  input_ids: number[][],
  next: number[],
  unfinished: boolean[],
  has_eos: boolean,
  scores: Tensor[] | null,
): boolean {
  for (let b = 0; b < input_ids.length; b++) {
    if (has_eos && !unfinished[b]) next[b] = ctx.pad_token_id as number;
    input_ids[b].push(next[b]);
  }
  ctx.streamer?.put(new Tensor("int64", next, [next.length]));
  const done = ctx.stopping_criteria.call(input_ids, scores);
  for (let b = 0; b < input_ids.length; b++) unfinished[b] = unfinished[b] && !done[b];
  return unfinished.some(Boolean);
}

function hasEosCriteria(c: StoppingCriteriaList): boolean {
  return c.some((x) => x instanceof EosTokenCriteria);
}

function prepare(model: GenerationModel, ids: number[][], mk: GenerationModelKwargs): GenerationModelInputs {
  if (typeof model.prepare_inputs_for_generation !== "function")
    throw new ValueError(
      "A model class needs to define a `prepare_inputs_for_generation` method in order to use `.generate()`.",
    );
  return model.prepare_inputs_for_generation(ids, mk);
}

function idsTensor(ids: number[][]): Tensor {
  return new Tensor("int64", ids.flat(), [ids.length, ids[0]?.length ?? 0]);
}

function decoderOnlyOutput(
  ids: number[][],
  scores: Tensor[] | null,
  raw_logits: Tensor[] | null,
  mk: GenerationModelKwargs,
): GenerateDecoderOnlyOutput {
  const out: GenerateDecoderOnlyOutput = { sequences: idsTensor(ids) };
  if (scores !== null) out.scores = scores;
  if (raw_logits !== null) out.logits = raw_logits;
  if (mk.past_key_values !== undefined) out.past_key_values = mk.past_key_values;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding methods

/** HF `GenerationMixin._sample`: greedy search (no warper) or multinomial sampling. */
function _sample(ctx: DecodingContext, input_ids: number[][], attention_mask: number[][]): GenerateDecoderOnlyOutput {
  const { model, config, vocab } = ctx;
  const want_scores = config.return_dict_in_generate && config.output_scores;
  const want_logits = config.return_dict_in_generate && config.output_logits === true;
  const scores: Tensor[] | null = want_scores ? [] : null;
  const raw_logits: Tensor[] | null = want_logits ? [] : null;
  const has_eos = hasEosCriteria(ctx.stopping_criteria);
  const batch = input_ids.length;
  const unfinished = new Array<boolean>(batch).fill(true);
  let mk = initialModelKwargs(attention_mask, input_ids[0].length, config.use_cache);
  for (;;) {
    const inputs = prepare(model, input_ids, mk);
    const outputs = runModel(model, { ...inputs, num_logits_to_keep: 1 }, batch, vocab);
    const next_token_logits = lastLogits(outputs, batch, vocab);
    let next_token_scores = ctx.logits_processor.call(input_ids, next_token_logits);
    if (ctx.logits_warper !== null) next_token_scores = ctx.logits_warper.call(input_ids, next_token_scores);
    scores?.push(next_token_scores);
    raw_logits?.push(next_token_logits);
    mk = updateModelKwargs(outputs, mk);
    if (!appendAndCheck(ctx, input_ids, chooseTokens(ctx, next_token_scores, batch), unfinished, has_eos, scores))
      break;
  }
  return decoderOnlyOutput(input_ids, scores, raw_logits, mk);
}

/** The beam-search step shared by `_beam_search` and `_constrained_beam_search`: log_softmax + processors. */
function beamStepScores(
  ctx: DecodingContext,
  input_ids: number[][],
  outputs: { logits: Float32Array; q: number },
  rows: number,
): { next_token_logits: Tensor; processed: Tensor } {
  const next_token_logits = lastLogits(outputs, rows, ctx.vocab);
  const logp = new Float32Array(rows * ctx.vocab);
  for (let r = 0; r < rows; r++) logp.set(logSoftmax(rowOf(next_token_logits, r, ctx.vocab)), r * ctx.vocab);
  let processed = ctx.logits_processor.call(input_ids, new Tensor("float32", logp, [rows, ctx.vocab]));
  // beam sampling: the warpers too (HF `_beam_search` with do_sample)
  if (ctx.logits_warper !== null) processed = ctx.logits_warper.call(input_ids, processed);
  return { next_token_logits, processed };
}

/**
 * Beam sampling's candidate draw (HF: probs = softmax over each row's num_beams * V running sums,
 * torch.multinomial(probs, k) without replacement, then sorted by score). torch draws without replacement by an
 * exponential race: the k largest p_i / E_i with E_i ~ Exp(1); here E_i = -log(1 - u_i) from the injected draws.
 */
function sampleCandidates(
  sums: Float32Array,
  batch: number,
  width: number,
  vocab: number,
  k: number,
  rng: UniformSource,
): { scores: number[][]; tokens: number[][]; indices: number[][] } {
  const scores: number[][] = [];
  const tokens: number[][] = [];
  const indices: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const row = sums.subarray(b * width * vocab, (b + 1) * width * vocab);
    const probs = softmax(row);
    const keys = new Float32Array(row.length);
    if (probs.filter((q) => q > 0).length < k)
      throw new ValueError(
        `beam sampling: fewer than ${k} ids have a non-zero probability (torch: invalid multinomial distribution, not enough non-negative category to sample)`,
      );
    for (let i = 0; i < row.length; i++) {
      const u = rng.random();
      if (!(u >= 0 && u < 1)) throw new ValueError(`beam sampling: the uniform draw must lie in [0, 1), got ${u}`);
      keys[i] = probs[i] > 0 ? probs[i] / -Math.log(1 - u) : -1;
    }
    const top = topkCandidates(keys, 1, width, vocab, k);
    const picked = top.indices[0]
      .map((beam, j) => beam * vocab + top.tokens[0][j])
      .sort((x, y) => row[y] - row[x] || x - y);
    scores.push(picked.map((i) => row[i]));
    tokens.push(picked.map((i) => i % vocab));
    indices.push(picked.map((i) => Math.floor(i / vocab)));
  }
  return { scores, tokens, indices };
}

/**
 * torch.topk over each batch row's [num_beams * vocab] running sums, sorted best first (ties: lower flat index
 * first). Returns scores, token ids and beam indices, [batch][k].
 */
function topkCandidates(
  sums: Float32Array,
  batch: number,
  width: number,
  vocab: number,
  k: number,
): { scores: number[][]; tokens: number[][]; indices: number[][] } {
  const scores: number[][] = [];
  const tokens: number[][] = [];
  const indices: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const row = sums.subarray(b * width * vocab, (b + 1) * width * vocab);
    // partial selection: keep the k best seen so far in a small sorted array
    const best: number[] = [];
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (best.length === k && !(v > row[best[k - 1]])) continue;
      let pos = best.length;
      while (pos > 0 && (v > row[best[pos - 1]] || (Number.isNaN(v) && !Number.isNaN(row[best[pos - 1]])))) pos--;
      best.splice(pos, 0, i);
      if (best.length > k) best.pop();
    }
    scores.push(best.map((i) => row[i]));
    tokens.push(best.map((i) => i % vocab));
    indices.push(best.map((i) => Math.floor(i / vocab)));
  }
  return { scores, tokens, indices };
}

function beamOutput(
  seq: BeamSearchOutput,
  config: GenerationConfig,
  scores: Tensor[] | null,
  raw_logits: Tensor[] | null,
  mk: GenerationModelKwargs,
): GenerateBeamDecoderOnlyOutput {
  const out: GenerateBeamDecoderOnlyOutput = { sequences: idsTensor(seq.sequences) };
  if (config.output_scores)
    out.sequences_scores = new Tensor("float32", Float32Array.from(seq.sequence_scores), [seq.sequence_scores.length]);
  if (scores !== null) out.scores = scores;
  if (raw_logits !== null) out.logits = raw_logits;
  if (seq.beam_indices !== null) out.beam_indices = idsTensor(seq.beam_indices);
  if (mk.past_key_values !== undefined) out.past_key_values = mk.past_key_values;
  return out;
}

/**
 * HF `GenerationMixin._beam_search`: every beam's log_softmax + processors is added to its running score; the
 * best 2 * num_beams (at least 1 + number of eos ids per beam) of each row's num_beams * V candidates go to
 * the scorer, which stores finished ones and picks the next beams; the cache follows the chosen beams.
 * Only the first beam of each row starts at score 0 (the others at -1e9), so the first step does not pick the
 * same token num_beams times.
 */
function _beam_search(
  ctx: DecodingContext,
  input_ids: number[][],
  attention_mask: number[][],
  beam_scorer: BeamSearchScorer,
): GenerateBeamDecoderOnlyOutput {
  return beamSearchLoop(ctx, input_ids, attention_mask, beam_scorer, (ids, cand, _sums, beam_indices, prompt_len) =>
    beam_scorer.process(
      ids,
      cand.scores,
      cand.tokens,
      cand.indices,
      ctx.pad_token_id,
      ctx.eos_token_id,
      beam_indices,
      0,
      prompt_len,
    ),
  );
}

/** What the beam loop needs from a scorer besides its `process` step. */
interface BeamLoopScorer {
  readonly num_beams: number;
  readonly _beam_hyps: unknown[];
  readonly is_done: boolean;
  finalize(
    input_ids: number[][],
    final_beam_scores: number[],
    max_length: number | null,
    pad_token_id: number | null,
    eos_token_id: number[] | null,
    beam_indices: number[][] | null,
    decoder_prompt_len: number,
  ): BeamSearchOutput;
}

/**
 * The loop `_beam_search` and `_constrained_beam_search` share in HF (they differ only in the scorer's
 * `process`): forward, log_softmax + processors, running sums, top 2 * num_beams candidates per row, process,
 * reorder ids and cache, stop when the scorer or every stopping criterion says so, finalize.
 */
function beamSearchLoop(
  ctx: DecodingContext,
  input_ids: number[][],
  attention_mask: number[][],
  scorer: BeamLoopScorer,
  process: (
    input_ids: number[][],
    cand: { scores: number[][]; tokens: number[][]; indices: number[][] },
    sums: Float32Array,
    beam_indices: number[][] | null,
    decoder_prompt_len: number,
  ) => BeamOutputs,
): GenerateBeamDecoderOnlyOutput {
  const { model, config, vocab } = ctx;
  const batch_size = scorer._beam_hyps.length;
  const num_beams = scorer.num_beams;
  const rows = input_ids.length;
  if (num_beams * batch_size !== rows)
    throw new ValueError(`Batch dimension of \`input_ids\` should be ${num_beams * batch_size}, but is ${rows}.`);
  const want_scores = config.return_dict_in_generate && config.output_scores;
  const scores: Tensor[] | null = want_scores ? [] : null;
  const raw_logits: Tensor[] | null = config.return_dict_in_generate && config.output_logits === true ? [] : null;
  let beam_indices: number[][] | null = want_scores ? Array.from({ length: rows }, () => []) : null;
  let beam_scores = new Float32Array(rows);
  for (let b = 0; b < batch_size; b++) for (let j = 1; j < num_beams; j++) beam_scores[b * num_beams + j] = -1e9;
  const decoder_prompt_len = input_ids[0].length;
  let mk = initialModelKwargs(attention_mask, decoder_prompt_len, config.use_cache);
  const n_eos = ctx.eos_token_id?.length ?? 0;
  const k = Math.max(2, 1 + n_eos) * num_beams;
  for (;;) {
    const inputs = prepare(model, input_ids, mk);
    const outputs = runModel(model, { ...inputs, num_logits_to_keep: 1 }, rows, vocab);
    const { next_token_logits, processed } = beamStepScores(ctx, input_ids, outputs, rows);
    const pd = processed.data as Float32Array;
    const sums = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++)
      for (let v = 0; v < vocab; v++) sums[r * vocab + v] = Math.fround(pd[r * vocab + v] + beam_scores[r]);
    scores?.push(processed);
    raw_logits?.push(next_token_logits);
    const cand =
      ctx.rng !== null
        ? sampleCandidates(sums, batch_size, num_beams, vocab, k, ctx.rng)
        : topkCandidates(sums, batch_size, num_beams, vocab, k);
    const beam_outputs = process(input_ids, cand, sums, beam_indices, decoder_prompt_len);
    beam_scores = Float32Array.from(beam_outputs.next_beam_scores);
    const beam_idx = beam_outputs.next_beam_indices;
    input_ids = beam_idx.map((i, r) => [...input_ids[i], beam_outputs.next_beam_tokens[r]]);
    mk = updateModelKwargs(outputs, mk);
    if (mk.past_key_values !== undefined) reorderCache(mk.past_key_values, beam_idx);
    if (beam_indices !== null) {
      const prev = beam_indices;
      beam_indices = beam_idx.map((i) => [...prev[i], i]);
    }
    if (scorer.is_done || ctx.stopping_criteria.call(input_ids, scores).every(Boolean)) break;
  }
  const seq = scorer.finalize(
    input_ids,
    Array.from(beam_scores),
    ctx.stopping_criteria.max_length,
    ctx.pad_token_id,
    ctx.eos_token_id,
    beam_indices,
    decoder_prompt_len,
  );
  return beamOutput(seq, config, scores, raw_logits, mk);
}

/**
 * HF `GenerationMixin._group_beam_search` (diverse beam search, Vijayakumar et al. 2016): the beams of each row
 * are split into num_beam_groups groups searched one after the other within a step; the Hamming diversity
 * processor lowers, in group g, the ids the earlier groups picked at this step. Each group's first beam starts
 * at 0, the others at -1e9.
 */
function _group_beam_search(
  ctx: DecodingContext,
  input_ids: number[][],
  attention_mask: number[][],
  beam_scorer: BeamSearchScorer,
): GenerateBeamDecoderOnlyOutput {
  const { model, config, vocab } = ctx;
  const num_beams = beam_scorer.num_beams;
  const num_beam_groups = beam_scorer.num_beam_groups;
  const num_sub_beams = Math.floor(num_beams / num_beam_groups);
  const batch_size = Math.floor(beam_scorer._beam_hyps.length / num_beam_groups);
  const rows = input_ids.length;
  if (num_beams * batch_size !== rows)
    throw new ValueError(`Batch dimension of \`input_ids\` should be ${num_beams * batch_size}, but is ${rows}.`);
  const want_scores = config.return_dict_in_generate && config.output_scores;
  const scores: Tensor[] | null = want_scores ? [] : null;
  const raw_logits: Tensor[] | null = config.return_dict_in_generate && config.output_logits === true ? [] : null;
  // HF keeps one tuple of per-row index histories per group
  const beam_indices: number[][][] | null = want_scores
    ? Array.from({ length: num_beam_groups }, () => Array.from({ length: num_sub_beams * batch_size }, () => []))
    : null;
  const beam_scores = new Float32Array(rows).fill(-1e9);
  for (let b = 0; b < batch_size; b++)
    for (let j = 0; j < num_beams; j += num_sub_beams) beam_scores[b * num_beams + j] = 0;
  const decoder_prompt_len = input_ids[0].length;
  let mk = initialModelKwargs(attention_mask, decoder_prompt_len, config.use_cache);
  const n_eos = ctx.eos_token_id?.length ?? 0;
  for (;;) {
    const current_tokens = new Array<number>(rows).fill(0);
    const reordering_indices = new Array<number>(rows).fill(0);
    const inputs = prepare(model, input_ids, mk);
    const outputs = runModel(model, { ...inputs, num_logits_to_keep: 1 }, rows, vocab);
    const all_logits = lastLogits(outputs, rows, vocab);
    const processed_score = want_scores ? new Float32Array(rows * vocab) : null;
    for (let g = 0; g < num_beam_groups; g++) {
      const group_start_idx = g * num_sub_beams;
      const group_end_idx = Math.min(group_start_idx + num_sub_beams, num_beams);
      const group_size = group_end_idx - group_start_idx;
      const batch_group_indices: number[] = [];
      for (let b = 0; b < batch_size; b++)
        for (let i = group_start_idx; i < group_end_idx; i++) batch_group_indices.push(b * num_beams + i);
      const group_input_ids = batch_group_indices.map((i) => input_ids[i]);
      const group_rows = batch_group_indices.length;
      const group_logits = selectRows(all_logits, batch_group_indices, vocab);
      const logp = new Float32Array(group_rows * vocab);
      for (let r = 0; r < group_rows; r++) logp.set(logSoftmax(rowOf(group_logits, r, vocab)), r * vocab);
      const processed = ctx.logits_processor.call(group_input_ids, new Tensor("float32", logp, [group_rows, vocab]), {
        current_tokens,
        beam_group_idx: g,
      });
      const pd = processed.data as Float32Array;
      const sums = new Float32Array(group_rows * vocab);
      for (let r = 0; r < group_rows; r++)
        for (let v = 0; v < vocab; v++)
          sums[r * vocab + v] = Math.fround(pd[r * vocab + v] + beam_scores[batch_group_indices[r]]);
      if (processed_score !== null)
        batch_group_indices.forEach((i, r) => processed_score.set(rowOf(processed, r, vocab), i * vocab));
      const cand = topkCandidates(sums, batch_size, group_size, vocab, Math.max(2, 1 + n_eos) * group_size);
      const process_beam_indices = beam_indices !== null ? beam_indices.flat() : null;
      const beam_outputs = beam_scorer.process(
        group_input_ids,
        cand.scores,
        cand.tokens,
        cand.indices,
        ctx.pad_token_id,
        ctx.eos_token_id,
        process_beam_indices,
        g,
        decoder_prompt_len,
      );
      batch_group_indices.forEach((i, r) => (beam_scores[i] = beam_outputs.next_beam_scores[r]));
      const beam_idx = beam_outputs.next_beam_indices;
      if (beam_indices !== null) {
        const prev = beam_indices[g];
        beam_indices[g] = beam_idx.map((i) => [...prev[i], i]);
      }
      const reordered = beam_idx.map((i) => [...group_input_ids[i]]);
      batch_group_indices.forEach((i, r) => {
        input_ids[i] = reordered[r];
        current_tokens[i] = beam_outputs.next_beam_tokens[r];
        reordering_indices[i] =
          num_beams * Math.floor(beam_idx[r] / group_size) + group_start_idx + (beam_idx[r] % group_size);
      });
    }
    if (scores !== null && processed_score !== null) scores.push(new Tensor("float32", processed_score, [rows, vocab]));
    raw_logits?.push(all_logits);
    input_ids = input_ids.map((r, i) => [...r, current_tokens[i]]);
    mk = updateModelKwargs(outputs, mk);
    if (mk.past_key_values !== undefined) reorderCache(mk.past_key_values, reordering_indices);
    if (beam_scorer.is_done || ctx.stopping_criteria.call(input_ids, scores).every(Boolean)) break;
  }
  const seq = beam_scorer.finalize(
    input_ids,
    Array.from(beam_scores),
    ctx.stopping_criteria.max_length,
    ctx.pad_token_id,
    ctx.eos_token_id,
    beam_indices !== null ? beam_indices.flat() : null,
    decoder_prompt_len,
  );
  return beamOutput(seq, config, scores, raw_logits, mk);
}

/** HF `GenerationMixin._constrained_beam_search`: beam search whose scorer forces the constraints' ids in. */
function _constrained_beam_search(
  ctx: DecodingContext,
  input_ids: number[][],
  attention_mask: number[][],
  scorer: ConstrainedBeamSearchScorer,
): GenerateBeamDecoderOnlyOutput {
  return beamSearchLoop(ctx, input_ids, attention_mask, scorer, (ids, cand, sums, beam_indices, prompt_len) =>
    scorer.process(
      ids,
      cand.scores,
      cand.tokens,
      cand.indices,
      sums,
      ctx.vocab,
      ctx.pad_token_id,
      ctx.eos_token_id,
      beam_indices,
      prompt_len,
    ),
  );
}

/**
 * HF v4.44 `_ranking_fast`: for each of the top_k candidates, the degeneration penalty is its hidden state's
 * largest cosine similarity with the context's hidden states; the contrastive score is
 * (1 - alpha) * p(candidate) - alpha * penalty; returns the best candidate per batch row.
 * HF 4.44 quirk kept: left-padding positions take part in the max (later versions mask them out).
 */
function rankingFast(
  context_hidden: Float32Array[][],
  next_hidden: Float32Array[],
  next_top_k_probs: number[],
  alpha: number,
  beam_width: number,
): number[] {
  const norm = (v: Float32Array) => {
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i] * v[i];
    return Math.fround(Math.sqrt(s));
  };
  const contrastive: number[] = next_hidden.map((nh, r) => {
    const nn = norm(nh);
    let best = -Infinity;
    for (const ch of context_hidden[r]) {
      const cn = norm(ch);
      let dot = 0;
      for (let i = 0; i < ch.length; i++) dot += Math.fround(ch[i] / cn) * Math.fround(nh[i] / nn);
      if (Math.fround(dot) > best) best = Math.fround(dot);
    }
    return Math.fround(Math.fround((1.0 - alpha) * next_top_k_probs[r]) - Math.fround(alpha * best));
  });
  const out: number[] = [];
  for (let b = 0; b < contrastive.length / beam_width; b++)
    out.push(argmax(contrastive.slice(b * beam_width, (b + 1) * beam_width)));
  return out;
}

/** Row `t` of a hidden-state tensor [B, T, H] at position `pos`. */
function hiddenAt(h: Tensor, b: number, pos: number): Float32Array {
  const [, T, H] = h.shape;
  return h.toFloat32().slice((b * T + pos) * H, (b * T + pos + 1) * H);
}

/**
 * HF `GenerationMixin._contrastive_search` (Su et al. 2022): at each step take the top_k ids of the processed
 * distribution, run the model on each of them (the cache replicated top_k times; with `low_memory` one
 * candidate at a time), and keep the candidate maximising (1 - alpha) * p - alpha * max cosine(h_candidate,
 * h_context). The chosen candidate's logits and cache are the next step's.
 */
function _contrastive_search(
  ctx: DecodingContext,
  input_ids: number[][],
  attention_mask: number[][],
): GenerateDecoderOnlyOutput {
  const { model, config, vocab } = ctx;
  const top_k = config.top_k as number;
  const penalty_alpha = config.penalty_alpha as number;
  const low_memory = config.low_memory === true;
  const want_scores = config.return_dict_in_generate && config.output_scores;
  const scores: Tensor[] | null = want_scores ? [] : null;
  const raw_logits: Tensor[] | null = config.return_dict_in_generate && config.output_logits === true ? [] : null;
  const has_eos = hasEosCriteria(ctx.stopping_criteria);
  const batch = input_ids.length;
  const unfinished = new Array<boolean>(batch).fill(true);
  let mk = initialModelKwargs(attention_mask, input_ids[0].length, true);
  // first step: encode the prompt, keep its last-layer hidden states
  const first = runModel(model, prepare(model, input_ids, mk), batch, vocab, true);
  if (!first.hidden_states)
    throw new ValueError("contrastive search needs the model's hidden states (output_hidden_states)");
  const lastLayer = first.hidden_states[first.hidden_states.length - 1];
  let last_hidden_states: Float32Array[][] = input_ids.map((r, b) => r.map((_, t) => hiddenAt(lastLayer, b, t)));
  let logit_for_next_step = lastLogits(first, batch, vocab);
  mk = updateModelKwargs(first, mk);
  for (;;) {
    const processed = ctx.logits_processor.call(input_ids, logit_for_next_step);
    scores?.push(processed);
    raw_logits?.push(logit_for_next_step);
    // top_k candidates of softmax(processed): HF's torch.topk, ties by lower id
    const top_k_ids: number[][] = [];
    const top_k_probs: number[][] = [];
    for (let b = 0; b < batch; b++) {
      const probs = softmax(rowOf(processed, b, vocab));
      const order = Array.from({ length: vocab }, (_, i) => i)
        .sort((x, y) => probs[y] - probs[x] || x - y)
        .slice(0, top_k);
      top_k_ids.push(order);
      top_k_probs.push(order.map((i) => probs[i]));
    }
    // candidate forward: each row's cache repeated top_k times (HF `_expand_dict_for_generation` / repeat_interleave)
    const past = mk.past_key_values as DynamicCache;
    const expanded_ids = input_ids.flatMap((r) => Array.from({ length: top_k }, () => r));
    const expanded_mask = expandRows(mk.attention_mask as number[][], top_k);
    const cand_rows = batch * top_k;
    const cand_ids = top_k_ids.flat().map((id, i) => [...expanded_ids[i], id]);
    const cand_kwargs: GenerationModelKwargs = {
      ...mk,
      attention_mask: expanded_mask,
      past_key_values: undefined,
    };
    const runCandidates = (rowsIdx: number[]) => {
      const cache = cloneCache(past);
      reorderCache(
        cache,
        rowsIdx.map((r) => Math.floor(r / top_k)),
      );
      const kw = { ...cand_kwargs, past_key_values: cache, attention_mask: rowsIdx.map((r) => expanded_mask[r]) };
      const inputs = prepare(
        model,
        rowsIdx.map((r) => cand_ids[r]),
        kw,
      );
      const out = runModel(model, inputs, rowsIdx.length, vocab, true);
      return { out, cache: out.past_key_values ?? cache };
    };
    let cand_logits: Float32Array[];
    let cand_hidden: Float32Array[];
    let cand_caches: { cache: DynamicCache; row: number }[];
    const allRows = Array.from({ length: cand_rows }, (_, i) => i);
    if (low_memory) {
      // HF `_split_model_inputs`: one sub-batch per candidate rank, each over the whole batch
      cand_logits = new Array(cand_rows);
      cand_hidden = new Array(cand_rows);
      cand_caches = new Array(cand_rows);
      for (let j = 0; j < top_k; j++) {
        const idx = Array.from({ length: batch }, (_, b) => b * top_k + j);
        const { out, cache } = runCandidates(idx);
        const hs = out.hidden_states as Tensor[];
        const last = hs[hs.length - 1];
        idx.forEach((r, i) => {
          cand_logits[r] = rowOf(lastLogits(out, idx.length, vocab), i, vocab).slice();
          cand_hidden[r] = hiddenAt(last, i, last.shape[1] - 1);
          cand_caches[r] = { cache, row: i };
        });
      }
    } else {
      const { out, cache } = runCandidates(allRows);
      const hs = out.hidden_states as Tensor[];
      const last = hs[hs.length - 1];
      const ll = lastLogits(out, cand_rows, vocab);
      cand_logits = allRows.map((r) => rowOf(ll, r, vocab).slice());
      cand_hidden = allRows.map((r) => hiddenAt(last, r, last.shape[1] - 1));
      cand_caches = allRows.map((r) => ({ cache, row: r }));
    }
    const context = allRows.map((r) => last_hidden_states[Math.floor(r / top_k)]);
    const selected_idx = rankingFast(context, cand_hidden, top_k_probs.flat(), penalty_alpha, top_k);
    const next = selected_idx.map((j, b) => top_k_ids[b][j]);
    const chosen = selected_idx.map((j, b) => b * top_k + j);
    // the chosen candidates' cache, hidden state and logits carry on
    const new_cache = new DynamicCache();
    const parts = chosen.map((r) => cand_caches[r]);
    for (let layer = 0; layer < parts[0].cache.key_cache.length; layer++) {
      // row p.row of each chosen candidate's cache, stacked along the batch (any activation dtype)
      const gather = (which: "key_cache" | "value_cache") =>
        cat(
          parts.map((p) => narrow(p.cache[which][layer], 0, p.row, 1)),
          0,
        );
      new_cache.key_cache.push(gather("key_cache"));
      new_cache.value_cache.push(gather("value_cache"));
    }
    last_hidden_states = last_hidden_states.map((h, b) => [...h, cand_hidden[chosen[b]]]);
    const nl = new Float32Array(batch * vocab);
    chosen.forEach((r, b) => nl.set(cand_logits[r], b * vocab));
    logit_for_next_step = new Tensor("float32", nl, [batch, vocab]);
    mk = updateModelKwargs({ past_key_values: new_cache }, mk);
    if (!appendAndCheck(ctx, input_ids, next, unfinished, has_eos, scores)) break;
  }
  return decoderOnlyOutput(input_ids, scores, raw_logits, mk);
}

/**
 * HF `_relative_top_filter` (DoLa): on log_softmax of both, tokens whose final-layer log-prob is below
 * max + log(0.1) (or the min_tokens_to_keep-th best) get -inf in the final scores and -1e-3 in the base.
 */
function relativeTopFilter(scores: Float32Array, baseline: Float32Array): [Float32Array, Float32Array] {
  const s = logSoftmax(scores);
  const bs = logSoftmax(baseline);
  let max = -Infinity;
  for (const v of s) if (v > max) max = v;
  const min_thresh = max; // sorted_logits[..., min_tokens_to_keep - 1] with min_tokens_to_keep = 1
  const probs_thresh = Math.min(min_thresh, Math.fround(max + Math.log(0.1)));
  for (let i = 0; i < s.length; i++) {
    if (s[i] < probs_thresh) {
      bs[i] = Math.fround(-1e-3);
      s[i] = -Infinity;
    }
  }
  return [s, bs];
}

/**
 * HF `_dola_select_contrast`: with one candidate layer, contrast with it; with several, pick the layer whose
 * distribution is farthest (Jensen-Shannon divergence, averaged over the batch) from the final one. Returns
 * final_log_probs - base_log_probs after the relative-top filter, per row.
 */
function dolaSelectContrast(
  layers: number[],
  premature: Map<number, Tensor>,
  final_logits: Tensor,
  vocab: number,
): Tensor {
  const rows = final_logits.shape[0];
  let layer = layers[0];
  if (layers.length > 1) {
    const js = layers.map((l) => {
      let total = 0;
      for (let b = 0; b < rows; b++) {
        const fm = rowOf(final_logits, b, vocab);
        const pm = rowOf(premature.get(l) as Tensor, b, vocab);
        const sm = softmax(fm);
        const sp = softmax(pm);
        const lm = logSoftmax(fm);
        const lp = logSoftmax(pm);
        let kl1 = 0;
        let kl2 = 0;
        for (let i = 0; i < vocab; i++) {
          const avg = Math.fround(0.5 * Math.fround(sm[i] + sp[i]));
          if (avg > 0) {
            const la = Math.log(avg);
            kl1 += avg * (la - lm[i]);
            kl2 += avg * (la - lp[i]);
          }
        }
        total += 0.5 * (kl1 / vocab + kl2 / vocab);
      }
      return total / rows;
    });
    layer = layers[argmax(js)];
  }
  const out = new Float32Array(rows * vocab);
  for (let b = 0; b < rows; b++) {
    const [fs, bs] = relativeTopFilter(rowOf(final_logits, b, vocab), rowOf(premature.get(layer) as Tensor, b, vocab));
    for (let i = 0; i < vocab; i++) out[b * vocab + i] = Math.fround(fs[i] - bs[i]);
  }
  return new Tensor("float32", out, [rows, vocab]);
}

/**
 * HF `GenerationMixin._dola_decoding` (Chuang et al. 2023): the next-token logits are the final layer's log-probs
 * minus those of an early ("premature") layer read through lm_head (no final norm, as HF), after the
 * relative-top filter; then processors, warpers and selection as in `_sample`. `dola_layers`: "low" / "high"
 * halves of the layers (every second one, the embeddings skipped when lm_head is tied), or explicit indices
 * into the hidden states (0 = embeddings).
 */
function _dola_decoding(
  ctx: DecodingContext,
  input_ids: number[][],
  attention_mask: number[][],
  dola_layers: "low" | "high" | number[],
): GenerateDecoderOnlyOutput {
  const { model, config, vocab } = ctx;
  const final_layer = model.config.num_hidden_layers;
  if (!Number.isInteger(final_layer)) throw new ValueError("DoLa needs config.num_hidden_layers");
  const L = final_layer as number;
  const start_layer = !model.config.tie_word_embeddings ? 0 : L > 2 ? 2 : L === 2 ? 1 : 0;
  const range = (a: number, b: number, s: number) => {
    const r: number[] = [];
    for (let i = a; i < b; i += s) r.push(i);
    return r;
  };
  let candidate_premature_layers: number[];
  if (dola_layers === "low")
    candidate_premature_layers =
      start_layer === Math.floor(L / 2)
        ? [start_layer]
        : L <= 40
          ? range(start_layer, Math.floor(L / 2), 2)
          : range(start_layer, 20, 2);
  else if (dola_layers === "high")
    candidate_premature_layers = L <= 40 ? range(Math.floor(L / 2), L, 2) : range(L - 20, L, 2);
  else if (Array.isArray(dola_layers)) {
    // HF indexes a Python tuple, where -1 would mean the last layer; refuse negative indices instead
    if (dola_layers.some((i) => i < 0))
      throw new ValueError(`dola_layers: layer indices must be >= 0, got ${JSON.stringify(dola_layers)}`);
    candidate_premature_layers = dola_layers.filter((i) => i < L);
  } else throw new ValueError("dola_layers must be either 'low', 'high' or a list of integers.");
  const lm_head = model.get_output_embeddings?.() ?? null;
  if (lm_head === null) throw new ValueError("DoLa is not supported for models that don't have output embeddings.");

  const want_scores = config.return_dict_in_generate && config.output_scores;
  const scores: Tensor[] | null = want_scores ? [] : null;
  const raw_logits: Tensor[] | null = config.return_dict_in_generate && config.output_logits === true ? [] : null;
  const has_eos = hasEosCriteria(ctx.stopping_criteria);
  const batch = input_ids.length;
  const unfinished = new Array<boolean>(batch).fill(true);
  let mk = initialModelKwargs(attention_mask, input_ids[0].length, config.use_cache);
  for (;;) {
    const outputs = runModel(model, prepare(model, input_ids, mk), batch, vocab, true);
    const hs = outputs.hidden_states;
    if (!hs) throw new ValueError("DoLa needs the model's hidden states (output_hidden_states)");
    const final_logits = lastLogits(outputs, batch, vocab);
    const premature = new Map<number, Tensor>();
    for (const l of candidate_premature_layers) {
      const h = hs[l];
      const [B, T, H] = h.shape;
      const last = new Float32Array(B * H);
      const hd = h.toFloat32();
      for (let b = 0; b < B; b++) last.set(hd.subarray((b * T + T - 1) * H, (b * T + T) * H), b * H);
      const lg = lm_head.forward(new Tensor("float32", last, [B, 1, H]));
      premature.set(l, new Tensor("float32", lg.toFloat32(), [B, vocab]));
    }
    const next_token_logits = dolaSelectContrast(candidate_premature_layers, premature, final_logits, vocab);
    let next_token_scores = ctx.logits_processor.call(input_ids, next_token_logits);
    if (ctx.logits_warper !== null) next_token_scores = ctx.logits_warper.call(input_ids, next_token_scores);
    scores?.push(next_token_scores);
    raw_logits?.push(final_logits);
    mk = updateModelKwargs(outputs, mk);
    if (!appendAndCheck(ctx, input_ids, chooseTokens(ctx, next_token_scores, batch), unfinished, has_eos, scores))
      break;
  }
  return decoderOnlyOutput(input_ids, scores, raw_logits, mk);
}

/**
 * HF `GenerationMixin._assisted_decoding` (batch 1): a candidate generator proposes ids, the model scores all of
 * them in one forward pass, and the candidates are kept up to the first one the model would not have chosen,
 * plus the model's own next id. Greedy ids are therefore those of plain greedy search; the cache is cropped
 * back to the accepted length.
 */
function _assisted_decoding(
  ctx: DecodingContext,
  input_ids: number[][],
  attention_mask: number[][],
  candidate_generator: CandidateGenerator,
): GenerateDecoderOnlyOutput {
  const { model, config, vocab } = ctx;
  const want_scores = config.return_dict_in_generate && config.output_scores;
  const scores: Tensor[] | null = want_scores ? [] : null;
  const raw_logits: Tensor[] | null = config.return_dict_in_generate && config.output_logits === true ? [] : null;
  let mk = initialModelKwargs(attention_mask, input_ids[0].length, true);
  let ids = input_ids[0];
  for (;;) {
    const cur_len = ids.length;
    const candidate_input_ids = candidate_generator.get_candidates([ids])[0];
    const candidate_length = candidate_input_ids.length - cur_len;
    const is_done_candidate = ctx.stopping_criteria.call([candidate_input_ids], null)[0];
    // the candidates' mask and cache positions (HF `_prepare_attention_mask`, cache_position extended)
    const mask = (mk.attention_mask as number[][])[0];
    const cand_mask = [
      mask.length >= candidate_input_ids.length
        ? mask.slice(0, candidate_input_ids.length)
        : [...mask, ...new Array(candidate_input_ids.length - mask.length).fill(1)],
    ];
    const cand_kwargs: GenerationModelKwargs = {
      ...mk,
      attention_mask: cand_mask,
      cache_position: [...mk.cache_position, ...Array.from({ length: candidate_length }, (_, i) => cur_len + i)],
    };
    const inputs = prepare(model, [candidate_input_ids], cand_kwargs);
    const outputs = runModel(model, { ...inputs, num_logits_to_keep: candidate_length + 1 }, 1, vocab);
    const new_logits: Tensor[] = [];
    const next_token_logits: Tensor[] = [];
    for (let i = 0; i <= candidate_length; i++) {
      const raw = lastLogits(outputs, 1, vocab, candidate_length - i);
      next_token_logits.push(raw);
      let s = ctx.logits_processor.call([candidate_input_ids.slice(0, cur_len + i)], raw);
      if (ctx.logits_warper !== null) s = ctx.logits_warper.call([candidate_input_ids.slice(0, cur_len + i)], s);
      new_logits.push(s);
    }
    const selected = new_logits.map((s) => chooseTokens(ctx, s, 1)[0]);
    let n_matches = 0;
    while (n_matches < candidate_length && candidate_input_ids[cur_len + n_matches] === selected[n_matches])
      n_matches++;
    if (is_done_candidate && n_matches === candidate_length) n_matches -= 1;
    const valid_tokens = selected.slice(0, n_matches + 1);
    ids = [...ids, ...valid_tokens];
    ctx.streamer?.put(new Tensor("int64", valid_tokens, [1, valid_tokens.length]));
    const past = outputs.past_key_values ?? mk.past_key_values;
    if (past !== undefined) cropCache(past, ids.length - 1);
    candidate_generator.update_candidate_strategy([ids], new_logits, n_matches);
    for (let i = 0; i <= n_matches; i++) {
      scores?.push(new_logits[i]);
      raw_logits?.push(next_token_logits[i]);
    }
    mk = updateModelKwargs({ past_key_values: past }, mk, n_matches + 1);
    if (ctx.stopping_criteria.call([ids], scores)[0]) break;
  }
  return decoderOnlyOutput([ids], scores, raw_logits, mk);
}
