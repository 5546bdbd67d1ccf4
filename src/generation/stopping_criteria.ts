/**
 * Stopping criteria: per row, "is this sequence finished?" after each step.
 *
 * Mirrors HF transformers v4.44 `generation/stopping_criteria.py`. `call(input_ids, scores)` takes the ids so far
 * as rows (`[batch][cur_len]`) and returns one boolean per row; `StoppingCriteriaList` ORs its members.
 *
 *   MaxLengthCriteria    cur_len >= max_length (prompt included)
 *   MaxTimeCriteria      wall time since construction > max_time seconds
 *   StopStringCriteria   a stop string ends inside the row's last token (HF's token-boundary-aware matching)
 *   EosTokenCriteria     the row's last id is an eos id
 */
import { ValueError } from "../errors.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** HF `StoppingCriteria`: one boolean per row. A custom criterion implements this. */
export interface StoppingCriteria {
  call(input_ids: number[][], scores: Tensor[] | null): boolean[];
}

/** HF `MaxLengthCriteria`: every row is done once the sequence (prompt included) has `max_length` ids. */
export class MaxLengthCriteria implements StoppingCriteria {
  readonly max_length: number;
  readonly max_position_embeddings: number | null;

  constructor(max_length: number, max_position_embeddings: number | null = null) {
    if (!Number.isInteger(max_length) || max_length < 0)
      throw new ValueError(`\`max_length\` has to be a non-negative integer, but is ${max_length}`);
    this.max_length = max_length;
    this.max_position_embeddings = max_position_embeddings;
  }

  call(input_ids: number[][]): boolean[] {
    const cur_len = input_ids[0]?.length ?? 0;
    // HF warns here once when cur_len reaches max_position_embeddings.
    return input_ids.map(() => cur_len >= this.max_length);
  }
}

/** HF `MaxTimeCriteria`: every row is done once more than `max_time` seconds passed since `initial_timestamp`. */
export class MaxTimeCriteria implements StoppingCriteria {
  readonly max_time: number;
  readonly initial_timestamp: number;

  /** @param initial_timestamp seconds since the epoch (HF `time.time()`); default: now */
  constructor(max_time: number, initial_timestamp: number | null = null) {
    if (typeof max_time !== "number" || Number.isNaN(max_time))
      throw new ValueError(`\`max_time\` has to be a number of seconds, but is ${max_time}`);
    this.max_time = max_time;
    this.initial_timestamp = initial_timestamp ?? Date.now() / 1000;
  }

  call(input_ids: number[][]): boolean[] {
    const done = Date.now() / 1000 - this.initial_timestamp > this.max_time;
    return input_ids.map(() => done);
  }
}

/** HF `EosTokenCriteria`: a row is done when its last id is one of the eos ids. */
export class EosTokenCriteria implements StoppingCriteria {
  readonly eos_token_id: number[];

  constructor(eos_token_id: number | number[]) {
    this.eos_token_id = Array.isArray(eos_token_id) ? [...eos_token_id] : [eos_token_id];
  }

  call(input_ids: number[][]): boolean[] {
    return input_ids.map((row) => this.eos_token_id.includes(row[row.length - 1]));
  }
}

/** What StopStringCriteria needs from a tokenizer (HF `PreTrainedTokenizerBase`). */
export interface StopStringTokenizer {
  get_vocab(): Map<string, number> | Record<string, number>;
  convert_tokens_to_string(tokens: string[]): string;
  convert_ids_to_tokens(ids: number[]): string[];
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
}

/**
 * HF `StopStringCriteria`: a row is done when one of `stop_strings` ENDS inside its last token. The string may
 * start in earlier tokens (the prompt included) and the last token may run past its end; a token holding the
 * whole string matches too.
 *
 * As in HF, each token's text is read in context (`clean_tokenizer_vocab`: the token decoded after the prefix
 * "abcdef", so sentencepiece's "▁" becomes the space it stands for) and two tables are built per stop string:
 *   end_lengths[token]      how many characters of the string's END the token can hold (it overlaps the end)
 *   valid_positions[token]  offsets from the string's end at which the token fits (wholly, or running past its
 *                           start) when it is not the last token
 * and a match walks back from the last token: start with one end length, then each earlier token must fit at
 * the offset covered so far, until the covered length reaches the string's length.
 */
export class StopStringCriteria implements StoppingCriteria {
  readonly stop_strings: string[];
  private readonly valid_positions: Map<number, number[]>[];
  private readonly end_lengths: Map<number, number[]>[];
  private readonly token_lengths: Map<number, number>;

