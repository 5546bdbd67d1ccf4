/**
 * The surface every llama-ts tokenizer shares, mirroring HF transformers `tokenization_utils_base.py`
 * (`AddedToken`, `SpecialTokensMixin`, `PreTrainedTokenizerBase`): special tokens and their ids,
 * `call` (HF `__call__`) with padding / truncation / attention_mask, `encode`, `decode`, `batch_decode`,
 * `add_special_tokens`, `get_special_tokens_mask`, `clean_up_tokenization`, and the loading of
 * `tokenizer_config.json` / `special_tokens_map.json`.
 *
 * Subclasses supply the vocabulary-specific parts, as in HF: the slow `PreTrainedTokenizer`
 * (src/tokenization_utils.ts) and the fast `PreTrainedTokenizerFast`
 * (src/tokenization_utils_fast.ts), then `LlamaTokenizer` / `LlamaTokenizerFast`.
 *
 * Shapes: `call(texts[batch])` -> `{ input_ids: number[batch][seq], attention_mask: number[batch][seq] }`
 * (a single string is a batch of one, as the llama-ts contract specifies; HF would return flat lists);
 * `decode(ids[seq])` -> string; `batch_decode(ids[batch][seq])` -> string[batch].
 *
 * Left out on purpose: TF/PyTorch tensor conversion (`return_tensors`), overflowing tokens and `stride`,
 * offsets mapping, `is_split_into_words`. `apply_chat_template` delegates to src/tokenization_chat.ts.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TokenizerError, ValueError } from "./errors.ts";
import { IdRun } from "./tokenizers/id_run.ts";
import { ensureFolder, writeFileAtomic } from "./utils/atomic_save.ts";
import { FILE_LIMITS, readTextFileChecked } from "./utils/safe_fs.ts";
import { checkPath } from "./utils/validate.ts";
import { Tensor, toIntRows } from "./tensor/tensor.ts";
import { AddedToken } from "./tokenizers/added_vocabulary.ts";
import { type ChatTemplateOptions, type Conversation, render_chat_template } from "./tokenization_chat.ts";

/** HF `VERY_LARGE_INTEGER` (int(1e30)): `model_max_length` when the model declares none. */
export const VERY_LARGE_INTEGER = 1e30;
/** HF `LARGE_INTEGER` (int(1e20)): above it, `model_max_length` counts as "no maximum". */
export const LARGE_INTEGER = 1e20;
/**
 * Beyond HF: the longest row padding may create (2^24 = 16,777,216 tokens, above any released model's context),
 * and the most cells a padded batch may hold (2^25). HF pads to whatever `max_length` or tokenizer_config.json's
 * `model_max_length` says, so `model_max_length: 4e8` with `padding: "max_length"` allocates until the process
 * dies; here padding past these bounds is a ValueError naming the length and where it came from.
 */
export const MAX_PADDED_LENGTH = 1 << 24;
export const MAX_PADDED_CELLS = 1 << 25;

/** The special-token attributes, in HF's order (`SpecialTokensMixin.SPECIAL_TOKENS_ATTRIBUTES`). */
export const SPECIAL_TOKENS_ATTRIBUTES = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
  "additional_special_tokens",
] as const;
export type SpecialTokenKey = Exclude<(typeof SPECIAL_TOKENS_ATTRIBUTES)[number], "additional_special_tokens">;

// HF: `from tokenizers import AddedToken` - the engine's class is the one transformers uses.
export { AddedToken };

export type TokenLike = string | AddedToken;

export type PaddingOption = boolean | "longest" | "max_length" | "do_not_pad";
export type TruncationOption = boolean | "longest_first" | "only_first" | "only_second" | "do_not_truncate";
export type PaddingStrategy = "longest" | "max_length" | "do_not_pad";
export type TruncationStrategy = "longest_first" | "only_first" | "only_second" | "do_not_truncate";

/** Options of `call` / `encode` (HF `__call__` / `encode` keyword arguments). */
export interface EncodeOptions {
  text_pair?: string | string[] | null;
  add_special_tokens?: boolean;
  padding?: PaddingOption;
  truncation?: TruncationOption | null;
  max_length?: number | null;
  pad_to_multiple_of?: number | null;
  padding_side?: "left" | "right";
  return_attention_mask?: boolean;
  return_token_type_ids?: boolean;
  return_special_tokens_mask?: boolean;
  return_length?: boolean;
  /** Encode added/special token text as plain text (HF `split_special_tokens`). */
  split_special_tokens?: boolean;
}

/** Options of `apply_chat_template` (HF's keyword arguments); any other key is a template variable. */
export type ApplyChatTemplateOptions = ChatTemplateOptions<EncodeOptions>;

/** What `call` returns (HF `BatchEncoding`, as plain lists). */
export interface BatchEncoding {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids?: number[][];
  special_tokens_mask?: number[][];
  length?: number[];
}

export interface DecodeOptions {
  skip_special_tokens?: boolean;
  /** Defaults to the tokenizer's `clean_up_tokenization_spaces` (false for Llama). */
  clean_up_tokenization_spaces?: boolean | null;
  /** Slow tokenizers only: joins the text around non-special added tokens with spaces (HF default true). */
  spaces_between_special_tokens?: boolean;
}

/**
 * One sequence (or pair) after truncation and special tokens, before padding. `token_type_ids` and
 * `special_tokens_mask` are there when the caller asked for them (`details` of `_encodeOne`).
 */
export interface EncodedInput {
  input_ids: number[];
  token_type_ids?: number[];
  special_tokens_mask?: number[];
}

/** Keyword arguments every tokenizer accepts (HF `PreTrainedTokenizerBase.__init__`). */
export interface TokenizerBaseKwargs {
  bos_token?: TokenLike | null;
  eos_token?: TokenLike | null;
  unk_token?: TokenLike | null;
  sep_token?: TokenLike | null;
  pad_token?: TokenLike | null;
  cls_token?: TokenLike | null;
  mask_token?: TokenLike | null;
  additional_special_tokens?: TokenLike[];
  model_max_length?: number;
  padding_side?: "left" | "right";
  truncation_side?: "left" | "right";
  clean_up_tokenization_spaces?: boolean;
  split_special_tokens?: boolean;
  model_input_names?: string[];
  [key: string]: unknown;
}

/**
 * HF `PreTrainedTokenizerBase` (with `SpecialTokensMixin`): everything that does not depend on how text
 * becomes ids.
 */
