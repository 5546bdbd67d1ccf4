/**
 * HF tokenizers' `Tokenizer` (`tokenizer/mod.rs` `TokenizerImpl`): the engine behind a fast tokenizer,
 * assembled from a tokenizer.json.
 *
 * encode(text, pair?, add_special_tokens):
 *   added-token extraction + normalization (AddedVocabulary) -> pre-tokenization of each remaining piece ->
 *   BPE on each pre-token -> post-processor (e.g. TemplateProcessing "<s> $A") when add_special_tokens.
 * decode(ids, skip_special_tokens):
 *   ids -> token strings (added tokens first, then the model; special added tokens dropped if asked) ->
 *   decoder chain -> joined text (without a decoder: tokens joined by " ").
 *
 * Truncation and padding are done by the caller (`PreTrainedTokenizerFast`), so `encodeParts` exposes the
 * sequence before post-processing.
 */
import { TokenizerError } from "../errors.ts";
import { FILE_LIMITS, readTextFileChecked } from "../utils/safe_fs.ts";
import {
  type DecoderConfig,
  type NormalizerConfig,
  type PostProcessorConfig,
  type PreTokenizerConfig,
  type TokenizerConfigJSON,
  parseTokenizerJSON,
  tokenizerConfigToObject,
} from "../formats/tokenizer_json.ts";
import { AddedToken, AddedVocabulary } from "./added_vocabulary.ts";
import { BPE } from "./bpe.ts";
import { IdRun } from "./id_run.ts";
import { decodeByteRunStrict, toWellFormed } from "./utf8.ts";
import {
  type Decoder,
  type Encoding,
  FusedDecoder,
  type Normalizer,
  type PostProcessor,
  type PreTokenizer,
  TemplateProcessing,
  buildDecoder,
  buildNormalizer,
  buildPostProcessor,
  buildPreTokenizer,
  defaultProcess,
} from "./pipeline.ts";

export type { Encoding } from "./pipeline.ts";

export class Tokenizer {
  readonly model: BPE;
  readonly added_vocabulary = new AddedVocabulary();
  private normalizerFn: Normalizer | null;
  private preTokenizerFn: PreTokenizer | null;
  private decoderFn: Decoder | null;
  /** The decoder chain run in one pass, when it has the shape `FusedDecoder` handles. */
  private fusedDecoder: FusedDecoder | null;
  /** What each id contributes to a fused decode (see `FusedDecoder.prepare`), filled on first use. */
  private fusedPieces = new Map<number, number | string>();
  /** The current run of byte tokens' bytes during a fused decode, reused. */
  private byteRun = new Uint8Array(64);
  private postProcessor: PostProcessor | null;
  /** The configs, kept to serialize the tokenizer back to JSON. */
  private config: TokenizerConfigJSON;

  constructor(config: TokenizerConfigJSON) {
    this.config = config;
    this.model = new BPE(config.model);
    this.normalizerFn = config.normalizer ? buildNormalizer(config.normalizer) : null;
    this.preTokenizerFn = config.pre_tokenizer ? buildPreTokenizer(config.pre_tokenizer) : null;
    this.decoderFn = config.decoder ? buildDecoder(config.decoder) : null;
    this.fusedDecoder = FusedDecoder.compile(config.decoder);
    this.postProcessor = config.post_processor ? buildPostProcessor(config.post_processor) : null;
    // tokenizers adds the file's added tokens in order (special ones registered as special); ids follow the
    // vocabulary, or come next after it.
    const tokens = config.added_tokens.map((t) => new AddedToken(t.content, t));
    this.added_vocabulary.add_tokens(tokens, this.model, this.normalizerFn);
    for (const t of config.added_tokens) {
      const got = this.token_to_id(t.content);
      if (got !== t.id)
        throw new TokenizerError(
          "tokenizer.json",
          `added token ${JSON.stringify(t.content)} declares id ${t.id} but gets id ${got}`,
        );
    }
  }

  static from_str(json: string, file = "tokenizer.json"): Tokenizer {
    return new Tokenizer(parseTokenizerJSON(json, file));
  }

  static from_file(path: string, file = "tokenizer.json"): Tokenizer {
    return Tokenizer.from_str(readTextFileChecked(path, FILE_LIMITS.tokenizer_json), file);
  }

