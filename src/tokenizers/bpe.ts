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
 * Data structures, chosen for speed without changing the algorithm:
 * - merge ranks in a `PairTable` keyed by the two ids (flat arrays, no collisions, no boxing);
 * - the symbol list in typed arrays reused from call to call (no allocation per word once they have grown);
 * - single characters of the Basic Multilingual Plane resolved through a 64 Ki-entry id table filled on first
 *   sight, and byte fallback computed from the code point (no `TextEncoder` call per character);
 * - tokenizers' word cache: up to `cache_capacity` words shorter than 256 UTF-8 bytes keep their final ids;
 *   once full, new words are not added (`Cache::set` in tokenizers does the same), so its memory is bounded;
 * - a word is cut before each "▁" that follows another character, when the merges prove that no merge can
 *   cross such a cut (see `cutsAtMarks`): each part is merged on its own, with the same result, and parts
 *   repeat far more than whole texts do, so the word cache serves most of them.
 *
 * Left out: BPE-dropout (random; rejected when the file sets it).
 */
import { TokenizerError } from "../errors.ts";
import type { BPEConfig } from "../formats/tokenizer_json.ts";
import { MergeHeap } from "./heap.ts";
import { IdRun } from "./id_run.ts";
import { PairTable } from "./pair_table.ts";
import { codePointUtf8 } from "./utf8.ts";

export interface ModelToken {
  id: number;
  value: string;
}

