/**
 * Beam scorers: keep the best finished hypotheses of a beam search and pick the beams of the next step.
 *
 * Mirrors HF transformers v4.44 `generation/beam_search.py`:
 *   BeamHypotheses               the n best finished hypotheses of one batch row (or one group of it)
 *   BeamSearchScorer             `process` (one step: finished candidates -> hypotheses, the rest -> next beams)
 *                                and `finalize` (best hypotheses -> padded output), with beam groups
 *   ConstrainedBeamSearchScorer  the same with `force_words_ids` constraints (banks of progress)
 *
 * Scores: a hypothesis' score is sum(log-probs of its new tokens, eos included) / generated_len ** length_penalty,
 * generated_len = tokens after the prompt including the eos. HF quirks kept:
 *   - a finished hypothesis is stored WITHOUT its eos, and `finalize` appends `eos_token_id[0]` when the row has
 *     room: with an eos list the row ends with the first eos id, not the one generated;
 *   - a candidate eos ranked at or below `num_beams` among the 2 * num_beams candidates is dropped, not stored;
 *   - `early_stopping`: true stops once num_beams hypotheses are stored; false stops when the best running sum
 *     / (cur_len - prompt) ** lp cannot beat the worst stored score; "never" uses (max_length - prompt) ** lp
 *     for lp > 0 (the best attainable), else the same as false.
 * Ids are rows (`number[][]`); scores are float32 values (HF's float tensors) read as numbers.
 */
import { ValueError } from "../errors.ts";
import { ConstraintListState, type Constraint } from "./beam_constraints.ts";

/** One stored hypothesis: [score, ids (prompt included, eos excluded), beam indices or null]. */
export type Hypothesis = [number, number[], number[] | null];

/** HF `BeamHypotheses`. */
export class BeamHypotheses {
  readonly length_penalty: number;
  readonly early_stopping: boolean | "never";
  readonly num_beams: number;
  readonly max_length: number | null;
  beams: Hypothesis[] = [];
  worst_score = 1e9;

  constructor(
    num_beams: number,
    length_penalty: number,
    early_stopping: boolean | "never",
    max_length: number | null = null,
  ) {
    this.length_penalty = length_penalty;
    this.early_stopping = early_stopping;
    this.max_length = max_length;
    this.num_beams = num_beams;
    if (typeof early_stopping !== "boolean" && max_length === null)
      throw new ValueError(
        "When `do_early_stopping` is set to a string, `max_length` must be defined. Ensure it is passed to the BeamScorer class instance at initialization time.",
      );
  }

  get length(): number {
    return this.beams.length;
  }

  /** Store a hypothesis if there is room or it beats the worst one (which is then dropped). */
  add(
    hyp: number[],
    sum_logprobs: number,
    beam_indices: number[] | null = null,
    generated_len: number | null = null,
  ): void {
    const score =
      generated_len !== null
        ? sum_logprobs / generated_len ** this.length_penalty
        : sum_logprobs / hyp.length ** this.length_penalty;
    if (this.beams.length < this.num_beams || score > this.worst_score) {
      this.beams.push([score, hyp, beam_indices]);
      if (this.beams.length > this.num_beams) {
        // Python's sorted() of (score, index) pairs: by score, ties by index
        const sorted = this.beams.map((b, idx) => [b[0], idx] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        this.beams.splice(sorted[0][1], 1);
        this.worst_score = sorted[1][0];
      } else {
        this.worst_score = Math.min(score, this.worst_score);
      }
    }
  }

  /** Whether no running beam can still improve this row's stored hypotheses (see `early_stopping`). */
  is_done(best_sum_logprobs: number, cur_len: number, decoder_prompt_len = 0): boolean {
    if (this.beams.length < this.num_beams) return false;
    if (this.early_stopping === true) return true;
    if (this.early_stopping === false) {
      const highest = best_sum_logprobs / (cur_len - decoder_prompt_len) ** this.length_penalty;
      return this.worst_score >= highest;
    }
    let highest: number;
    if (this.length_penalty > 0.0) {
      if ((this.max_length as number) <= decoder_prompt_len)
        throw new ValueError("max_length is not larger than decoder prompt length");
      highest = best_sum_logprobs / ((this.max_length as number) - decoder_prompt_len) ** this.length_penalty;
    } else {
      highest = best_sum_logprobs / (cur_len - decoder_prompt_len) ** this.length_penalty;
    }
    return this.worst_score >= highest;
  }
}

/** What `process` returns: the next beams, flat over [batch * group_size]. */
export interface BeamOutputs {
  next_beam_scores: number[];
  next_beam_tokens: number[];
  next_beam_indices: number[];
}

/** What `finalize` returns. */
export interface BeamSearchOutput {
  sequences: number[][];
  sequence_scores: number[];
  beam_indices: number[][] | null;
}

/** The options of a beam scorer (HF's constructor arguments). */
export interface BeamScorerOptions {
  batch_size: number;
  num_beams: number;
  length_penalty?: number;
  do_early_stopping?: boolean | "never";
  num_beam_hyps_to_keep?: number;
  num_beam_groups?: number;
  max_length?: number | null;
}

/**
 * HF `BeamScorer` (abstract): the state both scorers share, one BeamHypotheses per batch row and group, and the
 * candidate walk of `process`: eos candidates ranked below group_size are stored through `onEos`, the first
 * group_size other candidates become the next beams.
 */
export abstract class BeamScorer {
  readonly num_beams: number;
  readonly length_penalty: number;
  readonly do_early_stopping: boolean | "never";
  readonly num_beam_hyps_to_keep: number;
  readonly num_beam_groups: number;
  readonly group_size: number;
  readonly _beam_hyps: BeamHypotheses[];
  readonly _done: boolean[];

