/**
 * Candidate generators for assisted decoding: cheap proposals of the next few ids, which the main model then
 * checks in one forward pass.
 *
 * Mirrors HF transformers v4.44 `generation/candidate_generator.py`:
 *   PromptLookupCandidateGenerator  copy the ids that followed the latest earlier occurrence of the current
 *                                   n-gram (Saxena 2023, "prompt lookup decoding")
 *   AssistedCandidateGenerator      greedy ids of a smaller assistant model with the same vocabulary
 * Ids are single rows (assisted decoding is batch 1 in HF).
 */
import { ValueError } from "../errors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { GenerationConfig } from "./configuration_utils.ts";

/** HF `CandidateGenerator`. */
export interface CandidateGenerator {
  /** The ids so far followed by the candidates, [1][cur_len + candidate_length]. */
  get_candidates(input_ids: number[][]): number[][];
  update_candidate_strategy(input_ids: number[][], scores: Tensor[], num_matches: number): void;
}

/**
 * HF `PromptLookupCandidateGenerator`: for n from max_matching_ngram_size (default 2) down to 1, find the first
 * earlier occurrence of the last n ids and propose up to `num_output_tokens` ids that followed it (cut before
 * the first eos id, and so that max_length is not passed). No match: no candidates.
 */
export class PromptLookupCandidateGenerator implements CandidateGenerator {
  readonly num_output_tokens: number;
  readonly max_matching_ngram_size: number;
  readonly max_length: number;
  readonly eos_token_id: number[] | null;

  constructor(
    eos_token_id: number[] | null = null,
    num_output_tokens = 10,
    max_matching_ngram_size: number | null = null,
    max_length = 20,
  ) {
    this.num_output_tokens = num_output_tokens;
    this.max_matching_ngram_size = max_matching_ngram_size ? max_matching_ngram_size : 2;
    this.max_length = max_length;
    this.eos_token_id = eos_token_id;
    if (this.max_matching_ngram_size <= 0 || this.num_output_tokens <= 0)
      throw new ValueError("Invalid max_matching_ngram_size or num_output_tokens");
  }

  get_candidates(input_ids: number[][]): number[][] {
    const ids = input_ids[0];
    const input_length = ids.length;
    // the target model adds one id of its own: never propose past max_length - 1
    if (this.max_length === input_length + 1) return [ids];
    let chosen: number[] | null = null;
    for (let n = Math.min(this.max_matching_ngram_size, input_length - 1); n > 0; n--) {
      const ngram = ids.slice(input_length - n);
      for (let idx = 0; idx + n <= input_length; idx++) {
        let match = true;
        for (let j = 0; j < n; j++) if (ids[idx + j] !== ngram[j]) match = false;
        if (!match) continue;
        const start_idx = idx + n;
        const end_idx = Math.min(start_idx + this.num_output_tokens, input_length, this.max_length);
        if (start_idx < end_idx) {
          chosen = ids.slice(start_idx, end_idx);
          if (this.eos_token_id !== null) {
            const e = chosen.findIndex((t) => (this.eos_token_id as number[]).includes(t));
            if (e >= 0) chosen = chosen.slice(0, e);
          }
          break;
        }
      }
      if (chosen !== null) break;
    }
    if (chosen === null || chosen.length === 0) return [ids];
    return [[...ids, ...chosen]];
  }

  /** HF: prompt lookup has no strategy to update. */
  update_candidate_strategy(): void {}
}

/**
 * What the candidate generator itself reads of the assistant (utils.ts' `GenerationModel` is the full interface;
 * the generator hands the model back to its runner untouched, so it needs no more, and imports nothing from
 * utils.ts, which imports it).
 */
export interface AssistantModel {
  config: { vocab_size: number };
  generation_config?: Pick<GenerationConfig, "num_assistant_tokens" | "num_assistant_tokens_schedule"> | null;
  forward: (...args: never[]) => unknown;
}

/** Greedy continuation of `ids` by the assistant: `ids` followed by at most `max_new_tokens` new ids. */
export type AssistantRunner<M extends AssistantModel> = (model: M, ids: number[], max_new_tokens: number) => number[];

/**
 * HF `AssistedCandidateGenerator`: the assistant model generates up to `num_assistant_tokens` greedy ids (never
 * past max_length - 1); after each round the number grows by 2 when every candidate was accepted and shrinks by
 * 1 (min 1) otherwise ("heuristic" schedule; "constant" keeps it). Unlike HF, which keeps the assistant's cache
 * between rounds and runs it with the main processors, each round re-encodes the ids with plain greedy search:
 * the candidates may differ, the accepted ids cannot (the main model checks every one).
 */
export class AssistedCandidateGenerator<M extends AssistantModel> implements CandidateGenerator {
  readonly assistant_model: M;
  readonly max_length: number;
  num_assistant_tokens: number;
  readonly num_assistant_tokens_schedule: string;
  private readonly run: AssistantRunner<M>;

  constructor(assistant_model: M, generation_config: GenerationConfig, run: AssistantRunner<M>) {
    if (
      assistant_model === null ||
      typeof assistant_model !== "object" ||
      typeof assistant_model.forward !== "function" ||
      typeof assistant_model.config?.vocab_size !== "number"
    )
      throw new ValueError(
        "`assistant_model` must be a causal LM (config.vocab_size, forward, prepare_inputs_for_generation)",
      );
    this.assistant_model = assistant_model;
    this.max_length = generation_config.max_length;
    const own = assistant_model.generation_config;
    this.num_assistant_tokens = own?.num_assistant_tokens ?? generation_config.num_assistant_tokens;
    this.num_assistant_tokens_schedule =
      own?.num_assistant_tokens_schedule ?? generation_config.num_assistant_tokens_schedule;
    this.run = run;
  }

  get_candidates(input_ids: number[][]): number[][] {
    const ids = input_ids[0];
    const max_new_tokens = Math.min(Math.trunc(this.num_assistant_tokens), this.max_length - ids.length - 1);
    if (max_new_tokens <= 0) return [ids];
    return [this.run(this.assistant_model, ids, max_new_tokens)];
  }

  update_candidate_strategy(_input_ids: number[][], _scores: Tensor[], num_matches: number): void {
    const s = this.num_assistant_tokens_schedule;
    if (s === "heuristic" || s === "heuristic_transient") {
      if (num_matches === Math.trunc(this.num_assistant_tokens)) this.num_assistant_tokens += 2.0;
      else this.num_assistant_tokens = Math.max(1.0, this.num_assistant_tokens - 1.0);
    }
  }
}
