/**
 * HF `tokenizer.json` (the serialization of a `tokenizers.Tokenizer`): parsing and validation into typed
 * configs, and serialization back.
 *
 * Mirrors the serde layout of huggingface/tokenizers (`tokenizer/serialization.rs` and each component's
 * `#[serde(tag = "type")]` struct). Supported components, enough for Llama and the simple pipelines around it:
 *
 * - model: `BPE` (vocab, merges as "a b" strings or ["a", "b"] pairs, unk_token, fuse_unk, byte_fallback,
 *   continuing_subword_prefix, end_of_word_suffix, ignore_merges; dropout must be null or 0)
 * - normalizer: Sequence, Prepend, Append, Replace (String or Regex pattern), NFC, NFD, NFKC, NFKD, Lowercase, Strip
 * - pre_tokenizer: Metaspace (replacement, prepend_scheme first/always/never, split; the older
 *   add_prefix_space form too), Sequence
 * - post_processor: TemplateProcessing, Sequence
 * - decoder: Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace
 *
 * Anything else is a `TokenizerError("tokenizer.json", ...)` naming the JSON path and what was expected, as
 * are wrong field types, a missing vocab, duplicate ids, and merges naming tokens that are not in the vocab
 * (tokenizers' `MergeTokenOutOfVocabulary`).
 */
import { TokenizerError } from "../errors.ts";
import { compileSafeRegex } from "../utils/safe_regex.ts";

export type Pattern = { String: string } | { Regex: string };

export type NormalizerConfig =
  | { type: "Sequence"; normalizers: NormalizerConfig[] }
  | { type: "Prepend"; prepend: string }
  | { type: "Append"; append: string }
  | { type: "Replace"; pattern: Pattern; content: string }
  | { type: "NFC" | "NFD" | "NFKC" | "NFKD" | "Lowercase" }
  | { type: "Strip"; strip_left: boolean; strip_right: boolean };

export type PrependScheme = "first" | "always" | "never";

export type PreTokenizerConfig =
  | { type: "Metaspace"; replacement: string; prepend_scheme: PrependScheme; split: boolean }
  | { type: "Sequence"; pretokenizers: PreTokenizerConfig[] };

export interface BPEConfig {
  type: "BPE";
  dropout: number | null;
  unk_token: string | null;
  continuing_subword_prefix: string | null;
  end_of_word_suffix: string | null;
  fuse_unk: boolean;
  byte_fallback: boolean;
  ignore_merges: boolean;
  /** token -> id */
  vocab: Map<string, number>;
  /** merge pairs in priority order (rank = index) */
  merges: Array<[string, string]>;
}

export type TemplatePiece =
  { SpecialToken: { id: string; type_id: number } } | { Sequence: { id: "A" | "B"; type_id: number } };

export interface TemplateSpecialToken {
  id: string;
  ids: number[];
  tokens: string[];
}

export type PostProcessorConfig =
  | {
      type: "TemplateProcessing";
      single: TemplatePiece[];
      pair: TemplatePiece[];
      special_tokens: Record<string, TemplateSpecialToken>;
    }
  | { type: "Sequence"; processors: PostProcessorConfig[] };

export type DecoderConfig =
  | { type: "Sequence"; decoders: DecoderConfig[] }
  | { type: "Replace"; pattern: Pattern; content: string }
  | { type: "ByteFallback" }
  | { type: "Fuse" }
  | { type: "Strip"; content: string; start: number; stop: number }
  | { type: "Metaspace"; replacement: string; prepend_scheme: PrependScheme; split: boolean };

export interface AddedTokenConfig {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface TokenizerConfigJSON {
  version: string;
  truncation: Record<string, unknown> | null;
  padding: Record<string, unknown> | null;
  added_tokens: AddedTokenConfig[];
  normalizer: NormalizerConfig | null;
  pre_tokenizer: PreTokenizerConfig | null;
  post_processor: PostProcessorConfig | null;
  decoder: DecoderConfig | null;
  model: BPEConfig;
}

// ---------------------------------------------------------------------------------------------------------
// Field checks
// ---------------------------------------------------------------------------------------------------------

class Checker {
  constructor(readonly file: string) {}

  fail(path: string, message: string): never {
    throw new TokenizerError(this.file, `${path}: ${message}`);
  }