  get normalizer(): NormalizerConfig | null {
    return this.config.normalizer;
  }
  set normalizer(cfg: NormalizerConfig | null) {
    this.config = { ...this.config, normalizer: cfg };
    this.normalizerFn = cfg ? buildNormalizer(cfg) : null;
    this.added_vocabulary.refresh_added_tokens(this.model, this.normalizerFn);
  }
  get pre_tokenizer(): PreTokenizerConfig | null {
    return this.config.pre_tokenizer;
  }
  set pre_tokenizer(cfg: PreTokenizerConfig | null) {
    this.config = { ...this.config, pre_tokenizer: cfg };
    this.preTokenizerFn = cfg ? buildPreTokenizer(cfg) : null;
  }
  get decoder(): DecoderConfig | null {
    return this.config.decoder;
  }
  set decoder(cfg: DecoderConfig | null) {
    this.config = { ...this.config, decoder: cfg };
    this.decoderFn = cfg ? buildDecoder(cfg) : null;
    this.fusedDecoder = FusedDecoder.compile(cfg);
    this.fusedPieces.clear();
  }
  get post_processor(): PostProcessorConfig | null {
    return this.config.post_processor;
  }
  /** Replaces the post-processor (a config, or a TemplateProcessing as `update_post_processor` builds). */
  set post_processor(p: PostProcessorConfig | TemplateProcessing | null) {
    const cfg = p instanceof TemplateProcessing ? p.toJSON() : p;
    this.config = { ...this.config, post_processor: cfg };
    this.postProcessor = cfg ? buildPostProcessor(cfg) : null;
  }

  get encode_special_tokens(): boolean {
    return this.added_vocabulary.encode_special_tokens;
  }
  set encode_special_tokens(v: boolean) {
    this.added_vocabulary.encode_special_tokens = v;
  }

  token_to_id(token: string): number | null {
    return this.added_vocabulary.token_to_id(token, this.model);
  }

  id_to_token(id: number): string | null {
    return this.added_vocabulary.simple_id_to_token(id) ?? this.model.id_to_token(id);
  }

  /** The vocabulary, with the added tokens when asked. */
  get_vocab(with_added_tokens = true): Map<string, number> {
    const v = new Map(this.model.vocab);
    if (with_added_tokens) for (const [t, id] of this.added_vocabulary.added_tokens_map) v.set(t, id);
    return v;
  }

  get_vocab_size(with_added_tokens = true): number {
    if (!with_added_tokens) return this.model.get_vocab_size();
    let n = this.model.get_vocab_size();
    for (const t of this.added_vocabulary.added_tokens_map.keys()) if (!this.model.vocab.has(t)) n++;
    return n;
  }

  add_tokens(tokens: AddedToken[]): number {
    this.fusedPieces.clear();
    return this.added_vocabulary.add_tokens(tokens, this.model, this.normalizerFn);
  }

  add_special_tokens(tokens: AddedToken[]): number {
    this.fusedPieces.clear();
    return this.added_vocabulary.add_special_tokens(tokens, this.model, this.normalizerFn);
  }

  num_special_tokens_to_add(is_pair: boolean): number {
    return this.postProcessor ? this.postProcessor.added_tokens(is_pair) : 0;
  }

  /** Where `gather` collects a sequence's ids, and where `postProcessIds` builds its result; reused (id_run.ts). */
  private readonly idRun = new IdRun();
  private readonly outRun = new IdRun();

  /**
   * The ids (and the token strings, appended to `tokens` when it is an array) of one sequence before
   * post-processing, in `this.idRun` until the next call: added-token split and normalization, pre-tokenizer,
   * model.
   */
  private gather(sequence: string, tokens: string[] | null): IdRun {
    const ids = this.idRun;
    ids.length = 0;
    for (const split of this.added_vocabulary.extract_and_normalize(this.normalizerFn, toWellFormed(sequence))) {
      if (split.token) {
        ids.push(split.token.id);
        tokens?.push(split.token.value);
      } else if (this.preTokenizerFn === null) {
        this.model.tokenizeInto(split.text, ids, tokens);
      } else {
        for (const piece of this.preTokenizerFn(split.text, split.isFirst)) this.model.tokenizeInto(piece, ids, tokens);
      }
    }
    return ids;
  }

  /** One sequence before post-processing (`encode_single_sequence`); `type_id` 0 for the first, 1 for a pair. */
  encodeParts(sequence: string, type_id = 0): Encoding {
    const tokens: string[] = [];
    const ids = this.gather(sequence, tokens).toArray();
    return {
      ids,
      tokens,
      type_ids: new Array<number>(ids.length).fill(type_id),
      special_tokens_mask: new Array<number>(ids.length).fill(0),
    };
  }

  /** The ids of one sequence before post-processing (`encodeParts(sequence).ids`). */
  sequenceIds(sequence: string): number[] {
    return this.gather(sequence, null).toArray();
  }

  /**
   * `encode(sequence, pair, add_special_tokens).ids`. Speed: the ids are all that `encode` and a plain `call`
   * keep, so neither token strings, type ids, special-token mask nor `Encoding` objects are built for them.
   */
  encodeIds(sequence: string, pair: string | null = null, add_special_tokens = true): number[] {
    const out = this.outRun;
    out.length = 0;
    this.appendIds(out, sequence, pair, add_special_tokens);
    return out.toArray();
  }

