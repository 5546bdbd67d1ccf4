/**
 * Constraints for constrained beam search (`force_words_ids`): which words the output must contain.
 *
 * Mirrors HF transformers v4.44 `generation/beam_constraints.py`:
 *   PhrasalConstraint      an ordered list of ids that must appear contiguously
 *   DisjunctiveConstraint  one of several such lists (a trie of the alternatives)
 *   ConstraintListState    a beam's progress through all constraints; its "bank" (completed constraints *
 *                          max_seqlen + progress in the current one) orders candidates in the scorer
 * HF quirks kept: `PhrasalConstraint.reset()` sets `fulfilled_idx` to 0, not -1 (so after a broken phrase the
 * next `advance()` proposes the phrase's SECOND id); a stateful copy of a DisjunctiveConstraint shares its
 * `current_seq` list with the original.
 */
import { ValueError } from "../errors.ts";

/** HF `Constraint` (abstract). */
export interface Constraint {
  seqlen: number;
  completed: boolean;
  advance(): number | number[] | null;
  does_advance(token_id: number): boolean;
  update(token_id: number): [stepped: boolean, completed: boolean, reset: boolean];
  reset(): void;
  remaining(): number;
  copy(stateful?: boolean): Constraint;
}

function checkIds(ids: unknown, name: string): ids is number[] {
  return Array.isArray(ids) && ids.every((t) => Number.isInteger(t) && (t as number) >= 0) && name.length > 0;
}

/** HF `PhrasalConstraint`: `token_ids` must be generated in order, contiguously. */
export class PhrasalConstraint implements Constraint {
  readonly token_ids: number[];
  seqlen: number;
  /** Index of the last fulfilled id (-1: none). */
  fulfilled_idx = -1;
  completed = false;

  constructor(token_ids: number[]) {
    if (!Array.isArray(token_ids) || token_ids.length === 0)
      throw new ValueError(`\`token_ids\` has to be a non-empty list, but is ${JSON.stringify(token_ids)}.`);
    if (!checkIds(token_ids, "token_ids"))
      throw new ValueError(
        `Each list in \`token_ids\` has to be a list of positive integers, but is ${JSON.stringify(token_ids)}.`,
      );
    this.token_ids = [...token_ids];
    this.seqlen = token_ids.length;
  }

  advance(): number | null {
    if (this.completed) return null;
    return this.token_ids[this.fulfilled_idx + 1];
  }

  does_advance(token_id: number): boolean {
    if (this.completed) return false;
    return token_id === this.token_ids[this.fulfilled_idx + 1];
  }

  update(token_id: number): [boolean, boolean, boolean] {
    let stepped = false;
    let completed = false;
    let reset = false;
    if (this.does_advance(token_id)) {
      this.fulfilled_idx += 1;
      stepped = true;
      if (this.fulfilled_idx === this.seqlen - 1) completed = true;
      this.completed = completed;
    } else {
      reset = true;
      this.reset();
    }
    return [stepped, completed, reset];
  }

  /** HF quirk: back to index 0, not -1. */
  reset(): void {
    this.completed = false;
    this.fulfilled_idx = 0;
  }

  remaining(): number {
    return this.seqlen - (this.fulfilled_idx + 1);
  }

  copy(stateful = false): PhrasalConstraint {
    const c = new PhrasalConstraint(this.token_ids);
    if (stateful) {
      c.fulfilled_idx = this.fulfilled_idx;
      c.completed = this.completed;
    }
    return c;
  }
}

interface TrieNode {
  children: Map<number, TrieNode>;
}

/** HF `DisjunctiveTrie`: the alternatives as a trie; no alternative may be a prefix of another. */
export class DisjunctiveTrie {
  readonly max_height: number;
  readonly trie: TrieNode;

  constructor(nested_token_ids: number[][], no_subsets = true) {
    this.max_height = Math.max(...nested_token_ids.map((w) => w.length));
    const root: TrieNode = { children: new Map() };
    for (const ids of nested_token_ids) {
      let level = root;
      for (const id of ids) {
        if (!level.children.has(id)) level.children.set(id, { children: new Map() });
        level = level.children.get(id)!;
      }
    }
    if (no_subsets && this.count_leaves(root) !== nested_token_ids.length)
      throw new ValueError(
        `Each list in \`nested_token_ids\` can't be a complete subset of another list, but is ${JSON.stringify(nested_token_ids)}.`,
      );
    this.trie = root;
  }

  next_tokens(current_seq: number[]): number[] {
    let start = this.trie;
    for (const t of current_seq) start = start.children.get(t)!;
    return [...start.children.keys()];
  }

  reached_leaf(current_seq: number[]): boolean {
    return this.next_tokens(current_seq).length === 0;
  }

  count_leaves(root: TrieNode): number {
    if (root.children.size === 0) return 1;
    let n = 0;
    for (const c of root.children.values()) n += this.count_leaves(c);
    return n;
  }
}

/** HF `DisjunctiveConstraint`: fulfilled by generating any one of `nested_token_ids`. */
export class DisjunctiveConstraint implements Constraint {
  readonly token_ids: number[][];
  readonly trie: DisjunctiveTrie;
  seqlen: number;
  current_seq: number[] = [];
  completed = false;