  /**
   * A token id: a non-negative integer below 2^31. tokenizers stores ids as u32; llama-ts keeps them in Int32Array
   * and JS numbers, where 2^31 and above would come out negative.
   */
  tokenId(v: unknown, path: string): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= 2 ** 31)
      this.fail(path, `expected a token id (an integer from 0 to 2^31 - 1), got ${describe(v)}`);
    return v;
  }

  object(v: unknown, path: string): Record<string, unknown> {
    if (v === null || typeof v !== "object" || Array.isArray(v))
      this.fail(path, `expected an object, got ${describe(v)}`);
    return v as Record<string, unknown>;
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `expected an array, got ${describe(v)}`);
    return v;
  }

  string(v: unknown, path: string): string {
    if (typeof v !== "string") this.fail(path, `expected a string, got ${describe(v)}`);
    return v;
  }

  char(v: unknown, path: string): string {
    const s = this.string(v, path);
    if (Array.from(s).length !== 1) this.fail(path, `expected a single character, got ${JSON.stringify(s)}`);
    return s;
  }

  bool(v: unknown, path: string, dflt?: boolean): boolean {
    if ((v === undefined || v === null) && dflt !== undefined) return dflt;
    if (typeof v !== "boolean") this.fail(path, `expected a boolean, got ${describe(v)}`);
    return v;
  }

  uint(v: unknown, path: string, dflt?: number): number {
    if ((v === undefined || v === null) && dflt !== undefined) return dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
      this.fail(path, `expected a non-negative integer, got ${describe(v)}`);
    return v;
  }

  optString(v: unknown, path: string): string | null {
    return v === undefined || v === null ? null : this.string(v, path);
  }

  pattern(v: unknown, path: string): Pattern {
    const o = this.object(v, path);
    if (typeof o.String === "string") return { String: o.String };
    if (typeof o.Regex === "string") {
      // Compiled here only to refuse it early; the pipeline compiles it again where it is used.
      compileSafeRegex(o.Regex, (message) => this.fail(`${path}.Regex`, message));
      return { Regex: o.Regex };
    }
    this.fail(path, `expected {"String": ...} or {"Regex": ...}, got ${describe(v)}`);
  }

  type(o: Record<string, unknown>, path: string): string {
    return this.string(o.type, `${path}.type`);
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  const s = JSON.stringify(v);
  return `${typeof v} ${s !== undefined && s.length > 40 ? s.slice(0, 40) + "..." : s}`;
}

function prependScheme(c: Checker, o: Record<string, unknown>, path: string): PrependScheme {
  if (o.prepend_scheme !== undefined && o.prepend_scheme !== null) {
    const s = c.string(o.prepend_scheme, `${path}.prepend_scheme`);
    if (s !== "first" && s !== "always" && s !== "never")
      c.fail(`${path}.prepend_scheme`, `expected "first", "always" or "never", got ${JSON.stringify(s)}`);
    return s;
  }
  // Older files: add_prefix_space true -> always, false -> never (tokenizers' Metaspace deserializer).
  return c.bool(o.add_prefix_space, `${path}.add_prefix_space`, true) ? "always" : "never";
}

function parseNormalizer(c: Checker, v: unknown, path: string): NormalizerConfig {
  const o = c.object(v, path);
  const type = c.type(o, path);
  switch (type) {
    case "Sequence":
      return {
        type,
        normalizers: c
          .array(o.normalizers, `${path}.normalizers`)
          .map((n, i) => parseNormalizer(c, n, `${path}.normalizers[${i}]`)),
      };
    case "Prepend":
      return { type, prepend: c.string(o.prepend, `${path}.prepend`) };
    case "Append":
      return { type, append: c.string(o.append, `${path}.append`) };
    case "Replace":
      return {
        type,
        pattern: c.pattern(o.pattern, `${path}.pattern`),
        content: c.string(o.content, `${path}.content`),
      };
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
    case "Lowercase":
      return { type };
    case "Strip":
      return {
        type,
        strip_left: c.bool(o.strip_left, `${path}.strip_left`, true),
        strip_right: c.bool(o.strip_right, `${path}.strip_right`, true),
      };
    default:
      c.fail(`${path}.type`, `unsupported normalizer ${JSON.stringify(type)}`);
  }
}

