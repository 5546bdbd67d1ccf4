/**
 * HF transformers `tokenization_utils_fast.py` `PreTrainedTokenizerFast`: the base of "fast" tokenizers, a
 * thin layer over an HF tokenizers engine (`Tokenizer`, src/tokenizers/tokenizer.ts, which in HF is Rust).
 *
 * What it adds to the engine: the special-token attributes (bos_token, ...), syncing them and the
 * config's `added_tokens_decoder` into the engine's added vocabulary, truncation as the engine does it
 * (`truncate_encodings`: the special tokens of the post-processor are reserved first), padding, decode
 * cleanup. Tokens and ids: `tokenize(text)` is the engine's tokens without special tokens;
 * `convert_tokens_to_ids` maps unknown strings to unk_token_id (HF behaviour).
 */
import { TokenizerError, ValueError } from "./errors.ts";
import {
  AddedToken,
  type DecodeOptions,
  type EncodedInput,
  PreTrainedTokenizerBase,
  type TokenizerBaseKwargs,
  type TokenLike,
  type TruncationStrategy,
} from "./tokenization_utils_base.ts";
import type { IdRun } from "./tokenizers/id_run.ts";
import type { Encoding } from "./tokenizers/pipeline.ts";
import type { Tokenizer } from "./tokenizers/tokenizer.ts";

export interface FastTokenizerKwargs extends TokenizerBaseKwargs {
  /** Path of a tokenizer.json. */
  tokenizer_file?: string | null;
  /** An engine to use directly (HF `tokenizer_object`). */
  tokenizer_object?: Tokenizer;
  added_tokens_decoder?: Map<number, AddedToken> | Record<number, AddedToken>;
  from_slow?: boolean;
}

/** The first (`direction` "right") or last ("left") `maxLen` items of `a`; `a` itself when it is not longer. */
function truncateIds<T>(a: T[], maxLen: number, direction: "left" | "right"): T[] {
  if (a.length <= maxLen) return a;
  return direction === "right" ? a.slice(0, maxLen) : a.slice(a.length - maxLen);
}

/** tokenizers' `Encoding::truncate` on the ids side: keep `maxLen` tokens, dropping from `direction`. */
function truncateEncoding(e: Encoding, maxLen: number, direction: "left" | "right"): Encoding {
  if (e.ids.length <= maxLen) return e;
  return {
    ids: truncateIds(e.ids, maxLen, direction),
    tokens: truncateIds(e.tokens, maxLen, direction),
    type_ids: truncateIds(e.type_ids, maxLen, direction),
    special_tokens_mask: truncateIds(e.special_tokens_mask, maxLen, direction),
  };
}

export abstract class PreTrainedTokenizerFast extends PreTrainedTokenizerBase {
  readonly _tokenizer: Tokenizer;

  constructor(backend: Tokenizer, kwargs: FastTokenizerKwargs = {}) {
    super(kwargs);
    this._tokenizer = backend;
    this._tokenizer.encode_special_tokens = this.split_special_tokens;

    // HF __init__: tokens of the config's added_tokens_decoder the engine lacks, then the special tokens
    // (HF compares AddedToken objects with strings here, so every AddedToken special is re-submitted; the
    // engine ignores exact duplicates).
    const dec = kwargs.added_tokens_decoder;
    const entries = dec
      ? dec instanceof Map
        ? [...dec.entries()]
        : Object.entries(dec).map(([k, v]) => [Number(k), v] as [number, AddedToken])
      : [];
    const have = [...this.added_tokens_decoder.values()];
    const toAdd: TokenLike[] = entries
      .sort((a, b) => a[0] - b[0])
      .map(([, t]) => t)
      .filter((t) => !have.some((h) => h.equals(t)));
    const encoder = new Set([...this.added_tokens_encoder.keys(), ...toAdd.map(String)]);
    for (const t of this.all_special_tokens_extended)
      if ((t instanceof AddedToken || !encoder.has(t)) && !toAdd.includes(t)) toAdd.push(t);
    if (toAdd.length > 0) {
      const specials = new Set(this.all_special_tokens);
      const tokens = toAdd.map((t) => {
        const isSpecial = t instanceof AddedToken ? t.special || specials.has(t.content) : specials.has(t);
        if (typeof t === "string") return new AddedToken(t, { special: isSpecial });
        const c = t.clone();
        c.special = isSpecial;
        return c;
      });
      this._tokenizer.add_tokens(tokens);
      this._invalidateSpecialCache();
    }
  }

  get is_fast(): boolean {
    return true;
  }