  constructor(nested_token_ids: number[][]) {
    if (!Array.isArray(nested_token_ids) || nested_token_ids.length === 0)
      throw new ValueError(
        `\`nested_token_ids\` has to be a non-empty list, but is ${JSON.stringify(nested_token_ids)}.`,
      );
    if (nested_token_ids.some((w) => !Array.isArray(w)))
      throw new ValueError(
        `\`nested_token_ids\` has to be a list of lists, but is ${JSON.stringify(nested_token_ids)}.`,
      );
    if (nested_token_ids.some((w) => w.length === 0 || !checkIds(w, "nested_token_ids")))
      throw new ValueError(
        `Each list in \`nested_token_ids\` has to be a list of positive integers, but is ${JSON.stringify(nested_token_ids)}.`,
      );
    this.trie = new DisjunctiveTrie(nested_token_ids);
    this.token_ids = nested_token_ids.map((w) => [...w]);
    this.seqlen = this.trie.max_height;
  }

  advance(): number[] | null {
    const list = this.trie.next_tokens(this.current_seq);
    return list.length === 0 ? null : list;
  }

  does_advance(token_id: number): boolean {
    return this.trie.next_tokens(this.current_seq).includes(token_id);
  }

  update(token_id: number): [boolean, boolean, boolean] {
    let stepped = false;
    let reset = false;
    if (this.does_advance(token_id)) {
      this.current_seq.push(token_id);
      stepped = true;
    } else {
      reset = true;
      this.reset();
    }
    const completed = this.trie.reached_leaf(this.current_seq);
    this.completed = completed;
    return [stepped, completed, reset];
  }

  reset(): void {
    this.completed = false;
    this.current_seq = [];
  }

  remaining(): number {
    return this.completed ? 0 : this.seqlen - this.current_seq.length;
  }

  /** HF quirk: a stateful copy shares `current_seq` (the same list object) with this constraint. */
  copy(stateful = false): DisjunctiveConstraint {
    const c = new DisjunctiveConstraint(this.token_ids);
    if (stateful) {
      c.current_seq = this.current_seq;
      c.completed = this.completed;
    }
    return c;
  }
}

/** HF `ConstraintListState`: one hypothesis' progress through a list of constraints. */
export class ConstraintListState {
  readonly constraints: Constraint[];
  readonly max_seqlen: number;
  readonly n_constraints: number;
  completed = false;
  complete_constraints: Constraint[] = [];
  inprogress_constraint: Constraint | null = null;
  pending_constraints: Constraint[] = [];

  constructor(constraints: Constraint[]) {
    this.constraints = constraints;
    this.max_seqlen = Math.max(...constraints.map((c) => c.seqlen));
    this.n_constraints = constraints.length;
    this.init_state();
  }

  init_state(): void {
    this.complete_constraints = [];
    this.inprogress_constraint = null;
    this.pending_constraints = this.constraints.map((c) => c.copy(false));
  }

  /** Completed constraints * max_seqlen, plus the progress made in the one under way. */
  get_bank(): number {
    let add = 0;
    if (this.inprogress_constraint) add += this.max_seqlen - this.inprogress_constraint.remaining();
    return this.complete_constraints.length * this.max_seqlen + add;
  }

  /** The ids that would make progress: the next id of the constraint under way, else of every pending one. */
  advance(): number[] | null {
    const token_list: number[] = [];
    const sources = this.inprogress_constraint === null ? this.pending_constraints : [this.inprogress_constraint];
    for (const c of sources) {
      const a = c.advance();
      if (typeof a === "number") token_list.push(a);
      else if (Array.isArray(a)) token_list.push(...a);
    }
    return token_list.length === 0 ? null : token_list;
  }

  reset(token_ids: number[] | null): void {
    this.init_state();
    if (token_ids !== null) {
      for (const token of token_ids) {
        this.add(token);
        if (this.completed) break;
      }
    }
  }

  add(token_id: number): [complete: boolean, stepped: boolean] {
    let complete = false;
    let stepped = false;
    if (this.completed) return [true, false];
    if (this.inprogress_constraint !== null) {
      let reset: boolean;
      [stepped, complete, reset] = this.inprogress_constraint.update(token_id);
      if (reset) {
        this.pending_constraints.push(this.inprogress_constraint.copy(false));
        this.inprogress_constraint = null;
      }
      if (complete) {
        // HF appends `inprogress_constraint` here, which `reset` may just have set to None
        this.complete_constraints.push(this.inprogress_constraint as Constraint);
        this.inprogress_constraint = null;
        if (this.pending_constraints.length === 0) this.completed = true;
      }
    } else {
      for (let cidx = 0; cidx < this.pending_constraints.length; cidx++) {
        const pending = this.pending_constraints[cidx];
        if (!pending.does_advance(token_id)) continue;
        [stepped, complete] = pending.update(token_id);
        if (!stepped)
          throw new ValueError(
            "`constraint.update(token_id)` is not yielding incremental progress, even though `constraint.does_advance(token_id)` is true.",
          );
        if (complete) {
          this.complete_constraints.push(pending);
          this.inprogress_constraint = null;
        }
        if (!complete && stepped) this.inprogress_constraint = pending;
        if (complete || stepped) {
          this.pending_constraints = [
            ...this.pending_constraints.slice(0, cidx),
            ...this.pending_constraints.slice(cidx + 1),
          ];
          if (this.pending_constraints.length === 0 && this.inprogress_constraint === null) this.completed = true;
          break;
        }
      }
    }
    return [complete, stepped];
  }

  copy(stateful = true): ConstraintListState {
    const s = new ConstraintListState(this.constraints);
    if (stateful) {
      s.complete_constraints = this.complete_constraints.map((c) => c.copy(true));
      if (this.inprogress_constraint !== null) s.inprogress_constraint = this.inprogress_constraint.copy(true);
      s.pending_constraints = this.pending_constraints.map((c) => c.copy());
    }
    return s;
  }
}
