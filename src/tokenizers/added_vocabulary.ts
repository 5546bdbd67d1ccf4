/**
 * HF tokenizers' `AddedVocabulary` (`tokenizer/added_vocabulary.rs`): tokens added on top of the model
 * (special tokens such as `<s>`, user tokens), how they get ids, and how they are cut out of the text before
 * the model sees it.
 *
 * Extraction (`extract_and_normalize`):
 *   1. tokens with normalized=false are matched on the raw text (leftmost-longest, like Aho-Corasick's
 *      LeftmostLongest), honouring single_word / lstrip / rstrip;
 *   2. every remaining piece is normalized, then tokens with normalized=true are matched on the normalized
 *      text (their patterns normalized too: with Llama's Prepend("▁") normalizer a normalized added token
 *      "hi" only matches "▁hi" - a tokenizers quirk kept as is).
 * Ids: a token already in the model vocabulary keeps its id; a new one gets max(vocab size, largest added
 * id + 1).
 */
import type { BPE } from "./bpe.ts";
import { type Normalizer, isRustWhitespace } from "./pipeline.ts";
import { PrefixTree } from "./trie.ts";

/**
 * A token added on top of the model vocabulary, with its matching rules (tokenizers `AddedToken`, added_vocabulary.rs; transformers
 * re-exports it from tokenization_utils_base):
 * `lstrip`/`rstrip` eat whitespace on that side, `single_word` only matches outside words, `normalized`
 * matches against normalized text (fast tokenizers), `special` marks it skippable in decode.
 */
export class AddedToken {
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;

  constructor(
    content: string,
    opts: { single_word?: boolean; lstrip?: boolean; rstrip?: boolean; normalized?: boolean; special?: boolean } = {},
  ) {
    this.content = content;
    this.single_word = opts.single_word ?? false;
    this.lstrip = opts.lstrip ?? false;
    this.rstrip = opts.rstrip ?? false;
    this.special = opts.special ?? false;
    // tokenizers' default: special tokens are not normalized, others are.
    this.normalized = opts.normalized ?? !this.special;
  }

  toString(): string {
    return this.content;
  }

  /** Same content and flags (tokenizers' `AddedToken` equality). */
  equals(other: AddedToken): boolean {
    return (
      this.content === other.content &&
      this.single_word === other.single_word &&
      this.lstrip === other.lstrip &&
      this.rstrip === other.rstrip &&
      this.normalized === other.normalized &&
      this.special === other.special
    );
  }

  clone(): AddedToken {
    return new AddedToken(this.content, this);
  }

  /** The `added_tokens_decoder` / tokenizer.json form. */
  toJSON(): Record<string, unknown> {
    return {
      content: this.content,
      lstrip: this.lstrip,
      normalized: this.normalized,
      rstrip: this.rstrip,
      single_word: this.single_word,
      special: this.special,
    };
  }
}

/** A match of an added token: `text.slice(start, end)` is pattern number `pattern`. */
interface Match {
  start: number;
  end: number;
  pattern: number;
}

/** Leftmost-longest multi-pattern matcher over UTF-16 code units, on the one prefix tree (trie.ts). */
class LeftmostLongest {
  private readonly tree = new PrefixTree<number>();
  /**
   * 1 for each UTF-16 unit some pattern starts with. Speed: most texts contain no added token, and most
   * positions cannot start one, so the scan reads one byte per position and walks the trie only where a
   * pattern could start (Llama's tokens all start with "<").
   */
  private readonly firstUnits = new Uint8Array(0x10000);
  /** The text being searched, read by `at`; kept in a field so `at` is one closure for the matcher's life. */
  private text = "";
  private readonly at = (i: number): number => this.text.charCodeAt(i);

  constructor(patterns: string[]) {
    patterns.forEach((p, index) => {
      const units: number[] = [];
      for (let i = 0; i < p.length; i++) units.push(p.charCodeAt(i));
      this.tree.add(units, index);
      if (p.length > 0) this.firstUnits[p.charCodeAt(0)] = 1;
    });
  }

