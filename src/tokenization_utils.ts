/**
 * HF transformers `tokenization_utils.py` `PreTrainedTokenizer`: the base of "slow" (pure Python in HF)
 * tokenizers. It owns the added tokens (`_added_tokens_decoder` id -> AddedToken and its inverse), splits
 * text on them with the `Trie` before handing each remaining chunk to the model's `_tokenize`, and decodes by
 * converting ids back to tokens and joining them with `convert_tokens_to_string`.
 *
 * Encode: text -> Trie.split on added tokens -> (lstrip/rstrip/single_word handling) -> `_tokenize(chunk)` per
 * chunk -> tokens -> `convert_tokens_to_ids` -> ids (special tokens added later by `build_inputs_with_special_tokens`).
 * Decode: ids -> tokens (skipping special ids if asked) -> runs between non-special added tokens go through
 * `convert_tokens_to_string` -> joined (with spaces if `spaces_between_special_tokens`) -> optional cleanup.
 */
import { ValueError } from "./errors.ts";
import {
  AddedToken,
  type DecodeOptions,
  PreTrainedTokenizerBase,
  type TokenizerBaseKwargs,
  type TokenLike,
} from "./tokenization_utils_base.ts";
import { PrefixTree, type TrieNode } from "./tokenizers/trie.ts";
import { toWellFormed } from "./tokenizers/utf8.ts";

/** Python's `str.isspace()` for one character (Unicode whitespace plus the ASCII separators 0x1C-0x1F). */
export function isPythonSpace(ch: string): boolean {
  return /^[\s\u001c-\u001f\u0085]$/u.test(ch) && ch !== "\ufeff";
}

export function pyLstrip(s: string): string {
  let i = 0;
  const chars = Array.from(s);
  while (i < chars.length && isPythonSpace(chars[i])) i++;
  return chars.slice(i).join("");
}

export function pyRstrip(s: string): string {
  const chars = Array.from(s);
  let j = chars.length;
  while (j > 0 && isPythonSpace(chars[j - 1])) j--;
  return chars.slice(0, j).join("");
}

export interface SlowTokenizerKwargs extends TokenizerBaseKwargs {
  /** id -> AddedToken, as `tokenizer_config.json`'s `added_tokens_decoder` (HF). */
  added_tokens_decoder?: Map<number, AddedToken> | Record<number, AddedToken>;
}

export abstract class PreTrainedTokenizer extends PreTrainedTokenizerBase {
  protected _added_tokens_decoder = new Map<number, AddedToken>();
  protected _added_tokens_encoder = new Map<string, number>();
  protected tokens_trie = new Trie();

  constructor(kwargs: SlowTokenizerKwargs = {}) {
    super(kwargs);
    const dec = kwargs.added_tokens_decoder;
    if (dec) {
      const entries =
        dec instanceof Map
          ? [...dec.entries()]
          : Object.entries(dec).map(([k, v]) => [Number(k), v] as [number, AddedToken]);
      for (const [id, tok] of entries) this._added_tokens_decoder.set(id, tok);
    }
    for (const [id, tok] of this._added_tokens_decoder) this._added_tokens_encoder.set(tok.content, id);
  }

  /**
   * The last step of HF's `PreTrainedTokenizer.__init__`: special tokens that are not yet added tokens become
   * added tokens (at their vocabulary id when the model knows them). Subclasses call it once their
   * vocabulary is loaded.
   */
  protected _initAddedSpecialTokens(): void {
    // HF passes every special token here: its `token not in self._added_tokens_encoder` compares an AddedToken
    // with str keys and never matches, so each special token is (re)registered at its id.
    this._add_tokens(this.all_special_tokens_extended, true);
  }

  get is_fast(): boolean {
    return false;
  }

  /** Added tokens by id (HF `added_tokens_decoder`, sorted by id). */
  get added_tokens_decoder(): Map<number, AddedToken> {
    return new Map([...this._added_tokens_decoder.entries()].sort((a, b) => a[0] - b[0]));
  }

  get added_tokens_encoder(): Map<string, number> {
    return new Map([...this.added_tokens_decoder.entries()].map(([id, t]) => [t.content, id]));
  }