export abstract class PreTrainedTokenizerBase {
  /** HF class attribute: the inputs the model takes; `token_type_ids` is returned only if listed. */
  model_input_names: string[] = ["input_ids", "attention_mask"];
  padding_side: "left" | "right" = "right";
  truncation_side: "left" | "right" = "right";
  model_max_length: number = VERY_LARGE_INTEGER;
  clean_up_tokenization_spaces = false;
  split_special_tokens = false;
  /** The kwargs the tokenizer was built with (HF `init_kwargs`), saved back to tokenizer_config.json. */
  init_kwargs: Record<string, unknown>;
  pad_token_type_id = 0;
  /** The Jinja chat template(s) from tokenizer_config.json (HF `chat_template`), used by `apply_chat_template`. */
  chat_template: string | Record<string, string> | null = null;

  protected _special_tokens_map: Record<SpecialTokenKey, TokenLike | null> = {
    bos_token: null,
    eos_token: null,
    unk_token: null,
    sep_token: null,
    pad_token: null,
    cls_token: null,
    mask_token: null,
  };
  protected _additional_special_tokens: TokenLike[] = [];

  constructor(kwargs: TokenizerBaseKwargs = {}) {
    this.init_kwargs = { ...kwargs };
    if (kwargs.model_max_length !== undefined && kwargs.model_max_length !== null)
      this.model_max_length = checkNumber(kwargs.model_max_length, "model_max_length");
    if (kwargs.padding_side !== undefined) this.padding_side = checkSide(kwargs.padding_side, "padding_side");
    if (kwargs.truncation_side !== undefined)
      this.truncation_side = checkSide(kwargs.truncation_side, "truncation_side");
    if (kwargs.clean_up_tokenization_spaces !== undefined)
      this.clean_up_tokenization_spaces = Boolean(kwargs.clean_up_tokenization_spaces);
    if (kwargs.split_special_tokens !== undefined) this.split_special_tokens = Boolean(kwargs.split_special_tokens);
    if (kwargs.model_input_names !== undefined) this.model_input_names = [...kwargs.model_input_names];
    if (
      typeof kwargs.chat_template === "string" ||
      (kwargs.chat_template && typeof kwargs.chat_template === "object")
    ) {
      this.chat_template = kwargs.chat_template as string | Record<string, string>;
    }
    for (const key of SPECIAL_TOKENS_ATTRIBUTES) {
      const value = kwargs[key];
      if (value === undefined || value === null) continue;
      if (key === "additional_special_tokens") {
        if (!Array.isArray(value) || !value.every((t) => typeof t === "string" || t instanceof AddedToken)) {
          throw new ValueError(
            `additional_special_tokens: expected a list of str or AddedToken, got ${JSON.stringify(value)}`,
          );
        }
        this._additional_special_tokens = [...value];
      } else {
        if (typeof value !== "string" && !(value instanceof AddedToken))
          throw new ValueError(`${key}: expected a str or AddedToken, got ${JSON.stringify(value)}`);
        this._special_tokens_map[key] = value;
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Vocabulary (subclasses)
  // -------------------------------------------------------------------------------------------------------

  /** Size of the base vocabulary, without added tokens. */
  abstract get vocab_size(): number;
  /** Vocabulary size with the added tokens (HF `len(tokenizer)`). */
  abstract get length(): number;
  abstract get_vocab(): Map<string, number>;
  abstract convert_tokens_to_ids(tokens: string): number | null;
  abstract convert_tokens_to_ids(tokens: string[]): (number | null)[];
  abstract convert_ids_to_tokens(ids: number, skip_special_tokens?: boolean): string;
  abstract convert_ids_to_tokens(ids: number[], skip_special_tokens?: boolean): string[];
  abstract tokenize(text: string, opts?: { split_special_tokens?: boolean }): string[];
  /** Adds tokens to the vocabulary; returns how many were new (HF `_add_tokens`). */
  protected abstract _add_tokens(new_tokens: TokenLike[], special_tokens: boolean): number;
  protected abstract _decode(ids: number[], opts: DecodeOptions): string;
  /** Ids of one text without special tokens (the `get_input_ids` step of HF `_encode_plus`). */
  protected abstract _encodeText(text: string, split_special_tokens: boolean): number[];

  /** HF default: the sequences concatenated (LlamaTokenizer overrides with BOS/EOS). */
  build_inputs_with_special_tokens(token_ids_0: number[], token_ids_1?: number[] | null): number[] {
    return token_ids_1 ? [...token_ids_0, ...token_ids_1] : [...token_ids_0];
  }

  /** HF default: zeros for the first sequence, ones for the second. */
  create_token_type_ids_from_sequences(token_ids_0: number[], token_ids_1?: number[] | null): number[] {
    const out = new Array<number>(token_ids_0.length).fill(0);
    if (token_ids_1) for (let i = 0; i < token_ids_1.length; i++) out.push(1);
    return out;
  }

  /**
   * 1 for special tokens, 0 for sequence tokens. With `already_has_special_tokens`, marks the ids that are
   * special ids (HF base behaviour); otherwise subclasses describe where `build_inputs_with_special_tokens`
   * puts special tokens.
   */
  get_special_tokens_mask(
    token_ids_0: number[],
    token_ids_1?: number[] | null,
    already_has_special_tokens = false,
  ): number[] {
    if (already_has_special_tokens) {
      if (token_ids_1)
        throw new ValueError(
          "You should not supply a second sequence if the provided sequence of ids is already formatted with special tokens for the model.",
        );
      const special = new Set(this.all_special_ids);
      return token_ids_0.map((t) => (special.has(t) ? 1 : 0));
    }
    return new Array<number>(token_ids_0.length + (token_ids_1 ? token_ids_1.length : 0)).fill(0);
  }

  /** Number of special tokens `build_inputs_with_special_tokens` adds (HF computes it on empty inputs). */
  num_special_tokens_to_add(pair = false): number {
    return this.build_inputs_with_special_tokens([], pair ? [] : null).length;
  }

  // -------------------------------------------------------------------------------------------------------
  // Special tokens (HF SpecialTokensMixin)
  // -------------------------------------------------------------------------------------------------------

  private specialToken(key: SpecialTokenKey): string | null {
    const v = this._special_tokens_map[key];
    return v === null ? null : String(v);
  }

  private setSpecialToken(key: SpecialTokenKey, value: TokenLike | null): void {
    if (value !== null && typeof value !== "string" && !(value instanceof AddedToken)) {
      throw new ValueError(`Cannot set a non-string value as the ${key}`);
    }
    this._special_tokens_map[key] = value;
    this._invalidateSpecialCache();
  }

  /** all_special_tokens / all_special_ids, cached because decode (called per token by streamers) needs them. */
  private _specialCache: { tokens: string[]; ids: number[]; set: Set<string> } | null = null;

  /** Forget the cached special tokens and ids (after special tokens or the vocabulary change). */
  protected _invalidateSpecialCache(): void {
    this._specialCache = null;
  }

  private specialCache(): { tokens: string[]; ids: number[]; set: Set<string> } {
    if (!this._specialCache) {
      const tokens = this.all_special_tokens_extended.map(String);
      const ids = this.convert_tokens_to_ids(tokens).filter((x): x is number => x !== null);
      this._specialCache = { tokens, ids, set: new Set(tokens) };
    }
    return this._specialCache;
  }

  /** `set(all_special_tokens)`, cached with them: decode asks per call, not a new Set each time. */
  protected _special_tokens_set(): ReadonlySet<string> {
    return this.specialCache().set;
  }

  private specialTokenId(key: SpecialTokenKey): number | null {
    const t = this.specialToken(key);
    return t === null ? null : this.convert_tokens_to_ids(t);
  }

  get bos_token(): string | null {
    return this.specialToken("bos_token");
  }
  set bos_token(v: TokenLike | null) {
    this.setSpecialToken("bos_token", v);
  }
  get eos_token(): string | null {
    return this.specialToken("eos_token");
  }
  set eos_token(v: TokenLike | null) {
    this.setSpecialToken("eos_token", v);
  }
  get unk_token(): string | null {
    return this.specialToken("unk_token");
  }
  set unk_token(v: TokenLike | null) {
    this.setSpecialToken("unk_token", v);
  }
  get sep_token(): string | null {
    return this.specialToken("sep_token");
  }
  set sep_token(v: TokenLike | null) {
    this.setSpecialToken("sep_token", v);
  }
  get pad_token(): string | null {
    return this.specialToken("pad_token");
  }
  set pad_token(v: TokenLike | null) {
    this.setSpecialToken("pad_token", v);
  }
  get cls_token(): string | null {
    return this.specialToken("cls_token");
  }
  set cls_token(v: TokenLike | null) {
    this.setSpecialToken("cls_token", v);
  }
  get mask_token(): string | null {
    return this.specialToken("mask_token");
  }
  set mask_token(v: TokenLike | null) {
    this.setSpecialToken("mask_token", v);
  }
  get additional_special_tokens(): string[] {
    return this._additional_special_tokens.map(String);
  }
  set additional_special_tokens(v: TokenLike[]) {
    this._additional_special_tokens = [...v];
    this._invalidateSpecialCache();
  }

  get bos_token_id(): number | null {
    return this.specialTokenId("bos_token");
  }
  get eos_token_id(): number | null {
    return this.specialTokenId("eos_token");
  }
  get unk_token_id(): number | null {
    return this.specialTokenId("unk_token");
  }
  get sep_token_id(): number | null {
    return this.specialTokenId("sep_token");
  }
  get pad_token_id(): number | null {
    return this.specialTokenId("pad_token");
  }
  get cls_token_id(): number | null {
    return this.specialTokenId("cls_token");
  }
  get mask_token_id(): number | null {
    return this.specialTokenId("mask_token");
  }
  get additional_special_tokens_ids(): (number | null)[] {
    return this.convert_tokens_to_ids(this.additional_special_tokens);
  }

  /** The set special tokens as strings, keyed by attribute (HF `special_tokens_map`). */
  get special_tokens_map(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const key of SPECIAL_TOKENS_ATTRIBUTES) {
      if (key === "additional_special_tokens") {
        if (this._additional_special_tokens.length > 0) out[key] = this.additional_special_tokens;
      } else {
        const v = this._special_tokens_map[key];
        if (v !== null) out[key] = String(v);
      }
    }
    return out;
  }

  /** Like `special_tokens_map` but keeping `AddedToken`s (HF `special_tokens_map_extended`). */
  get special_tokens_map_extended(): Record<string, TokenLike | TokenLike[]> {
    const out: Record<string, TokenLike | TokenLike[]> = {};
    for (const key of SPECIAL_TOKENS_ATTRIBUTES) {
      if (key === "additional_special_tokens") {
        if (this._additional_special_tokens.length > 0) out[key] = [...this._additional_special_tokens];
      } else {
        const v = this._special_tokens_map[key];
        if (v !== null) out[key] = v;
      }
    }
    return out;
  }

  /** Every special token once, in attribute order (HF `all_special_tokens_extended`). */
  get all_special_tokens_extended(): TokenLike[] {
    const out: TokenLike[] = [];
    const seen = new Set<string>();
    for (const value of Object.values(this.special_tokens_map_extended)) {
      for (const t of Array.isArray(value) ? value : [value]) {
        if (!seen.has(String(t))) {
          seen.add(String(t));
          out.push(t);
        }
      }
    }
    return out;
  }

  get all_special_tokens(): string[] {
    return [...this.specialCache().tokens];
  }

  get all_special_ids(): number[] {
    return [...this.specialCache().ids];
  }

  /**
   * Sets special tokens and adds those missing from the vocabulary; returns the number of tokens added
   * (HF `add_special_tokens`). Strings become `AddedToken(normalized=false, special=true)`.
   */
  add_special_tokens(
    special_tokens_dict: Partial<Record<SpecialTokenKey, TokenLike>> & { additional_special_tokens?: TokenLike[] },
    replace_additional_special_tokens = true,
  ): number {
    const added: TokenLike[] = [];
    for (const [key, value] of Object.entries(special_tokens_dict)) {
      if (!(SPECIAL_TOKENS_ATTRIBUTES as readonly string[]).includes(key))
        throw new ValueError(`Key ${key} is not a special token`);
      if (key === "additional_special_tokens") {
        if (!Array.isArray(value) || !value.every((t) => typeof t === "string" || t instanceof AddedToken)) {
          throw new ValueError(
            `Tokens ${JSON.stringify(value)} for key ${key} should all be str or AddedToken instances`,
          );
        }
        const toAdd: AddedToken[] = [];
        for (const t of value as TokenLike[]) {
          const tok = typeof t === "string" ? new AddedToken(t, { normalized: false, special: true }) : t;
          if (!replace_additional_special_tokens && this.additional_special_tokens.includes(String(tok))) continue;
          toAdd.push(tok);
        }
        if (replace_additional_special_tokens && toAdd.length > 0) this._additional_special_tokens = [...toAdd];
        else this._additional_special_tokens.push(...toAdd);
        added.push(...toAdd);
      } else {
        if (typeof value !== "string" && !(value instanceof AddedToken))
          throw new ValueError(
            `Token ${JSON.stringify(value)} for key ${key} should be a str or an AddedToken instance`,
          );
        const tok = typeof value === "string" ? new AddedToken(value, { normalized: false, special: true }) : value;
        this._special_tokens_map[key as SpecialTokenKey] = tok;
        if (!added.some((t) => String(t) === String(tok))) added.push(tok);
      }
    }
    this._invalidateSpecialCache();
    if (added.length === 0) return 0;
    return this._add_tokens(added, true);
  }

  /** Adds (non-special unless `special_tokens`) tokens; returns how many were new (HF `add_tokens`). */
  add_tokens(new_tokens: TokenLike | TokenLike[], special_tokens = false): number {
    const list = Array.isArray(new_tokens) ? new_tokens : [new_tokens];
    if (list.length === 0) return 0;
    return this._add_tokens(list, special_tokens);
  }

  // -------------------------------------------------------------------------------------------------------
  // Encoding
  // -------------------------------------------------------------------------------------------------------

  /**
   * Tokenizes one text or a batch, with optional pair texts, truncation and padding (HF `__call__`).
   * Always returns a batch: `call("hi").input_ids` is `[[1, 7251]]`.
   */
  call(text: string | string[], opts: EncodeOptions = {}): BatchEncoding {
    const texts = typeof text === "string" ? [text] : text;
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string")) {
      throw new ValueError("text input must be of type `str` (single example) or `List[str]` (batch).");
    }
    let pairs: (string | null)[] | null = null;
    if (opts.text_pair !== undefined && opts.text_pair !== null) {
      const p = typeof opts.text_pair === "string" ? [opts.text_pair] : opts.text_pair;
      if (!Array.isArray(p) || p.length !== texts.length || !p.every((t) => typeof t === "string")) {
        throw new ValueError(
          `text_pair: expected ${texts.length} string(s) to match text, got ${JSON.stringify(opts.text_pair)}`,
        );
      }
      pairs = p;
    }
    return this._batchEncode(texts, pairs, opts);
  }

  /** Ids of one text, with BOS/EOS as `add_special_tokens` (default true) says (HF `encode`). */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new ValueError(`encode: expected a string, got ${typeof text}`);
    const pair = typeof opts.text_pair === "string" ? [opts.text_pair] : null;
    return this._batchEncode([text], pair, { ...opts, return_attention_mask: false }).input_ids[0];
  }