  /** The longest match starting at the leftmost position >= `from` where one starts, or null. */
  find(text: string, from: number): Match | null {
    if (this.tree.size === 0) return null;
    this.text = text;
    for (let i = from; i < text.length; i++) {
      if (this.firstUnits[text.charCodeAt(i)] === 0) continue;
      const length = this.tree.longestPrefix(this.at, i, text.length);
      if (length > 0) return { start: i, end: i + length, pattern: this.tree.valueOf(this.at, i, i + length) };
    }
    return null;
  }
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;

function lastChar(s: string): string | undefined {
  const chars = Array.from(s.slice(-2));
  return chars[chars.length - 1];
}

/** A piece of text after added-token extraction: either plain text to normalize/tokenize, or an added token. */
export interface Split {
  text: string;
  token: { id: number; value: string } | null;
  /** The piece starts at offset 0 of the original text (Metaspace prepend_scheme="first"). */
  isFirst: boolean;
}

export class AddedVocabulary {
  /** content -> id */
  readonly added_tokens_map = new Map<string, number>();
  /** id -> token */
  readonly added_tokens_map_r = new Map<number, AddedToken>();
  /** non-special added tokens, in order */
  readonly added_tokens: AddedToken[] = [];
  readonly special_tokens: AddedToken[] = [];
  readonly special_tokens_set = new Set<string>();
  /** Encode special tokens as plain text (HF `split_special_tokens`). */
  encode_special_tokens = false;
  /** id -> normalized content, for the added tokens with normalized=true */
  private normalizedContent = new Map<number, string>();
  private splitTrie: [LeftmostLongest, number[]] = [new LeftmostLongest([]), []];
  private splitNormalizedTrie: [LeftmostLongest, number[]] = [new LeftmostLongest([]), []];

  get length(): number {
    return this.added_tokens_map.size;
  }

  token_to_id(token: string, model: BPE): number | null {
    return this.added_tokens_map.get(token) ?? model.token_to_id(token);
  }

  /**
   * The token string of an added id. tokenizers gives a normalized added token in its normalized form
   * ("hi" -> "▁hi" under Llama's Prepend normalizer), so decode shows that form and `skip_special_tokens`
   * does not recognise a normalized special token: quirks of tokenizers 0.23, kept.
   */
  simple_id_to_token(id: number): string | null {
    return this.normalizedContent.get(id) ?? this.added_tokens_map_r.get(id)?.content ?? null;
  }

  is_special_token(token: string): boolean {
    return this.special_tokens_set.has(token);
  }

  get_added_tokens_decoder(): Map<number, AddedToken> {
    return new Map([...this.added_tokens_map_r.entries()].sort((a, b) => a[0] - b[0]));
  }

  add_special_tokens(tokens: AddedToken[], model: BPE, normalizer: Normalizer | null): number {
    for (const t of tokens) {
      if (t.content !== "" && !this.special_tokens_set.has(t.content)) {
        this.special_tokens.push(t);
        this.special_tokens_set.add(t.content);
      }
    }
    return this.add_tokens(tokens, model, normalizer);
  }

  /** Returns the number of tokens that were not already added with the same flags. */
  add_tokens(tokens: AddedToken[], model: BPE, normalizer: Normalizer | null): number {
    for (const t of tokens) {
      if (t.special && t.content !== "" && !this.special_tokens_set.has(t.content)) {
        this.special_tokens.push(t);
        this.special_tokens_set.add(t.content);
      }
    }
    // tokenizers scans every added token for an equal one, and takes the max id, per token added: quadratic in a
    // tokenizer.json of 200,000 added tokens (minutes). The same answers from a count of equal tokens and a
    // running maximum, kept for the duration of this call.
    const key = (t: AddedToken) =>
      JSON.stringify([t.content, t.single_word, t.lstrip, t.rstrip, t.normalized, t.special]);
    const present = new Map<string, number>();
    for (const v of this.added_tokens_map_r.values()) present.set(key(v), (present.get(key(v)) ?? 0) + 1);
    let maxId = -Infinity;
    for (const id of this.added_tokens_map.values()) if (id > maxId) maxId = id;
    let ignored = 0;
    for (const token of tokens) {
      if (token.content === "" || (present.get(key(token)) ?? 0) > 0) {
        ignored++;
        continue;
      }
      let newId = this.token_to_id(token.content, model);
      if (newId === null) {
        const vocabSize = model.get_vocab_size();
        if (this.added_tokens_map.size === 0) newId = vocabSize;
        else newId = maxId >= vocabSize || vocabSize === 0 ? maxId + 1 : vocabSize;
      }
      const replaced = this.added_tokens_map_r.get(newId);
      if (replaced !== undefined) present.set(key(replaced), present.get(key(replaced))! - 1);
      present.set(key(token), (present.get(key(token)) ?? 0) + 1);
      if (newId > maxId) maxId = newId;
      this.added_tokens_map.set(token.content, newId);
      this.added_tokens_map_r.set(newId, token);
      if (!this.special_tokens_set.has(token.content)) this.added_tokens.push(token);
    }
    this.refresh_added_tokens(model, normalizer);
    return tokens.length - ignored;
  }