  get_added_vocab(): Map<string, number> {
    return new Map(this._added_tokens_encoder);
  }

  private _total_vocab_size: number | null = null;

  /** HF `len(tokenizer)`: the size of `get_vocab()` (base vocabulary plus added tokens outside it), cached. */
  get length(): number {
    if (this._total_vocab_size === null) this._total_vocab_size = this.get_vocab().size;
    return this._total_vocab_size;
  }

  /** HF `PreTrainedTokenizer._add_tokens`. */
  protected _add_tokens(new_tokens: TokenLike[], special_tokens = false): number {
    let added = 0;
    const currentVocab = this.get_vocab();
    const newIdx = currentVocab.size;
    for (const raw of new_tokens) {
      if (typeof raw !== "string" && !(raw instanceof AddedToken))
        throw new ValueError(`Token ${String(raw)} is not a string but a ${typeof raw}.`);
      if (String(raw) === "") continue;
      let token: AddedToken;
      if (typeof raw === "string") {
        if (this._added_tokens_encoder.has(raw)) continue;
        const isSpecial = this.all_special_tokens.includes(raw) || special_tokens;
        token = new AddedToken(raw, { rstrip: false, lstrip: false, normalized: !isSpecial, special: isSpecial });
      } else {
        token = raw;
        if (special_tokens) token.special = true;
      }
      let index: number;
      if (!currentVocab.has(token.content)) {
        index = newIdx + added;
        currentVocab.set(token.content, index);
        added += 1;
      } else {
        index = currentVocab.get(token.content)!;
      }
      if (token.special && !this.all_special_tokens.includes(String(token))) {
        this._additional_special_tokens.push(token);
        this._invalidateSpecialCache();
      }
      this._added_tokens_decoder.set(index, token);
      this._added_tokens_encoder.set(token.content, index);
    }
    this._update_trie();
    this._total_vocab_size = null;
    this._invalidateSpecialCache();
    return added;
  }

  protected _update_trie(): void {
    for (const token of this._added_tokens_decoder.values()) {
      if (!this.tokens_trie.tokens.has(token.content)) this.tokens_trie.add(token.content);
    }
  }

  /** HF `prepare_for_tokenization`: identity here (subclasses may transform the text). */
  prepare_for_tokenization(text: string): string {
    return text;
  }

