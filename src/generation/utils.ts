/**
 * generate: autoregressive decoding for a causal LM, greedy or multinomial sampling, one beam.
 *
 * Mirrors HF transformers v4.44 `generation/utils.py` `GenerationMixin.generate` -> `GenerationMixin._sample`
 * (with `LlamaForCausalLM.prepare_inputs_for_generation` from `models/llama/modeling_llama.py`):
 *
 *   ids [B, T] --prefill--> logits [B, q, V] -> scores = logits[:, -1] [B, V] -> processors (-> warpers)
 *       -> next [B] (argmax, or multinomial(softmax)) -> ids [B, T+1] -> feed only `next` with the cache -> ...
 *
 * At every step the model receives (HF `prepare_inputs_for_generation`):
 *   input_ids       the tokens not yet in the cache: `input_ids[:, cache_position]` ([B, T] at prefill, then [B, 1])
 *   attention_mask  the whole 2-D mask [B, cur_len]; it grows by a column of ones per step
 *   position_ids    `cumsum(mask) - 1`, set to 1 where mask == 0, last q_len columns (left padding starts at 0)
 *   cache_position  arange(past, past + q_len)
 *   past_key_values the DynamicCache the previous step returned (a fresh one at prefill), use_cache
 *   num_logits_to_keep 1 (v4.45 passes it so only the last position goes through lm_head)
 * With use_cache=false every step feeds the whole sequence and no cache, cache_position = arange(0, cur_len).
 *
 * Stopping (HF `stopping_criteria.py`): a row is finished once its last token is an eos id (EosTokenCriteria) or
 * the length reaches max_length (MaxLengthCriteria); a finished row keeps receiving `pad_token_id`
 * (`next * unfinished + pad * (1 - unfinished)`), and the loop ends when every row is finished.
 * Returns int64 [B, T + steps] (HF's LongTensor); steps <= max_length - T.
 *
 * Streaming (HF `streamer`): `streamer.put(prompt ids [B, T])` before the loop, `streamer.put(next ids [B])` after
 * every step, `streamer.end()` at the end (see generation/streamers.ts; TextStreamer takes batch 1 only).
 *
 * Left out of HF's generate: beam search and the other strategies, assistant models, stop strings,
 * max_time, return_dict_in_generate / output_scores, inputs_embeds, static caches, and the warnings HF logs
 * (noted in comments where they would fire).
 */
import { DynamicCache } from "../cache_utils.ts";
import { ShapeError, ValueError } from "../errors.ts";
import { Tensor, toIntRows, type IntInput } from "../tensor/tensor.ts";
import { warning_once } from "../utils/logging.ts";
import { Random } from "../utils/random.ts";
import { checkOptions, describeValue, hardPositionLimit } from "../utils/validate.ts";
import { GenerationConfig, type GenerationConfigFields } from "./configuration_utils.ts";
import {
  LogitsProcessorList,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  MinPLogitsWarper,
  RepetitionPenaltyLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
} from "./logits_process.ts";
import { argmax, multinomial, softmax } from "./sampling.ts";
import type { BaseStreamer } from "./streamers.ts";

/** What `generate` needs from a model: its special tokens and vocabulary size, and one forward step. */
export interface GenerationModel {
  config: {
    bos_token_id?: number | null;
    eos_token_id?: number | number[] | null;
    pad_token_id?: number | null;
    vocab_size: number;
    /** Read like HF's `GenerationConfig.from_model_config` does (LlamaConfig has it, default true). */
    use_cache?: boolean;
    /** The position limit generation is capped at (see `ignore_position_limit`); unset: no cap. */
    max_position_embeddings?: number;
  };
  /** One forward step. ids/mask/positions as rows of numbers. Returns logits float32 [batch, q_len_kept, vocab]. */
  forward(args: {
    input_ids: number[][];
    attention_mask?: number[][];
    position_ids?: number[][];
    past_key_values?: DynamicCache;
    use_cache?: boolean;
    cache_position?: number[];
    num_logits_to_keep?: number;
  }): { logits: Tensor; past_key_values?: DynamicCache };
}