/** tokenizers' `DEFAULT_CACHE_CAPACITY`. */
export const DEFAULT_CACHE_CAPACITY = 10_000;
/** tokenizers caches only words shorter than this many UTF-8 bytes (`MAX_LENGTH` in models/bpe/model.rs). */
const CACHE_MAX_WORD_BYTES = 256;
/** `charIds` entry for a character not looked up yet (-1 means "not in the vocabulary"). */
const UNSEEN = -2;
/** "▁" (U+2581), sentencepiece's space, which Llama's normalizer writes for every space. */
const MARK = 0x2581;
const MARK_CHAR = "\u2581";

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
  /** (left id, right id) -> rank; the merged token's id is `mergeNewId[rank]`. */
  private readonly mergeRanks: PairTable;
  private readonly mergeNewId: Int32Array;
  private readonly byteIds: Int32Array | null;
  private readonly unkId: number | null;
  /** Id of each BMP character as a one-character token, filled lazily; null when a prefix/suffix applies. */
  private readonly charIds: Int32Array | null;
  /** Symbols of the word being merged (see `mergeAll`), grown on demand and reused. */
  private symIds = new Int32Array(256);
  private symPrev = new Int32Array(256);
  private symNext = new Int32Array(256);
  private readonly queue = new MergeHeap();
  private cache = new Map<string, Int32Array>();
  private cacheCapacity = DEFAULT_CACHE_CAPACITY;
  /** Token string of each id (`vocab_r` as an array: the per-token lookup of `tokenizeInto`). */
  private readonly idTokens: string[] = [];
  /** Words may be cut before a "▁" that follows another character (see `cutsAtMarks`). */
  private readonly cutAtMarks: boolean;

  constructor(cfg: BPEConfig) {
    this.vocab = cfg.vocab;
    this.vocab_r = new Map([...cfg.vocab.entries()].map(([t, id]) => [id, t]));
    for (const [t, id] of cfg.vocab) this.idTokens[id] = t;
    this.unk_token = cfg.unk_token;
    this.fuse_unk = cfg.fuse_unk;
    this.byte_fallback = cfg.byte_fallback;
    this.continuing_subword_prefix = cfg.continuing_subword_prefix;
    this.end_of_word_suffix = cfg.end_of_word_suffix;
    this.ignore_merges = cfg.ignore_merges;
    this.merges = cfg.merges;
    this.mergeRanks = new PairTable(cfg.merges.length);
    this.mergeNewId = new Int32Array(cfg.merges.length);
    const prefixLen = cfg.continuing_subword_prefix?.length ?? 0;
    for (let rank = 0; rank < cfg.merges.length; rank++) {
      const [a, b] = cfg.merges[rank];
      // tokenizers collects (pair -> (rank, new_id)) into a HashMap: a repeated pair keeps its last rank.
      this.mergeRanks.set(this.vocab.get(a)!, this.vocab.get(b)!, rank);
      this.mergeNewId[rank] = this.vocab.get(a + b.slice(prefixLen))!;
    }
    if (this.byte_fallback) {
      const ids = new Int32Array(256).fill(-1);
      for (let b = 0; b < 256; b++) ids[b] = this.vocab.get(bytePiece(b)) ?? -1;
      this.byteIds = ids;
    } else {
      this.byteIds = null;
    }
    this.unkId = this.unk_token === null ? null : this.vocab.get(this.unk_token)!;
    const plain = !this.continuing_subword_prefix && !this.end_of_word_suffix;
    this.charIds = plain ? new Int32Array(0x10000).fill(UNSEEN) : null;
    this.cutAtMarks = plain && !this.ignore_merges && cutsAtMarks(this.vocab, cfg.merges);
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

  /** tokenizers' `BPE::clear_cache`. */
  clear_cache(): void {
    this.cache.clear();
  }

  /** tokenizers' `BPE::resize_cache`: at most `capacity` words are kept (0 turns the cache off). */
  resize_cache(capacity: number): void {
    this.cacheCapacity = capacity;
    this.cache.clear();
  }

  /** Words in the cache now (at most the capacity). */
  get cache_size(): number {
    return this.cache.size;
  }

  /** `Model::tokenize` for one pre-token. */
  tokenize(sequence: string): ModelToken[] {
    const ids = new IdRun();
    const tokens: string[] = [];
    this.tokenizeInto(sequence, ids, tokens);
    return tokens.map((value, i) => ({ id: ids.ids[i], value }));
  }

  /**
   * `tokenize`, appending ids (and token strings, when `tokens` is an array) to the caller's arrays, with no
   * object per token.
   * @internal the engine's fast path (IdRun is not part of the public API)
   */
  tokenizeInto(sequence: string, ids: IdRun, tokens: string[] | null): void {
    if (sequence.length === 0) return;
    if (this.ignore_merges) {
      const id = this.vocab.get(sequence);
      if (id !== undefined) {
        ids.push(id);
        tokens?.push(sequence);
        return;
      }
    }
    if (!this.cutAtMarks) return this.wordInto(sequence, ids, tokens);
    // "▁the▁cat▁▁sat" is merged as "▁the", "▁cat", "▁▁sat": each part's merges are the ones the whole word
    // would apply there, since no merge joins two parts (`cutsAtMarks`).
    let start = 0;
    for (let i = 1; i < sequence.length; i++) {
      if (sequence.charCodeAt(i) === MARK && sequence.charCodeAt(i - 1) !== MARK) {
        this.wordInto(sequence.slice(start, i), ids, tokens);
        start = i;
      }
    }
    this.wordInto(start === 0 ? sequence : sequence.slice(start), ids, tokens);
  }

  /** The ids of one word (from the cache, else by `mergeAll`), appended. */
  private wordInto(word: string, ids: IdRun, tokens: string[] | null): void {
    let merged = this.cache.get(word);
    if (merged === undefined) {
      merged = this.mergeAll(this.mergeWord(word));
      // A UTF-16 unit is 1 to 3 UTF-8 bytes: the length alone decides, except between 86 and 255 units.
      if (
        this.cache.size < this.cacheCapacity &&
        word.length < CACHE_MAX_WORD_BYTES &&
        (word.length * 3 < CACHE_MAX_WORD_BYTES || Buffer.byteLength(word, "utf8") < CACHE_MAX_WORD_BYTES)
      )
        this.cache.set(detached(word), merged);
    }
    ids.append(merged);
    if (tokens !== null) for (let i = 0; i < merged.length; i++) tokens.push(this.idTokens[merged[i]]);
  }

  /** Id of the one-character token `ch` (code point `cp`), or -1. */
  private charId(ch: string, cp: number, first: boolean, last: boolean): number {
    if (this.charIds !== null && cp < 0x10000) {
      let id = this.charIds[cp];
      if (id === UNSEEN) id = this.charIds[cp] = this.vocab.get(ch) ?? -1;
      return id;
    }
    let s = ch;
    if (!first && this.continuing_subword_prefix) s = this.continuing_subword_prefix + s;
    if (last && this.end_of_word_suffix) s = s + this.end_of_word_suffix;
    return this.vocab.get(s) ?? -1;
  }

  /**
   * `merge_word`, step 1: the word's initial symbols in `symIds`, returning their count. A character missing
   * from the vocabulary becomes its UTF-8 bytes' `<0xNN>` tokens (byte_fallback, when all of them exist), else
   * `unk_token`, else it is dropped, as tokenizers does.
   */
  private mergeWord(w: string): number {
    let count = 0;
    let unk = -1; // pending unknown (fused) symbol
    const bytes = [0, 0, 0, 0];
    for (let i = 0; i < w.length;) {
      const cp = w.codePointAt(i)!;
      const width = cp > 0xffff ? 2 : 1;
      const id = this.charId(width === 1 ? w[i] : w.slice(i, i + 2), cp, i === 0, i + width === w.length);
      i += width;
      if (count + 5 > this.symIds.length) this.growSymbols(count + 5);
      if (id >= 0) {
        if (unk >= 0) {
          this.symIds[count++] = unk;
          unk = -1;
        }
        this.symIds[count++] = id;
        continue;
      }
      if (this.byteIds !== null) {
        // A lone surrogate has no UTF-8 form; the native library receives U+FFFD for it.
        const n = codePointUtf8(cp, bytes);
        let ok = true;
        for (let k = 0; k < n; k++) if (this.byteIds[bytes[k]] < 0) ok = false;
        if (ok) {
          // tokenizers does not flush a pending unk here: it stays pending until the next known character.
          for (let k = 0; k < n; k++) this.symIds[count++] = this.byteIds[bytes[k]];
          continue;
        }
      }
      if (this.unkId !== null) {
        if (unk >= 0 && !this.fuse_unk) this.symIds[count++] = unk;
        unk = this.unkId;
      }
    }
    if (unk >= 0) {
      if (count + 1 > this.symIds.length) this.growSymbols(count + 1);
      this.symIds[count++] = unk;
    }
    return count;
  }

  private growSymbols(min: number): void {
    let n = this.symIds.length;
    while (n < min) n *= 2;
    const ids = new Int32Array(n);
    ids.set(this.symIds);
    this.symIds = ids;
    this.symPrev = new Int32Array(n);
    this.symNext = new Int32Array(n);
  }

  /** `merge_all` over the first `n` symbols of `symIds`: the ids of the final symbols, in order. */
  private mergeAll(n: number): Int32Array {
    const ids = this.symIds;
    if (n < 2) return ids.slice(0, n);
    const prev = this.symPrev;
    const next = this.symNext;
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1;
      next[k] = k + 1 < n ? k + 1 : -1;
    }
    const ranks = this.mergeRanks;
    // Entries: key (rank, pos) so the lowest rank pops first and ties go to the leftmost; payload new_id.
    const queue = this.queue;
    queue.size = 0;
    for (let k = 0; k + 1 < n; k++) {
      const r = ranks.get(ids[k], ids[k + 1]);
      if (r >= 0) queue.push(r, k, this.mergeNewId[r], 0);
    }
    let remaining = n;
    while (queue.pop()) {
      const pos = queue.topKey2;
      const newId = queue.topPay1;
      if (ids[pos] === -1) continue; // merged into its left neighbour since
      const right = next[pos];
      if (right === -1) continue;
      const r = ranks.get(ids[pos], ids[right]);
      if (r < 0 || this.mergeNewId[r] !== newId) continue;
      ids[pos] = newId;
      next[pos] = next[right];
      ids[right] = -1;
      remaining--;
      if (next[right] !== -1) prev[next[right]] = pos;
      const p = prev[pos];
      if (p >= 0) {
        const rp = ranks.get(ids[p], ids[pos]);
        if (rp >= 0) queue.push(rp, p, this.mergeNewId[rp], 0);
      }
      const nx = next[pos];
      if (nx !== -1) {
        const rn = ranks.get(ids[pos], ids[nx]);
        if (rn >= 0) queue.push(rn, pos, this.mergeNewId[rn], 0);
      }
    }
    const out = new Int32Array(remaining);
    let j = 0;
    for (let k = 0; k !== -1; k = next[k]) out[j++] = ids[k];
    return out;
  }
}