  /** HF `_get_padding_truncation_strategies`: resolves the padding/truncation options and max_length. */
  protected _getPaddingTruncationStrategies(opts: EncodeOptions): {
    padding: PaddingStrategy;
    truncation: TruncationStrategy;
    max_length: number | null;
  } {
    let { padding = false, truncation = null, max_length = null } = opts;
    const pad_to_multiple_of = opts.pad_to_multiple_of ?? null;
    if (max_length !== null) max_length = checkNumber(max_length, "max_length");
    // HF: max_length alone (no padding, truncation unset) activates truncation, with a warning.
    if (max_length !== null && padding === false && (truncation === null || truncation === undefined))
      truncation = "longest_first";

    let paddingStrategy: PaddingStrategy;
    if (padding === true) paddingStrategy = "longest";
    else if (padding === false) paddingStrategy = "do_not_pad";
    else if (padding === "longest" || padding === "max_length" || padding === "do_not_pad") paddingStrategy = padding;
    else
      throw new ValueError(
        `padding: expected true, false, "longest", "max_length" or "do_not_pad", got ${JSON.stringify(padding)}`,
      );

    let truncationStrategy: TruncationStrategy;
    if (truncation === true) truncationStrategy = "longest_first";
    else if (truncation === false || truncation === null || truncation === undefined)
      truncationStrategy = "do_not_truncate";
    else if (["longest_first", "only_first", "only_second", "do_not_truncate"].includes(truncation))
      truncationStrategy = truncation;
    else
      throw new ValueError(
        `truncation: expected true, false, "longest_first", "only_first", "only_second" or "do_not_truncate", got ${JSON.stringify(truncation)}`,
      );

    if (max_length === null) {
      if (paddingStrategy === "max_length") {
        // HF warns "Asking to pad to max_length but no maximum length is provided ..." and does not pad.
        if (this.model_max_length > LARGE_INTEGER) paddingStrategy = "do_not_pad";
        else max_length = this.model_max_length;
      }
      if (truncationStrategy !== "do_not_truncate") {
        if (this.model_max_length > LARGE_INTEGER) truncationStrategy = "do_not_truncate";
        else max_length = this.model_max_length;
      }
    }
    if (paddingStrategy !== "do_not_pad" && (this.pad_token === null || (this.pad_token_id ?? -1) < 0)) {
      throw new ValueError(
        "Asking to pad but the tokenizer does not have a padding token. Please select a token to use as `pad_token` " +
          "`(tokenizer.pad_token = tokenizer.eos_token e.g.)` or add a new pad token via `tokenizer.add_special_tokens({'pad_token': '[PAD]'})`.",
      );
    }
    if (
      truncationStrategy !== "do_not_truncate" &&
      paddingStrategy !== "do_not_pad" &&
      pad_to_multiple_of !== null &&
      max_length !== null &&
      max_length % pad_to_multiple_of !== 0
    ) {
      throw new ValueError(
        `Truncation and padding are both activated but truncation length (${max_length}) is not a multiple of \`pad_to_multiple_of\` (${pad_to_multiple_of}).`,
      );
    }
    return { padding: paddingStrategy, truncation: truncationStrategy, max_length };
  }

