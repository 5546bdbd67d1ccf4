/**
 * HF tokenizers' BPE model (`models/bpe/model.rs` + `word.rs`): merges chosen by rank in a merges list, as
 * opposed to sentencepiece's piece scores.
 *
 * tokenize(word):
 *   1. split into characters; a character in the vocabulary is a symbol; one that is not becomes its UTF-8
 *      bytes as `<0xNN>` tokens when byte_fallback is on (if all 256 exist), else `unk_token` (consecutive
 *      unknowns fused into one when fuse_unk);
 *   2. `merge_all`: repeatedly apply the adjacent pair with the lowest merge rank (ties: leftmost), using a
 *      min-heap of (rank, position) and a doubly linked list of symbols; an entry is stale when the pair at
 *      its position no longer maps to the same merged token.
 * Shapes: a string in, `[id, token][]` out.
 *
 * Left out: BPE-dropout (random; rejected when the file sets it) and the per-word cache (a speed-up only).
 */
import { TokenizerError } from "../errors.ts";
import type { BPEConfig } from "../formats/tokenizer_json.ts";
import { MergeHeap } from "./heap.ts";
import { utf8Encode } from "./utf8.ts";

/** floor(sqrt(2^53)): the largest id bound for which left * bound + right never collides. */
export const MAX_MERGE_ID_BOUND = 94_906_265;

export interface ModelToken {
  id: number;
  value: string;
}

export class BPE {
  readonly vocab: Map<string, number>;
  readonly vocab_r: Map<number, string>;
  readonly unk_token: string | null;
  readonly fuse_unk: boolean;
  readonly byte_fallback: boolean;
  readonly continuing_subword_prefix: string | null;
  readonly end_of_word_suffix: string | null;
  readonly ignore_merges: boolean;
  /** merges in rank order, as given */
  readonly merges: Array<[string, string]>;
  /** (left id * idBound + right id) -> index into mergeRank/mergeNewId */
  private readonly mergeMap = new Map<number, number>();
  private readonly mergeNewId: Int32Array;
  private readonly idBound: number;
  private readonly byteIds: Int32Array | null;

  constructor(cfg: BPEConfig) {
    this.vocab = cfg.vocab;
    this.vocab_r = new Map([...cfg.vocab.entries()].map(([t, id]) => [id, t]));
    this.unk_token = cfg.unk_token;
    this.fuse_unk = cfg.fuse_unk;
    this.byte_fallback = cfg.byte_fallback;
    this.continuing_subword_prefix = cfg.continuing_subword_prefix;
    this.end_of_word_suffix = cfg.end_of_word_suffix;
    this.ignore_merges = cfg.ignore_merges;
    this.merges = cfg.merges;
    let maxId = 0;
    for (const id of cfg.vocab.values()) maxId = Math.max(maxId, id);
    this.idBound = maxId + 1;
    // A merge key is left * idBound + right, exact while idBound^2 <= 2^53; past that, two pairs could share a
    // key (encode("xz") giving "xy"). tokenizers hashes the pair itself; refusing is the collision-free choice.
    if (cfg.merges.length > 0 && this.idBound > MAX_MERGE_ID_BOUND)
      throw new TokenizerError(
        "tokenizer.json",
        `model.vocab: ids up to ${maxId} are not supported with merges (merge keys need ids below ${MAX_MERGE_ID_BOUND}; renumber the vocabulary)`,
      );
    this.mergeNewId = new Int32Array(cfg.merges.length);
    const prefixLen = cfg.continuing_subword_prefix?.length ?? 0;
    for (let rank = 0; rank < cfg.merges.length; rank++) {
      const [a, b] = cfg.merges[rank];
      // tokenizers collects (pair -> (rank, new_id)) into a HashMap: a repeated pair keeps its last rank.
      this.mergeMap.set(this.vocab.get(a)! * this.idBound + this.vocab.get(b)!, rank);
      this.mergeNewId[rank] = this.vocab.get(a + b.slice(prefixLen))!;
    }
    if (this.byte_fallback) {
      const ids = new Int32Array(256).fill(-1);
      for (let b = 0; b < 256; b++) ids[b] = this.vocab.get(bytePiece(b)) ?? -1;
      this.byteIds = ids;
    } else {
      this.byteIds = null;
    }
  }