function parsePreTokenizer(c: Checker, v: unknown, path: string): PreTokenizerConfig {
  const o = c.object(v, path);
  const type = c.type(o, path);
  switch (type) {
    case "Metaspace":
      return {
        type,
        replacement: c.char(o.replacement, `${path}.replacement`),
        prepend_scheme: prependScheme(c, o, path),
        split: c.bool(o.split, `${path}.split`, true),
      };
    case "Sequence":
      return {
        type,
        pretokenizers: c
          .array(o.pretokenizers, `${path}.pretokenizers`)
          .map((p, i) => parsePreTokenizer(c, p, `${path}.pretokenizers[${i}]`)),
      };
    default:
      c.fail(`${path}.type`, `unsupported pre_tokenizer ${JSON.stringify(type)}`);
  }
}

function parseTemplate(c: Checker, v: unknown, path: string): TemplatePiece[] {
  return c.array(v, path).map((p, i) => {
    const o = c.object(p, `${path}[${i}]`);
    if (o.SpecialToken !== undefined) {
      const s = c.object(o.SpecialToken, `${path}[${i}].SpecialToken`);
      return {
        SpecialToken: {
          id: c.string(s.id, `${path}[${i}].SpecialToken.id`),
          type_id: c.uint(s.type_id, `${path}[${i}].SpecialToken.type_id`, 0),
        },
      };
    }
    if (o.Sequence !== undefined) {
      const s = c.object(o.Sequence, `${path}[${i}].Sequence`);
      const id = c.string(s.id, `${path}[${i}].Sequence.id`);
      if (id !== "A" && id !== "B")
        c.fail(`${path}[${i}].Sequence.id`, `expected "A" or "B", got ${JSON.stringify(id)}`);
      return { Sequence: { id, type_id: c.uint(s.type_id, `${path}[${i}].Sequence.type_id`, 0) } };
    }
    c.fail(`${path}[${i}]`, `expected {"SpecialToken": ...} or {"Sequence": ...}`);
  });
}

function parsePostProcessor(c: Checker, v: unknown, path: string): PostProcessorConfig {
  const o = c.object(v, path);
  const type = c.type(o, path);
  switch (type) {
    case "TemplateProcessing": {
      const single = parseTemplate(c, o.single, `${path}.single`);
      const pair = parseTemplate(c, o.pair, `${path}.pair`);
      const st = c.object(o.special_tokens ?? {}, `${path}.special_tokens`);
      const special_tokens: Record<string, TemplateSpecialToken> = {};
      for (const [k, t] of Object.entries(st)) {
        const so = c.object(t, `${path}.special_tokens.${k}`);
        const ids = c
          .array(so.ids, `${path}.special_tokens.${k}.ids`)
          .map((x, i) => c.tokenId(x, `${path}.special_tokens.${k}.ids[${i}]`));
        const tokens = c
          .array(so.tokens, `${path}.special_tokens.${k}.tokens`)
          .map((x, i) => c.string(x, `${path}.special_tokens.${k}.tokens[${i}]`));
        if (ids.length !== tokens.length)
          c.fail(`${path}.special_tokens.${k}`, `ids and tokens differ in length (${ids.length} vs ${tokens.length})`);
        special_tokens[k] = { id: c.string(so.id, `${path}.special_tokens.${k}.id`), ids, tokens };
      }
      for (const [name, tpl] of [
        ["single", single],
        ["pair", pair],
      ] as const) {
        for (const p of tpl) {
          if ("SpecialToken" in p && !special_tokens[p.SpecialToken.id])
            c.fail(
              `${path}.${name}`,
              `special token ${JSON.stringify(p.SpecialToken.id)} is missing from special_tokens`,
            );
        }
      }
      return { type, single, pair, special_tokens };
    }
    case "Sequence":
      return {
        type,
        processors: c
          .array(o.processors, `${path}.processors`)
          .map((p, i) => parsePostProcessor(c, p, `${path}.processors[${i}]`)),
      };
    default:
      c.fail(`${path}.type`, `unsupported post_processor ${JSON.stringify(type)}`);
  }
}