  constructor(opts: BeamScorerOptions, hyps_per_row_num_beams: "group" | "all") {
    this.num_beams = opts.num_beams;
    this.length_penalty = opts.length_penalty ?? 1.0;
    this.do_early_stopping = opts.do_early_stopping ?? false;
    this.num_beam_hyps_to_keep = opts.num_beam_hyps_to_keep ?? 1;
    this.num_beam_groups = opts.num_beam_groups ?? 1;
    this.group_size = Math.floor(this.num_beams / this.num_beam_groups);
    // BeamSearchScorer keeps one BeamHypotheses per row and group (of group_size); the constrained one per row
    const n = hyps_per_row_num_beams === "group" ? opts.batch_size * this.num_beam_groups : opts.batch_size;
    const size = hyps_per_row_num_beams === "group" ? this.group_size : this.num_beams;
    this._beam_hyps = Array.from(
      { length: n },
      () => new BeamHypotheses(size, this.length_penalty, this.do_early_stopping, opts.max_length ?? null),
    );
    this._done = new Array<boolean>(n).fill(false);
    if (!Number.isInteger(this.num_beams) || this.num_beams <= 1)
      throw new ValueError(
        `\`num_beams\` has to be an integer strictly greater than 1, but is ${this.num_beams}. For \`num_beams\` == 1, one should make use of \`greedy_search\` instead.`,
      );
    if (
      !Number.isInteger(this.num_beam_groups) ||
      this.num_beam_groups > this.num_beams ||
      this.num_beams % this.num_beam_groups !== 0
    )
      throw new ValueError(
        `\`num_beam_groups\` has to be an integer smaller or equal than \`num_beams\` and \`num_beams\` has to be divisible by \`num_beam_groups\`, but is ${this.num_beam_groups} with \`num_beams\` being ${this.num_beams}.`,
      );
  }

  get is_done(): boolean {
    return this._done.every(Boolean);
  }

  protected checkInputRows(input_ids: number[][], batch_size: number): void {
    if (batch_size !== Math.floor(input_ids.length / this.group_size))
      throw new ValueError(
        this.num_beam_groups > 1
          ? `A group beam size of ${input_ids.length} is used as the input, but a group beam size of ${this.group_size} is expected by the beam scorer.`
          : `A beam size of ${input_ids.length} is used as the input, but a beam size of ${this.group_size} is expected by the beam scorer.`,
      );
  }

  protected emptyOutputs(batch_size: number): BeamOutputs {
    const n = batch_size * this.group_size;
    return {
      next_beam_scores: new Array(n).fill(0),
      next_beam_tokens: new Array(n).fill(0),
      next_beam_indices: new Array(n).fill(0),
    };
  }

