/**
 * A hand-written GenerationModel for testing `generate` without any neural network.
 *
 * The logits at a position depend only on (token at that position, its position id), through a function the test
 * writes down, so every expected output can be worked out by hand. The fake keeps the token history in the
 * DynamicCache it is given (one float per token, as a [batch, 1, seq, 1] "key"), so a test can check the cache
 * is threaded through the steps; every call's arguments are recorded as deep copies.
 */
import { DynamicCache } from "../../src/cache_utils.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import type { GenerationModel, GenerationModelInputs, GenerationModelKwargs } from "../../src/generation/utils.ts";

export interface RecordedCall {
  input_ids: number[][];
  attention_mask?: number[][];
  position_ids?: number[][];
  cache_position?: number[];
  use_cache?: boolean;
  num_logits_to_keep?: number;
  /** The cache passed in, and how many tokens it held when the call started. */
  past_key_values?: DynamicCache;
  past_length: number;
}

export type LogitsFn = (token: number, position: number, row: number, call: number) => number[];

export class FakeModel implements GenerationModel {
  config: {
    vocab_size: number;
    bos_token_id: number | null;
    eos_token_id: number | number[] | null;
    pad_token_id: number | null;
  };
  calls: RecordedCall[] = [];

  constructor(
    private logitsFor: LogitsFn,
    config: Partial<FakeModel["config"]> & { vocab_size: number },
    /** Ignore num_logits_to_keep and return logits for every input position (what a v4.44 model does). */
    private returnAllPositions = false,
  ) {
    this.config = { bos_token_id: null, eos_token_id: null, pad_token_id: null, ...config };
  }

  /**
   * HF v4.44 LlamaForCausalLM.prepare_inputs_for_generation, written out again here: slice the ids to the
   * cache positions, positions = cumsum(mask) - 1 (1 under padding), their last q_len columns once cached.
   */
  prepare_inputs_for_generation(input_ids: number[][], kw: GenerationModelKwargs): GenerationModelInputs {
    const cached = kw.past_key_values !== undefined;
    const ids =
      cached && input_ids[0].length !== kw.cache_position.length
        ? input_ids.map((r) => kw.cache_position.map((p) => r[p]))
        : input_ids;
    let position_ids: number[][] | undefined;
    if (kw.attention_mask) {
      position_ids = kw.attention_mask.map((row) => {
        let c = 0;
        return row.map((m) => ((c += m), m === 0 ? 1 : c - 1));
      });
      if (cached && kw.past_key_values!.length > 0)
        position_ids = position_ids.map((r) => r.slice(r.length - ids[0].length));
    }
    return {
      input_ids: ids,
      attention_mask: kw.attention_mask,
      position_ids,
      past_key_values: kw.past_key_values,
      use_cache: kw.use_cache,
      cache_position: kw.cache_position,
    };
  }

  forward(args: Parameters<GenerationModel["forward"]>[0]): { logits: Tensor; past_key_values?: DynamicCache } {
    const call = this.calls.length;
    const cache = args.past_key_values;
    this.calls.push({
      input_ids: args.input_ids.map((r) => [...r]),
      attention_mask: args.attention_mask?.map((r) => [...r]),
      position_ids: args.position_ids?.map((r) => [...r]),
      cache_position: args.cache_position ? [...args.cache_position] : undefined,
      use_cache: args.use_cache,
      num_logits_to_keep: args.num_logits_to_keep,
      past_key_values: cache,
      past_length: cache ? cache.get_seq_length() : 0,
    });
    const B = args.input_ids.length;
    const q = args.input_ids[0].length;
    const V = this.config.vocab_size;
    if (cache && args.use_cache) {
      const ids = new Float32Array(args.input_ids.flat());
      cache.update(new Tensor("float32", ids, [B, 1, q, 1]), new Tensor("float32", ids.slice(), [B, 1, q, 1]), 0);
    }
    const keep = !this.returnAllPositions && args.num_logits_to_keep ? args.num_logits_to_keep : q;
    const logits = new Float32Array(B * keep * V);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < keep; j++) {
        const t = q - keep + j;
        const pos = args.position_ids ? args.position_ids[b][t] : (args.cache_position?.[t] ?? t);
        const row = this.logitsFor(args.input_ids[b][t], pos, b, call);
        if (row.length !== V) throw new Error(`test bug: logits row of length ${row.length}, vocab ${V}`);
        logits.set(row, (b * keep + j) * V);
      }
    }
    return { logits: new Tensor("float32", logits, [B, keep, V]), past_key_values: cache };
  }
}

/** A logits row with `value` at each listed index and 0 elsewhere. */
export function peaks(V: number, at: Record<number, number>): number[] {
  const row = new Array<number>(V).fill(0);
  for (const [i, v] of Object.entries(at)) row[Number(i)] = v;
  return row;
}
