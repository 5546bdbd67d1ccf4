/**
 * Logits processors and warpers: functions `scores [batch, vocab] -> scores [batch, vocab]` applied to the last
 * position's logits before a token is chosen.
 *
 * Mirrors HF transformers v4.44 `generation/logits_process.py` (same class names, constructor arguments, checks
 * and error messages). Each `call(input_ids, scores)` takes the ids so far as rows (`[batch][cur_len]`, HF's
 * LongTensor) and float32 scores, and returns a NEW float32 Tensor (HF returns `scores_processed`, never edits in
 * place). Filtered tokens get `filter_value` (default -Infinity).
 *
 *   MinLengthLogitsProcessor           eos scores -> -inf while cur_len < min_length
 *   MinNewTokensLengthLogitsProcessor  eos scores -> -inf while cur_len - prompt_len < min_new_tokens
 *   RepetitionPenaltyLogitsProcessor   s -> s / penalty if s >= 0, s * penalty if s < 0, for every id in input_ids
 *   TemperatureLogitsWarper            s -> s / temperature
 *   TopKLogitsWarper                   drop s < (k-th largest s)           (ties with the k-th value are all kept)
 *   TopPLogitsWarper                   sort ascending, p = softmax, drop where cumsum(p) <= 1 - top_p
 *   MinPLogitsWarper                   drop p < min_p * max(p)
 *
 * Float32 is kept where HF's float32 tensors would round: a Python float meeting a float32 tensor is cast to
 * float32 first (so `1 - top_p`, `min_p`, `temperature` and `penalty` are rounded to float32), softmax results
 * are float32, and torch's CPU cumsum accumulates float32 inputs in float64 and rounds each partial sum to float32.
 */
import { ShapeError, ValueError } from "../errors.ts";
import { Tensor } from "../tensor/tensor.ts";
import { argmax, softmax } from "./sampling.ts";

/** HF `LogitsProcessor` / `LogitsWarper`: one step of score processing. */
export interface LogitsProcessor {
  call(input_ids: number[][], scores: Tensor, kwargs?: LogitsProcessorKwargs): Tensor;
}

/** The keyword arguments HF's group beam search passes through the list (only HammingDiversity reads them). */
export interface LogitsProcessorKwargs {
  /** Tokens chosen so far at this step, [batch * num_beams]. */
  current_tokens?: number[];
  beam_group_idx?: number;
}

/** HF `LogitsProcessorList`: a list of processors applied in order. */
export class LogitsProcessorList extends Array<LogitsProcessor> {
  /** HF `list.append`. */
  append(processor: LogitsProcessor): void {
    this.push(processor);
  }

  call(input_ids: number[][], scores: Tensor, kwargs?: LogitsProcessorKwargs): Tensor {
    for (const processor of this) scores = processor.call(input_ids, scores, kwargs);
    return scores;
  }
}

/** Checks `scores` is float32 [batch, vocab] matching `input_ids`, and returns a copy to edit plus its sizes. */
function prepare(
  input_ids: number[][],
  scores: Tensor,
  who: string,
): { out: Float32Array; batch: number; vocab: number } {
  if (scores.dtype !== "float32" || scores.shape.length !== 2) {
    throw new ShapeError(
      "scores",
      `${who} expects float32 scores [batch, vocab], got ${scores.dtype} [${scores.shape.join(", ")}]`,
    );
  }
  const [batch, vocab] = scores.shape;
  if (input_ids.length !== batch) {
    throw new ShapeError("input_ids", `${who}: ${input_ids.length} rows of ids for ${batch} rows of scores`);
  }
  return { out: Float32Array.from(scores.data as Float32Array), batch, vocab };
}

function eosList(eos_token_id: number | number[]): number[] {
  return Array.isArray(eos_token_id) ? [...eos_token_id] : [eos_token_id];
}

/** Sets the eos columns of every row to -inf (HF: `torch.where(isin(arange(vocab), eos), -inf, scores)`). */
function suppressEos(out: Float32Array, batch: number, vocab: number, eos: number[]): void {
  for (const id of eos) {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) continue; // isin() simply finds no such column
    for (let b = 0; b < batch; b++) out[b * vocab + id] = -Infinity;
  }
}

function checkMinTokensToKeep(min_tokens_to_keep: number): void {
  if (!Number.isInteger(min_tokens_to_keep) || min_tokens_to_keep < 1) {
    throw new ValueError(`\`min_tokens_to_keep\` has to be a positive integer, but is ${min_tokens_to_keep}`);
  }
}

/** HF `MinLengthLogitsProcessor`: while the whole sequence (prompt included) is shorter than `min_length`, eos is impossible. */
export class MinLengthLogitsProcessor implements LogitsProcessor {
  readonly min_length: number;
  readonly eos_token_id: number[];

  constructor(min_length: number, eos_token_id: number | number[]) {
    if (!Number.isInteger(min_length) || min_length < 0) {
      throw new ValueError(`\`min_length\` has to be a non-negative integer, but is ${min_length}`);
    }
    this.min_length = min_length;
    this.eos_token_id = eosList(eos_token_id);
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "MinLengthLogitsProcessor");
    const cur_len = batch > 0 ? input_ids[0].length : 0;
    if (cur_len < this.min_length) suppressEos(out, batch, vocab, this.eos_token_id);
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** HF `MinNewTokensLengthLogitsProcessor`: the same, counting only tokens after the prompt. */
export class MinNewTokensLengthLogitsProcessor implements LogitsProcessor {
  readonly prompt_length_to_skip: number;
  readonly min_new_tokens: number;
  readonly eos_token_id: number[];