function parseDecoder(c: Checker, v: unknown, path: string): DecoderConfig {
  const o = c.object(v, path);
  const type = c.type(o, path);
  switch (type) {
    case "Sequence":
      return {
        type,
        decoders: c.array(o.decoders, `${path}.decoders`).map((d, i) => parseDecoder(c, d, `${path}.decoders[${i}]`)),
      };
    case "Replace":
      return {
        type,
        pattern: c.pattern(o.pattern, `${path}.pattern`),
        content: c.string(o.content, `${path}.content`),
      };
    case "ByteFallback":
    case "Fuse":
      return { type };
    case "Strip":
      return {
        type,
        content: c.char(o.content, `${path}.content`),
        start: c.uint(o.start, `${path}.start`),
        stop: c.uint(o.stop, `${path}.stop`),
      };
    case "Metaspace":
      return {
        type,
        replacement: c.char(o.replacement, `${path}.replacement`),
        prepend_scheme: prependScheme(c, o, path),
        split: c.bool(o.split, `${path}.split`, true),
      };
    default:
      c.fail(`${path}.type`, `unsupported decoder ${JSON.stringify(type)}`);
  }
}

function parseModel(c: Checker, v: unknown): BPEConfig {
  const o = c.object(v, "model");
  // tokenizers accepts an untagged model; a BPE is recognised by its merges.
  const type = o.type === undefined && o.merges !== undefined ? "BPE" : c.type(o, "model");
  if (type !== "BPE") c.fail("model.type", `unsupported model ${JSON.stringify(type)} (only BPE)`);
  if (o.vocab === undefined || o.vocab === null) c.fail("model.vocab", "missing: a BPE model needs a vocabulary");
  const vocabObj = c.object(o.vocab, "model.vocab");
  const vocab = new Map<string, number>();
  const seen = new Map<number, string>();
  for (const [token, id] of Object.entries(vocabObj)) {
    const n = c.tokenId(id, `model.vocab[${JSON.stringify(token)}]`);
    const prev = seen.get(n);
    if (prev !== undefined)
      c.fail("model.vocab", `id ${n} is given to both ${JSON.stringify(prev)} and ${JSON.stringify(token)}`);
    seen.set(n, token);
    vocab.set(token, n);
  }
  if (vocab.size === 0) c.fail("model.vocab", "empty vocabulary");
  const continuing_subword_prefix = c.optString(o.continuing_subword_prefix, "model.continuing_subword_prefix");
  const prefixLen = continuing_subword_prefix?.length ?? 0;
  const merges: Array<[string, string]> = [];
  const rawMerges = o.merges === undefined || o.merges === null ? [] : c.array(o.merges, "model.merges");
  for (let i = 0; i < rawMerges.length; i++) {
    const m = rawMerges[i];
    let pair: [string, string];
    if (typeof m === "string") {
      const parts = m.split(" ");
      if (parts.length !== 2)
        c.fail(`model.merges[${i}]`, `expected "a b" (two tokens separated by one space), got ${JSON.stringify(m)}`);
      pair = [parts[0], parts[1]];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      pair = [m[0], m[1]];
    } else {
      c.fail(`model.merges[${i}]`, `expected a "a b" string or a ["a", "b"] pair, got ${describe(m)}`);
    }
    for (const t of pair)
      if (!vocab.has(t))
        c.fail(
          `model.merges[${i}]`,
          `token ${JSON.stringify(t)} of merge ${JSON.stringify(pair.join(" "))} is not in the vocabulary`,
        );
    const merged = pair[0] + pair[1].slice(prefixLen);
    if (!vocab.has(merged))
      c.fail(
        `model.merges[${i}]`,
        `merged token ${JSON.stringify(merged)} of merge ${JSON.stringify(pair.join(" "))} is not in the vocabulary`,
      );
    merges.push(pair);
  }
  const dropout = o.dropout === undefined || o.dropout === null ? null : o.dropout;
  if (dropout !== null && (typeof dropout !== "number" || dropout < 0 || dropout > 1))
    c.fail("model.dropout", `expected null or a number in [0, 1], got ${describe(dropout)}`);
  if (typeof dropout === "number" && dropout > 0)
    c.fail("model.dropout", `BPE-dropout (${dropout}) is random and not supported; expected null or 0`);
  const unk_token = c.optString(o.unk_token, "model.unk_token");
  if (unk_token !== null && !vocab.has(unk_token))
    c.fail("model.unk_token", `${JSON.stringify(unk_token)} is not in the vocabulary`);
  return {
    type: "BPE",
    dropout: dropout as number | null,
    unk_token,
    continuing_subword_prefix,
    end_of_word_suffix: c.optString(o.end_of_word_suffix, "model.end_of_word_suffix"),
    fuse_unk: c.bool(o.fuse_unk, "model.fuse_unk", false),
    byte_fallback: c.bool(o.byte_fallback, "model.byte_fallback", false),
    ignore_merges: c.bool(o.ignore_merges, "model.ignore_merges", false),
    vocab,
    merges,
  };
}

