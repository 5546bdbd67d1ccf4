/**
 * Tour (README "Read the code", aside to step 17): where the embedded Llama 2 vocabulary and merges come from.
 *
 * The embedded default: the real Llama 2 tokenizer, available on a fresh machine with no model folder.
 *
 * The vocabulary (32,000 pieces) and the 61,249 BPE merges come from the npm package `llama-tokenizer-js`
 * 1.2.2 (a dependency), which ships them inside its JS source as two base64 string literals extracted from the
 * Hub's LLaMA tokenizer.json (see its data-conversion.py):
 *   - `llama_vocab_base64`: the pieces in id order, UTF-8, joined by "\n";
 *   - `llama_merges_binary`: little-endian uint16 pairs (left id, right id), one pair per merge, in rank order.
 * We read that file as text and decode the two literals; none of its code runs.
 *
 * From them:
 *   - `loadDefaultTokenizer()`: a `LlamaTokenizerFast` with the Hub's legacy Llama 2 pipeline (normalizer
 *     Prepend("▁") + Replace(" " -> "▁"), BPE with byte_fallback and fuse_unk, decoder Replace / ByteFallback /
 *     Fuse / Strip, "<s> $A" template), i.e. the reference tokenizer.json.
 *   - `loadDefaultSlowTokenizer()`: a `LlamaTokenizer` over a sentencepiece ModelProto derived from the same
 *     data. The pieces' scores follow Llama 2's tokenizer.model exactly: piece i scores -(i - 259), except
 *     the 16 whitespace-only pieces ("▁" x 1..16), which score -1e9 (their merges rank last in the data too);
 *     `<unk>` is UNKNOWN, `<s>`/`</s>` CONTROL, `<0x00>`..`<0xFF>` BYTE, all with score 0. The trainer and
 *     normalizer specs are the metadata of Meta's release (not in the npm data), so that the serialized proto is
 *     byte-identical to Meta's tokenizer.model (tests/tokenizer/default_tokenizer.test.ts checks it when the
 *     reference is present).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { TokenizerError } from "../../errors.ts";
import { type ModelProto, type SentencePiece, PieceType } from "../../formats/sentencepiece_model.ts";
import type { TokenizerConfigJSON } from "../../formats/tokenizer_json.ts";
import { LlamaTokenizer, type LlamaTokenizerKwargs } from "./tokenization_llama.ts";
import { LlamaTokenizerFast, type LlamaTokenizerFastKwargs } from "./tokenization_llama_fast.ts";

const PACKAGE = "llama-tokenizer-js";
const VOCAB_SIZE = 32000;
const FIRST_NORMAL_ID = 259; // after <unk>, <s>, </s> and the 256 byte pieces

export interface DefaultTokenizerData {
  /** piece by id */
  vocab: string[];
  /** merges in rank order, as [left, right] pieces */
  merges: Array<[string, string]>;
}

let cached: DefaultTokenizerData | null = null;

function fail(message: string): never {
  throw new TokenizerError(PACKAGE, message);
}

/** Reads and decodes the vocabulary and merges shipped in llama-tokenizer-js (cached after the first call). */
export function loadDefaultTokenizerData(): DefaultTokenizerData {
  if (cached) return cached;
  let source: string;
  try {
    const path = createRequire(import.meta.url).resolve(PACKAGE);
    source = readFileSync(path, "utf8");
  } catch (e) {
    fail(`cannot read the package (is it installed? run npm install): ${(e as Error).message}`);
  }
  const literal = (name: string): Buffer => {
    const m = new RegExp(`const ${name} = "([A-Za-z0-9+/=]*)"`).exec(source);
    if (!m) fail(`string literal ${name} not found in the package source`);
    return Buffer.from(m[1], "base64");
  };
  const vocab = literal("llama_vocab_base64").toString("utf8").split("\n");
  if (vocab.length !== VOCAB_SIZE) fail(`expected ${VOCAB_SIZE} vocabulary entries, decoded ${vocab.length}`);
  const bin = literal("llama_merges_binary");
  if (bin.length % 4 !== 0) fail(`merges data has ${bin.length} bytes, not a whole number of uint16 pairs`);
  const merges: Array<[string, string]> = [];
  for (let o = 0; o < bin.length; o += 4) {
    const a = bin.readUInt16LE(o);
    const b = bin.readUInt16LE(o + 2);
    if (a >= VOCAB_SIZE || b >= VOCAB_SIZE) fail(`merge #${o / 4} names id ${Math.max(a, b)} outside the vocabulary`);
    merges.push([vocab[a], vocab[b]]);
  }
  cached = { vocab, merges };
  return cached;
}

