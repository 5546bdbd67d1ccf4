/**
 * Tour (README "Read the code", step 17 of 18): the slow tokenizer and the legacy quirk; after tokenization_utils*.ts.
 *
 * `LlamaTokenizer`: the "slow" Llama tokenizer, mirroring HF transformers
 * `models/llama/tokenization_llama.py` method by method, on top of llama-ts' own sentencepiece
 * (src/tokenizers/sentencepiece.ts) where HF calls Google's library.
 *
 * What it computes:
 *   encode(text) = [bos]? + ids(tokenize(text)) + [eos]?      (add_bos_token default true, add_eos_token false)
 *   tokenize(text): split on added/special tokens (`<unk>`, `<s>`, `</s>`, ...; they become their own ids even
 *   inside text, which raw sentencepiece never does), then sentencepiece-encode every other chunk.
 *
 * `legacy` (HF's name for the behaviour before transformers PRs #24565/#25224):
 * - legacy=true (also when unset: HF warns and keeps legacy): each chunk is `sp.encode(chunk)` with the model
 *   as shipped, so every chunk, including the one after a special token, gets sentencepiece's dummy "▁" prefix:
 *   "Hello <s>." -> [1, 15043, 29871, 1, 869] ("▁.").
 * - legacy=false: the model is loaded with add_dummy_prefix=false, "▁" in the text is read as " ", one "▁" is
 *   prepended to the whole text (add_prefix_space), and a chunk starting with " "/"▁" is encoded as
 *   `sp.encode("<unk>" + chunk)` minus the pieces of "<unk>" so sentencepiece keeps its leading "▁":
 *   "Hello <s>." -> [1, 15043, 29871, 1, 29889] (".").
 *
 * Decode quirks kept from HF (`convert_tokens_to_string`): one leading "▁" of the first token is dropped
 * (add_prefix_space), each run of normal tokens between special tokens is decoded by sentencepiece on its own
 * (so with the legacy model each run loses its leading space again), and legacy inserts " " before a special
 * token that follows normal text. Hence `decode(encode("Hello"))` is "<s>Hello" here but "<s> Hello" in the
 * fast tokenizer. Which texts round-trip: see tests/tokenizer/properties.test.ts.
 *
 * Shapes: encode(text) -> ids[seq]; call(texts[batch]) -> input_ids/attention_mask [batch][seq].
 */
import { existsSync } from "node:fs";
import { resolve_pretrained, split_hub_options, TOKENIZER_FILES, type HubOptions } from "../../hub/hub.ts";
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { TokenizerError, ValueError } from "../../errors.ts";
import { writeFileAtomic } from "../../utils/atomic_save.ts";
import { FILE_LIMITS, readFileChecked, readFileCheckedAsync } from "../../utils/safe_fs.ts";
import { checkOptions, checkPath } from "../../utils/validate.ts";
import { type ModelProto, cloneModelProto, parseModelProto } from "../../formats/sentencepiece_model.ts";
import { AddedToken, type TokenLike, loadTokenizerConfig } from "../../tokenization_utils_base.ts";
import { SPACE_SYMBOL, SentencePieceProcessor } from "../../tokenizers/sentencepiece.ts";
import { PreTrainedTokenizer, type SlowTokenizerKwargs } from "../../tokenization_utils.ts";

/** HF `VOCAB_FILES_NAMES`. */
export const VOCAB_FILES_NAMES = { vocab_file: "tokenizer.model" } as const;

/** HF `SPIECE_UNDERLINE`. */
export const SPIECE_UNDERLINE = SPACE_SYMBOL;

export interface LlamaTokenizerKwargs extends SlowTokenizerKwargs {
  /** Path of the sentencepiece model (tokenizer.model). */
  vocab_file?: string | null;
  /** llama-ts addition: the model itself (bytes of a tokenizer.model, or a parsed ModelProto) instead of a file. */
  sp_model_proto?: Uint8Array | ModelProto;
  unk_token?: TokenLike | null;
  bos_token?: TokenLike | null;
  eos_token?: TokenLike | null;
  pad_token?: TokenLike | null;
  /** Accepted for HF compatibility; sampling options (enable_sampling, alpha) are not supported and must be absent. */
  sp_model_kwargs?: Record<string, unknown> | null;
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  clean_up_tokenization_spaces?: boolean;
  use_default_system_prompt?: boolean;
  spaces_between_special_tokens?: boolean;
  legacy?: boolean | null;
  add_prefix_space?: boolean;
  from_slow?: boolean;
}

let legacyWarned = false;

/** Warns once per process that `legacy` was left unset (HF `logger.warning_once`). */
export function warnLegacyDefault(cls: string): void {
  if (legacyWarned) return;
  legacyWarned = true;
  console.warn(
    `You are using the default legacy behaviour of the ${cls}. This is expected, and simply means that the \`legacy\` (previous) behavior will be used so nothing changes for you. If you want to use the new behaviour, set \`legacy=False\`.`,
  );
}