/**
 * Whether a word may be cut before each "▁" that follows another character without changing its merges: true
 * when "▁" is a token and no merge makes a token holding "▁" right after another character. A merge that would
 * cross such a cut would make exactly such a token, so none can; and BPE picks merges by rank among the pairs
 * present, which inside a part depend only on that part, so each part ends as it would inside the whole word.
 * Llama's merges pass (its pieces hold "▁" only at their start); a vocabulary where some do not keeps whole words.
 */
function cutsAtMarks(vocab: Map<string, number>, merges: ReadonlyArray<[string, string]>): boolean {
  if (!vocab.has(MARK_CHAR)) return false;
  for (const [a, b] of merges) {
    const merged = a + b;
    for (let i = merged.indexOf(MARK_CHAR, 1); i > 0; i = merged.indexOf(MARK_CHAR, i + 1))
      if (merged.charCodeAt(i - 1) !== MARK) return false;
  }
  return true;
}

/**
 * `s` as a string of its own. Speed and memory: a part is a slice of the whole normalized text, and V8 keeps a
 * slice's parent alive; the cache key must not pin the whole text (a copy is made once per word cached).
 */
function detached(s: string): string {
  return (" " + s).slice(1);
}

/** `<0xNN>` with upper-case hex, the byte-fallback token name (`format!("<{:#04X}>", b)`). */
export function bytePiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
}