  /** A row already done keeps running on pad tokens with score 0 (HF "pad the batch"). Returns whether it was. */
  protected padIfDone(
    out: BeamOutputs,
    batch_idx: number,
    hyps_idx: number,
    pad_token_id: number | null,
    eos_token_id: number[] | null,
  ): boolean {
    if (!this._done[hyps_idx]) return false;
    if (this.num_beams < this._beam_hyps[hyps_idx].length)
      throw new ValueError(`Batch can only be done if at least ${this.num_beams} beams have been generated`);
    if (eos_token_id === null || pad_token_id === null)
      throw new ValueError("Generated beams >= num_beams -> eos_token_id and pad_token have to be defined");
    const G = this.group_size;
    for (let j = 0; j < G; j++) {
      out.next_beam_scores[batch_idx * G + j] = 0;
      out.next_beam_tokens[batch_idx * G + j] = pad_token_id;
      out.next_beam_indices[batch_idx * G + j] = 0;
    }
    return true;
  }

  /** The candidate walk of one row (candidates sorted best first); throws when eos ids leave too few beams. */
  protected selectRow(
    out: BeamOutputs,
    batch_idx: number,
    next_scores: number[],
    next_tokens: number[],
    next_indices: number[],
    eos_token_id: number[] | null,
    onEos: (batch_beam_idx: number, score: number) => void,
  ): void {
    const G = this.group_size;
    let beam_idx = 0;
    for (let rank = 0; rank < next_tokens.length; rank++) {
      const batch_beam_idx = batch_idx * G + next_indices[rank];
      if (eos_token_id !== null && eos_token_id.includes(next_tokens[rank])) {
        // an eos outside the top group_size candidates is not stored
        if (rank >= G) continue;
        onEos(batch_beam_idx, next_scores[rank]);
      } else {
        out.next_beam_scores[batch_idx * G + beam_idx] = next_scores[rank];
        out.next_beam_tokens[batch_idx * G + beam_idx] = next_tokens[rank];
        out.next_beam_indices[batch_idx * G + beam_idx] = batch_beam_idx;
        beam_idx += 1;
      }
      if (beam_idx === G) break;
    }
    if (beam_idx < G)
      throw new ValueError(
        `At most ${G} tokens in [${next_tokens}] can be equal to \`eos_token_id: [${eos_token_id}]\`. Make sure [${next_tokens}] are corrected.`,
      );
  }
}

/** HF `BeamSearchScorer` (also the scorer of group beam search: one BeamHypotheses per batch row and group). */
export class BeamSearchScorer extends BeamScorer {
  constructor(opts: BeamScorerOptions) {
    super(opts, "group");
  }

  /**
   * One step. `next_scores/next_tokens/next_indices` are [batch][2 * group_size] candidates sorted best first
   * (running sums, token ids, beam index within the row's group). Eos candidates ranked < group_size become
   * hypotheses; the first group_size others become the next beams.
   */
  process(
    input_ids: number[][],
    next_scores: number[][],
    next_tokens: number[][],
    next_indices: number[][],
    pad_token_id: number | null,
    eos_token_id: number[] | null,
    beam_indices: number[][] | null = null,
    group_index = 0,
    decoder_prompt_len = 0,
  ): BeamOutputs {
    const cur_len = input_ids[0].length + 1; // the length next_scores were computed for
    const batch_size = Math.floor(this._beam_hyps.length / this.num_beam_groups);
    this.checkInputRows(input_ids, batch_size);
    const out = this.emptyOutputs(batch_size);
    for (let batch_idx = 0; batch_idx < batch_size; batch_idx++) {
      const batch_group_idx = batch_idx * this.num_beam_groups + group_index;
      if (this.padIfDone(out, batch_idx, batch_group_idx, pad_token_id, eos_token_id)) continue;
      const hyps = this._beam_hyps[batch_group_idx];
      this.selectRow(
        out,
        batch_idx,
        next_scores[batch_idx],
        next_tokens[batch_idx],
        next_indices[batch_idx],
        eos_token_id,
        (bbi, score) => {
          const beam_index = beam_indices !== null ? [...beam_indices[bbi], bbi] : null;
          hyps.add([...input_ids[bbi]], score, beam_index, cur_len - decoder_prompt_len);
        },
      );
      this._done[batch_group_idx] =
        this._done[batch_group_idx] || hyps.is_done(Math.max(...next_scores[batch_idx]), cur_len, decoder_prompt_len);
    }
    return out;
  }