  constructor(tokenizer: StopStringTokenizer, stop_strings: string | string[]) {
    const list = typeof stop_strings === "string" ? [stop_strings] : stop_strings;
    if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== "string" || s.length === 0))
      throw new ValueError(
        `\`stop_strings\` must be a non-empty string or list of non-empty strings, got ${JSON.stringify(stop_strings)}`,
      );
    this.stop_strings = [...list];
    for (const m of ["get_vocab", "convert_tokens_to_string", "convert_ids_to_tokens", "encode"] as const) {
      if (typeof (tokenizer as unknown as Record<string, unknown> | null)?.[m] !== "function")
        throw new ValueError(`\`tokenizer\` (needed by stop_strings) must be a tokenizer with \`${m}\``);
    }
    const [token_list, token_indices] = StopStringCriteria.clean_tokenizer_vocab(tokenizer);
    this.token_lengths = new Map(token_indices.map((id, i) => [id, token_list[i].length]));
    this.valid_positions = [];
    this.end_lengths = [];
    for (const stop of this.stop_strings) {
      const [valid, ends] = StopStringCriteria._stop_string_get_matching_positions(token_list, token_indices, stop);
      this.valid_positions.push(valid);
      this.end_lengths.push(ends);
    }
  }

  /** HF `clean_tokenizer_vocab`: each token's text as it reads after the prefix "abcdef". */
  static clean_tokenizer_vocab(tokenizer: StopStringTokenizer, static_prefix = "abcdef"): [string[], number[]] {
    const vocab = tokenizer.get_vocab();
    const entries: [string, number][] = vocab instanceof Map ? [...vocab.entries()] : Object.entries(vocab);
    const tokens_base = tokenizer.convert_ids_to_tokens(tokenizer.encode(static_prefix, { add_special_tokens: false }));
    const clean_token_list: string[] = [];
    const clean_token_indices: number[] = [];
    for (const [token, token_idx] of entries) {
      let token_string = tokenizer.convert_tokens_to_string([...tokens_base, token]);
      token_string = token_string.slice(token_string.indexOf(static_prefix) + static_prefix.length);
      clean_token_list.push(token_string);
      clean_token_indices.push(token_idx);
    }
    return [clean_token_list, clean_token_indices];
  }

  /** HF `_stop_string_get_matching_positions`, in reversed-string coordinates as HF computes them. */
  static _stop_string_get_matching_positions(
    token_list: string[],
    token_indices: number[],
    stop_string: string,
  ): [Map<number, number[]>, Map<number, number[]>] {
    const reversed_stop = [...stop_string].reverse().join("");
    const valid = new Map<number, number[]>();
    const ends = new Map<number, number[]>();
    token_list.forEach((token, k) => {
      const reversed_token = [...token].reverse().join("");
      const matching_positions: number[] = [];
      const possible_end_lengths: number[] = [];
      for (let i = 1 - reversed_token.length; i < reversed_stop.length; i++) {
        let tok: string;
        let pos = i;
        if (pos < 0) {
          tok = reversed_token.slice(-pos);
          pos = 0;
        } else tok = reversed_token;
        const stop = reversed_stop.slice(pos, pos + tok.length);
        if (tok.startsWith(stop)) {
          if (pos === 0) possible_end_lengths.push(Math.min(tok.length, stop.length));
          else matching_positions.push(pos);
        }
      }
      if (matching_positions.length > 0) valid.set(token_indices[k], matching_positions);
      if (possible_end_lengths.length > 0) ends.set(token_indices[k], possible_end_lengths);
    });
    return [valid, ends];
  }

  call(input_ids: number[][]): boolean[] {
    return input_ids.map((row) => this.stop_strings.some((stop, s) => this.rowMatches(row, s, stop.length)));
  }

  private rowMatches(row: number[], s: number, stopLength: number): boolean {
    const ends = this.end_lengths[s].get(row[row.length - 1]);
    if (!ends) return false;
    for (const end of ends) {
      let covered = end;
      for (let t = row.length - 2; covered < stopLength && t >= 0; t--) {
        const positions = this.valid_positions[s].get(row[t]);
        if (!positions || !positions.includes(covered)) break;
        covered += this.token_lengths.get(row[t]) ?? 0;
      }
      if (covered >= stopLength) return true;
    }
    return false;
  }
}

/** HF `StoppingCriteriaList`: a row is done when any criterion says so. */
export class StoppingCriteriaList extends Array<StoppingCriteria> {
  append(criteria: StoppingCriteria): void {
    this.push(criteria);
  }

  call(input_ids: number[][], scores: Tensor[] | null = null): boolean[] {
    const is_done = input_ids.map(() => false);
    for (const c of this) {
      const d = c.call(input_ids, scores);
      d.forEach((v, i) => (is_done[i] = is_done[i] || v));
    }
    return is_done;
  }

  /** HF `max_length`: the max_length of the MaxLengthCriteria in the list, if any. */
  get max_length(): number | null {
    for (const c of this) if (c instanceof MaxLengthCriteria) return c.max_length;
    return null;
  }
}