  /** HF `_batch_encode_plus` + `_batch_prepare_for_model` + `pad`. */
  protected _batchEncode(texts: string[], pairs: (string | null)[] | null, opts: EncodeOptions): BatchEncoding {
    const strategies = this._getPaddingTruncationStrategies(opts);
    const addSpecial = opts.add_special_tokens ?? true;
    const split = opts.split_special_tokens ?? this.split_special_tokens;
    const returnTypeIds = opts.return_token_type_ids ?? this.model_input_names.includes("token_type_ids");
    if (returnTypeIds && !addSpecial) {
      throw new ValueError(
        "Asking to return token_type_ids while setting add_special_tokens to False results in an undefined behavior. Please set add_special_tokens to True or set return_token_type_ids to None.",
      );
    }
    // Type ids and the special-token mask are built only for a caller who gets them back.
    const details = returnTypeIds || (opts.return_special_tokens_mask ?? false);
    const { truncation, max_length } = strategies;
    const encoded: EncodedInput[] = new Array(texts.length);
    if (details || texts.length <= 1) {
      for (let i = 0; i < texts.length; i++) {
        const pair = pairs ? pairs[i] : null;
        encoded[i] = this._encodeOne(texts[i], pair, addSpecial, truncation, max_length, split, details);
      }
    } else {
      // Speed: the rows' ids wait in one IdRun and the rows are made after the last text (id_run.ts says why).
      // A single text (`encode`) skips this: its row is the only one.
      const all = new IdRun();
      const ends = new Int32Array(texts.length);
      for (let i = 0; i < texts.length; i++) {
        this._appendEncoded(all, texts[i], pairs ? pairs[i] : null, addSpecial, truncation, max_length, split);
        ends[i] = all.length;
      }
      for (let i = 0; i < texts.length; i++)
        encoded[i] = { input_ids: all.toArray(i === 0 ? 0 : ends[i - 1], ends[i]) };
    }
    return this._padBatch(encoded, strategies.padding, strategies.max_length, opts, returnTypeIds);
  }