  /** Base vocabulary size (the engine's model). */
  get vocab_size(): number {
    return this._tokenizer.get_vocab_size(false);
  }

  /** HF `len(tokenizer)`: vocabulary with added tokens. */
  get length(): number {
    return this._tokenizer.get_vocab_size(true);
  }

  get_vocab(): Map<string, number> {
    return this._tokenizer.get_vocab(true);
  }

  get added_tokens_decoder(): Map<number, AddedToken> {
    return this._tokenizer.added_vocabulary.get_added_tokens_decoder();
  }

  get added_tokens_encoder(): Map<string, number> {
    return new Map([...this.added_tokens_decoder.entries()].map(([id, t]) => [t.content, id]));
  }

  /** Added tokens outside the base vocabulary (HF `get_added_vocab`). */
  get_added_vocab(): Map<string, number> {
    return this.added_tokens_encoder;
  }

  protected _add_tokens(new_tokens: TokenLike[], special_tokens = false): number {
    const tokens = new_tokens.map((t) => {
      if (typeof t === "string") return new AddedToken(t, { special: special_tokens });
      if (!(t instanceof AddedToken)) throw new ValueError(`Token ${String(t)} is not a string or an AddedToken`);
      return t;
    });
    const n = special_tokens ? this._tokenizer.add_special_tokens(tokens) : this._tokenizer.add_tokens(tokens);
    this._invalidateSpecialCache();
    return n;
  }

  convert_tokens_to_ids(tokens: string): number | null;
  convert_tokens_to_ids(tokens: string[]): (number | null)[];
  convert_tokens_to_ids(tokens: string | string[]): number | null | (number | null)[] {
    if (typeof tokens === "string") return this._convert_token_to_id_with_added_voc(tokens);
    return tokens.map((t) => this._convert_token_to_id_with_added_voc(t));
  }

  protected _convert_token_to_id_with_added_voc(token: string): number | null {
    const index = this._tokenizer.token_to_id(token);
    if (index === null) return this.unk_token === null ? null : this._tokenizer.token_to_id(this.unk_token);
    return index;
  }

  convert_ids_to_tokens(ids: number, skip_special_tokens?: boolean): string;
  convert_ids_to_tokens(ids: number[], skip_special_tokens?: boolean): string[];
  convert_ids_to_tokens(ids: number | number[], skip_special_tokens = false): string | string[] {
    const one = (id: number) => {
      const t = this._tokenizer.id_to_token(id);
      if (t === null) throw new TokenizerError("token_ids", `id ${id} is not in the vocabulary`);
      return t;
    };
    if (typeof ids === "number") return one(ids);
    const special = skip_special_tokens ? new Set(this.all_special_ids) : null;
    return ids.filter((id) => !(special && special.has(id))).map(one);
  }

  /** The engine's tokens, without special tokens (HF: `encode_plus(text, add_special_tokens=False).tokens()`). */
  tokenize(text: string, opts: { split_special_tokens?: boolean } = {}): string[] {
    const prev = this.setSplit(opts.split_special_tokens ?? this.split_special_tokens);
    try {
      return this._tokenizer.encodeParts(text).tokens;
    } finally {
      this._tokenizer.encode_special_tokens = prev;
    }
  }

  /** Sets the engine's `encode_special_tokens` for one encode; returns the value to restore afterwards. */
  private setSplit(split: boolean): boolean {
    const prev = this._tokenizer.encode_special_tokens;
    this._tokenizer.encode_special_tokens = split;
    return prev;
  }

  protected _encodeText(text: string, split_special_tokens: boolean): number[] {
    const prev = this.setSplit(split_special_tokens);
    try {
      return this._tokenizer.sequenceIds(text);
    } finally {
      this._tokenizer.encode_special_tokens = prev;
    }
  }