  get_vocab_size(): number {
    return this.vocab.size;
  }

  token_to_id(token: string): number | null {
    return this.vocab.get(token) ?? null;
  }

  id_to_token(id: number): string | null {
    return this.vocab_r.get(id) ?? null;
  }

  /** `Model::tokenize` for one pre-token. */
  tokenize(sequence: string): ModelToken[] {
    if (sequence.length === 0) return [];
    if (this.ignore_merges) {
      const id = this.vocab.get(sequence);
      if (id !== undefined) return [{ id, value: sequence }];
    }
    const ids = this.mergeWord(sequence);
    return ids.map((id) => ({ id, value: this.vocab_r.get(id)! }));
  }

  /** `merge_word` + `merge_all`: the ids of the word's final symbols. */
  private mergeWord(w: string): number[] {
    const chars = Array.from(w);
    const symbols: number[] = [];
    let unk: number | null = null; // pending unknown (fused) symbol
    const unkId = this.unk_token === null ? null : this.vocab.get(this.unk_token)!;
    for (let i = 0; i < chars.length; i++) {
      let s = chars[i];
      if (i > 0 && this.continuing_subword_prefix) s = this.continuing_subword_prefix + s;
      if (i === chars.length - 1 && this.end_of_word_suffix) s = s + this.end_of_word_suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        if (unk !== null) {
          symbols.push(unk);
          unk = null;
        }
        symbols.push(id);
        continue;
      }
      if (this.byteIds) {
        const bytes = utf8Encode(s);
        const byteTokens: number[] = [];
        for (const b of bytes) {
          if (this.byteIds[b] < 0) break;
          byteTokens.push(this.byteIds[b]);
        }
        if (byteTokens.length === bytes.length) {
          // tokenizers does not flush a pending unk here: it stays pending until the next known character.
          symbols.push(...byteTokens);
          continue;
        }
      }
      if (unkId !== null) {
        if (unk !== null && !this.fuse_unk) symbols.push(unk);
        unk = unkId;
      }
      // Without unk_token the character is dropped, as tokenizers does.
    }
    if (unk !== null) symbols.push(unk);
    return this.mergeAll(symbols);
  }

  private mergeAll(c: number[]): number[] {
    const n = c.length;
    if (n < 2) return c;
    const ids = Int32Array.from(c);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1;
      next[k] = k + 1 < n ? k + 1 : -1;
    }
    const bound = this.idBound;
    // Entries: key (rank, pos) so the lowest rank pops first and ties go to the leftmost; payload new_id.
    const queue = new MergeHeap();
    for (let k = 0; k + 1 < n; k++) {
      const r = this.mergeMap.get(ids[k] * bound + ids[k + 1]);
      if (r !== undefined) queue.push(r, k, this.mergeNewId[r], 0);
    }
    while (queue.pop()) {
      const pos = queue.topKey2;
      const newId = queue.topPay1;
      if (!alive[pos]) continue;
      const right = next[pos];
      if (right === -1) continue;
      const r = this.mergeMap.get(ids[pos] * bound + ids[right]);
      if (r === undefined || this.mergeNewId[r] !== newId) continue;
      ids[pos] = newId;
      next[pos] = next[right];
      alive[right] = 0;
      if (next[right] !== -1) prev[next[right]] = pos;
      const p = prev[pos];
      if (p >= 0) {
        const rp = this.mergeMap.get(ids[p] * bound + ids[pos]);
        if (rp !== undefined) queue.push(rp, p, this.mergeNewId[rp], 0);
      }
      const nx = next[pos];
      if (nx !== -1) {
        const rn = this.mergeMap.get(ids[pos] * bound + ids[nx]);
        if (rn !== undefined) queue.push(rn, pos, this.mergeNewId[rn], 0);
      }
    }
    const out: number[] = [];
    for (let k = 0; k !== -1; k = next[k]) out.push(ids[k]);
    return out;
  }
}

/** `<0xNN>` with upper-case hex, the byte-fallback token name (`format!("<{:#04X}>", b)`). */
export function bytePiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
}