/** Wraps a special token given as a string the way LlamaTokenizer's __init__ does. */
function specialAddedToken(t: TokenLike | null | undefined, fallback: string | null): TokenLike | null {
  const v = t === undefined ? fallback : t;
  return typeof v === "string" ? new AddedToken(v, { normalized: false, special: true }) : v;
}

export class LlamaTokenizer extends PreTrainedTokenizer {
  static readonly vocab_files_names = VOCAB_FILES_NAMES;

  readonly legacy: boolean;
  readonly vocab_file: string | null;
  add_bos_token: boolean;
  add_eos_token: boolean;
  readonly use_default_system_prompt: boolean;
  readonly add_prefix_space: boolean;
  readonly spaces_between_special_tokens: boolean;
  readonly sp_model_kwargs: Record<string, unknown>;
  readonly sp_model: SentencePieceProcessor;
  private baseVocab: Map<string, number> | null = null;

  constructor(kwargs: LlamaTokenizerKwargs) {
    const k: LlamaTokenizerKwargs = { ...kwargs };
    k.bos_token = specialAddedToken(kwargs.bos_token, "<s>");
    k.eos_token = specialAddedToken(kwargs.eos_token, "</s>");
    k.unk_token = specialAddedToken(kwargs.unk_token, "<unk>");
    k.pad_token = specialAddedToken(kwargs.pad_token, null);
    k.clean_up_tokenization_spaces = kwargs.clean_up_tokenization_spaces ?? false;
    super(k);
    const spKwargs = kwargs.sp_model_kwargs ?? {};
    for (const key of Object.keys(spKwargs)) {
      if (
        spKwargs[key] !== undefined &&
        spKwargs[key] !== null &&
        !(key === "enable_sampling" && spKwargs[key] === false)
      ) {
        throw new ValueError(`sp_model_kwargs.${key}: sentencepiece sampling options are not supported by llama-ts`);
      }
    }
    this.sp_model_kwargs = spKwargs;
    let legacy = kwargs.legacy;
    if (legacy === undefined || legacy === null) {
      warnLegacyDefault("LlamaTokenizer");
      legacy = true;
    }
    this.legacy = legacy;
    this.vocab_file = kwargs.vocab_file ?? null;
    this.add_bos_token = kwargs.add_bos_token ?? true;
    this.add_eos_token = kwargs.add_eos_token ?? false;
    this.use_default_system_prompt = kwargs.use_default_system_prompt ?? false;
    this.spaces_between_special_tokens = kwargs.spaces_between_special_tokens ?? false;
    this.sp_model = this.get_spm_processor(kwargs.from_slow ?? false, kwargs.sp_model_proto);
    this.add_prefix_space = kwargs.add_prefix_space ?? true;
    this.init_kwargs = {
      ...this.init_kwargs,
      legacy: this.legacy,
      add_bos_token: this.add_bos_token,
      add_eos_token: this.add_eos_token,
      add_prefix_space: this.add_prefix_space,
    };
    delete this.init_kwargs.sp_model_proto;
    delete this.init_kwargs.added_tokens_decoder;
    this._initAddedSpecialTokens();
  }

  /**
   * Loads `dir/tokenizer.model` with `dir/tokenizer_config.json` (and `special_tokens_map.json` /
   * `added_tokens.json` when the config has no `added_tokens_decoder`), as HF `from_pretrained` does.
   * `kwargs` override the config.
   */
  static async from_pretrained(
    dirOrId: string,
    options: LlamaTokenizerKwargs & HubOptions = {},
  ): Promise<LlamaTokenizer> {
    checkPath(dirOrId, "LlamaTokenizer.from_pretrained: pretrained_model_name_or_path");
    const [hub, kwargs] = split_hub_options(checkOptions(options, "LlamaTokenizer.from_pretrained: kwargs"));
    const dir = await resolve_pretrained(dirOrId, TOKENIZER_FILES, hub);
    const vocabFile = join(dir, VOCAB_FILES_NAMES.vocab_file);
    if (!existsSync(vocabFile) && kwargs.sp_model_proto === undefined) {
      throw new TokenizerError(
        VOCAB_FILES_NAMES.vocab_file,
        `not found in ${dir}: LlamaTokenizer needs the sentencepiece model`,
      );
    }
    const { kwargs: configKwargs, added_tokens_decoder } = loadTokenizerConfig(dir);
    return new LlamaTokenizer({
      ...configKwargs,
      added_tokens_decoder,
      vocab_file: vocabFile,
      ...kwargs,
    } as LlamaTokenizerKwargs);
  }