  /**
   * The engine's path: encode each sequence, truncate with tokenizers' `truncate_encodings` (max_length minus
   * the post-processor's special tokens), then post-process. Speed: without `details` the same steps run on
   * ids alone (no token strings, type ids, special-token mask or `Encoding` objects), the common case of
   * `encode` and `call`.
   */
  protected override _encodeOne(
    text: string,
    pair: string | null,
    addSpecial: boolean,
    truncation: TruncationStrategy,
    maxLength: number | null,
    split: boolean,
    details: boolean,
  ): EncodedInput {
    const engine = this._tokenizer;
    const dir = this.truncation_side;
    const prev = this.setSplit(split);
    try {
      if (!details) {
        if (truncation === "do_not_truncate" || maxLength === null)
          return { input_ids: engine.encodeIds(text, pair, addSpecial) };
        let a = engine.sequenceIds(text);
        let b = pair === null ? null : engine.sequenceIds(pair);
        const keep = this.keptLengths(a.length, b?.length ?? null, addSpecial, truncation, maxLength);
        if (keep !== null) {
          a = truncateIds(a, keep[0], dir);
          if (b !== null) b = truncateIds(b, keep[1]!, dir);
        }
        return { input_ids: engine.postProcessIds(a, b, addSpecial) };
      }
      let a = engine.encodeParts(text, 0);
      let b = pair === null ? null : engine.encodeParts(pair, 1);
      const keep = this.keptLengths(a.ids.length, b?.ids.length ?? null, addSpecial, truncation, maxLength);
      if (keep !== null) {
        a = truncateEncoding(a, keep[0], dir);
        if (b !== null) b = truncateEncoding(b, keep[1]!, dir);
      }
      const e = engine.post_process(a, b, addSpecial);
      return { input_ids: e.ids, token_type_ids: e.type_ids, special_tokens_mask: e.special_tokens_mask };
    } finally {
      this._tokenizer.encode_special_tokens = prev;
    }
  }

  /**
   * Without truncation the engine writes the ids straight into the batch's run (no row per text).
   * @internal
   */
  protected override _appendEncoded(
    out: IdRun,
    text: string,
    pair: string | null,
    addSpecial: boolean,
    truncation: TruncationStrategy,
    maxLength: number | null,
    split: boolean,
  ): void {
    if (truncation !== "do_not_truncate" && maxLength !== null)
      return super._appendEncoded(out, text, pair, addSpecial, truncation, maxLength, split);
    const prev = this.setSplit(split);
    try {
      this._tokenizer.appendIds(out, text, pair, addSpecial);
    } finally {
      this._tokenizer.encode_special_tokens = prev;
    }
  }

  /**
   * How many tokens of the sequence (and of the pair) truncation keeps, or null without truncation:
   * tokenizers' `truncate_encodings` (utils/truncation.rs, stride 0) to max_length minus the special tokens the
   * post-processor will add.
   */
  private keptLengths(
    lenA: number,
    lenB: number | null,
    addSpecial: boolean,
    strategy: TruncationStrategy,
    maxLength: number | null,
  ): [number, number | null] | null {
    if (strategy === "do_not_truncate" || maxLength === null) return null;
    const nAdded = addSpecial ? this._tokenizer.num_special_tokens_to_add(lenB !== null) : 0;
    if (maxLength < nAdded) {
      throw new ValueError(
        `Truncation error: max_length ${maxLength} is smaller than the ${nAdded} special tokens the post-processor adds`,
      );
    }
    const max = maxLength - nAdded;
    if (max === 0) return [0, lenB === null ? null : 0];
    const total = lenA + (lenB ?? 0);
    if (total <= max) return [lenA, lenB];
    const toRemove = total - max;
    if (strategy === "longest_first") {
      if (lenB === null) return [max, null];
      let n1 = lenA;
      let n2 = lenB;
      let swap = false;
      if (n1 > n2) {
        swap = true;
        [n1, n2] = [n2, n1];
      }
      if (n1 > max) n2 = n1;
      else n2 = Math.max(n1, max - n1);
      if (n1 + n2 > max) {
        n1 = Math.floor(max / 2);
        n2 = n1 + (max % 2);
      }
      return swap ? [n2, n1] : [n1, n2];
    }
    const targetIsA = strategy === "only_first";
    const target = targetIsA ? lenA : lenB;
    if (target === null) throw new ValueError("Truncation error: Second sequence not provided");
    if (target <= toRemove)
      throw new ValueError("Truncation error: Sequence to truncate too short to respect the provided max_length");
    return targetIsA ? [target - toRemove, lenB] : [lenA, target - toRemove];
  }

  /** HF `PreTrainedTokenizerFast._decode`: the engine's decode, then the optional cleanup. */
  /** HF `convert_tokens_to_string`: `backend_tokenizer.decoder.decode(tokens)`. */
  convert_tokens_to_string(tokens: string[]): string {
    return this._tokenizer.decode_tokens(tokens);
  }

  protected _decode(token_ids: number[], opts: DecodeOptions): string {
    const text = this._tokenizer.decode(token_ids, opts.skip_special_tokens ?? false);
    const cleanup = opts.clean_up_tokenization_spaces ?? this.clean_up_tokenization_spaces;
    return cleanup ? this.clean_up_tokenization(text) : text;
  }

  /** The engine as a tokenizer.json object. */
  toJSON(): Record<string, unknown> {
    return this._tokenizer.toJSON();
  }
}
