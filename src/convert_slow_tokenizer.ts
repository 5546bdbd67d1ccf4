/**
 * HF transformers `convert_slow_tokenizer.py` for Llama (`LlamaConverter`, with `SpmConverter` and
 * `SentencePieceExtractor`): builds the tokenizer.json pipeline of a fast tokenizer from a sentencepiece
 * ModelProto. This is what `LlamaTokenizerFast.from_pretrained(dir, { from_slow: true })` (or a folder with
 * only tokenizer.model) runs.
 *
 * - vocab: the pieces in id order (ids 0-2 named by the slow tokenizer's tokens), merges by
 *   `SentencePieceExtractor.extract(vocab_scores)`: every split of every piece into two pieces of the vocab,
 *   ordered by the merged piece's score (best first; Python's stable sort keeps id order among ties), within a
 *   piece by the (left id, right id) of its halves;
 * - BPE(unk_token=trainer_spec.unk_piece, fuse_unk=true, byte_fallback=trainer_spec.byte_fallback);
 * - legacy: normalizer Prepend("▁") (if add_prefix_space) + Replace(" ", "▁"), no pre-tokenizer;
 *   non-legacy: no normalizer, pre-tokenizer Metaspace(prepend_scheme "first" (or "never" without
 *   add_prefix_space), split=false);
 * - decoder Replace("▁", " "), ByteFallback, Fuse, and Strip(" ", 1 left) if add_prefix_space;
 * - CONTROL and USER_DEFINED pieces become added tokens (CONTROL ones special).
 * The post-processor is left to `LlamaTokenizerFast.update_post_processor`.
 */
import { TokenizerError } from "./errors.ts";
import { type ModelProto, ModelType, PieceType, trainerSpecWithDefaults } from "./formats/sentencepiece_model.ts";
import type {
  AddedTokenConfig,
  DecoderConfig,
  NormalizerConfig,
  PreTokenizerConfig,
  TokenizerConfigJSON,
} from "./formats/tokenizer_json.ts";

/** `SentencePieceExtractor.extract(vocab_scores)`: BPE merges recovered from piece scores. */
export function extractMerges(
  pieces: string[],
  scores: number[],
  allPieces: string[] = pieces,
): Array<[string, string]> {
  const vocab = new Map<string, number>();
  allPieces.forEach((p, i) => vocab.set(p, i));
  // Python builds a dict from the (piece, score) list: a repeated piece keeps its first position and last score.
  const scoreOf = new Map<string, number>();
  pieces.forEach((p, i) => scoreOf.set(p, scores[i]));
  const merges: Array<[string, string, number]> = [];
  for (const [merge, score] of scoreOf) {
    const chars = Array.from(merge);
    const local: Array<[string, string, number]> = [];
    for (let index = 1; index < chars.length; index++) {
      const l = chars.slice(0, index).join("");
      const r = chars.slice(index).join("");
      if (vocab.has(l) && vocab.has(r)) local.push([l, r, score]);
    }
    local.sort((x, y) => vocab.get(x[0])! - vocab.get(y[0])! || vocab.get(x[1])! - vocab.get(y[1])!);
    merges.push(...local);
  }
  // Stable sort by score, best first (Python `sorted(..., reverse=True)` keeps ties in order).
  const order = merges.map((_, i) => i);
  order.sort((i, j) => merges[j][2] - merges[i][2] || i - j);
  return order.map((i) => [merges[i][0], merges[i][1]]);
}

export interface LlamaConverterOptions {
  legacy: boolean;
  add_prefix_space: boolean;
  /** The slow tokenizer's tokens for ids 0, 1, 2 (HF `LlamaConverter.vocab`). */
  first_tokens?: [string, string, string];
  /** The slow tokenizer's special tokens (user-defined pieces among them become special added tokens). */
  special_tokens?: string[];
}

/** `LlamaConverter(...).converted()` as a tokenizer.json config (no post-processor). */
export function convertLlamaModelProto(
  proto: ModelProto,
  opts: LlamaConverterOptions,
  file = "tokenizer.model",
): TokenizerConfigJSON {
  const trainer = trainerSpecWithDefaults(proto.trainer_spec);
  if (trainer.model_type !== ModelType.BPE)
    throw new TokenizerError(file, "LlamaConverter: only BPE sentencepiece models can be converted");
  const protoPieces = proto.pieces ?? [];
  if (protoPieces.length < 3) throw new TokenizerError(file, "LlamaConverter: the model has fewer than 3 pieces");
  const allPieces = protoPieces.map((p) => p.piece ?? "");
  const first = opts.first_tokens ?? [allPieces[0], allPieces[1], allPieces[2]];
  const vocabPieces = [...first, ...allPieces.slice(3)];
  const scores = [0, 0, 0, ...protoPieces.slice(3).map((p) => p.score ?? 0)];
  const merges = extractMerges(vocabPieces, scores, allPieces);
  const vocab = new Map<string, number>();
  vocabPieces.forEach((p, i) => vocab.set(p, i));

  const specials = new Set(opts.special_tokens ?? []);
  const added_tokens: AddedTokenConfig[] = [];
  protoPieces.forEach((p, id) => {
    const type = p.type ?? PieceType.NORMAL;
    if (type !== PieceType.CONTROL && type !== PieceType.USER_DEFINED) return;
    const special = type === PieceType.CONTROL || specials.has(p.piece ?? "");
    added_tokens.push({
      id,
      content: p.piece ?? "",
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special,
    });
  });

  let normalizer: NormalizerConfig | null = null;
  let pre_tokenizer: PreTokenizerConfig | null = null;
  if (opts.legacy) {
    const seq: NormalizerConfig[] = [];
    if (opts.add_prefix_space) seq.push({ type: "Prepend", prepend: "\u2581" });
    seq.push({ type: "Replace", pattern: { String: " " }, content: "\u2581" });
    normalizer = { type: "Sequence", normalizers: seq };
  } else {
    // `_get_prepend_scheme`: "first" for non-legacy with add_prefix_space, "never" without.
    pre_tokenizer = {
      type: "Metaspace",
      replacement: "\u2581",
      prepend_scheme: opts.add_prefix_space ? "first" : "never",
      split: false,
    };
  }
  const decoders: DecoderConfig[] = [
    { type: "Replace", pattern: { String: "\u2581" }, content: " " },
    { type: "ByteFallback" },
    { type: "Fuse" },
  ];
  if (opts.add_prefix_space) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });

  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens,
    normalizer,
    pre_tokenizer,
    post_processor: null,
    decoder: { type: "Sequence", decoders },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: trainer.unk_piece,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: trainer.byte_fallback,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