/** The Hub's legacy Llama 2 tokenizer.json, as a config built from the npm data. */
export function defaultTokenizerConfig(): TokenizerConfigJSON {
  const { vocab, merges } = loadDefaultTokenizerData();
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "\u2581" },
        { type: "Replace", pattern: { String: " " }, content: "\u2581" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: new Map(vocab.map((p, i) => [p, i])),
      merges,
    },
  };
}

/** The sentencepiece ModelProto of Llama 2, derived from the npm data (see the module comment). */
export function defaultModelProto(): ModelProto {
  const { vocab } = loadDefaultTokenizerData();
  const pieces: SentencePiece[] = vocab.map((piece, i) => {
    if (i === 0) return { piece, score: 0, type: PieceType.UNKNOWN };
    if (i < 3) return { piece, score: 0, type: PieceType.CONTROL };
    if (i < FIRST_NORMAL_ID) return { piece, score: 0, type: PieceType.BYTE };
    return { piece, score: /^\u2581+$/.test(piece) ? -1e9 : -(i - FIRST_NORMAL_ID) };
  });
  return {
    pieces,
    // Metadata of Meta's Llama 2 tokenizer.model (training settings; only model_type, byte_fallback and the
    // special-piece fields affect encoding).
    trainer_spec: {
      input: ["/large_experiments/theorem/datasets/MERGED/all.test1.merged"],
      model_prefix: "spm_model_32k_200M_charcov099995_allowWSO__v2",
      model_type: 2,
      vocab_size: VOCAB_SIZE,
      self_test_sample_size: 0,
      input_format: "text",
      character_coverage: Math.fround(0.99995), // float32 in the file
      input_sentence_size: 200000000n,
      seed_sentencepiece_size: 1000000,
      shrinking_factor: 0.75,
      num_threads: 80,
      num_sub_iterations: 2,
      max_sentence_length: 4192,
      shuffle_input_sentence: true,
      max_sentencepiece_length: 16,
      split_by_unicode_script: true,
      split_by_whitespace: true,
      split_by_number: true,
      treat_whitespace_as_suffix: false,
      split_digits: true,
      allow_whitespace_only_pieces: true,
      vocabulary_output_piece_score: true,
      hard_vocab_limit: true,
      use_all_vocab: false,
      byte_fallback: true,
      required_chars: "",
      unk_id: 0,
      bos_id: 1,
      eos_id: 2,
      pad_id: -1,
      unk_surface: " \u2047 ",
      unk_piece: "<unk>",
      bos_piece: "<s>",
      eos_piece: "</s>",
      pad_piece: "<pad>",
      train_extremely_large_corpus: false,
      enable_differential_privacy: false,
      differential_privacy_noise_level: 0,
      differential_privacy_clipping_threshold: 0n,
    },
    normalizer_spec: {
      name: "identity",
      precompiled_charsmap: new Uint8Array(0),
      add_dummy_prefix: true,
      remove_extra_whitespaces: false,
      normalization_rule_tsv: "",
    },
  };
}

/**
 * The default fast tokenizer (Llama 2, legacy pipeline, add_bos_token). Equivalent to
 * `LlamaTokenizerFast.from_pretrained` on the Hub's Llama 2 tokenizer files.
 */
export function loadDefaultTokenizer(kwargs: LlamaTokenizerFastKwargs = {}): LlamaTokenizerFast {
  return new LlamaTokenizerFast({
    legacy: true,
    ...kwargs,
    tokenizer_config: defaultTokenizerConfig(),
    sp_model_proto: defaultModelProto(),
  });
}

/** The default slow tokenizer (Llama 2 sentencepiece model derived from the same data, legacy=true). */
export function loadDefaultSlowTokenizer(kwargs: LlamaTokenizerKwargs = {}): LlamaTokenizer {
  return new LlamaTokenizer({ legacy: true, ...kwargs, sp_model_proto: defaultModelProto() });
}