export interface GenerateOptions {
  attention_mask?: IntInput;
  max_new_tokens?: number;
  max_length?: number;
  min_new_tokens?: number;
  min_length?: number;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  repetition_penalty?: number;
  eos_token_id?: number | number[];
  pad_token_id?: number;
  bos_token_id?: number;
  /** Seed of the `Random` that draws one uniform per row and step when sampling (default 0). Not an HF option:
   * HF samples from torch's global generator (`set_seed`). */
  seed?: number;
  use_cache?: boolean;
  generation_config?: GenerationConfig | Partial<GenerationConfigFields>;
  /** Receives the prompt, then each step's new ids, then `end()` (HF `streamer`, e.g. a TextStreamer). */
  streamer?: BaseStreamer | null;
}

/**
 * HF `_get_logits_processor`, restricted to the processors llama-ts implements, in HF's order:
 * repetition penalty, then min_length, then min_new_tokens (the length ones only when an eos id exists).
 * `config` must already hold the resolved eos ids and `min_length` (see {@link generate}).
 */
export function getLogitsProcessor(
  config: GenerationConfig,
  input_ids_seq_length: number,
  eos_token_id: number[] | null,
): LogitsProcessorList {
  const processors = new LogitsProcessorList();
  if (config.repetition_penalty !== null && config.repetition_penalty !== 1.0) {
    processors.append(new RepetitionPenaltyLogitsProcessor(config.repetition_penalty));
  }
  if (eos_token_id !== null && config.min_length > 0) {
    processors.append(new MinLengthLogitsProcessor(config.min_length, eos_token_id));
  }
  if (config.min_new_tokens !== null && eos_token_id !== null && config.min_new_tokens > 0) {
    processors.append(new MinNewTokensLengthLogitsProcessor(input_ids_seq_length, config.min_new_tokens, eos_token_id));
  }
  return processors;
}

/**
 * HF v4.44 `_get_logits_warper` (used only when do_sample), in HF's order: temperature, top_k, top_p, min_p, each
 * only when it changes something (temperature != 1, top_k != 0, top_p < 1, min_p set). Note the default
 * top_k = 50 is active whenever sampling. min_tokens_to_keep = 1 (it is larger only for beam search).
 */
export function getLogitsWarper(config: GenerationConfig): LogitsProcessorList {
  const warpers = new LogitsProcessorList();
  const min_tokens_to_keep = 1;
  if (config.temperature !== null && config.temperature !== 1.0)
    warpers.append(new TemperatureLogitsWarper(config.temperature));
  if (config.top_k !== null && config.top_k !== 0)
    warpers.append(new TopKLogitsWarper(config.top_k, -Infinity, min_tokens_to_keep));
  if (config.top_p !== null && config.top_p < 1.0)
    warpers.append(new TopPLogitsWarper(config.top_p, -Infinity, min_tokens_to_keep));
  if (config.min_p !== null) warpers.append(new MinPLogitsWarper(config.min_p, -Infinity, min_tokens_to_keep));
  return warpers;
}

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

/** HF `prepare_inputs_for_generation`: position_ids = cumsum(mask) - 1, with 1 wherever mask == 0. Full length. */
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
function readInputIds(input_ids: IntInput, vocab_size: number): number[][] {
  if (input_ids instanceof Tensor && input_ids.dtype !== "int32" && input_ids.dtype !== "int64") {
    throw new ShapeError("input_ids", `expected an int32 or int64 Tensor, got ${input_ids.dtype}`);
  }
  const rows = toIntRows(input_ids, "input_ids");
  if (rows.length === 0 || rows[0].length === 0) {
    throw new ShapeError(
      "input_ids",
      `expected a non-empty prompt [batch >= 1, seq >= 1], got [${rows.length}, ${rows[0]?.length ?? 0}]`,
    );
  }
  rows.forEach((row, b) =>
    row.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab_size) {
        throw new ShapeError("input_ids", `id ${id} at [${b}, ${t}] is outside the vocabulary [0, ${vocab_size})`);
      }
    }),
  );
  return rows.map((r) => [...r]);
}