  /**
   * Add every running beam of the unfinished rows as a hypothesis, then per batch row take the
   * `num_beam_hyps_to_keep` best (over all groups), pad to a common length and append `eos_token_id[0]` where it
   * fits (max_length caps the width).
   */
  finalize(
    input_ids: number[][],
    final_beam_scores: number[],
    max_length: number | null,
    pad_token_id: number | null,
    eos_token_id: number[] | null,
    beam_indices: number[][] | null = null,
    decoder_prompt_len = 0,
  ): BeamSearchOutput {
    const batch_size = Math.floor(this._beam_hyps.length / this.num_beam_groups);
    this._beam_hyps.forEach((hyps, batch_group_idx) => {
      if (this._done[batch_group_idx]) return;
      for (let k = 0; k < this.group_size; k++) {
        const batch_beam_idx = batch_group_idx * this.group_size + k;
        const final_tokens = input_ids[batch_beam_idx];
        const beam_index = beam_indices !== null ? beam_indices[batch_beam_idx] : null;
        hyps.add(
          [...final_tokens],
          final_beam_scores[batch_beam_idx],
          beam_index,
          final_tokens.length - decoder_prompt_len,
        );
      }
    });
    const best: Hypothesis[] = [];
    for (let i = 0; i < batch_size; i++) {
      const candidates = this._beam_hyps
        .slice(i * this.num_beam_groups, (i + 1) * this.num_beam_groups)
        .flatMap((h) => h.beams);
      best.push(...pickBest(candidates, this.num_beam_hyps_to_keep));
    }
    return decodeHypotheses(best, max_length, pad_token_id, eos_token_id);
  }
}

/** Python `sorted(beams, key=score)` then `pop()` k times: the k best, ties resolved toward the later-added one. */
function pickBest(beams: Hypothesis[], k: number): Hypothesis[] {
  const sorted = beams.map((b, i) => [b, i] as const).sort((a, b) => a[0][0] - b[0][0] || a[1] - b[1]);
  const out: Hypothesis[] = [];
  for (let j = 0; j < k; j++) {
    const top = sorted.pop();
    if (top === undefined) throw new ValueError("beam search: fewer finished hypotheses than num_return_sequences");
    out.push(top[0]);
  }
  return out;
}

/** The tail of HF `finalize`: rows of equal width, `eos_token_id[0]` appended where there is room. */
function decodeHypotheses(
  best: Hypothesis[],
  max_length: number | null,
  pad_token_id: number | null,
  eos_token_id: number[] | null,
): BeamSearchOutput {
  const sent_lengths = best.map((h) => h[1].length);
  const sent_lengths_max = Math.max(...sent_lengths) + 1;
  const sent_max_len = max_length !== null ? Math.min(sent_lengths_max, max_length) : sent_lengths_max;
  const withIndices = best.length > 0 && best[0][2] !== null;
  const ragged = Math.min(...sent_lengths) !== Math.max(...sent_lengths);
  if (ragged && pad_token_id === null) throw new ValueError("`pad_token_id` has to be defined");
  const sequences: number[][] = [];
  const indices: number[][] = [];
  best.forEach(([, hypo, idx], i) => {
    // HF leaves the tensor uninitialised when no row needs padding; every cell is then written below or by eos
    const row = new Array<number>(sent_max_len).fill(pad_token_id ?? 0);
    for (let t = 0; t < Math.min(hypo.length, sent_max_len); t++) row[t] = hypo[t];
    if (sent_lengths[i] < sent_max_len) {
      if (eos_token_id === null)
        throw new ValueError("beam search: a hypothesis shorter than the output needs an eos id");
      row[sent_lengths[i]] = eos_token_id[0];
    }
    sequences.push(row);
    if (withIndices) {
      const r = new Array<number>(sent_max_len).fill(-1);
      (idx as number[]).forEach((v, t) => (r[t] = v));
      indices.push(r);
    }
  });
  return {
    sequences,
    sequence_scores: best.map((h) => Math.fround(h[0])),
    beam_indices: withIndices ? indices : null,
  };
}

/**
 * HF `ConstrainedBeamSearchScorer`: beam search where each step's candidates are extended with the ids that
 * advance each beam's constraints, then ranked by bank (constraint progress) first and score second, taking the
 * best of each bank in turn. Only hypotheses that complete every constraint are stored (at finalize, if fewer
 * than num_return_sequences did, the running beams are added anyway).
 */
export class ConstrainedBeamSearchScorer extends BeamScorer {
  readonly constraints: Constraint[];

  constructor(opts: BeamScorerOptions & { constraints: Constraint[] }) {
    super(opts, "all");
    this.constraints = opts.constraints;
  }

  make_constraint_states(n: number): ConstraintListState[] {
    return Array.from({ length: n }, () => new ConstraintListState(this.constraints.map((c) => c.copy())));
  }