  /**
   * HF `PreTrainedTokenizer.tokenize`: split on added tokens (unless `split_special_tokens`), apply their
   * lstrip/rstrip/single_word rules to the neighbours, then `_tokenize` every other chunk.
   */
  tokenize(text: string, opts: { split_special_tokens?: boolean } = {}): string[] {
    const split = opts.split_special_tokens ?? this.split_special_tokens;
    // Python strings cannot carry lone surrogates to sentencepiece; they arrive as U+FFFD, as in the fast path.
    text = this.prepare_for_tokenization(toWellFormed(text));
    let tokens: string[];
    let noSplit: Map<string, number>;
    if (split) {
      noSplit = new Map();
      tokens = [text];
    } else {
      noSplit = this._added_tokens_encoder;
      tokens = this.tokens_trie.split(text);
    }
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i];
      if (!noSplit.has(token)) continue;
      const ext = this._added_tokens_decoder.get(this._added_tokens_encoder.get(token)!);
      if (!ext)
        throw new ValueError(`${token} cannot be tokenized because it was not properly added to the tokenizer.`);
      const left = i > 0 ? tokens[i - 1] : null;
      const right = i < tokens.length - 1 ? tokens[i + 1] : null;
      if (ext.rstrip && right) tokens[i + 1] = pyLstrip(right);
      if (ext.lstrip && left) tokens[i - 1] = pyRstrip(left);
      if (ext.single_word && left && !left.endsWith(" ")) {
        tokens[i - 1] += token;
        tokens[i] = "";
      } else if (ext.single_word && right && !right.startsWith(" ")) {
        tokens[i + 1] = token + tokens[i + 1];
        tokens[i] = "";
      }
    }
    const out: string[] = [];
    for (const token of tokens) {
      if (!token) continue;
      if (noSplit.has(token)) out.push(token);
      else for (const piece of this._tokenize(token)) out.push(piece); // not push(...): long texts overflow the stack
    }
    return out;
  }

  /** The model's segmentation of a chunk without added tokens. */
  protected abstract _tokenize(text: string): string[];
  protected abstract _convert_token_to_id(token: string): number;
  protected abstract _convert_id_to_token(index: number): string;

  convert_tokens_to_ids(tokens: string): number;
  convert_tokens_to_ids(tokens: string[]): number[];
  convert_tokens_to_ids(tokens: string | string[]): number | number[] {
    if (typeof tokens === "string") return this._convert_token_to_id_with_added_voc(tokens);
    return tokens.map((t) => this._convert_token_to_id_with_added_voc(t));
  }

  protected _convert_token_to_id_with_added_voc(token: string): number {
    const added = this._added_tokens_encoder.get(token);
    return added !== undefined ? added : this._convert_token_to_id(token);
  }

  convert_ids_to_tokens(ids: number, skip_special_tokens?: boolean): string;
  convert_ids_to_tokens(ids: number[], skip_special_tokens?: boolean): string[];
  convert_ids_to_tokens(ids: number | number[], skip_special_tokens = false): string | string[] {
    if (typeof ids === "number") {
      const t = this._added_tokens_decoder.get(ids);
      return t ? t.content : this._convert_id_to_token(ids);
    }
    const special = skip_special_tokens ? new Set(this.all_special_ids) : null;
    const out: string[] = [];
    for (const index of ids) {
      if (special && special.has(index)) continue;
      const t = this._added_tokens_decoder.get(index);
      out.push(t ? t.content : this._convert_id_to_token(index));
    }
    return out;
  }

  /** HF default; LlamaTokenizer overrides it with sentencepiece decoding. */
  convert_tokens_to_string(tokens: string[]): string {
    return tokens.join(" ");
  }

  protected _encodeText(text: string, split_special_tokens: boolean): number[] {
    return this.convert_tokens_to_ids(this.tokenize(text, { split_special_tokens }));
  }

  /** HF `PreTrainedTokenizer._decode`. */
  protected _decode(token_ids: number[], opts: DecodeOptions): string {
    const skip = opts.skip_special_tokens ?? false;
    const spacesBetween = opts.spaces_between_special_tokens ?? true;
    const filtered = this.convert_ids_to_tokens(token_ids, skip);
    const specials = this._special_tokens_set();
    // "Legacy" added tokens: non-special added tokens, plus additional special tokens outside the base vocab.
    const legacyAdded = new Set<string>();
    for (const t of this._added_tokens_encoder.keys()) if (!specials.has(t)) legacyAdded.add(t);
    for (const t of this.additional_special_tokens) {
      const id = this.convert_tokens_to_ids(t);
      if (id >= this.vocab_size) legacyAdded.add(t);
    }
    const subTexts: string[] = [];
    let current: string[] = [];
    for (const token of filtered) {
      if (skip && specials.has(token)) continue;
      if (legacyAdded.has(token)) {
        if (current.length > 0) {
          const s = this.convert_tokens_to_string(current);
          if (s.length > 0) subTexts.push(s);
          current = [];
        }
        subTexts.push(token);
      } else {
        current.push(token);
      }
    }
    if (current.length > 0) subTexts.push(this.convert_tokens_to_string(current));
    const text = spacesBetween ? subTexts.join(" ") : subTexts.join("");
    const cleanup = opts.clean_up_tokenization_spaces ?? this.clean_up_tokenization_spaces;
    return cleanup ? this.clean_up_tokenization(text) : text;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Trie
// ---------------------------------------------------------------------------------------------------------

/**
 * HF transformers' `Trie` (tokenization_utils.py): splits a text on every occurrence of the added tokens in one
 * left-to-right pass, preferring the match that starts first and, among those, the longest
 * ("[CLS] This is a extra_id_100" -> ["[CLS]", " This is a ", "extra_id_100"] with "extra_id_1" also added).
 *
 * A line-for-line port of HF's algorithm (states = partial matches keyed by start offset, a lookahead for the
 * longest match once one completes), kept literal so its corner cases match the slow tokenizer's.
 * Characters are code points (Python iterates a str by code point).
 * The nodes are the tokenizers' one prefix tree (src/tokenizers/trie.ts), keyed by code point.
 */
export class Trie {
  private readonly tree = new PrefixTree<string>();
  readonly tokens = new Set<string>();
  /**
   * 1 for the first UTF-16 unit of every word. Speed: a text holding none of them holds no word, and `split`
   * returns it whole after one scan, without the code-point array and match states (most texts have no
   * added token).
   */
  private readonly firstUnits = new Uint8Array(0x10000);

  constructor(words: Iterable<string> = []) {
    for (const w of words) this.add(w);
  }

  /** Adds a word (idempotent; the empty string is ignored). */
  add(word: string): void {
    if (!word) return;
    this.tokens.add(word);
    this.tree.add(word);
    this.firstUnits[word.charCodeAt(0)] = 1;
  }

  /** The text cut at the boundaries of the words found (empty pieces dropped). */
  split(text: string): string[] {
    let mayMatch = false;
    for (let i = 0; i < text.length && !mayMatch; i++) mayMatch = this.firstUnits[text.charCodeAt(i)] === 1;
    if (!mayMatch) return text.length === 0 ? [] : [text];
    const chars = Array.from(text);
    // Partial matches: start offset (in code points) -> trie node reached so far, in insertion order.
    let states = new Map<number, TrieNode<string>>();
    const offsets: number[] = [0];
    let skip = 0;
    for (let current = 0; current < chars.length; current++) {
      const currentChar = chars[current];
      if (skip && current < skip) continue;
      const toRemove = new Set<number>();
      let reset = false;
      for (const [startKey, triePointer] of states) {
        let start = startKey;
        if (triePointer.value >= 0) {
          // A match ended just before `current`: look ahead for the longest match among the partial
          // matches that started no later than this one.
          let end = current;
          for (const [lookstart, lookPointerStart] of states) {
            let looktriePointer = lookPointerStart;
            let lookaheadIndex: number;
            if (lookstart > start) break;
            else if (lookstart < start) {
              lookaheadIndex = current + 1;
              end = current + 1;
            } else {
              lookaheadIndex = current;
              end = current;
            }
            let nextChar: string | undefined = lookaheadIndex < chars.length ? chars[lookaheadIndex] : undefined;
            if (looktriePointer.value >= 0) {
              start = lookstart;
              end = lookaheadIndex;
              skip = lookaheadIndex;
            }
            while (nextChar !== undefined && looktriePointer.children.has(nextChar)) {
              looktriePointer = looktriePointer.children.get(nextChar)!;
              lookaheadIndex += 1;
              if (looktriePointer.value >= 0) {
                start = lookstart;
                end = lookaheadIndex;
                skip = lookaheadIndex;
              }
              if (lookaheadIndex === chars.length) break;
              nextChar = chars[lookaheadIndex];
            }
          }
          offsets.push(start, end);
          reset = true;
          break;
        } else if (triePointer.children.has(currentChar)) {
          states.set(startKey, triePointer.children.get(currentChar)!);
        } else {
          toRemove.add(startKey);
        }
      }
      if (reset) states = new Map();
      else for (const s of toRemove) states.delete(s);
      if (current >= skip && this.tree.root.children.has(currentChar))
        states.set(current, this.tree.root.children.get(currentChar)!);
    }
    for (const [start, triePointer] of states) {
      if (triePointer.value >= 0) {
        offsets.push(start, chars.length);
        break;
      }
    }
    return cutText(chars, offsets);
  }
}

function cutText(chars: string[], offsets: number[]): string[] {
  offsets.push(chars.length);
  const tokens: string[] = [];
  let start = 0;
  for (const end of offsets) {
    // HF logs "There was a bug in Trie algorithm" for start > end and skips; equal offsets are empty cuts.
    if (start >= end) continue;
    tokens.push(chars.slice(start, end).join(""));
    start = end;
  }
  return tokens;
}