  /**
   * Appends the ids `_encodeOne` gives (without details) to a batch's run; a subclass may write them there directly.
   * @internal
   */
  protected _appendEncoded(
    out: IdRun,
    text: string,
    pair: string | null,
    addSpecial: boolean,
    truncation: TruncationStrategy,
    maxLength: number | null,
    split: boolean,
  ): void {
    out.append(this._encodeOne(text, pair, addSpecial, truncation, maxLength, split, false).input_ids);
  }

  /**
   * One text (and pair) to ids with special tokens, truncated; the slow path (`get_input_ids` +
   * `prepare_for_model`). `details`: also give `token_type_ids` and `special_tokens_mask`.
   */
  protected _encodeOne(
    text: string,
    pair: string | null,
    addSpecial: boolean,
    truncation: TruncationStrategy,
    maxLength: number | null,
    split: boolean,
    details: boolean,
  ): EncodedInput {
    const ids = this._encodeText(text, split);
    const pairIds = pair === null ? null : this._encodeText(pair, split);
    return this._prepareForModel(ids, pairIds, addSpecial, truncation, maxLength, details);
  }

  /**
   * HF `prepare_for_model` without padding: truncates (python algorithm), then adds special tokens.
   * The fast tokenizer overrides it with tokenizers' (Rust) truncation and post-processor.
   */
  protected _prepareForModel(
    ids: number[],
    pairIds: number[] | null,
    addSpecial: boolean,
    truncation: TruncationStrategy,
    maxLength: number | null,
    details = true,
  ): EncodedInput {
    const totalLen =
      ids.length + (pairIds ? pairIds.length : 0) + (addSpecial ? this.num_special_tokens_to_add(pairIds !== null) : 0);
    // HF quirk kept: `max_length and total_len > max_length`, so max_length=0 never truncates.
    if (truncation !== "do_not_truncate" && maxLength && totalLen > maxLength) {
      [ids, pairIds] = this.truncate_sequences(ids, pairIds, totalLen - maxLength, truncation);
    }
    if (addSpecial) {
      const input_ids = this.build_inputs_with_special_tokens(ids, pairIds);
      if (!details) return { input_ids };
      return {
        input_ids,
        token_type_ids: this.create_token_type_ids_from_sequences(ids, pairIds),
        special_tokens_mask: this.get_special_tokens_mask(ids, pairIds),
      };
    }
    const seq = pairIds ? [...ids, ...pairIds] : [...ids];
    if (!details) return { input_ids: seq };
    return {
      input_ids: seq,
      token_type_ids: new Array<number>(seq.length).fill(0),
      special_tokens_mask: new Array<number>(seq.length).fill(0),
    };
  }

  /**
   * HF `truncate_sequences` (stride 0): removes `num_tokens_to_remove` tokens on `truncation_side`. When the
   * sequence to cut is too short HF logs an error and leaves it as is; so do we (console.warn).
   */
  truncate_sequences(
    ids: number[],
    pair_ids: number[] | null,
    num_tokens_to_remove: number,
    truncation_strategy: TruncationStrategy = "longest_first",
  ): [number[], number[] | null] {
    if (num_tokens_to_remove <= 0) return [ids, pair_ids];
    const cut = (seq: number[], n: number) =>
      this.truncation_side === "left" ? seq.slice(n) : seq.slice(0, seq.length - n);
    if (truncation_strategy === "only_first" || (truncation_strategy === "longest_first" && pair_ids === null)) {
      if (ids.length > num_tokens_to_remove) return [cut(ids, num_tokens_to_remove), pair_ids];
      console.warn(
        `We need to remove ${num_tokens_to_remove} to truncate the input but the first sequence has a length ${ids.length}.`,
      );
      return [ids, pair_ids];
    }
    if (truncation_strategy === "longest_first" && pair_ids !== null) {
      const firstRemove = Math.min(Math.abs(pair_ids.length - ids.length), num_tokens_to_remove);
      const secondRemove = num_tokens_to_remove - firstRemove;
      let idsToMove: number;
      let pairToMove: number;
      if (ids.length > pair_ids.length) {
        idsToMove = firstRemove + Math.floor(secondRemove / 2);
        pairToMove = secondRemove - Math.floor(secondRemove / 2);
      } else {
        idsToMove = Math.floor(secondRemove / 2);
        pairToMove = firstRemove + secondRemove - Math.floor(secondRemove / 2);
      }
      return [idsToMove > 0 ? cut(ids, idsToMove) : ids, pairToMove > 0 ? cut(pair_ids, pairToMove) : pair_ids];
    }
    if (truncation_strategy === "only_second" && pair_ids !== null) {
      if (pair_ids.length > num_tokens_to_remove) return [ids, cut(pair_ids, num_tokens_to_remove)];
      console.warn(
        `We need to remove ${num_tokens_to_remove} to truncate the input but the second sequence has a length ${pair_ids.length}.`,
      );
    }
    return [ids, pair_ids];
  }