function readAttentionMask(attention_mask: IntInput, batch: number, seq: number): number[][] {
  if (attention_mask instanceof Tensor && attention_mask.dtype.startsWith("float")) {
    throw new ShapeError("attention_mask", `expected an int or bool Tensor, got ${attention_mask.dtype}`);
  }
  const rows = toIntRows(attention_mask, "attention_mask");
  if (rows.length !== batch || rows.some((r) => r.length !== seq)) {
    throw new ShapeError(
      "attention_mask",
      `expected shape [${batch}, ${seq}] like input_ids, got [${rows.length}, ${rows[0]?.length ?? 0}]`,
    );
  }
  for (const row of rows) {
    for (const m of row) {
      // HF does not check; any other value would make cumsum positions and the 4-D mask meaningless.
      if (m !== 0 && m !== 1) throw new ShapeError("attention_mask", `expected 0 or 1, got ${m}`);
    }
  }
  return rows.map((r) => [...r]);
}

/** The keys of GenerateOptions that are not GenerationConfig fields. */
const NON_CONFIG_OPTIONS = new Set(["attention_mask", "seed", "generation_config", "streamer"]);

/**
 * HF `GenerationMixin.generate` for decoder-only models, num_beams = 1: greedy search (do_sample=false) or
 * multinomial sampling (do_sample=true), returning the prompt followed by the generated ids, int64 [batch, len].
 */
export function generate(model: GenerationModel, input_ids: IntInput, opts: GenerateOptions = {}): Tensor {
  opts = checkOptions(opts, "generate: options");
  // 1. The generation config (HF `_prepare_generation_config`): the caller's config, or the model's defaults,
  // deep-copied, then updated with the option keys; keys that are neither options nor config fields are refused
  // as HF's `_validate_model_kwargs` refuses them.
  const kwargs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) if (!NON_CONFIG_OPTIONS.has(k)) kwargs[k] = v;
  const given = opts.generation_config;
  const config =
    given === undefined
      ? GenerationConfig.from_model_config(model.config)
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
    // HF: with an explicit generation_config, unset special tokens fall back to the model's. Without one, the
    // model's config is the base, so an explicit `eos_token_id: null` option really disables eos (HF quirk kept).
    if (config.bos_token_id === null) config.bos_token_id = model.config.bos_token_id ?? null;
    if (config.eos_token_id === null) config.eos_token_id = model.config.eos_token_id ?? null;
    if (config.pad_token_id === null) config.pad_token_id = model.config.pad_token_id ?? null;
    config.validate();
  }
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ValueError(`\`seed\` must be an integer, got ${seed}`);

  const vocab_size = model.config.vocab_size;
  if (!Number.isInteger(vocab_size) || vocab_size <= 0) {
    throw new ValueError(`model.config.vocab_size must be a positive integer, got ${vocab_size}`);
  }
  const ids = readInputIds(input_ids, vocab_size);
  const batch = ids.length;
  const input_ids_length = ids[0].length;

  // 2. Special tokens (HF `_prepare_special_tokens`): eos is always a list; a missing pad becomes the first eos
  // (HF warns "Setting `pad_token_id` to `eos_token_id`... for open-end generation").
  const eos: number[] | null =
    config.eos_token_id === null
      ? null
      : Array.isArray(config.eos_token_id)
        ? [...config.eos_token_id]
        : [config.eos_token_id];
  const pad: number | null = config.pad_token_id ?? (eos !== null ? eos[0] : null);
  // HF warns here when batch > 1 and some row ends with the pad id (right padding with a decoder-only model).

  // 3. The attention mask: given, or inferred from the pad id.
  const attention_mask =
    opts.attention_mask !== undefined
      ? readAttentionMask(opts.attention_mask, batch, input_ids_length)
      : prepareAttentionMaskForGeneration(ids, pad, eos);

  const streamer = opts.streamer ?? null;
  if (
    streamer !== null &&
    (typeof streamer !== "object" || typeof streamer.put !== "function" || typeof streamer.end !== "function")
  )
    throw new ValueError(
      `streamer: expected an object with put(ids) and end() methods, got ${describeValue(streamer)}`,
    );
  if (streamer !== null) streamer.put(new Tensor("int64", ids.flat(), [batch, input_ids_length]));

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

  // 5. Processors and, when sampling, warpers (their constructors check temperature/top_k/top_p/min_p).
  const logits_processor = getLogitsProcessor(config, input_ids_length, eos);
  const logits_warper = config.do_sample ? getLogitsWarper(config) : null;

  return sample(model, ids, attention_mask, {
    logits_processor,
    logits_warper,
    max_length: config.max_length,
    eos_token_id: eos,
    pad_token_id: pad,
    use_cache: config.use_cache,
    rng: config.do_sample ? new Random(seed) : null,
    streamer,
  });
}

