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

const f32 = Math.fround;

/** HF `LogitsProcessor` / `LogitsWarper`: one step of score processing. */
export interface LogitsProcessor {
  call(input_ids: number[][], scores: Tensor): Tensor;
}

/** HF `LogitsProcessorList`: a list of processors applied in order. */
export class LogitsProcessorList extends Array<LogitsProcessor> {
  /** HF `list.append`. */
  append(processor: LogitsProcessor): void {
    this.push(processor);
  }

  call(input_ids: number[][], scores: Tensor): Tensor {
    for (const processor of this) scores = processor.call(input_ids, scores);
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
    const p = f32(this.penalty);
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
    const t = f32(this.temperature);
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
    const cutoff = f32(1 - this.top_p);
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
        remove[j] = f32(cum) <= cutoff;
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
    const min_p = f32(this.min_p);
    for (let b = 0; b < batch; b++) {
      const row = out.subarray(b * vocab, (b + 1) * vocab);
      const probs = softmax(row);
      let top = -Infinity;
      for (let i = 0; i < vocab; i++) if (probs[i] > top) top = probs[i];
      const scaled = f32(min_p * top);
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
