/**
 * `LlamaTokenizerFast`, mirroring HF transformers `models/llama/tokenization_llama_fast.py`: a
 * PreTrainedTokenizerFast over an HF tokenizers pipeline read from tokenizer.json (or converted from the
 * sentencepiece tokenizer.model when there is no tokenizer.json, `from_slow`, or `add_prefix_space` is given).
 *
 * What it computes: encode(text) = post_processor(BPE(pre_tokenize(normalize(pieces between added tokens)))),
 * the post-processor being the template "<s>:0 $A:0" (+ "</s>:0" with add_eos_token) that
 * `update_post_processor` rebuilds whenever add_bos_token / add_eos_token change.
 * decode(ids) = Strip(Fuse(ByteFallback(Replace("▁" -> " ", tokens)))): one leading space dropped in total, so
 * `decode(encode("Hello"))` is "<s> Hello" (the slow tokenizer gives "<s>Hello").
 *
 * `legacy` only matters when converting from the slow tokenizer (HF: "Make sure to also set `from_slow` to
 * True"); a tokenizer.json carries its own pipeline. HF quirk kept: the fast class pads on the left by default
 * (`padding_side = "left"`), the slow one on the right.
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
import { type ModelProto, parseModelProto, serializeModelProto } from "../../formats/sentencepiece_model.ts";
import { type TokenizerConfigJSON, parseTokenizerJSON } from "../../formats/tokenizer_json.ts";
import { type TokenLike, loadTokenizerConfig } from "../../tokenization_utils_base.ts";
import { convertLlamaModelProto } from "../../convert_slow_tokenizer.ts";
import { TemplateProcessing } from "../../tokenizers/pipeline.ts";
import { PreTrainedTokenizerFast, type FastTokenizerKwargs } from "../../tokenization_utils_fast.ts";
import { Tokenizer } from "../../tokenizers/tokenizer.ts";
import {
  LlamaTokenizer,
  llamaBuildInputs,
  llamaSpecialTokensMask,
  llamaTokenTypeIds,
  warnLegacyDefault,
} from "./tokenization_llama.ts";

/** HF `VOCAB_FILES_NAMES`. */
export const VOCAB_FILES_NAMES = { vocab_file: "tokenizer.model", tokenizer_file: "tokenizer.json" } as const;

export interface LlamaTokenizerFastKwargs extends FastTokenizerKwargs {
  vocab_file?: string | null;
  tokenizer_file?: string | null;
  /** llama-ts addition: a parsed tokenizer.json config instead of a file. */
  tokenizer_config?: TokenizerConfigJSON;
  /** llama-ts addition: the sentencepiece model (bytes or parsed) for a conversion without a file. */
  sp_model_proto?: Uint8Array | ModelProto;
  clean_up_tokenization_spaces?: boolean;
  unk_token?: TokenLike | null;
  bos_token?: TokenLike | null;
  eos_token?: TokenLike | null;
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  use_default_system_prompt?: boolean;
  legacy?: boolean | null;
  add_prefix_space?: boolean | null;
}

export class LlamaTokenizerFast extends PreTrainedTokenizerFast {
  static readonly vocab_files_names = VOCAB_FILES_NAMES;
  static readonly slow_tokenizer_class = LlamaTokenizer;

  readonly legacy: boolean;
  readonly vocab_file: string | null;
  readonly use_default_system_prompt: boolean;
  readonly add_prefix_space: boolean | null;
  private _add_bos_token: boolean;
  private _add_eos_token: boolean;
  private readonly spModelProto: ModelProto | null;

  constructor(kwargs: LlamaTokenizerFastKwargs = {}) {
    let legacy = kwargs.legacy;
    if (legacy === undefined || legacy === null) {
      warnLegacyDefault("LlamaTokenizerFast");
      legacy = true;
    }
    const k: LlamaTokenizerFastKwargs = {
      padding_side: "left",
      ...kwargs,
      clean_up_tokenization_spaces: kwargs.clean_up_tokenization_spaces ?? false,
      unk_token: kwargs.unk_token === undefined ? "<unk>" : kwargs.unk_token,
      bos_token: kwargs.bos_token === undefined ? "<s>" : kwargs.bos_token,
      eos_token: kwargs.eos_token === undefined ? "</s>" : kwargs.eos_token,
    };
    // HF: add_prefix_space given -> the pipeline must be rebuilt from the slow tokenizer.
    const fromSlow =
      (kwargs.from_slow ?? false) || (kwargs.add_prefix_space !== undefined && kwargs.add_prefix_space !== null);
    const { backend, proto } = LlamaTokenizerFast.buildBackend(k, legacy, fromSlow);
    super(backend, k);
    this.legacy = legacy;
    this.vocab_file = kwargs.vocab_file ?? null;
    this.spModelProto = proto;
    this.use_default_system_prompt = kwargs.use_default_system_prompt ?? false;
    this.add_prefix_space = kwargs.add_prefix_space ?? null;
    this._add_bos_token = kwargs.add_bos_token ?? true;
    this._add_eos_token = kwargs.add_eos_token ?? false;
    this.init_kwargs = {
      ...this.init_kwargs,
      legacy,
      add_bos_token: this._add_bos_token,
      add_eos_token: this._add_eos_token,
    };
    for (const key of ["tokenizer_object", "tokenizer_config", "sp_model_proto", "added_tokens_decoder"])
      delete this.init_kwargs[key];
    this.update_post_processor();
  }