  /** HF `pad` + `_pad` over a batch. */
  protected _padBatch(
    encoded: EncodedInput[],
    padding: PaddingStrategy,
    maxLength: number | null,
    opts: EncodeOptions,
    returnTypeIds: boolean,
  ): BatchEncoding {
    const returnMask = opts.return_attention_mask ?? this.model_input_names.includes("attention_mask");
    const side = opts.padding_side ?? this.padding_side;
    if (side !== "left" && side !== "right") throw new ValueError(`Invalid padding strategy:${String(side)}`);
    let target = maxLength;
    if (padding === "longest") {
      // A loop, not Math.max(...lengths): spreading a batch of 200,000 rows as arguments overflows the stack.
      target = 0;
      for (const e of encoded) target = Math.max(target, e.input_ids.length);
    }
    const multiple = opts.pad_to_multiple_of ?? null;
    if (multiple !== null && (!Number.isSafeInteger(multiple) || multiple < 0))
      throw new ValueError(`pad_to_multiple_of: expected a non-negative integer, got ${JSON.stringify(multiple)}`);
    if (target !== null && multiple !== null && multiple > 0 && target % multiple !== 0)
      target = (Math.floor(target / multiple) + 1) * multiple;
    if (padding !== "do_not_pad" && target !== null) {
      const source =
        padding === "longest"
          ? "the longest row"
          : opts.max_length !== undefined && opts.max_length !== null
            ? "max_length"
            : "model_max_length (tokenizer_config.json)";
      if (target > MAX_PADDED_LENGTH)
        throw new ValueError(
          `padding: cannot pad to ${target} tokens (from ${source}${multiple ? " and pad_to_multiple_of" : ""}): more than MAX_PADDED_LENGTH = ${MAX_PADDED_LENGTH}`,
        );
      if (target * encoded.length > MAX_PADDED_CELLS)
        throw new ValueError(
          `padding: ${encoded.length} rows of ${target} tokens (from ${source}) exceed MAX_PADDED_CELLS = ${MAX_PADDED_CELLS}`,
        );
    }
    const padId = padding === "do_not_pad" ? 0 : (this.pad_token_id as number);

    const out: BatchEncoding = { input_ids: [], attention_mask: [] };
    if (returnTypeIds) out.token_type_ids = [];
    if (opts.return_special_tokens_mask) out.special_tokens_mask = [];
    if (opts.return_length) out.length = [];
    for (const e of encoded) {
      let ids = e.input_ids;
      let mask = returnMask ? new Array<number>(ids.length).fill(1) : [];
      // Present whenever they are returned: `_batchEncode` asks `_encodeOne` for them then.
      let types = e.token_type_ids!;
      let special = e.special_tokens_mask!;
      const diff = padding !== "do_not_pad" && target !== null ? target - ids.length : 0;
      if (diff > 0) {
        const fill = (v: number) => new Array<number>(diff).fill(v);
        if (side === "right") {
          ids = [...ids, ...fill(padId)];
          mask = [...mask, ...fill(0)];
          if (returnTypeIds) types = [...types, ...fill(this.pad_token_type_id)];
          if (out.special_tokens_mask) special = [...special, ...fill(1)];
        } else {
          ids = [...fill(padId), ...ids];
          mask = [...fill(0), ...mask];
          if (returnTypeIds) types = [...fill(this.pad_token_type_id), ...types];
          if (out.special_tokens_mask) special = [...fill(1), ...special];
        }
      }
      out.input_ids.push(ids);
      if (returnMask) out.attention_mask.push(mask);
      out.token_type_ids?.push(types);
      out.special_tokens_mask?.push(special);
      // HF computes `length` before padding in prepare_for_model.
      out.length?.push(e.input_ids.length);
    }
    if (!returnMask) delete (out as Partial<BatchEncoding>).attention_mask;
    return out;
  }

  // -------------------------------------------------------------------------------------------------------
  // Saving
  // -------------------------------------------------------------------------------------------------------

  /** The vocabulary files of the tokenizer (slow: tokenizer.model; fast: tokenizer.json and, if known, tokenizer.model). */
  abstract save_vocabulary(save_directory: string, filename_prefix?: string | null): Promise<string[]>;

  /** Files written besides the config (HF `_save_pretrained`); the slow default is `save_vocabulary`. */
  protected async _save_pretrained(save_directory: string): Promise<string[]> {
    return this.save_vocabulary(save_directory);
  }

  /** Added tokens by id, as saved in tokenizer_config.json's `added_tokens_decoder`. */
  abstract get added_tokens_decoder(): Map<number, AddedToken>;