  /**
   * Appends `encodeIds(sequence, pair, add_special_tokens)` to `out` (a batch's run of ids).
   * @internal
   */
  appendIds(out: IdRun, sequence: string, pair: string | null, add_special_tokens: boolean): void {
    const a = pair === null ? null : this.sequenceIds(sequence);
    const last = this.gather(pair ?? sequence, null);
    const view = last.ids.subarray(0, last.length);
    if (a === null) this.appendPostProcessed(view, null, add_special_tokens, out);
    else this.appendPostProcessed(a, view, add_special_tokens, out);
  }

  /** `post_process(...).ids` from the sequences' ids. */
  postProcessIds(ids: number[], pair: number[] | null, add_special_tokens: boolean): number[] {
    const out = this.outRun;
    out.length = 0;
    this.appendPostProcessed(ids, pair, add_special_tokens, out);
    return out.toArray();
  }

  private appendPostProcessed(
    ids: ArrayLike<number>,
    pair: ArrayLike<number> | null,
    add_special_tokens: boolean,
    out: IdRun,
  ): void {
    if (this.postProcessor) return this.postProcessor.appendIds(ids, pair, add_special_tokens, out);
    // tokenizers' default_process: the pair follows the sequence.
    out.append(ids);
    if (pair !== null) out.append(pair);
  }

  /** `post_process` without truncation: the post-processor, or the default concatenation. */
  post_process(encoding: Encoding, pair: Encoding | null, add_special_tokens: boolean): Encoding {
    return this.postProcessor
      ? this.postProcessor.process(encoding, pair, add_special_tokens)
      : defaultProcess(encoding, pair);
  }

  encode(sequence: string, pair: string | null = null, add_special_tokens = true): Encoding {
    const a = this.encodeParts(sequence, 0);
    const b = pair === null ? null : this.encodeParts(pair, 1);
    return this.post_process(a, b, add_special_tokens);
  }

  /**
   * Text of `ids`. tokenizers silently skips ids it cannot map; llama-ts rejects them (TokenizerError), as
   * bad input should not vanish.
   */
  decode(ids: readonly number[], skip_special_tokens = false): string {
    if (this.fusedDecoder !== null) return this.decodeFused(this.fusedDecoder, ids, skip_special_tokens);
    const tokens: string[] = [];
    for (const id of ids) {
      const t = this.tokenForDecode(id, skip_special_tokens);
      if (t !== null) tokens.push(t);
    }
    return this.decode_tokens(tokens);
  }

  /** The token string of `id`, or null when it is a special token being skipped. */
  private tokenForDecode(id: number, skip_special_tokens: boolean): string | null {
    const t = this.id_to_token(id);
    if (t === null) throw new TokenizerError("token_ids", `id ${id} is not in the vocabulary`);
    return skip_special_tokens && this.added_vocabulary.is_special_token(t) ? null : t;
  }

  /** tokenizers' `Decoder::decode` on token strings: the decoder chain, joined (tokens joined by " " without one). */
  decode_tokens(tokens: string[]): string {
    return this.decoderFn ? this.decoderFn(tokens).join("") : tokens.join(" ");
  }

  /** `decode` through a `FusedDecoder`: one pass, texts appended, each run of byte tokens decoded on its own. */
  private decodeFused(fused: FusedDecoder, ids: readonly number[], skip_special_tokens: boolean): string {
    let text = "";
    let run = this.byteRun;
    let runLength = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      let piece = this.fusedPieces.get(id);
      if (piece === undefined) {
        piece = fused.prepare(this.tokenForDecode(id, false)!);
        this.fusedPieces.set(id, piece);
      }
      if (skip_special_tokens && this.added_vocabulary.is_special_token(this.id_to_token(id)!)) continue;
      if (typeof piece === "number") {
        if (runLength === run.length) {
          const grown = new Uint8Array(run.length * 2);
          grown.set(run);
          run = this.byteRun = grown;
        }
        run[runLength++] = piece;
        continue;
      }
      // ByteFallback decodes each run of byte tokens on its own: an invalid run is one U+FFFD per byte.
      if (runLength > 0) text += decodeByteRunStrict(run.subarray(0, runLength));
      runLength = 0;
      text += piece;
    }
    if (runLength > 0) text += decodeByteRunStrict(run.subarray(0, runLength));
    return fused.finish(text);
  }

  /** The tokenizer.json object (vocab in id order). */
  toJSON(): Record<string, unknown> {
    const added = [...this.added_vocabulary.get_added_tokens_decoder().entries()].map(([id, t]) => ({
      id,
      ...t.toJSON(),
    }));
    const obj = tokenizerConfigToObject({
      ...this.config,
      added_tokens: added.map((a) => ({ ...a })) as TokenizerConfigJSON["added_tokens"],
    });
    return obj;
  }
}
