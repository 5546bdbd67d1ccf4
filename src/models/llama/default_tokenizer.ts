/**
 * Tour (README "Read the code", aside to step 17): where the embedded Llama 2 vocabulary and merges come from.
 *
 * The embedded default: the real Llama 2 tokenizer, available on a fresh machine with no model folder.
 *
 * Its data are two files committed in this repository and shipped in the package (data/README.md gives their
 * provenance), each read once, on first use, and checked against its sha256:
 *   - data/llama2-tokenizer.model: Meta's Llama 2 sentencepiece model (32,000 pieces with scores and types,
 *     Meta's trainer and normalizer specs). `defaultModelProto()` parses it; `loadDefaultSlowTokenizer()` is a
 *     `LlamaTokenizer` over it.
 *   - data/llama2-tokenizer.json.gz: the Hub's Llama 2 tokenizer.json (gzip), the legacy fast pipeline:
 *     normalizer Prepend("▁") + Replace(" " -> "▁"), BPE (32,000 pieces, 61,249 merges) with byte_fallback and
 *     fuse_unk, decoder Replace / ByteFallback / Fuse / Strip, "<s> $A" template. `defaultTokenizerConfig()`
 *     parses it, `loadDefaultTokenizerData()` gives its vocabulary and merges, and `loadDefaultTokenizer()` is a
 *     `LlamaTokenizerFast` over it.
 * tests/tokenizer/default_tokenizer.test.ts checks both files against ../shared/reference/tokenizer.model and
 * ../shared/reference/tokenizer/tokenizer.json, byte for byte.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { TokenizerError } from "../../errors.ts";
import { type ModelProto, parseModelProto } from "../../formats/sentencepiece_model.ts";
import { type TokenizerConfigJSON, parseTokenizerJSON } from "../../formats/tokenizer_json.ts";
import { LlamaTokenizer, type LlamaTokenizerKwargs } from "./tokenization_llama.ts";
import { LlamaTokenizerFast, type LlamaTokenizerFastKwargs } from "./tokenization_llama_fast.ts";

/** src/models/llama/ and dist/models/llama/ both sit three folders below the package root, beside data/. */
const DATA_FILE = fileURLToPath(new URL("../../../data/llama2-tokenizer.model", import.meta.url));
const JSON_FILE = fileURLToPath(new URL("../../../data/llama2-tokenizer.json.gz", import.meta.url));
/** sha256 of Meta's Llama 2 tokenizer.model. */
export const DEFAULT_TOKENIZER_SHA256 = "9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347";
/** sha256 of the Hub's Llama 2 tokenizer.json (the text inside data/llama2-tokenizer.json.gz). */
export const DEFAULT_TOKENIZER_JSON_SHA256 = "3c16d6a8e5f4a940956e8a45a4f95d0046ffc798975eab188eff5078d3888e3f";

export interface DefaultTokenizerData {
  /** piece by id */
  vocab: string[];
  /** merges in rank order, as [left, right] pieces */
  merges: Array<[string, string]>;
}

let cachedBytes: Uint8Array | null = null;
let cachedJson: string | null = null;
let cachedData: DefaultTokenizerData | null = null;

/** A data file's bytes (gunzipped if `gzipped`), checked against its sha256. */
function readChecked(file: string, sha256: string, gzipped: boolean): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
    if (gzipped) bytes = gunzipSync(bytes);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new TokenizerError(file, `cannot read the embedded tokenizer (${code})`);
  }
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (digest !== sha256) throw new TokenizerError(file, `sha256 is ${digest}, expected ${sha256} (a damaged copy)`);
  return bytes;
}

/** The bytes of data/llama2-tokenizer.model (read and checked once). */
function modelBytes(): Uint8Array {
  cachedBytes ??= new Uint8Array(readChecked(DATA_FILE, DEFAULT_TOKENIZER_SHA256, false));
  return cachedBytes;
}

/** The text of the embedded tokenizer.json (read and checked once). */
function jsonText(): string {
  cachedJson ??= readChecked(JSON_FILE, DEFAULT_TOKENIZER_JSON_SHA256, true).toString("utf8");
  return cachedJson;
}

/** The sentencepiece ModelProto of Llama 2 (a fresh object each call, parsed from the embedded file). */
export function defaultModelProto(): ModelProto {
  return parseModelProto(modelBytes(), DATA_FILE);
}

/** The vocabulary (id order) and merges (rank order) of the embedded tokenizer.json (cached after the first call). */
export function loadDefaultTokenizerData(): DefaultTokenizerData {
  if (cachedData) return cachedData;
  const { vocab, merges } = defaultTokenizerConfig().model;
  const byId: string[] = [];
  for (const [piece, id] of vocab) byId[id] = piece;
  cachedData = { vocab: byId, merges: merges.map(([a, b]) => [a, b]) };
  return cachedData;
}

/** The Hub's legacy Llama 2 tokenizer.json (parsed from the embedded file; a fresh object each call). */
export function defaultTokenizerConfig(): TokenizerConfigJSON {
  return parseTokenizerJSON(jsonText(), JSON_FILE);
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

/** The default slow tokenizer (the embedded Llama 2 sentencepiece model, legacy=true). */
export function loadDefaultSlowTokenizer(kwargs: LlamaTokenizerKwargs = {}): LlamaTokenizer {
  return new LlamaTokenizer({ legacy: true, ...kwargs, sp_model_proto: defaultModelProto() });
}