  constructor(prompt_length_to_skip: number, min_new_tokens: number, eos_token_id: number | number[]) {
    for (const [name, value] of [
      ["prompt_length_to_skip", prompt_length_to_skip],
      ["min_new_tokens", min_new_tokens],
    ] as const) {
      if (!Number.isInteger(value) || value < 0)
        throw new ValueError(`\`${name}\` has to be a positive integer, but is ${value}`);
    }
    this.prompt_length_to_skip = prompt_length_to_skip;
    this.min_new_tokens = min_new_tokens;
    this.eos_token_id = eosList(eos_token_id);
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "MinNewTokensLengthLogitsProcessor");
    const new_tokens_length = (batch > 0 ? input_ids[0].length : 0) - this.prompt_length_to_skip;
    if (new_tokens_length < this.min_new_tokens) suppressEos(out, batch, vocab, this.eos_token_id);
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/**
 * HF `RepetitionPenaltyLogitsProcessor` (CTRL paper): each token id present in the row (prompt included, pad
 * tokens of a left-padded prompt included — HF gathers over all of `input_ids`) is penalised once:
 * a positive score is divided by `penalty`, a negative one multiplied, so penalty > 1 always lowers it.
 */
export class RepetitionPenaltyLogitsProcessor implements LogitsProcessor {
  readonly penalty: number;