  check_completes_constraints(sequence: number[]): boolean {
    const state = this.make_constraint_states(1)[0];
    state.reset(sequence);
    return state.completed;
  }

  /** As BeamSearchScorer.process, then `step_sentence_constraint` re-ranks each row's next beams. */
  process(
    input_ids: number[][],
    next_scores: number[][],
    next_tokens: number[][],
    next_indices: number[][],
    scores_for_all_vocab: Float32Array,
    vocab_size: number,
    pad_token_id: number | null,
    eos_token_id: number[] | null,
    beam_indices: number[][] | null = null,
    decoder_prompt_len = 0,
  ): BeamOutputs {
    const cur_len = input_ids[0].length + 1;
    const batch_size = this._beam_hyps.length;
    const G = this.group_size;
    this.checkInputRows(input_ids, batch_size);
    const out = this.emptyOutputs(batch_size);
    for (let batch_idx = 0; batch_idx < batch_size; batch_idx++) {
      if (this.padIfDone(out, batch_idx, batch_idx, pad_token_id, eos_token_id)) continue;
      const hyps = this._beam_hyps[batch_idx];
      this.selectRow(
        out,
        batch_idx,
        next_scores[batch_idx],
        next_tokens[batch_idx],
        next_indices[batch_idx],
        eos_token_id,
        (bbi, score) => {
          // only hypotheses that fulfil every constraint are stored
          if (!this.check_completes_constraints(input_ids[bbi])) return;
          const beam_index = beam_indices !== null ? [...beam_indices[bbi], bbi] : null;
          hyps.add([...input_ids[bbi]], score, beam_index, cur_len - decoder_prompt_len);
        },
      );
      const [s, t, i] = this.step_sentence_constraint(
        batch_idx,
        input_ids,
        scores_for_all_vocab,
        vocab_size,
        out.next_beam_scores.slice(batch_idx * G, (batch_idx + 1) * G),
        out.next_beam_tokens.slice(batch_idx * G, (batch_idx + 1) * G),
        out.next_beam_indices.slice(batch_idx * G, (batch_idx + 1) * G),
      );
      for (let j = 0; j < G; j++) {
        out.next_beam_scores[batch_idx * G + j] = s[j];
        out.next_beam_tokens[batch_idx * G + j] = t[j];
        out.next_beam_indices[batch_idx * G + j] = i[j];
      }
      this._done[batch_idx] =
        this._done[batch_idx] || hyps.is_done(Math.max(...next_scores[batch_idx]), cur_len, decoder_prompt_len);
    }
    return out;
  }