  /** Rebuilds the two matchers (raw-text tokens, normalized-text tokens). */
  refresh_added_tokens(model: BPE, normalizer: Normalizer | null): void {
    const raw: [string[], number[]] = [[], []];
    const norm: [string[], number[]] = [[], []];
    this.normalizedContent = new Map();
    for (const t of [...this.special_tokens, ...this.added_tokens]) {
      const id = this.token_to_id(t.content, model)!;
      if (t.normalized) {
        const content = normalizer ? normalizer(t.content) : t.content;
        norm[0].push(content);
        norm[1].push(id);
        if (this.added_tokens_map_r.get(id)?.content === t.content) this.normalizedContent.set(id, content);
      } else {
        raw[0].push(t.content);
        raw[1].push(id);
      }
    }
    this.splitTrie = [new LeftmostLongest(raw[0]), raw[1]];
    this.splitNormalizedTrie = [new LeftmostLongest(norm[0]), norm[1]];
  }

  /** `find_matches` + `split_with_indices`: cuts `sentence` at the added tokens the matcher finds. */
  private splitWithIndices(
    sentence: string,
    trie: [LeftmostLongest, number[]],
    isFirstAt0: boolean,
    out: Split[],
  ): void {
    let startOffset = 0;
    for (let m = trie[0].find(sentence, 0); m !== null; m = trie[0].find(sentence, m.end)) {
      let start = m.start;
      let stop = m.end;
      const id = trie[1][m.pattern];
      const added = this.added_tokens_map_r.get(id)!;
      if (this.encode_special_tokens && this.special_tokens_set.has(added.content)) continue;
      if (added.single_word) {
        const before = lastChar(sentence.slice(0, start));
        const after = sentence.slice(stop).match(/^./su)?.[0];
        const startSpace = start === 0 || !(before !== undefined && WORD_CHAR.test(before));
        const stopSpace = stop === sentence.length || !(after !== undefined && WORD_CHAR.test(after));
        if (!startSpace || !stopSpace) continue;
      }
      if (added.lstrip) {
        let s = start;
        while (s > 0) {
          const ch = lastChar(sentence.slice(0, s))!;
          if (!isRustWhitespace(ch)) break;
          s -= ch.length;
        }
        start = Math.max(s, startOffset);
      }
      if (added.rstrip) {
        while (stop < sentence.length) {
          const ch = sentence.slice(stop).match(/^./su)![0];
          if (!isRustWhitespace(ch)) break;
          stop += ch.length;
        }
      }
      if (startOffset < start) out.push(piece(sentence, startOffset, start, null, isFirstAt0));
      // The token's value is the matched text: the content, or its normalized form for normalized tokens.
      out.push(piece(sentence, start, stop, { id, value: sentence.slice(m.start, m.end) }, isFirstAt0));
      startOffset = stop;
    }
    if (startOffset < sentence.length) out.push(piece(sentence, startOffset, sentence.length, null, isFirstAt0));
  }

  /** Splits the sequence on added tokens, normalizing the pieces in between (see the module comment). */
  extract_and_normalize(normalizer: Normalizer | null, sequence: string): Split[] {
    // Empty pieces are never produced (tokenizers filters them out).
    const first: Split[] = [];
    this.splitWithIndices(sequence, this.splitTrie, true, first);
    const out: Split[] = [];
    for (const split of first) {
      if (split.token) {
        out.push(split);
        continue;
      }
      const normalized = normalizer ? normalizer(split.text) : split.text;
      // Offsets are not tracked: a sub-piece is "first" only if it starts the normalized text of a first piece.
      this.splitWithIndices(normalized, this.splitNormalizedTrie, split.isFirst, out);
    }
    return out;
  }
}

/** The piece `sentence.slice(s, e)`; it is "first" when it starts a sentence that is itself first. */
function piece(sentence: string, s: number, e: number, token: Split["token"], isFirstAt0: boolean): Split {
  return { text: sentence.slice(s, e), token, isFirst: isFirstAt0 && s === 0 };
}