/** Parses and validates the text of a tokenizer.json. `file` names it in errors. */
export function parseTokenizerJSON(text: string, file = "tokenizer.json"): TokenizerConfigJSON {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(file, `not valid JSON: ${(e as Error).message}`);
  }
  return tokenizerConfigFromObject(raw, file);
}

/** Validates an already-parsed tokenizer.json object. */
export function tokenizerConfigFromObject(raw: unknown, file = "tokenizer.json"): TokenizerConfigJSON {
  const c = new Checker(file);
  const o = c.object(raw, "(top level)");
  if (o.model === undefined) c.fail("model", "missing: tokenizer.json needs a model");
  const model = parseModel(c, o.model);
  const added_tokens = (
    o.added_tokens === undefined || o.added_tokens === null ? [] : c.array(o.added_tokens, "added_tokens")
  ).map((t, i) => {
    const p = `added_tokens[${i}]`;
    const to = c.object(t, p);
    const special = c.bool(to.special, `${p}.special`, false);
    return {
      id: c.tokenId(to.id, `${p}.id`),
      content: c.string(to.content, `${p}.content`),
      single_word: c.bool(to.single_word, `${p}.single_word`, false),
      lstrip: c.bool(to.lstrip, `${p}.lstrip`, false),
      rstrip: c.bool(to.rstrip, `${p}.rstrip`, false),
      normalized: c.bool(to.normalized, `${p}.normalized`, !special),
      special,
    };
  });
  const opt = <T>(v: unknown, f: (v: unknown) => T): T | null => (v === undefined || v === null ? null : f(v));
  return {
    version: typeof o.version === "string" ? o.version : "1.0",
    truncation: opt(o.truncation, (v) => c.object(v, "truncation")),
    padding: opt(o.padding, (v) => c.object(v, "padding")),
    added_tokens,
    normalizer: opt(o.normalizer, (v) => parseNormalizer(c, v, "normalizer")),
    pre_tokenizer: opt(o.pre_tokenizer, (v) => parsePreTokenizer(c, v, "pre_tokenizer")),
    post_processor: opt(o.post_processor, (v) => parsePostProcessor(c, v, "post_processor")),
    decoder: opt(o.decoder, (v) => parseDecoder(c, v, "decoder")),
    model,
  };
}

/** The JSON object of a config (vocab as an object in id order, merges as "a b" strings when possible). */
export function tokenizerConfigToObject(cfg: TokenizerConfigJSON): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  for (const [t, id] of [...cfg.model.vocab.entries()].sort((a, b) => a[1] - b[1])) vocab[t] = id;
  const spaced = cfg.model.merges.some(([a, b]) => a.includes(" ") || b.includes(" "));
  return {
    version: cfg.version,
    truncation: cfg.truncation,
    padding: cfg.padding,
    added_tokens: cfg.added_tokens,
    normalizer: cfg.normalizer,
    pre_tokenizer: cfg.pre_tokenizer,
    post_processor: cfg.post_processor,
    decoder: cfg.decoder,
    model: {
      type: "BPE",
      dropout: cfg.model.dropout,
      unk_token: cfg.model.unk_token,
      continuing_subword_prefix: cfg.model.continuing_subword_prefix,
      end_of_word_suffix: cfg.model.end_of_word_suffix,
      fuse_unk: cfg.model.fuse_unk,
      byte_fallback: cfg.model.byte_fallback,
      ignore_merges: cfg.model.ignore_merges,
      vocab,
      merges: spaced ? cfg.model.merges.map(([a, b]) => [a, b]) : cfg.model.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}