  /**
   * HF `step_sentence_constraint`: add, for every beam of the row that has not completed its constraints, one
   * candidate per id that advances them (scored from `vocab_scores`); sort all candidates by
   * bank * 100 + score, then interleave the banks (best of the top bank, best of the next bank, ..., second of
   * the top bank, ...) and keep the first `num_beams`.
   */
  step_sentence_constraint(
    batch_idx: number,
    input_ids: number[][],
    vocab_scores: Float32Array,
    vocab_size: number,
    sent_beam_scores: number[],
    sent_beam_tokens: number[],
    sent_beam_indices: number[],
    push_progress = false,
  ): [number[], number[], number[]] {
    const orig_len = sent_beam_indices.length;
    const topk_states = this.make_constraint_states(orig_len);
    const advance_states = this.make_constraint_states(orig_len);
    const sidx = batch_idx * orig_len;
    const full_hypotheses = sent_beam_indices.map((bi, j) => [...input_ids[bi], sent_beam_tokens[j]]);
    const seqKey = (s: number[]) => s.join(",");
    const seen = new Set(full_hypotheses.map(seqKey));
    const new_states: ConstraintListState[] = [];
    const new_indices: number[] = [];
    const new_tokens: number[] = [];
    const new_scores: number[] = [];
    for (let seq_idx = 0; seq_idx < orig_len; seq_idx++) {
      const pre_seq = input_ids[sidx + seq_idx];
      topk_states[seq_idx].reset(full_hypotheses[seq_idx]);
      const advance_state = advance_states[seq_idx];
      advance_state.reset(pre_seq);
      const rowScores = (id: number) => vocab_scores[(sidx + seq_idx) * vocab_size + id];
      if (!advance_state.completed) {
        for (const advance_token of advance_state.advance() ?? []) {
          const new_state = advance_state.copy(true);
          new_state.add(advance_token);
          const advance_seq = [...pre_seq, advance_token];
          if (!seen.has(seqKey(advance_seq))) {
            seen.add(seqKey(advance_seq));
            new_indices.push(sidx + seq_idx);
            new_tokens.push(advance_token);
            new_scores.push(rowScores(advance_token));
            new_states.push(new_state);
          }
        }
      } else if (push_progress) {
        let best = 0;
        for (let v = 1; v < vocab_size; v++) if (rowScores(v) > rowScores(best)) best = v;
        const advance_seq = [...pre_seq, best];
        advance_state.reset(advance_seq);
        if (!seen.has(seqKey(advance_seq))) {
          seen.add(seqKey(advance_seq));
          new_indices.push(seq_idx);
          new_tokens.push(best);
          new_scores.push(rowScores(best));
          new_states.push(advance_state);
        }
      }
    }
    if (new_indices.length === 0) return [sent_beam_scores, sent_beam_tokens, sent_beam_indices];
    const all_states = [...topk_states, ...new_states];
    const all_tokens = [...sent_beam_tokens, ...new_tokens];
    const all_scores = [...sent_beam_scores, ...new_scores];
    const all_indices = [...sent_beam_indices, ...new_indices];
    const all_banks = all_states.map((s) => s.get_bank());
    // zipped = banks * 100 + scores (float32), sorted descending
    const zipped = all_banks.map((b, i) => Math.fround(b * 100 + all_scores[i]));
    const order = zipped.map((_, i) => i).sort((a, b) => zipped[b] - zipped[a] || a - b);
    const sorted_banks = order.map((i) => all_banks[i]);
    let counter = -1;
    let cur_bank = sorted_banks[0];
    const increments: number[] = [];
    for (const bank of sorted_banks) {
      if (bank === cur_bank) counter += 1;
      else {
        counter = 0;
        cur_bank = bank;
      }
      increments.push(counter);
    }
    // np.argsort(increments, kind="mergesort"): stable
    const rearrangers = increments.map((_, i) => i).sort((a, b) => increments[a] - increments[b] || a - b);
    const picked = rearrangers.map((r) => order[r]).slice(0, orig_len);
    return [picked.map((i) => all_scores[i]), picked.map((i) => all_tokens[i]), picked.map((i) => all_indices[i])];
  }

  finalize(
    input_ids: number[][],
    final_beam_scores: number[],
    max_length: number | null,
    pad_token_id: number | null,
    eos_token_id: number[] | null,
    beam_indices: number[][] | null = null,
    decoder_prompt_len = 0,
  ): BeamSearchOutput {
    const batch_size = this._beam_hyps.length;
    this._beam_hyps.forEach((hyps, batch_idx) => {
      if (this._done[batch_idx]) return;
      const ids_collect: number[] = [];
      for (let beam_id = 0; beam_id < this.num_beams; beam_id++) {
        const batch_beam_idx = batch_idx * this.num_beams + beam_id;
        const final_tokens = input_ids[batch_beam_idx];
        if (this.check_completes_constraints(final_tokens)) {
          const beam_index = beam_indices !== null ? beam_indices[batch_beam_idx] : null;
          hyps.add(
            [...final_tokens],
            final_beam_scores[batch_beam_idx],
            beam_index,
            final_tokens.length - decoder_prompt_len,
          );
          ids_collect.push(beam_id);
        }
      }
      // too few beams complete the constraints: HF adds the others (its loop's early break never fires, as
      // ids_collect does not grow inside it, so every remaining beam is offered)
      if (ids_collect.length < this.num_beam_hyps_to_keep) {
        for (let beam_id = 0; beam_id < this.num_beams; beam_id++) {
          if (!ids_collect.includes(beam_id)) {
            const batch_beam_idx = batch_idx * this.num_beams + beam_id;
            const final_tokens = input_ids[batch_beam_idx];
            hyps.add(
              [...final_tokens],
              final_beam_scores[batch_beam_idx],
              null,
              final_tokens.length - decoder_prompt_len,
            );
          }
          if (ids_collect.length >= this.num_beam_hyps_to_keep) break;
        }
      }
    });
    const best: Hypothesis[] = [];
    for (let i = 0; i < batch_size; i++) best.push(...pickBest(this._beam_hyps[i].beams, this.num_beam_hyps_to_keep));
    return decodeHypotheses(best, max_length, pad_token_id, eos_token_id);
  }
}