  /**
   * Writes tokenizer_config.json (init kwargs, special tokens as strings, `added_tokens_decoder`),
   * special_tokens_map.json and the vocabulary files, so that `from_pretrained(save_directory)` rebuilds the
   * same tokenizer (HF `save_pretrained`). Returns the paths written.
   */
  async save_pretrained(save_directory: string): Promise<string[]> {
    checkPath(save_directory, "save_pretrained: save_directory");
    await ensureFolder(save_directory);
    const skip = new Set([
      "vocab_file",
      "tokenizer_file",
      "tokenizer_object",
      "tokenizer_config",
      "sp_model_proto",
      "added_tokens_decoder",
      "from_slow",
      "name_or_path",
    ]);
    const config: Record<string, unknown> = {};
    for (const [k, initial] of Object.entries(this.init_kwargs)) {
      if (skip.has(k) || (SPECIAL_TOKENS_ATTRIBUTES as readonly string[]).includes(k)) continue;
      // HF saves the current value of each init kwarg that is also an attribute (add_eos_token set later, ...).
      const v = k in this ? (this as Record<string, unknown>)[k] : initial;
      if (v === undefined || typeof v === "bigint" || typeof v === "function" || v instanceof Uint8Array) continue;
      config[k] = v;
    }
    const decoder: Record<string, unknown> = {};
    for (const [id, t] of this.added_tokens_decoder) decoder[String(id)] = t.toJSON();
    config.added_tokens_decoder = decoder;
    for (const key of SPECIAL_TOKENS_ATTRIBUTES) {
      if (key === "additional_special_tokens") config[key] = this.additional_special_tokens;
      else config[key] = this._special_tokens_map[key] === null ? null : String(this._special_tokens_map[key]);
    }
    config.clean_up_tokenization_spaces = this.clean_up_tokenization_spaces;
    config.model_max_length = this.model_max_length;
    config.padding_side = this.padding_side;
    if (this.chat_template !== null) config.chat_template = this.chat_template;
    config.tokenizer_class = this.constructor.name;
    const configFile = join(save_directory, "tokenizer_config.json");
    await writeFileAtomic(configFile, JSON.stringify(config, null, 2) + "\n");

    const map: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.special_tokens_map_extended)) {
      const one = (t: TokenLike) =>
        t instanceof AddedToken
          ? {
              content: t.content,
              lstrip: t.lstrip,
              normalized: t.normalized,
              rstrip: t.rstrip,
              single_word: t.single_word,
            }
          : t;
      map[k] = Array.isArray(v) ? v.map(one) : one(v);
    }
    const mapFile = join(save_directory, "special_tokens_map.json");
    await writeFileAtomic(mapFile, JSON.stringify(map, null, 2) + "\n");
    return [configFile, mapFile, ...(await this._save_pretrained(save_directory))];
  }

  // -------------------------------------------------------------------------------------------------------
  // Decoding
  // -------------------------------------------------------------------------------------------------------

  /** Text of a sequence of ids (HF `decode`). Accepts `number[]` or an integer Tensor of one row. */
  decode(token_ids: number[] | Tensor | number, opts: DecodeOptions = {}): string {
    const ids =
      typeof token_ids === "number" ? [token_ids] : token_ids instanceof Tensor ? oneRow(token_ids) : token_ids;
    if (!Array.isArray(ids))
      throw new ValueError(`decode: expected a list of ids or a Tensor, got ${typeof token_ids}`);
    return this._decode(checkIds(ids), opts);
  }

  /** `decode` for each row (HF `batch_decode`). Accepts `number[][]` or an integer Tensor `[batch, seq]`. */
  batch_decode(sequences: number[][] | Tensor, opts: DecodeOptions = {}): string[] {
    const rows = sequences instanceof Tensor ? toIntRows(sequences, "sequences") : sequences;
    if (!Array.isArray(rows)) throw new ValueError("batch_decode: expected a list of id lists or a Tensor");
    return rows.map((r) => this.decode(r, opts));
  }

  /** HF `clean_up_tokenization`: removes the space before punctuation and English contractions. */
  static clean_up_tokenization(out_string: string): string {
    return out_string
      .replaceAll(" .", ".")
      .replaceAll(" ?", "?")
      .replaceAll(" !", "!")
      .replaceAll(" ,", ",")
      .replaceAll(" ' ", "'")
      .replaceAll(" n't", "n't")
      .replaceAll(" 'm", "'m")
      .replaceAll(" 's", "'s")
      .replaceAll(" 've", "'ve")
      .replaceAll(" 're", "'re");
  }

  /**
   * HF `apply_chat_template`: the conversation rendered with the chat template (src/tokenization_chat.ts), then
   * tokenized without special tokens; one conversation gives string | ids[seq], a batch string[] | ids[batch][seq].
   */
  apply_chat_template(conversation: Conversation, opts: ApplyChatTemplateOptions & { tokenize: false }): string;
  apply_chat_template(conversation: Conversation[], opts: ApplyChatTemplateOptions & { tokenize: false }): string[];
  apply_chat_template(
    conversation: Conversation | Conversation[],
    opts: ApplyChatTemplateOptions & { return_dict: true },
  ): BatchEncoding;
  apply_chat_template(conversation: Conversation, opts?: ApplyChatTemplateOptions): number[];
  apply_chat_template(conversation: Conversation[], opts?: ApplyChatTemplateOptions): number[][];
  apply_chat_template(
    conversation: Conversation | Conversation[],
    opts: ApplyChatTemplateOptions = {},
  ): string | string[] | number[] | number[][] | BatchEncoding {
    const { rendered, is_batched } = render_chat_template(this, conversation, opts);
    if (!(opts.tokenize ?? true)) return is_batched ? rendered : rendered[0];
    if (opts.tokenizer_kwargs && "add_special_tokens" in opts.tokenizer_kwargs) {
      // HF passes add_special_tokens=False and **tokenizer_kwargs to the same call: Python refuses the duplicate.
      throw new ValueError(
        "tokenizer_kwargs: got multiple values for keyword argument 'add_special_tokens' (apply_chat_template always tokenizes with add_special_tokens=false)",
      );
    }
    // add_special_tokens=false as HF: the template writes BOS itself.
    const out = this.call(rendered, {
      padding: opts.padding ?? false,
      truncation: opts.truncation ?? false,
      max_length: opts.max_length ?? null,
      ...(opts.tokenizer_kwargs ?? {}),
      add_special_tokens: false,
    });
    // llama-ts' `call` always returns a batch; HF returns flat lists for one conversation.
    if (opts.return_dict ?? false) return out;
    return is_batched ? out.input_ids : out.input_ids[0];
  }

  clean_up_tokenization(out_string: string): string {
    return PreTrainedTokenizerBase.clean_up_tokenization(out_string);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

function checkNumber(v: unknown, name: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
    throw new ValueError(`${name}: expected a non-negative number, got ${JSON.stringify(v)}`);
  return v;
}

function checkSide(v: unknown, name: string): "left" | "right" {
  if (v !== "left" && v !== "right")
    throw new ValueError(`${name}: expected "left" or "right", got ${JSON.stringify(v)}`);
  return v;
}

function oneRow(t: Tensor): number[] {
  const rows = toIntRows(t, "token_ids");
  if (rows.length !== 1)
    throw new ValueError(
      `decode: expected one sequence, got a Tensor of shape [${t.shape.join(", ")}]; use batch_decode`,
    );
  return rows[0];
}

/** Ids must be non-negative integers; whether the vocabulary has them is checked where they are looked up. */
function checkIds(ids: unknown[]): number[] {
  for (const id of ids) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new TokenizerError("token_ids", `id ${String(id)} is not a non-negative integer`);
    }
  }
  return ids as number[];
}

// ---------------------------------------------------------------------------------------------------------
// Loading tokenizer_config.json / special_tokens_map.json
// ---------------------------------------------------------------------------------------------------------