interface SampleSettings {
  logits_processor: LogitsProcessorList;
  logits_warper: LogitsProcessorList | null;
  max_length: number;
  eos_token_id: number[] | null;
  pad_token_id: number | null;
  use_cache: boolean;
  /** Present iff sampling: one uniform draw per row per step, finished rows included, so runs replay exactly. */
  rng: Random | null;
  streamer: BaseStreamer | null;
}

/** HF `GenerationMixin._sample` (greedy when there is no warper): the decoding loop. */
function sample(model: GenerationModel, input_ids: number[][], attention_mask: number[][], s: SampleSettings): Tensor {
  const batch = input_ids.length;
  const vocab = model.config.vocab_size;
  const unfinished = new Array<boolean>(batch).fill(true);
  let cur_len = input_ids[0].length;
  let past_key_values = s.use_cache ? new DynamicCache() : undefined;
  let past_length = 0;

  for (;;) {
    // prepare_inputs_for_generation
    const start = s.use_cache ? past_length : 0;
    const cache_position = Array.from({ length: cur_len - start }, (_, i) => start + i);
    const step_ids = input_ids.map((row) => row.slice(start));
    const position_ids = positionIdsFromAttentionMask(attention_mask).map((row) => row.slice(start));

    const outputs = model.forward({
      input_ids: step_ids,
      attention_mask: attention_mask.map((row) => [...row]),
      position_ids,
      past_key_values,
      use_cache: s.use_cache,
      cache_position,
      num_logits_to_keep: 1,
    });

    const logits = outputs?.logits;
    if (
      !(logits instanceof Tensor) ||
      logits.shape.length !== 3 ||
      logits.shape[0] !== batch ||
      logits.shape[1] < 1 ||
      logits.shape[2] !== vocab
    ) {
      const got = logits instanceof Tensor ? `[${logits.shape.join(", ")}]` : String(logits);
      throw new ShapeError("logits", `model.forward must return logits [${batch}, q_len >= 1, ${vocab}], got ${got}`);
    }
    // next_token_logits = outputs.logits[:, -1, :]
    const q = logits.shape[1];
    const all = logits.toFloat32();
    const next_token_logits = new Float32Array(batch * vocab);
    for (let b = 0; b < batch; b++)
      next_token_logits.set(all.subarray((b * q + q - 1) * vocab, (b * q + q) * vocab), b * vocab);

    let next_token_scores = s.logits_processor.call(
      input_ids,
      new Tensor("float32", next_token_logits, [batch, vocab]),
    );
    if (s.logits_warper !== null) next_token_scores = s.logits_warper.call(input_ids, next_token_scores);

    const scores = next_token_scores.data as Float32Array;
    for (let b = 0; b < batch; b++) {
      const row = scores.subarray(b * vocab, (b + 1) * vocab);
      let next = s.rng !== null ? multinomial(softmax(row), s.rng.random()) : argmax(row);
      // finished sentences get the pad token (only when an eos criterion exists, as HF's has_eos_stopping_criteria)
      if (s.eos_token_id !== null && !unfinished[b]) next = s.pad_token_id as number;
      input_ids[b].push(next);
      attention_mask[b].push(1);
    }
    if (s.streamer !== null)
      s.streamer.put(
        new Tensor(
          "int64",
          input_ids.map((row) => row[row.length - 1]),
          [batch],
        ),
      );

    // _update_model_kwargs_for_generation
    if (s.use_cache) {
      // HF keeps `outputs.past_key_values`; a model that filled the passed cache in place without returning it
      // keeps working here.
      past_key_values = outputs.past_key_values ?? past_key_values;
      past_length = cur_len;
    }
    cur_len += 1;

    // stopping criteria: MaxLengthCriteria, then EosTokenCriteria on the last token
    for (let b = 0; b < batch; b++) {
      const done =
        cur_len >= s.max_length || (s.eos_token_id !== null && s.eos_token_id.includes(input_ids[b][cur_len - 1]));
      unfinished[b] = unfinished[b] && !done;
    }
    if (!unfinished.some(Boolean)) break;
  }
  if (s.streamer !== null) s.streamer.end();

  return new Tensor("int64", input_ids.flat(), [batch, cur_len]);
}