  /** The engine: a given object, a tokenizer.json, or the conversion of the slow tokenizer (`LlamaConverter`). */
  private static buildBackend(
    k: LlamaTokenizerFastKwargs,
    legacy: boolean,
    fromSlow: boolean,
  ): { backend: Tokenizer; proto: ModelProto | null } {
    const given =
      k.sp_model_proto instanceof Uint8Array ? parseModelProto(k.sp_model_proto) : (k.sp_model_proto ?? null);
    if (k.tokenizer_object && !fromSlow) return { backend: k.tokenizer_object, proto: given };
    if (k.tokenizer_config && !fromSlow) return { backend: new Tokenizer(k.tokenizer_config), proto: given };
    if (k.tokenizer_file && !fromSlow) return { backend: Tokenizer.from_file(k.tokenizer_file), proto: given };
    let proto: ModelProto;
    if (given) proto = given;
    else if (k.vocab_file) {
      proto = parseModelProto(readFileChecked(k.vocab_file, FILE_LIMITS.sentencepiece_model), k.vocab_file);
    } else {
      throw new ValueError(
        "LlamaTokenizerFast needs a tokenizer_file (tokenizer.json) or a vocab_file (tokenizer.model) to convert from",
      );
    }
    // HF instantiates the slow tokenizer with the same kwargs and converts it.
    const slow = new LlamaTokenizer({
      sp_model_proto: proto,
      legacy,
      add_prefix_space: k.add_prefix_space ?? true,
      unk_token: k.unk_token,
      bos_token: k.bos_token,
      eos_token: k.eos_token,
      from_slow: true,
    });
    const config = convertLlamaModelProto(proto, {
      legacy,
      add_prefix_space: slow.add_prefix_space,
      first_tokens: [slow.convert_ids_to_tokens(0), slow.convert_ids_to_tokens(1), slow.convert_ids_to_tokens(2)],
      special_tokens: slow.all_special_tokens,
    });
    return { backend: new Tokenizer(config), proto };
  }

  /**
   * Loads `dir/tokenizer.json` (or converts `dir/tokenizer.model` when there is none) with
   * `dir/tokenizer_config.json`; `kwargs` override the config (HF `from_pretrained`).
   */
  static async from_pretrained(
    dirOrId: string,
    options: LlamaTokenizerFastKwargs & HubOptions = {},
  ): Promise<LlamaTokenizerFast> {
    checkPath(dirOrId, "LlamaTokenizerFast.from_pretrained: pretrained_model_name_or_path");
    const [hub, kwargs] = split_hub_options(checkOptions(options, "LlamaTokenizerFast.from_pretrained: kwargs"));
    const dir = await resolve_pretrained(dirOrId, TOKENIZER_FILES, hub);
    const json = join(dir, VOCAB_FILES_NAMES.tokenizer_file);
    const model = join(dir, VOCAB_FILES_NAMES.vocab_file);
    const haveJson = existsSync(json);
    const haveModel = existsSync(model);
    if (!haveJson && !haveModel && !kwargs.tokenizer_object && !kwargs.tokenizer_config && !kwargs.sp_model_proto) {
      throw new TokenizerError(
        VOCAB_FILES_NAMES.tokenizer_file,
        `neither tokenizer.json nor tokenizer.model found in ${dir}`,
      );
    }
    const { kwargs: configKwargs, added_tokens_decoder } = loadTokenizerConfig(dir);
    return new LlamaTokenizerFast({
      ...configKwargs,
      added_tokens_decoder,
      tokenizer_file: haveJson ? json : null,
      vocab_file: haveModel ? model : null,
      ...kwargs,
    } as LlamaTokenizerFastKwargs);
  }

  /** HF: a slow tokenizer can be saved only when the tokenizer.model is known. */
  get can_save_slow_tokenizer(): boolean {
    return (this.vocab_file !== null && existsSync(this.vocab_file)) || this.spModelProto !== null;
  }