  /** HF: `len(self.sp_model.encode(str(self.unk_token)))` (3 for "<unk>": "<", "unk", ">"). */
  get unk_token_length(): number {
    return this.sp_model.encode(String(this.unk_token)).length;
  }

  /**
   * HF `get_spm_processor`: the model as shipped for legacy (or `from_slow`), otherwise a copy with
   * `normalizer_spec.add_dummy_prefix = false` (HF does this by editing the proto and reloading it).
   */
  get_spm_processor(from_slow = false, source?: Uint8Array | ModelProto): SentencePieceProcessor {
    let proto: ModelProto;
    const file = this.vocab_file ?? VOCAB_FILES_NAMES.vocab_file;
    if (source instanceof Uint8Array) proto = parseModelProto(source, file);
    else if (source) proto = source;
    else {
      if (!this.vocab_file)
        throw new ValueError("Cannot load the tokenizer: vocab_file is not set (pass vocab_file or sp_model_proto).");
      proto = parseModelProto(readFileChecked(this.vocab_file, FILE_LIMITS.sentencepiece_model), file);
    }
    if (this.legacy || from_slow) return new SentencePieceProcessor(proto, file);
    const edited = cloneModelProto(proto);
    edited.normalizer_spec = { ...(edited.normalizer_spec ?? {}), add_dummy_prefix: false };
    return new SentencePieceProcessor(edited, file);
  }

  /** HF: `self.sp_model.get_piece_size()`. */
  get vocab_size(): number {
    return this.sp_model.get_piece_size();
  }

  /** HF `get_vocab`: every piece by id, then the added tokens. */
  get_vocab(): Map<string, number> {
    if (!this.baseVocab) {
      this.baseVocab = new Map();
      for (let i = 0; i < this.vocab_size; i++) this.baseVocab.set(this.sp_model.id_to_piece(i), i);
    }
    const vocab = new Map(this.baseVocab);
    for (const [id, tok] of this.added_tokens_decoder) {
      if (id < this.vocab_size) vocab.delete(this.sp_model.id_to_piece(id));
      vocab.set(tok.content, id);
    }
    return vocab;
  }

  /**
   * HF `tokenize` (copied there from T5Tokenizer): non-legacy replaces "▁" with " ", prepends "▁"
   * (add_prefix_space) and drops a lone leading "▁" token that precedes a special token.
   */
  override tokenize(text: string, opts: { split_special_tokens?: boolean } = {}): string[] {
    if (this.legacy || text.length === 0) return super.tokenize(text, opts);
    text = text.replaceAll(SPIECE_UNDERLINE, " ");
    if (this.add_prefix_space) text = SPIECE_UNDERLINE + text;
    let tokens = super.tokenize(text, opts);
    if (tokens.length > 1 && tokens[0] === SPIECE_UNDERLINE && this.all_special_tokens.includes(tokens[1]))
      tokens = tokens.slice(1);
    return tokens;
  }

  /**
   * HF `_tokenize`. Non-legacy chunks that start with "▁"/" " are encoded as `unk_token + text` and the
   * pieces of `unk_token` dropped: with add_dummy_prefix off, a model whose normalizer removes extra
   * whitespace would otherwise strip that leading space. For Llama (remove_extra_whitespaces=false, no piece
   * with "▁" after its first character) the detour gives the same pieces as encoding `text` directly; it is
   * kept because it is what HF runs.
   */
  protected _tokenize(text: string): string[] {
    if (this.legacy || !(text.startsWith(SPIECE_UNDERLINE) || text.startsWith(" ")))
      return this.sp_model.encode_as_pieces(text);
    const tokens = this.sp_model.encode_as_pieces(String(this.unk_token) + text);
    const n = this.unk_token_length;
    return tokens.length >= n ? tokens.slice(n) : tokens;
  }

  protected _convert_token_to_id(token: string): number {
    return this.sp_model.piece_to_id(token);
  }

  protected _convert_id_to_token(index: number): string {
    return this.sp_model.id_to_piece(index);
  }