/** Reads a JSON object file; TokenizerError naming the file when it is not valid JSON or not an object. */
export function readJsonObject(path: string, fileLabel: string): Record<string, unknown> {
  const kind =
    fileLabel === "special_tokens_map.json"
      ? FILE_LIMITS.special_tokens_map
      : fileLabel === "added_tokens.json"
        ? FILE_LIMITS.added_tokens
        : FILE_LIMITS.tokenizer_config;
  const text = readTextFileChecked(path, kind);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(fileLabel, `not valid JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new TokenizerError(fileLabel, "expected a JSON object at the top level");
  return parsed as Record<string, unknown>;
}

/** An `AddedToken` from its JSON form (`{"content": ..., "lstrip": ..., ...}` or the older `{"__type": "AddedToken", ...}`). */
export function addedTokenFromJSON(v: unknown, file: string, field: string, special?: boolean): AddedToken {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new TokenizerError(file, `${field}: expected a token object, got ${JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  if (typeof o.content !== "string")
    throw new TokenizerError(file, `${field}.content: expected a string, got ${JSON.stringify(o.content)}`);
  const flag = (k: string): boolean | undefined => {
    if (o[k] === undefined || o[k] === null) return undefined;
    if (typeof o[k] !== "boolean")
      throw new TokenizerError(file, `${field}.${k}: expected a boolean, got ${JSON.stringify(o[k])}`);
    return o[k] as boolean;
  };
  return new AddedToken(o.content, {
    single_word: flag("single_word"),
    lstrip: flag("lstrip"),
    rstrip: flag("rstrip"),
    normalized: flag("normalized"),
    special: special ?? flag("special"),
  });
}

/** A special-token value of a config file: a string, null, or an AddedToken object. */
function specialTokenFromJSON(v: unknown, file: string, field: string): TokenLike | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v;
  return addedTokenFromJSON(v, file, field, true);
}

const BOOL_FIELDS = [
  "add_bos_token",
  "add_eos_token",
  "legacy",
  "add_prefix_space",
  "clean_up_tokenization_spaces",
  "spaces_between_special_tokens",
  "use_default_system_prompt",
  "split_special_tokens",
];

/**
 * What HF `_from_pretrained` makes of `tokenizer_config.json` and (when the config has no
 * `added_tokens_decoder`) `special_tokens_map.json` / `added_tokens.json`: the init kwargs, with special tokens
 * and `added_tokens_decoder` as `AddedToken`s. Field types are checked; TokenizerError names file and field.
 */
export function loadTokenizerConfig(dir: string): {
  kwargs: Record<string, unknown>;
  added_tokens_decoder: Map<number, AddedToken>;
} {
  const configPath = join(dir, "tokenizer_config.json");
  const config = existsSync(configPath) ? readJsonObject(configPath, "tokenizer_config.json") : {};
  const file = "tokenizer_config.json";
  const kwargs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (
      key === "added_tokens_decoder" ||
      key === "auto_map" ||
      key === "tokenizer_class" ||
      key === "name_or_path" ||
      key === "tokenizer_file"
    )
      continue;
    if (BOOL_FIELDS.includes(key)) {
      if (value !== null && typeof value !== "boolean")
        throw new TokenizerError(file, `${key}: expected a boolean or null, got ${JSON.stringify(value)}`);
      if (value !== null) kwargs[key] = value;
      continue;
    }
    if (key === "model_max_length") {
      if (typeof value !== "number" || !(value >= 0))
        throw new TokenizerError(
          file,
          `model_max_length: expected a non-negative number, got ${JSON.stringify(value)}`,
        );
      kwargs[key] = value;
      continue;
    }
    if (key === "padding_side" || key === "truncation_side") {
      if (value !== "left" && value !== "right")
        throw new TokenizerError(file, `${key}: expected "left" or "right", got ${JSON.stringify(value)}`);
      kwargs[key] = value;
      continue;
    }
    if ((SPECIAL_TOKENS_ATTRIBUTES as readonly string[]).includes(key)) {
      if (key === "additional_special_tokens") {
        if (value === null) continue;
        if (!Array.isArray(value))
          throw new TokenizerError(file, `additional_special_tokens: expected a list, got ${JSON.stringify(value)}`);
        kwargs[key] = value
          .map((t, i) => specialTokenFromJSON(t, file, `additional_special_tokens[${i}]`))
          .filter((t) => t !== null);
      } else {
        kwargs[key] = specialTokenFromJSON(value, file, key);
      }
      continue;
    }
    kwargs[key] = value;
  }

  const added = new Map<number, AddedToken>();
  if (config.added_tokens_decoder !== undefined) {
    const dec = config.added_tokens_decoder;
    if (dec === null || typeof dec !== "object" || Array.isArray(dec))
      throw new TokenizerError(file, "added_tokens_decoder: expected an object mapping ids to tokens");
    for (const [k, v] of Object.entries(dec as Record<string, unknown>)) {
      if (!/^\d+$/.test(k))
        throw new TokenizerError(
          file,
          `added_tokens_decoder: key ${JSON.stringify(k)} is not a non-negative integer id`,
        );
      added.set(Number(k), addedTokenFromJSON(v, file, `added_tokens_decoder[${k}]`));
    }
  } else {
    const mapPath = join(dir, "special_tokens_map.json");
    if (existsSync(mapPath)) {
      const map = readJsonObject(mapPath, "special_tokens_map.json");
      for (const [key, value] of Object.entries(map)) {
        if (!(SPECIAL_TOKENS_ATTRIBUTES as readonly string[]).includes(key)) continue;
        if (key === "additional_special_tokens") {
          if (!Array.isArray(value))
            throw new TokenizerError(
              "special_tokens_map.json",
              `additional_special_tokens: expected a list, got ${JSON.stringify(value)}`,
            );
          const list = (kwargs[key] as TokenLike[] | undefined) ?? [];
          for (let i = 0; i < value.length; i++) {
            const t = specialTokenFromJSON(value[i], "special_tokens_map.json", `additional_special_tokens[${i}]`);
            if (t !== null && !list.some((x) => String(x) === String(t))) list.push(t);
          }
          kwargs[key] = list;
        } else {
          kwargs[key] = specialTokenFromJSON(value, "special_tokens_map.json", key);
        }
      }
    }
    const addedPath = join(dir, "added_tokens.json");
    if (existsSync(addedPath)) {
      const map = readJsonObject(addedPath, "added_tokens.json");
      const specials = new Set<string>();
      for (const key of SPECIAL_TOKENS_ATTRIBUTES) {
        const v = kwargs[key];
        if (Array.isArray(v)) v.forEach((t) => specials.add(String(t)));
        else if (v !== null && v !== undefined) specials.add(String(v));
      }
      for (const [content, index] of Object.entries(map)) {
        if (typeof index !== "number" || !Number.isInteger(index) || index < 0)
          throw new TokenizerError(
            "added_tokens.json",
            `${JSON.stringify(content)}: expected a non-negative integer id, got ${JSON.stringify(index)}`,
          );
        const special = specials.has(content);
        added.set(index, new AddedToken(content, { normalized: !special, special }));
      }
    }
  }
  // HF: a special token given as a string takes the AddedToken of the same content from added_tokens_decoder.
  const byContent = new Map([...added.values()].map((t) => [t.content, t]));
  for (const key of SPECIAL_TOKENS_ATTRIBUTES) {
    if (key === "additional_special_tokens") continue;
    const v = kwargs[key];
    if (typeof v === "string" && byContent.has(v)) kwargs[key] = byContent.get(v);
  }
  return { kwargs, added_tokens_decoder: added };
}