  constructor(penalty: number) {
    if (typeof penalty !== "number" || !(penalty > 0)) {
      throw new ValueError(`\`penalty\` has to be a strictly positive float, but is ${penalty}`);
    }
    this.penalty = penalty;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "RepetitionPenaltyLogitsProcessor");
    const src = scores.data as Float32Array;
    const p = Math.fround(this.penalty);
    for (let b = 0; b < batch; b++) {
      for (const id of input_ids[b]) {
        if (!Number.isInteger(id) || id < 0 || id >= vocab) {
          throw new ShapeError(
            "input_ids",
            `RepetitionPenaltyLogitsProcessor: id ${id} in row ${b} is outside [0, ${vocab})`,
          );
        }
        // Read from the unprocessed scores (HF gathers before it scatters), so repeats are penalised only once.
        const s = src[b * vocab + id];
        out[b * vocab + id] = s < 0 ? s * p : s / p;
      }
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** HF `TemperatureLogitsWarper`: s / temperature; temperature must be > 0 (0 would mean greedy: use do_sample=false). */
export class TemperatureLogitsWarper implements LogitsProcessor {
  readonly temperature: number;

  constructor(temperature: number) {
    if (typeof temperature !== "number" || !(temperature > 0)) {
      let msg = `\`temperature\` (=${temperature}) has to be a strictly positive float, otherwise your next token scores will be invalid.`;
      if (temperature === 0) msg += " If you're looking for greedy decoding strategies, set `do_sample=False`.";
      throw new ValueError(msg);
    }
    this.temperature = temperature;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "TemperatureLogitsWarper");
    const t = Math.fround(this.temperature);
    for (let i = 0; i < out.length; i++) out[i] = out[i] / t;
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** Order for "descending by score, NaN first" (torch.topk/sort place NaN above every number), ties by index. */
function descending(row: Float32Array): (a: number, b: number) => number {
  return (a, b) => {
    const x = row[a];
    const y = row[b];
    if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? a - b : -1) : 1;
    return y - x || a - b;
  };
}

/** Bits of the index inside a packed sort key: 2^21 > any Llama vocabulary (128,256 for Llama 3). */
const INDEX_BITS = 2 ** 21;
const bitsView = new DataView(new ArrayBuffer(4));

/**
 * Indices of `row` in ascending score order, ties by increasing index (a stable sort), NaN last.
 *
 * Each entry is packed into one exact float64 key, (order-preserving uint32 of the float32 bits) * 2^21 + index
 * (< 2^53), so a native numeric sort of a Float64Array does the work: no comparator calls, about 10x faster on
 * a 32,000-token vocabulary.
 */
function argsortAscending(row: Float32Array): Uint32Array {
  const n = row.length;
  const out = new Uint32Array(n);
  if (n > INDEX_BITS) {
    out.set(Array.from({ length: n }, (_, i) => i).sort((a, b) => descending(row)(b, a)));
    return out;
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    bitsView.setFloat32(0, row[i]);
    const bits = bitsView.getUint32(0);
    // negative floats: flip every bit; positive: set the sign bit. Then uint32 order = float order.
    const ordered = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
    keys[i] = ordered * INDEX_BITS + i;
  }
  keys.sort();
  for (let j = 0; j < n; j++) out[j] = keys[j] % INDEX_BITS;
  return out;
}

/**
 * HF `TopKLogitsWarper`: keep scores >= the k-th largest score (k = max(top_k, min_tokens_to_keep), capped at
 * vocab). The cut is by value, so every token tied with the k-th value survives and more than k may remain.
 */
export class TopKLogitsWarper implements LogitsProcessor {
  readonly top_k: number;
  readonly filter_value: number;

  constructor(top_k: number, filter_value = -Infinity, min_tokens_to_keep = 1) {
    if (!Number.isInteger(top_k) || top_k <= 0) {
      throw new ValueError(`\`top_k\` has to be a strictly positive integer, but is ${top_k}`);
    }
    this.top_k = Math.max(top_k, min_tokens_to_keep);
    this.filter_value = filter_value;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "TopKLogitsWarper");
    const top_k = Math.min(this.top_k, vocab);
    for (let b = 0; b < batch; b++) {
      const row = out.subarray(b * vocab, (b + 1) * vocab);
      // k-th largest value: a typed-array sort is numeric ascending and puts NaN last (largest), like torch.topk
      const kth = Float32Array.from(row).sort()[vocab - top_k];
      for (let i = 0; i < vocab; i++) if (row[i] < kth) row[i] = this.filter_value;
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/**
 * HF `TopPLogitsWarper` (nucleus): sort ascending, p = softmax, c = cumsum(p); drop the sorted tokens with
 * c <= 1 - top_p, but never the last `min_tokens_to_keep` (the most probable). What remains is the smallest set,
 * counted from the top, whose mass reaches top_p.
 *
 * HF's check is `top_p < 0 or top_p > 1` (despite its message), so top_p = 0 is accepted and keeps only the top
 * token; and `generate` builds this warper only for top_p < 1. Ties are ordered by a stable sort (lower index
 * first in ascending order); torch's unstable sort promises no order among ties.
 */
export class TopPLogitsWarper implements LogitsProcessor {
  readonly top_p: number;
  readonly filter_value: number;
  readonly min_tokens_to_keep: number;

  constructor(top_p: number, filter_value = -Infinity, min_tokens_to_keep = 1) {
    if (typeof top_p !== "number" || top_p < 0 || top_p > 1.0 || Number.isNaN(top_p)) {
      throw new ValueError(`\`top_p\` has to be a float > 0 and < 1, but is ${top_p}`);
    }
    checkMinTokensToKeep(min_tokens_to_keep);
    this.top_p = top_p;
    this.filter_value = filter_value;
    this.min_tokens_to_keep = min_tokens_to_keep;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "TopPLogitsWarper");
    const cutoff = Math.fround(1 - this.top_p);
    for (let b = 0; b < batch; b++) {
      const row = out.subarray(b * vocab, (b + 1) * vocab);
      const sorted = argsortAscending(row);
      const sortedLogits = new Float32Array(vocab);
      for (let j = 0; j < vocab; j++) sortedLogits[j] = row[sorted[j]];
      const probs = softmax(sortedLogits);
      const remove: boolean[] = new Array(vocab);
      let cum = 0;
      for (let j = 0; j < vocab; j++) {
        cum += probs[j];
        remove[j] = Math.fround(cum) <= cutoff;
      }
      for (let j = Math.max(0, vocab - this.min_tokens_to_keep); j < vocab; j++) remove[j] = false;
      for (let j = 0; j < vocab; j++) if (remove[j]) row[sorted[j]] = this.filter_value;
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/**
 * HF `MinPLogitsWarper`: p = softmax(scores); drop tokens with p < min_p * max(p), always keeping the
 * `min_tokens_to_keep` highest scores. Applied after temperature (HF's order, following llama.cpp).
 */
export class MinPLogitsWarper implements LogitsProcessor {
  readonly min_p: number;
  readonly filter_value: number;
  readonly min_tokens_to_keep: number;

  constructor(min_p: number, filter_value = -Infinity, min_tokens_to_keep = 1) {
    if (typeof min_p !== "number" || !(min_p >= 0 && min_p <= 1.0)) {
      throw new ValueError(`\`min_p\` has to be a float in the [0, 1] interval, but is ${min_p}`);
    }
    checkMinTokensToKeep(min_tokens_to_keep);
    this.min_p = min_p;
    this.filter_value = filter_value;
    this.min_tokens_to_keep = min_tokens_to_keep;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "MinPLogitsWarper");
    const min_p = Math.fround(this.min_p);
    for (let b = 0; b < batch; b++) {
      const row = out.subarray(b * vocab, (b + 1) * vocab);
      const probs = softmax(row);
      let top = -Infinity;
      for (let i = 0; i < vocab; i++) if (probs[i] > top) top = probs[i];
      const scaled = Math.fround(min_p * top);
      const keep = new Set(
        this.min_tokens_to_keep === 1
          ? [argmax(row)]
          : Array.from({ length: vocab }, (_, i) => i)
              .sort(descending(row))
              .slice(0, this.min_tokens_to_keep),
      );
      for (let i = 0; i < vocab; i++) if (probs[i] < scaled && !keep.has(i)) row[i] = this.filter_value;
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** log_softmax over one row, float32 out: x - max - log(sum exp(x - max)), the sum in float64. */
export function logSoftmax(row: ArrayLike<number>): Float32Array {
  const n = row.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (row[i] > max) max = row[i];
  const out = new Float32Array(n);
  if (max === -Infinity || Number.isNaN(max)) {
    out.fill(NaN);
    return out;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(row[i] - max);
  const lse = Math.log(sum);
  for (let i = 0; i < n; i++) out[i] = Math.fround(Math.fround(row[i] - max) - lse);
  return out;
}

function checkIdsInVocab(who: string, ids: number[], vocab: number): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocab)
      throw new ValueError(`${who}: token id ${id} is outside the vocabulary [0, ${vocab})`);
  }
}

/**
 * HF `SequenceBiasLogitsProcessor`: adds `bias` to the score of the LAST id of each biased sequence, when the
 * sequence's other ids end the row (`input_ids[:, -prefix_len:]`, prompt and pad ids included). Length-1
 * sequences always apply. The bias is summed in float32: `scores + (length_1_bias + multi-token biases)`.
 * Sequences longer than the row are skipped. Ids outside the vocabulary raise (HF checks on the first call).
 */
export class SequenceBiasLogitsProcessor implements LogitsProcessor {
  readonly sequence_bias: SequenceBiasPairs;

  constructor(sequence_bias: SequenceBiasPairs, allow_empty = false) {
    if (
      !Array.isArray(sequence_bias) ||
      (sequence_bias.length === 0 && !allow_empty) ||
      !sequence_bias.every(
        (p) =>
          Array.isArray(p) &&
          Array.isArray(p[0]) &&
          p[0].length > 0 &&
          p[0].every((i) => Number.isInteger(i) && i >= 0) &&
          typeof p[1] === "number",
      )
    ) {
      throw new ValueError(
        `\`sequence_bias\` has to be a non-empty list of [token ids (positive integers), bias (float)] pairs, but is ${JSON.stringify(sequence_bias)}.`,
      );
    }
    this.sequence_bias = sequence_bias.map(([ids, b]) => [[...ids], b]);
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "SequenceBiasLogitsProcessor");
    const invalid = this.sequence_bias.flatMap(([ids]) => ids.filter((i) => i >= vocab));
    if (invalid.length > 0)
      throw new ValueError(
        `The model vocabulary size is ${vocab}, but the following tokens were being biased: ${JSON.stringify(invalid)}`,
      );
    // length_1_bias: later entries of the same id overwrite earlier ones (HF assigns, it does not add)
    const length1 = new Float32Array(vocab);
    for (const [ids, b] of this.sequence_bias) if (ids.length === 1) length1[ids[0]] = b;
    for (let r = 0; r < batch; r++) {
      const bias = Float32Array.from(length1);
      const row = input_ids[r];
      for (const [ids, b] of this.sequence_bias) {
        if (ids.length === 1 || ids.length > row.length) continue;
        const prefix = ids.length - 1;
        let match = true;
        for (let j = 0; j < prefix; j++) if (row[row.length - prefix + j] !== ids[j]) match = false;
        if (match) bias[ids[prefix]] = Math.fround(bias[ids[prefix]] + Math.fround(b));
      }
      for (let v = 0; v < vocab; v++) out[r * vocab + v] = Math.fround(out[r * vocab + v] + bias[v]);
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** `[[token ids], bias]` pairs: HF's `{tuple(ids): bias}` dict. */
export type SequenceBiasPairs = [number[], number][];

/**
 * HF `NoBadWordsLogitsProcessor` (a SequenceBiasLogitsProcessor with bias -inf): a banned single id is always
 * -inf; a banned multi-id word bans its last id when its other ids end the row. A single-id entry equal to an
 * eos id is dropped from the list (HF keeps eos reachable).
 */
export class NoBadWordsLogitsProcessor extends SequenceBiasLogitsProcessor {
  readonly bad_word_ids: number[][];

  constructor(bad_words_ids: number[][], eos_token_id: number | number[] | null = null) {
    if (!Array.isArray(bad_words_ids) || bad_words_ids.length === 0)
      throw new ValueError(`\`bad_words_ids\` has to be a non-empty list, but is ${JSON.stringify(bad_words_ids)}.`);
    if (bad_words_ids.some((w) => !Array.isArray(w)))
      throw new ValueError(`\`bad_words_ids\` has to be a list of lists, but is ${JSON.stringify(bad_words_ids)}.`);
    if (bad_words_ids.some((w) => w.length === 0 || w.some((i) => !Number.isInteger(i) || i < 0)))
      throw new ValueError(
        `Each list in \`bad_words_ids\` has to be a list of positive integers, but is ${JSON.stringify(bad_words_ids)}.`,
      );
    const eos = eos_token_id === null ? [] : eosList(eos_token_id);
    const kept = bad_words_ids.filter((seq) => !eos.some((e) => seq.length === 1 && seq[0] === e));
    // every entry may have been an eos id: an empty bias list then bans nothing
    super(
      kept.map((seq) => [seq, -Infinity] as [number[], number]),
      true,
    );
    this.bad_word_ids = bad_words_ids.map((w) => [...w]);
  }
}

/**
 * HF `HammingDiversityLogitsProcessor` (group beam search, Vijayakumar et al. 2016): in group g, every id chosen
 * by the earlier groups of the same batch row at this step loses `diversity_penalty * count`. Needs the kwargs
 * `current_tokens` and `beam_group_idx` that group beam search passes.
 */
export class HammingDiversityLogitsProcessor implements LogitsProcessor {
  readonly _diversity_penalty: number;
  readonly _num_beams: number;
  readonly _num_sub_beams: number;

  constructor(diversity_penalty: number, num_beams: number, num_beam_groups: number) {
    if (typeof diversity_penalty !== "number" || !(diversity_penalty > 0.0))
      throw new ValueError("`diversity_penalty` should be a float strictly larger than 0.");
    if (!Number.isInteger(num_beams) || num_beams < 2)
      throw new ValueError("`num_beams` should be an integer strictly larger than 1.");
    if (!Number.isInteger(num_beam_groups) || num_beam_groups < 2)
      throw new ValueError("`num_beam_groups` should be an integer strictly larger than 1.");
    if (num_beam_groups > num_beams) throw new ValueError("`beam_groups` has to be smaller or equal to `num_beams`.");
    this._diversity_penalty = diversity_penalty;
    this._num_beams = num_beams;
    this._num_sub_beams = Math.floor(num_beams / num_beam_groups);
  }

  call(input_ids: number[][], scores: Tensor, kwargs?: LogitsProcessorKwargs): Tensor {
    const { out, batch: rows, vocab } = prepare(input_ids, scores, "HammingDiversityLogitsProcessor");
    const current_tokens = kwargs?.current_tokens;
    const beam_group_idx = kwargs?.beam_group_idx;
    if (current_tokens === undefined || beam_group_idx === undefined)
      throw new ValueError("HammingDiversityLogitsProcessor needs `current_tokens` and `beam_group_idx`");
    const batch_size = Math.floor(current_tokens.length / this._num_beams);
    const group_start_idx = beam_group_idx * this._num_sub_beams;
    const group_end_idx = Math.min(group_start_idx + this._num_sub_beams, this._num_beams);
    const group_size = group_end_idx - group_start_idx;
    if (group_start_idx === 0) return new Tensor("float32", out, [rows, vocab]);
    for (let b = 0; b < batch_size; b++) {
      const freq = new Map<number, number>();
      for (let i = b * this._num_beams; i < b * this._num_beams + group_start_idx; i++)
        freq.set(current_tokens[i], (freq.get(current_tokens[i]) ?? 0) + 1);
      for (let r = b * group_size; r < (b + 1) * group_size; r++)
        for (const [id, c] of freq)
          out[r * vocab + id] = Math.fround(out[r * vocab + id] - Math.fround(this._diversity_penalty * c));
    }
    return new Tensor("float32", out, [rows, vocab]);
  }
}

/**
 * HF `EncoderRepetitionPenaltyLogitsProcessor` ("hallucination penalty"): for the ids of the prompt given at
 * construction, s -> s / p if s >= 0 else s * p with p = 1 / penalty, so penalty > 1 FAVOURS prompt ids. For a
 * decoder-only model HF passes the prompt as given (pad ids included). p is rounded to float32 (a Python float
 * meeting a float32 tensor).
 */
export class EncoderRepetitionPenaltyLogitsProcessor implements LogitsProcessor {
  readonly penalty: number;
  readonly encoder_input_ids: number[][];

  constructor(penalty: number, encoder_input_ids: number[][]) {
    if (typeof penalty !== "number" || !(penalty > 0))
      throw new ValueError(`\`penalty\` has to be a strictly positive float, but is ${penalty}`);
    this.penalty = 1 / penalty;
    this.encoder_input_ids = encoder_input_ids.map((r) => [...r]);
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "EncoderRepetitionPenaltyLogitsProcessor");
    if (this.encoder_input_ids.length > batch)
      throw new ShapeError(
        "encoder_input_ids",
        `EncoderRepetitionPenaltyLogitsProcessor: ${this.encoder_input_ids.length} prompt rows for ${batch} rows of scores`,
      );
    const src = scores.data as Float32Array;
    const p = Math.fround(this.penalty);
    // HF quirk kept: torch.gather/scatter with fewer index rows than scores rows touch only the first rows, so
    // with beams or num_return_sequences > 1 (rows = batch * n) only rows 0..batch-1 are penalised.
    for (let b = 0; b < this.encoder_input_ids.length; b++) {
      checkIdsInVocab("EncoderRepetitionPenaltyLogitsProcessor", this.encoder_input_ids[b], vocab);
      for (const id of this.encoder_input_ids[b]) {
        const s = src[b * vocab + id];
        out[b * vocab + id] = s < 0 ? Math.fround(s * p) : Math.fround(s / p);
      }
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** HF `_get_ngrams`: per row, (n-1)-gram prefix -> the ids that followed it, in order of occurrence. */
function getNgrams(ngram_size: number, rows: number[][]): Map<string, number[]>[] {
  return rows.map((gen) => {
    const m = new Map<string, number[]>();
    for (let i = 0; i + ngram_size <= gen.length; i++) {
      const key = gen.slice(i, i + ngram_size - 1).join(",");
      const list = m.get(key);
      if (list) list.push(gen[i + ngram_size - 1]);
      else m.set(key, [gen[i + ngram_size - 1]]);
    }
    return m;
  });
}

/** Python's `seq[start:stop]` for possibly negative `start` (HF slices `input_ids[start_idx:cur_len]`). */
function pySlice(seq: number[], start: number, stop: number): number[] {
  const n = seq.length;
  const norm = (i: number) => (i < 0 ? Math.max(0, n + i) : Math.min(i, n));
  return seq.slice(norm(start), norm(stop));
}

function banAll(out: Float32Array, row: number, vocab: number, ids: number[]): void {
  for (const id of ids) out[row * vocab + id] = -Infinity;
}

/**
 * HF `NoRepeatNGramLogitsProcessor` (fairseq): an id that would complete an n-gram already present in the row
 * (prompt included) gets -inf. n = 1 bans every id in the row. Nothing is banned while cur_len + 1 < n.
 */
export class NoRepeatNGramLogitsProcessor implements LogitsProcessor {
  readonly ngram_size: number;

  constructor(ngram_size: number) {
    if (!Number.isInteger(ngram_size) || ngram_size <= 0)
      throw new ValueError(`\`ngram_size\` has to be a strictly positive integer, but is ${ngram_size}`);
    this.ngram_size = ngram_size;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "NoRepeatNGramLogitsProcessor");
    const cur_len = input_ids[0]?.length ?? 0;
    if (cur_len + 1 < this.ngram_size) return new Tensor("float32", out, [batch, vocab]);
    const ngrams = getNgrams(this.ngram_size, input_ids);
    for (let b = 0; b < batch; b++) {
      const prev = input_ids[b].slice(cur_len + 1 - this.ngram_size, cur_len).join(",");
      const banned = ngrams[b].get(prev) ?? [];
      checkIdsInVocab("NoRepeatNGramLogitsProcessor", banned, vocab);
      banAll(out, b, vocab, banned);
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/**
 * HF `EncoderNoRepeatNGramLogitsProcessor`: an id that would complete an n-gram of the PROMPT given at
 * construction gets -inf (n = 1 bans every prompt id). Rows of a beam search map to their prompt row as
 * `row // num_beams`.
 */
export class EncoderNoRepeatNGramLogitsProcessor implements LogitsProcessor {
  readonly ngram_size: number;
  readonly batch_size: number;
  readonly generated_ngrams: Map<string, number[]>[];

  constructor(encoder_ngram_size: number, encoder_input_ids: number[][]) {
    if (!Number.isInteger(encoder_ngram_size) || encoder_ngram_size <= 0)
      throw new ValueError(
        `\`encoder_ngram_size\` has to be a strictly positive integer, but is ${encoder_ngram_size}`,
      );
    this.ngram_size = encoder_ngram_size;
    this.batch_size = encoder_input_ids.length;
    this.generated_ngrams = getNgrams(encoder_ngram_size, encoder_input_ids);
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch: num_hypos, vocab } = prepare(input_ids, scores, "EncoderNoRepeatNGramLogitsProcessor");
    const num_beams = Math.floor(num_hypos / this.batch_size);
    const cur_len = input_ids[0]?.length ?? 0;
    for (let h = 0; h < num_hypos; h++) {
      const key = pySlice(input_ids[h], cur_len + 1 - this.ngram_size, cur_len).join(",");
      const banned = this.generated_ngrams[Math.floor(h / num_beams)]?.get(key) ?? [];
      checkIdsInVocab("EncoderNoRepeatNGramLogitsProcessor", banned, vocab);
      banAll(out, h, vocab, banned);
    }
    return new Tensor("float32", out, [num_hypos, vocab]);
  }
}

/**
 * HF `PrefixConstrainedLogitsProcessor`: only the ids `prefix_allowed_tokens_fn(batch_id, sent)` returns keep
 * their score (the others get -inf), per row; rows are grouped `num_beams` to a batch id.
 */
export class PrefixConstrainedLogitsProcessor implements LogitsProcessor {
  readonly _prefix_allowed_tokens_fn: (batch_id: number, input_ids: number[]) => number[];
  readonly _num_beams: number;

  constructor(prefix_allowed_tokens_fn: (batch_id: number, input_ids: number[]) => number[], num_beams: number) {
    if (typeof prefix_allowed_tokens_fn !== "function")
      throw new ValueError("`prefix_allowed_tokens_fn` has to be a function (batch_id, input_ids) => allowed ids");
    this._prefix_allowed_tokens_fn = prefix_allowed_tokens_fn;
    this._num_beams = num_beams;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "PrefixConstrainedLogitsProcessor");
    for (let r = 0; r < batch; r++) {
      const batch_id = Math.floor(r / this._num_beams);
      const allowed = this._prefix_allowed_tokens_fn(batch_id, [...input_ids[r]]);
      if (!Array.isArray(allowed) || allowed.length === 0)
        throw new ValueError(
          `\`prefix_allowed_tokens_fn\` returned an empty list for batch ID ${batch_id}.This means that the constraint is unsatisfiable. Please check your implementationof \`prefix_allowed_tokens_fn\` `,
        );
      checkIdsInVocab("PrefixConstrainedLogitsProcessor", allowed, vocab);
      const keep = new Set(allowed);
      for (let v = 0; v < vocab; v++) if (!keep.has(v)) out[r * vocab + v] = -Infinity;
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** HF `ForcedBOSTokenLogitsProcessor`: at cur_len == 1 every id but `bos_token_id` is -inf and bos scores 0. */
export class ForcedBOSTokenLogitsProcessor implements LogitsProcessor {
  readonly bos_token_id: number;

  constructor(bos_token_id: number) {
    if (!Number.isInteger(bos_token_id) || bos_token_id < 0)
      throw new ValueError(`\`forced_bos_token_id\` has to be a non-negative integer, but is ${bos_token_id}`);
    this.bos_token_id = bos_token_id;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "ForcedBOSTokenLogitsProcessor");
    if ((input_ids[0]?.length ?? 0) === 1)
      forceIds(out, batch, vocab, [this.bos_token_id], "ForcedBOSTokenLogitsProcessor");
    return new Tensor("float32", out, [batch, vocab]);
  }
}

function forceIds(out: Float32Array, batch: number, vocab: number, ids: number[], who: string): void {
  checkIdsInVocab(who, ids, vocab);
  out.fill(-Infinity);
  for (let b = 0; b < batch; b++) for (const id of ids) out[b * vocab + id] = 0;
}

/**
 * HF `ForcedEOSTokenLogitsProcessor`: at cur_len == max_length - 1 every id but the eos ids is -inf and they
 * score 0 (with a list, argmax then takes the smallest of them).
 */
export class ForcedEOSTokenLogitsProcessor implements LogitsProcessor {
  readonly max_length: number;
  readonly eos_token_id: number[];

  constructor(max_length: number, eos_token_id: number | number[]) {
    const eos = eosList(eos_token_id);
    if (eos.some((e) => !Number.isInteger(e) || e < 0))
      throw new ValueError(`\`eos_token_id\` has to be a list of positive integers, but is ${JSON.stringify(eos)}`);
    this.max_length = max_length;
    this.eos_token_id = eos;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "ForcedEOSTokenLogitsProcessor");
    if ((input_ids[0]?.length ?? 0) === this.max_length - 1)
      forceIds(out, batch, vocab, this.eos_token_id, "ForcedEOSTokenLogitsProcessor");
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** HF `InfNanRemoveLogitsProcessor`: NaN -> 0, +inf -> float32 max, -inf -> float32 min (finfo). */
export class InfNanRemoveLogitsProcessor implements LogitsProcessor {
  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "InfNanRemoveLogitsProcessor");
    const max = 3.4028234663852886e38;
    for (let i = 0; i < out.length; i++) {
      if (Number.isNaN(out[i])) out[i] = 0;
      else if (out[i] === Infinity) out[i] = max;
      else if (out[i] === -Infinity) out[i] = -max;
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/**
 * HF `ExponentialDecayLengthPenalty`: once cur_len > start = prompt_len + start_index, each eos score gains
 * |s| * (factor^(cur_len - start) - 1) (float32), so eos grows likelier with length whatever the sign of s.
 */
export class ExponentialDecayLengthPenalty implements LogitsProcessor {
  readonly regulation_start: number;
  readonly regulation_factor: number;
  readonly eos_token_id: number[];

  constructor(
    exponential_decay_length_penalty: [number, number],
    eos_token_id: number | number[],
    input_ids_seq_length: number,
  ) {
    const [start, factor] = exponential_decay_length_penalty;
    if (!Number.isInteger(start) || typeof factor !== "number" || Number.isNaN(factor))
      throw new ValueError(
        `\`exponential_decay_length_penalty\` has to be [start_index (int), decay_factor (float)], but is ${JSON.stringify(exponential_decay_length_penalty)}`,
      );
    const eos = eosList(eos_token_id);
    if (eos.some((e) => !Number.isInteger(e) || e < 0))
      throw new ValueError(`\`eos_token_id\` has to be a list of positive integers, but is ${JSON.stringify(eos)}`);
    this.regulation_start = start + input_ids_seq_length;
    this.regulation_factor = factor;
    this.eos_token_id = eos;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "ExponentialDecayLengthPenalty");
    const cur_len = input_ids[0]?.length ?? 0;
    if (cur_len > this.regulation_start) {
      checkIdsInVocab("ExponentialDecayLengthPenalty", this.eos_token_id, vocab);
      const factor = Math.fround(Math.pow(this.regulation_factor, cur_len - this.regulation_start) - 1);
      const src = scores.data as Float32Array;
      for (let b = 0; b < batch; b++) {
        const penalties = new Float32Array(vocab);
        for (const id of this.eos_token_id) penalties[id] = Math.fround(Math.abs(src[b * vocab + id]) * factor);
        for (const id of this.eos_token_id) out[b * vocab + id] = Math.fround(src[b * vocab + id] + penalties[id]);
      }
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** HF `LogitNormalization`: log_softmax of the scores (so beam scores stay comparable after other processors). */
export class LogitNormalization implements LogitsProcessor {
  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "LogitNormalization");
    for (let b = 0; b < batch; b++) out.set(logSoftmax(out.subarray(b * vocab, (b + 1) * vocab)), b * vocab);
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** HF `SuppressTokensLogitsProcessor`: the listed ids are -inf at every step. */
export class SuppressTokensLogitsProcessor implements LogitsProcessor {
  readonly suppress_tokens: number[];

  constructor(suppress_tokens: number[]) {
    this.suppress_tokens = [...suppress_tokens];
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "SuppressTokensLogitsProcessor");
    suppressEos(out, batch, vocab, this.suppress_tokens);
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/**
 * HF `SuppressTokensAtBeginLogitsProcessor`: the listed ids are -inf when cur_len == begin_index (generate sets
 * it to the prompt length, plus one when the prompt has length 1 and forced_bos_token_id is set).
 */
export class SuppressTokensAtBeginLogitsProcessor implements LogitsProcessor {
  readonly begin_suppress_tokens: number[];
  begin_index: number;

  constructor(begin_suppress_tokens: number[], begin_index: number) {
    this.begin_suppress_tokens = [...begin_suppress_tokens];
    this.begin_index = begin_index;
  }

  set_begin_index(begin_index: number): void {
    this.begin_index = begin_index;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "SuppressTokensAtBeginLogitsProcessor");
    if ((input_ids[0]?.length ?? 0) === this.begin_index) suppressEos(out, batch, vocab, this.begin_suppress_tokens);
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/**
 * HF `TypicalLogitsWarper` (locally typical sampling, Meister et al. 2022): with H = -sum p log p, sort tokens by
 * |-log p - H| ascending and keep the shortest prefix whose probability mass reaches `mass` (the token that
 * crosses it included, ties with its distance too).
 */
export class TypicalLogitsWarper implements LogitsProcessor {
  readonly mass: number;
  readonly filter_value: number;
  readonly min_tokens_to_keep: number;

  constructor(mass = 0.9, filter_value = -Infinity, min_tokens_to_keep = 1) {
    if (typeof mass !== "number" || !(mass > 0 && mass < 1))
      throw new ValueError(`\`typical_p\` has to be a float > 0 and < 1, but is ${mass}`);
    checkMinTokensToKeep(min_tokens_to_keep);
    this.mass = mass;
    this.filter_value = filter_value;
    this.min_tokens_to_keep = min_tokens_to_keep;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "TypicalLogitsWarper");
    const mass = Math.fround(this.mass);
    for (let b = 0; b < batch; b++) {
      const row = out.subarray(b * vocab, (b + 1) * vocab);
      const normalized = logSoftmax(row);
      let ent = 0;
      for (let i = 0; i < vocab; i++) {
        const t = normalized[i] * Math.exp(normalized[i]);
        if (!Number.isNaN(t)) ent += t; // nansum: -inf * 0 is NaN and skipped
      }
      ent = Math.fround(-ent);
      const shifted = new Float32Array(vocab);
      for (let i = 0; i < vocab; i++) shifted[i] = Math.fround(Math.abs(-normalized[i] - ent));
      const sorted = argsortAscending(shifted);
      const sortedLogits = new Float32Array(vocab);
      for (let j = 0; j < vocab; j++) sortedLogits[j] = row[sorted[j]];
      const probs = softmax(sortedLogits);
      let cum = 0;
      let last_ind = 0;
      for (let j = 0; j < vocab; j++) {
        cum += probs[j];
        if (Math.fround(cum) < mass) last_ind++;
      }
      last_ind = Math.min(last_ind, vocab - 1);
      const threshold = shifted[sorted[last_ind]];
      for (let j = this.min_tokens_to_keep; j < vocab; j++) {
        if (shifted[sorted[j]] > threshold) row[sorted[j]] = this.filter_value;
      }
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}

/** The `k`-th largest score of a row (torch.topk(scores, k)[0][..., -1]). */
function kthLargest(row: Float32Array, k: number): number {
  return Float32Array.from(row).sort()[row.length - k];
}

/** The checks HF's epsilon and eta warpers make on their arguments. */
function checkCutoff(name: string, epsilon: number, min_tokens_to_keep: number): void {
  if (typeof epsilon !== "number" || !(epsilon > 0 && epsilon < 1))
    throw new ValueError(`\`${name}\` has to be a float > 0 and < 1, but is ${epsilon}`);
  if (!Number.isInteger(min_tokens_to_keep) || min_tokens_to_keep < 1)
    throw new ValueError(`\`min_tokens_to_keep\` has to be a strictly positive integer, but is ${min_tokens_to_keep}`);
}

/**
 * Truncation sampling (Hewitt et al. 2022), shared by epsilon and eta: in each row drop tokens with
 * p < cutoff(row), except those scoring at least the `min_tokens_to_keep`-th best score.
 */
function truncateBelow(
  input_ids: number[][],
  scores: Tensor,
  who: string,
  min_tokens_to_keep: number,
  filter_value: number,
  cutoff: (row: Float32Array, probs: Float32Array) => number,
): Tensor {
  const { out, batch, vocab } = prepare(input_ids, scores, who);
  const top_k = Math.min(min_tokens_to_keep, vocab);
  for (let b = 0; b < batch; b++) {
    const row = out.subarray(b * vocab, (b + 1) * vocab);
    const probs = softmax(row);
    const cut = cutoff(row, probs);
    const kth = kthLargest(row, top_k);
    for (let i = 0; i < vocab; i++) if (probs[i] < cut && row[i] < kth) row[i] = filter_value;
  }
  return new Tensor("float32", out, [batch, vocab]);
}

/** HF `EpsilonLogitsWarper`: drop tokens with p < epsilon (float32), keeping the `min_tokens_to_keep` best. */
export class EpsilonLogitsWarper implements LogitsProcessor {
  readonly epsilon: number;
  readonly filter_value: number;
  readonly min_tokens_to_keep: number;

  constructor(epsilon: number, filter_value = -Infinity, min_tokens_to_keep = 1) {
    checkCutoff("epsilon_cutoff", epsilon, min_tokens_to_keep);
    this.epsilon = epsilon;
    this.filter_value = filter_value;
    this.min_tokens_to_keep = min_tokens_to_keep;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const eps = Math.fround(this.epsilon);
    return truncateBelow(
      input_ids,
      scores,
      "EpsilonLogitsWarper",
      this.min_tokens_to_keep,
      this.filter_value,
      () => eps,
    );
  }
}

/**
 * HF `EtaLogitsWarper`: drop tokens with p < eta = min(epsilon, sqrt(epsilon) * exp(-H)), H the entropy of
 * softmax(scores) (torch's Categorical entropy, log p clamped to finfo.min), keeping the `min_tokens_to_keep` best.
 */
export class EtaLogitsWarper implements LogitsProcessor {
  readonly epsilon: number;
  readonly filter_value: number;
  readonly min_tokens_to_keep: number;

  constructor(epsilon: number, filter_value = -Infinity, min_tokens_to_keep = 1) {
    checkCutoff("eta_cutoff", epsilon, min_tokens_to_keep);
    this.epsilon = epsilon;
    this.filter_value = filter_value;
    this.min_tokens_to_keep = min_tokens_to_keep;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const eps = Math.fround(this.epsilon);
    return truncateBelow(
      input_ids,
      scores,
      "EtaLogitsWarper",
      this.min_tokens_to_keep,
      this.filter_value,
      (row, probs) => {
        const logp = logSoftmax(row);
        let h = 0;
        for (let i = 0; i < row.length; i++) h -= probs[i] * Math.max(logp[i], -3.4028234663852886e38);
        return Math.min(eps, Math.fround(Math.fround(Math.sqrt(eps)) * Math.fround(Math.exp(-Math.fround(h)))));
      },
    );
  }
}

/** What the classifier-free-guidance processor needs from a model: one plain forward call. */
export interface UnconditionalModel {
  forward(args: {
    input_ids: number[][];
    attention_mask?: number[][];
    position_ids?: number[][];
    past_key_values?: any;
    use_cache?: boolean;
    cache_position?: number[];
  }): { logits: Tensor; past_key_values?: any };
  /** A fresh cache for the unconditional branch (HF's model builds a DynamicCache when none is passed). */
  newCache?: () => any;
}

/**
 * HF `UnbatchedClassifierFreeGuidanceLogitsProcessor` (Sanchez et al. 2023): scores = log_softmax(cond) and
 * uncond = log_softmax of the model's logits on an unconditional context (by default the last prompt id alone),
 * out = guidance_scale * (scores - uncond) + uncond. The unconditional branch keeps its own cache and is fed each
 * new id, positions counted from its own start (HF calls the model without position ids).
 */
export class UnbatchedClassifierFreeGuidanceLogitsProcessor implements LogitsProcessor {
  readonly guidance_scale: number;
  readonly model: UnconditionalModel;
  readonly unconditional_context: {
    input_ids: number[][] | null;
    attention_mask: number[][] | null;
    use_cache: boolean;
    past_key_values: any;
    first_pass: boolean;
  };

  constructor(
    guidance_scale: number,
    model: UnconditionalModel,
    unconditional_ids: number[][] | null = null,
    unconditional_attention_mask: number[][] | null = null,
    use_cache = true,
  ) {
    if (typeof guidance_scale !== "number" || Number.isNaN(guidance_scale))
      throw new ValueError(`\`guidance_scale\` has to be a number, but is ${guidance_scale}`);
    this.guidance_scale = guidance_scale;
    this.model = model;
    this.unconditional_context = {
      input_ids: unconditional_ids,
      attention_mask: unconditional_attention_mask,
      use_cache,
      past_key_values: null,
      first_pass: true,
    };
  }

  get_unconditional_logits(input_ids: number[][]): Tensor {
    const ctx = this.unconditional_context;
    let ids: number[][];
    let mask: number[][];
    if (ctx.first_pass) {
      if (ctx.input_ids === null) ctx.input_ids = input_ids.map((r) => r.slice(-1));
      if (ctx.attention_mask === null) ctx.attention_mask = ctx.input_ids.map((r) => r.map(() => 1));
      ids = ctx.input_ids;
      mask = ctx.attention_mask;
      ctx.first_pass = false;
    } else {
      mask = (ctx.attention_mask as number[][]).map((r) => [...r, 1]);
      ids = ctx.use_cache
        ? input_ids.map((r) => r.slice(-1))
        : (ctx.input_ids as number[][]).map((r, b) => [...r, input_ids[b][input_ids[b].length - 1]]);
      ctx.input_ids = ids;
      ctx.attention_mask = mask;
    }
    const past = ctx.use_cache ? (ctx.past_key_values ?? this.model.newCache?.()) : undefined;
    const pastLen = past && typeof past.get_seq_length === "function" ? past.get_seq_length() : 0;
    const q = ids[0].length;
    const cache_position = Array.from({ length: q }, (_, i) => pastLen + i);
    const out = this.model.forward({
      input_ids: ids,
      attention_mask: mask,
      position_ids: ids.map(() => [...cache_position]),
      past_key_values: past,
      use_cache: ctx.use_cache,
      cache_position,
    });
    ctx.past_key_values = out.past_key_values ?? past ?? null;
    return out.logits;
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    const { out, batch, vocab } = prepare(input_ids, scores, "UnbatchedClassifierFreeGuidanceLogitsProcessor");
    for (let b = 0; b < batch; b++) out.set(logSoftmax(out.subarray(b * vocab, (b + 1) * vocab)), b * vocab);
    if (this.guidance_scale === 1) return new Tensor("float32", out, [batch, vocab]);
    const logits = this.get_unconditional_logits(input_ids);
    const [ub, q, V] = logits.shape;
    // torch broadcasting: one unconditional row serves every row; otherwise the rows must match
    if ((ub !== 1 && ub !== batch) || V !== vocab)
      throw new ShapeError(
        "negative_prompt_ids",
        `classifier-free guidance: unconditional logits [${ub}, ${V}] do not match scores [${batch}, ${vocab}]`,
      );
    const data = logits.toFloat32();
    const g = Math.fround(this.guidance_scale);
    for (let b = 0; b < batch; b++) {
      const u = ub === 1 ? 0 : b;
      const uncond = logSoftmax(data.subarray((u * q + q - 1) * V, (u * q + q) * V));
      for (let i = 0; i < vocab; i++) {
        const s = out[b * vocab + i];
        out[b * vocab + i] = Math.fround(Math.fround(g * Math.fround(s - uncond[i])) + uncond[i]);
      }
    }
    return new Tensor("float32", out, [batch, vocab]);
  }
}