  /** Rebuilds the TemplateProcessing post-processor from bos/eos and add_bos_token/add_eos_token (HF). */
  update_post_processor(): void {
    const bos = this.bos_token;
    const bosId = this.bos_token_id;
    if (bos === null && this.add_bos_token) throw new ValueError("add_bos_token = True but bos_token = None");
    const eos = this.eos_token;
    const eosId = this.eos_token_id;
    if (eos === null && this.add_eos_token) throw new ValueError("add_eos_token = True but eos_token = None");
    const single = `${this.add_bos_token ? bos + ":0 " : ""}$A:0${this.add_eos_token ? " " + eos + ":0" : ""}`;
    const pair = `${single}${this.add_bos_token ? " " + bos + ":1" : ""} $B:1${this.add_eos_token ? " " + eos + ":1" : ""}`;
    const special: Array<[string, number]> = [];
    if (this.add_bos_token) special.push([bos as string, bosId as number]);
    if (this.add_eos_token) special.push([eos as string, eosId as number]);
    this._tokenizer.post_processor = TemplateProcessing.fromStrings(single, pair, special);
  }

  get add_eos_token(): boolean {
    return this._add_eos_token;
  }
  set add_eos_token(value: boolean) {
    this._add_eos_token = value;
    this.update_post_processor();
  }
  get add_bos_token(): boolean {
    return this._add_bos_token;
  }
  set add_bos_token(value: boolean) {
    this._add_bos_token = value;
    this.update_post_processor();
  }

  /**
   * HF `save_vocabulary`: writes the sentencepiece tokenizer.model (copied from vocab_file, or serialized
   * when the tokenizer was built from a proto); raises when there is none.
   */
  async save_vocabulary(save_directory: string, filename_prefix?: string | null): Promise<string[]> {
    if (!this.can_save_slow_tokenizer) {
      throw new ValueError(
        "Your fast tokenizer does not have the necessary information to save the vocabulary for a slow tokenizer.",
      );
    }
    const st = await stat(save_directory).catch(() => null);
    if (!st || !st.isDirectory()) throw new TokenizerError(save_directory, "Vocabulary path should be a directory");
    const out = join(save_directory, (filename_prefix ? filename_prefix + "-" : "") + VOCAB_FILES_NAMES.vocab_file);
    if (this.vocab_file !== null && existsSync(this.vocab_file)) {
      if (resolve(this.vocab_file) !== resolve(out))
        await writeFileAtomic(out, await readFileCheckedAsync(this.vocab_file, FILE_LIMITS.sentencepiece_model));
    } else {
      await writeFileAtomic(out, serializeModelProto(this.spModelProto!));
    }
    return [out];
  }

  /** [bos]? + ids_0 + [eos]? (+ [bos]? + ids_1 + [eos]?), as the post-processor template. */
  override build_inputs_with_special_tokens(token_ids_0: number[], token_ids_1?: number[] | null): number[] {
    return llamaBuildInputs(this, token_ids_0, token_ids_1);
  }

  /**
   * Where `build_inputs_with_special_tokens` puts BOS/EOS. HF's fast base class only supports
   * `already_has_special_tokens=true` here (it asserts otherwise); llama-ts answers what LlamaTokenizer does.
   */
  override get_special_tokens_mask(
    token_ids_0: number[],
    token_ids_1?: number[] | null,
    already_has_special_tokens = false,
  ): number[] {
    if (already_has_special_tokens) return super.get_special_tokens_mask(token_ids_0, token_ids_1, true);
    return llamaSpecialTokensMask(this, token_ids_0, token_ids_1);
  }

  /** 0 for the first sequence (with its BOS/EOS), 1 for the second (the template's type ids). */
  override create_token_type_ids_from_sequences(token_ids_0: number[], token_ids_1?: number[] | null): number[] {
    return llamaTokenTypeIds(this, token_ids_0, token_ids_1);
  }

  /** HF fast `_save_pretrained`: tokenizer.json, plus tokenizer.model when it is known. */
  protected override async _save_pretrained(save_directory: string): Promise<string[]> {
    const json = join(save_directory, VOCAB_FILES_NAMES.tokenizer_file);
    await this.save_tokenizer_json(json);
    return this.can_save_slow_tokenizer ? [json, ...(await this.save_vocabulary(save_directory))] : [json];
  }

  /** Writes the pipeline as a tokenizer.json (HF `backend_tokenizer.save`). */
  async save_tokenizer_json(path: string): Promise<void> {
    await writeFileAtomic(path, JSON.stringify(this.toJSON(), null, 2));
  }

  /** Parses a tokenizer.json text into the config this class accepts as `tokenizer_config`. */
  static parseTokenizerJSON(text: string, file = "tokenizer.json"): TokenizerConfigJSON {
    return parseTokenizerJSON(text, file);
  }
}