  /** HF `convert_tokens_to_string`, quirks included (see the module comment). */
  override convert_tokens_to_string(tokens: string[]): string {
    tokens = [...tokens];
    if (tokens[0].startsWith(SPIECE_UNDERLINE) && this.add_prefix_space)
      tokens[0] = tokens[0].slice(SPIECE_UNDERLINE.length);
    const specials = this._special_tokens_set();
    let current: string[] = [];
    let out = "";
    let prevIsSpecial = false;
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i];
      if (specials.has(token)) {
        if (!prevIsSpecial && i !== 0 && this.legacy) out += " ";
        out += this.sp_model.decode_pieces(current) + token;
        prevIsSpecial = true;
        current = [];
      } else {
        if (prevIsSpecial && i === 1 && this.add_prefix_space && !token.startsWith(SPIECE_UNDERLINE)) out += " ";
        current.push(token);
        prevIsSpecial = false;
      }
    }
    out += this.sp_model.decode_pieces(current);
    return out;
  }

  /**
   * HF `save_vocabulary`: copies the tokenizer.model, or writes the loaded proto when there is no file
   * (for a non-legacy tokenizer that is the edited proto, add_dummy_prefix=false, as in HF). HF logs an error
   * and returns None for a missing directory; we raise.
   */
  async save_vocabulary(save_directory: string, filename_prefix?: string | null): Promise<string[]> {
    const st = await stat(save_directory).catch(() => null);
    if (!st || !st.isDirectory()) throw new TokenizerError(save_directory, "Vocabulary path should be a directory");
    const out = join(save_directory, (filename_prefix ? filename_prefix + "-" : "") + VOCAB_FILES_NAMES.vocab_file);
    const haveFile = this.vocab_file !== null && existsSync(this.vocab_file);
    if (haveFile && resolve(this.vocab_file!) !== resolve(out))
      await writeFileAtomic(out, await readFileCheckedAsync(this.vocab_file!, FILE_LIMITS.sentencepiece_model));
    else if (!haveFile) await writeFileAtomic(out, this.sp_model.serialized_model_proto());
    return [out];
  }

  /** [bos]? + ids_0 + [eos]? (+ [bos]? + ids_1 + [eos]?). */
  override build_inputs_with_special_tokens(token_ids_0: number[], token_ids_1?: number[] | null): number[] {
    return llamaBuildInputs(this, token_ids_0, token_ids_1);
  }

  /** 1 where `build_inputs_with_special_tokens` puts BOS/EOS, 0 elsewhere. */
  override get_special_tokens_mask(
    token_ids_0: number[],
    token_ids_1?: number[] | null,
    already_has_special_tokens = false,
  ): number[] {
    if (already_has_special_tokens) return super.get_special_tokens_mask(token_ids_0, token_ids_1, true);
    return llamaSpecialTokensMask(this, token_ids_0, token_ids_1);
  }

  /** 0 for the first sequence (with its BOS/EOS), 1 for the second. */
  override create_token_type_ids_from_sequences(token_ids_0: number[], token_ids_1?: number[] | null): number[] {
    return llamaTokenTypeIds(this, token_ids_0, token_ids_1);
  }
}

/** What the Llama special-token layout reads from a tokenizer (slow or fast). */
interface LlamaSpecialLayout {
  add_bos_token: boolean;
  add_eos_token: boolean;
  bos_token_id: number | null;
  eos_token_id: number | null;
}

/**
 * `[bos]? + ids_0 + [eos]? (+ [bos]? + ids_1 + [eos]?)`: HF's LlamaTokenizer.build_inputs_with_special_tokens,
 * which LlamaTokenizerFast copies ("Copied from" in HF); both classes call this one function.
 */
export function llamaBuildInputs(
  tok: LlamaSpecialLayout,
  token_ids_0: number[],
  token_ids_1?: number[] | null,
): number[] {
  const bos = tok.add_bos_token ? [tok.bos_token_id as number] : [];
  const eos = tok.add_eos_token ? [tok.eos_token_id as number] : [];
  let output = [...bos, ...token_ids_0, ...eos];
  if (token_ids_1 !== undefined && token_ids_1 !== null) output = [...output, ...bos, ...token_ids_1, ...eos];
  return output;
}

/** 1 where llamaBuildInputs puts BOS/EOS, 0 elsewhere (HF's get_special_tokens_mask without special tokens present). */
export function llamaSpecialTokensMask(
  tok: LlamaSpecialLayout,
  token_ids_0: number[],
  token_ids_1?: number[] | null,
): number[] {
  const bos = tok.add_bos_token ? [1] : [];
  const eos = tok.add_eos_token ? [1] : [];
  const zeros = (n: number) => new Array<number>(n).fill(0);
  if (token_ids_1 === undefined || token_ids_1 === null) return [...bos, ...zeros(token_ids_0.length), ...eos];
  return [...bos, ...zeros(token_ids_0.length), ...eos, ...bos, ...zeros(token_ids_1.length), ...eos];
}

/** 0 for the first sequence (with its BOS/EOS), 1 for the second (HF's create_token_type_ids_from_sequences). */
export function llamaTokenTypeIds(
  tok: LlamaSpecialLayout,
  token_ids_0: number[],
  token_ids_1?: number[] | null,
): number[] {
  const n = (tok.add_bos_token ? 1 : 0) + (tok.add_eos_token ? 1 : 0);
  const out = new Array<number>(n + token_ids_0.length).fill(0);
  if (token_ids_1 !== undefined && token_ids_1 !== null) for (let i = 0; i < n + token_ids_1.length; i++) out.push(1);
  return out;
}
