/**
 * The text-transforming stages of an HF `tokenizers` pipeline, built from tokenizer.json configs:
 * normalizers (`normalizers/*.rs`), pre-tokenizers (`pre_tokenizers/*.rs`), decoders (`decoders/*.rs`) and
 * the TemplateProcessing post-processor (`processors/template.rs`).
 *
 * Llama's legacy tokenizer.json uses: normalizer Prepend("▁") then Replace(" " -> "▁"); no pre-tokenizer;
 * decoder Replace("▁" -> " "), ByteFallback, Fuse, Strip(" ", 1 left); post-processor "<s> $A".
 * The non-legacy one: no normalizer, pre-tokenizer Metaspace(prepend_scheme="first", split=false).
 *
 * Simplification: offsets/alignments are not tracked (llama-ts exposes no offset mapping). The only place
 * tokenizers consults them here is Metaspace's prepend_scheme="first" ("is this split at offset 0 of the
 * original text?"), which callers pass as `isFirst`.
 */
import { TokenizerError } from "../errors.ts";
import type {
  DecoderConfig,
  NormalizerConfig,
  Pattern,
  PostProcessorConfig,
  PreTokenizerConfig,
  PrependScheme,
  TemplatePiece,
  TemplateSpecialToken,
} from "../formats/tokenizer_json.ts";
import { compileSafeRegex } from "../utils/safe_regex.ts";
import { IdRun } from "./id_run.ts";
import { decodeByteRunStrict } from "./utf8.ts";

/** Rust `char::is_whitespace` (Unicode White_Space). */
export function isRustWhitespace(ch: string): boolean {
  return /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u.test(ch);
}

/**
 * tokenizers' Replace: every match of `pattern` becomes `content` (literally), built once per config. A literal
 * pattern skips strings that do not contain it; regex patterns are Oniguruma in tokenizers and are compiled once
 * here by safe_regex.ts (linear-time RE2 where the pattern allows it).
 */
function replacer(pattern: Pattern, content: string): (s: string) => string {
  if ("String" in pattern) {
    const literal = pattern.String;
    if (literal === "") return (s) => s;
    return (s) => (s.includes(literal) ? s.replaceAll(literal, content) : s);
  }
  const re = compileSafeRegex(pattern.Regex, (message) => {
    throw new TokenizerError("tokenizer.json", `Regex ${JSON.stringify(pattern.Regex)}: ${message}`);
  });
  return (s) => re.replaceAll(s, content);
}

// ---------------------------------------------------------------------------------------------------------
// Normalizers
// ---------------------------------------------------------------------------------------------------------

export type Normalizer = (s: string) => string;

export function buildNormalizer(cfg: NormalizerConfig): Normalizer {
  switch (cfg.type) {
    case "Sequence": {
      const parts = cfg.normalizers.map(buildNormalizer);
      return (s) => {
        for (const f of parts) s = f(s);
        return s;
      };
    }
    case "Prepend":
      return (s) => (s.length === 0 ? s : cfg.prepend + s);
    case "Append":
      return (s) => (s.length === 0 ? s : s + cfg.append);
    case "Replace":
      return replacer(cfg.pattern, cfg.content);
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return (s) => s.normalize(cfg.type);
    case "Lowercase":
      return (s) => s.toLowerCase();
    case "Strip":
      return (s) => {
        const chars = Array.from(s);
        let i = 0;
        let j = chars.length;
        if (cfg.strip_left) while (i < j && isRustWhitespace(chars[i])) i++;
        if (cfg.strip_right) while (j > i && isRustWhitespace(chars[j - 1])) j--;
        return chars.slice(i, j).join("");
      };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Pre-tokenizers
// ---------------------------------------------------------------------------------------------------------

/** Splits one normalized piece into pre-tokens; `isFirst`: the piece starts at offset 0 of the original text. */
export type PreTokenizer = (s: string, isFirst: boolean) => string[];

export function buildPreTokenizer(cfg: PreTokenizerConfig): PreTokenizer {
  switch (cfg.type) {
    case "Metaspace":
      return metaspacePreTokenizer(cfg.replacement, cfg.prepend_scheme, cfg.split);
    case "Sequence": {
      const parts = cfg.pretokenizers.map(buildPreTokenizer);
      return (s, isFirst) => {
        let pieces: Array<[string, boolean]> = [[s, isFirst]];
        for (const p of parts) {
          const next: Array<[string, boolean]> = [];
          for (const [piece, first] of pieces) {
            const out = p(piece, first);
            out.forEach((o, i) => next.push([o, first && i === 0]));
          }
          pieces = next.filter(([x]) => x.length > 0);
        }
        return pieces.map(([x]) => x);
      };
    }
  }
}

/**
 * `Metaspace`: ' ' -> replacement, prepend the replacement (always, or only on the text's first piece, unless
 * it already starts with it), then optionally split before every replacement (`MergedWithNext`).
 */
function metaspacePreTokenizer(replacement: string, scheme: PrependScheme, split: boolean): PreTokenizer {
  return (s, isFirst) => {
    let t = s.replaceAll(" ", replacement);
    const prepend = scheme === "always" || (scheme === "first" && isFirst);
    if (prepend && !t.startsWith(replacement)) t = replacement + t;
    if (!split) return [t];
    const out: string[] = [];
    let start = 0;
    let i = t.indexOf(replacement, 1);
    while (i !== -1) {
      out.push(t.slice(start, i));
      start = i;
      i = t.indexOf(replacement, i + replacement.length);
    }
    out.push(t.slice(start));
    return out.filter((x) => x.length > 0);
  };
}

// ---------------------------------------------------------------------------------------------------------
// Decoders (`decode_chain`: tokens in, tokens out; the Tokenizer joins the result)
// ---------------------------------------------------------------------------------------------------------

export type Decoder = (tokens: string[]) => string[];

export function buildDecoder(cfg: DecoderConfig): Decoder {
  switch (cfg.type) {
    case "Sequence": {
      const parts = cfg.decoders.map(buildDecoder);
      return (tokens) => parts.reduce((acc, f) => f(acc), tokens);
    }
    case "Replace": {
      const replace = replacer(cfg.pattern, cfg.content);
      return (tokens) => tokens.map(replace);
    }
    case "ByteFallback":
      return byteFallbackDecoder;
    case "Fuse":
      return (tokens) => [tokens.join("")];
    case "Strip":
      return (tokens) => tokens.map((t) => stripToken(t, cfg.content, cfg.start, cfg.stop));
    case "Metaspace":
      // Every replacement char becomes ' ', except in the first token, where tokenizers drops them all.
      return (tokens) =>
        tokens.map((t, i) => {
          let out = "";
          for (const ch of t) {
            if (ch === cfg.replacement) out += i === 0 && cfg.prepend_scheme !== "never" ? "" : " ";
            else out += ch;
          }
          return out;
        });
  }
}

/**
 * `Strip` decoder on one token: drop up to `start` leading and `stop` trailing characters equal to `content`
 * (characters are code points; `content` is one character). Only the ends are looked at, so stripping the one
 * fused token of a long text costs O(start + stop), not a split of the whole text into characters.
 */
function stripToken(t: string, content: string, start: number, stop: number): string {
  let from = 0;
  for (let i = 0; i < start && t.startsWith(content, from); i++) from += content.length;
  let to = t.length;
  for (let i = 0; i < stop && to - content.length >= from && t.endsWith(content, to); i++) to -= content.length;
  return from === 0 && to === t.length ? t : t.slice(from, to);
}

/** The byte a `<0xNN>` token spells (hex digits in either case), or -1 for any other token. */
function byteTokenValue(t: string): number {
  if (t.length !== 6 || t.charCodeAt(0) !== 0x3c || t.charCodeAt(1) !== 0x30 || t.charCodeAt(2) !== 0x78) return -1;
  if (t.charCodeAt(5) !== 0x3e) return -1;
  const hi = hexDigit(t.charCodeAt(3));
  const lo = hexDigit(t.charCodeAt(4));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * `ByteFallback`: runs of `<0xNN>` tokens become the UTF-8 text they spell; a run that is not valid UTF-8
 * becomes one U+FFFD per byte (the whole run, not just the bad bytes).
 */
function byteFallbackDecoder(tokens: string[]): string[] {
  const out: string[] = [];
  let run: number[] = [];
  const flush = () => {
    if (run.length === 0) return;
    out.push(decodeByteRunStrict(Uint8Array.from(run)));
    run = [];
  };
  for (const t of tokens) {
    const b = byteTokenValue(t);
    if (b >= 0) run.push(b);
    else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

/**
 * The decoder chain Llama's tokenizer.json files use (legacy and not): literal `Replace`s, optionally
 * `ByteFallback`, `Fuse`, then `Strip`s, run in one pass over the ids. Each token contributes either its
 * replaced text or, when `ByteFallback` reads it as `<0xNN>`, one byte; both are prepared once per id and
 * cached by the caller. The caller appends texts, gathers each run of bytes and decodes it as `ByteFallback`
 * does (a run that is not valid UTF-8 becomes one U+FFFD per byte), then applies `finish` (the `Strip`s on the
 * fused text). Equal to running the stages one after the other, without a list of strings per stage.
 */
export class FusedDecoder {
  private constructor(
    private readonly replaces: Array<(s: string) => string>,
    private readonly byteFallback: boolean,
    private readonly strips: Array<{ content: string; start: number; stop: number }>,
  ) {}

  /** The fused form of `cfg`, or null when the chain has another shape (the stage-by-stage path is used). */
  static compile(cfg: DecoderConfig | null): FusedDecoder | null {
    if (cfg === null) return null;
    const steps = cfg.type === "Sequence" ? cfg.decoders : [cfg];
    let i = 0;
    const replaces: Array<(s: string) => string> = [];
    for (; i < steps.length; i++) {
      const step = steps[i];
      if (step.type !== "Replace" || !("String" in step.pattern)) break;
      replaces.push(replacer(step.pattern, step.content));
    }
    const byteFallback = steps[i]?.type === "ByteFallback";
    if (byteFallback) i++;
    if (steps[i]?.type !== "Fuse") return null;
    const strips: Array<{ content: string; start: number; stop: number }> = [];
    for (i++; i < steps.length; i++) {
      const step = steps[i];
      if (step.type !== "Strip") return null;
      strips.push({ content: step.content, start: step.start, stop: step.stop });
    }
    return new FusedDecoder(replaces, byteFallback, strips);
  }

  /** What token `t` contributes: its byte when ByteFallback reads it as `<0xNN>`, else its replaced text. */
  prepare(t: string): number | string {
    for (const replace of this.replaces) t = replace(t);
    const b = this.byteFallback ? byteTokenValue(t) : -1;
    return b >= 0 ? b : t;
  }

  /** The `Strip`s, on the fused text. */
  finish(text: string): string {
    for (const { content, start, stop } of this.strips) text = stripToken(text, content, start, stop);
    return text;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Post-processors
// ---------------------------------------------------------------------------------------------------------

/** A sequence of tokens being encoded (tokenizers' `Encoding`, without offsets). */
export interface Encoding {
  ids: number[];
  tokens: string[];
  type_ids: number[];
  special_tokens_mask: number[];
}

export interface PostProcessor {
  /** Number of special tokens the processor adds (`added_tokens(is_pair)`). */
  added_tokens(is_pair: boolean): number;
  process(encoding: Encoding, pair: Encoding | null, add_special_tokens: boolean): Encoding;
  /**
   * Appends `process(...).ids` to `out`, from the sequences' ids alone.
   * @internal
   */
  appendIds(ids: ArrayLike<number>, pair: ArrayLike<number> | null, add_special_tokens: boolean, out: IdRun): void;
}

/** tokenizers' `TemplateProcessing`: "$A" / "$B" are the sequences, other pieces special tokens. */
export class TemplateProcessing implements PostProcessor {
  constructor(
    readonly single: TemplatePiece[],
    readonly pair: TemplatePiece[],
    readonly special_tokens: Record<string, TemplateSpecialToken>,
  ) {}

  /** From HF's string form, e.g. single "<s>:0 $A:0", special tokens [["<s>", 1]] (as `update_post_processor` builds it). */
  static fromStrings(single: string, pair: string, special: Array<[string, number]>): TemplateProcessing {
    const parse = (tpl: string): TemplatePiece[] =>
      tpl
        .split(" ")
        .filter((p) => p.length > 0)
        .map((p) => {
          const colon = p.lastIndexOf(":");
          const [name, typeId] =
            colon > 0 && /^\d+$/.test(p.slice(colon + 1)) ? [p.slice(0, colon), Number(p.slice(colon + 1))] : [p, 0];
          if (name === "$A" || name === "$B") return { Sequence: { id: name.slice(1) as "A" | "B", type_id: typeId } };
          if (name === "$") return { Sequence: { id: "A", type_id: typeId } };
          return { SpecialToken: { id: name, type_id: typeId } };
        });
    const st: Record<string, TemplateSpecialToken> = {};
    for (const [tok, id] of special) st[tok] = { id: tok, ids: [id], tokens: [tok] };
    const s = parse(single);
    const p = parse(pair);
    for (const piece of [...s, ...p]) {
      if ("SpecialToken" in piece && !st[piece.SpecialToken.id])
        throw new TokenizerError(
          "post_processor",
          `special token ${JSON.stringify(piece.SpecialToken.id)} is missing from special_tokens`,
        );
    }
    return new TemplateProcessing(s, p, st);
  }

  added_tokens(is_pair: boolean): number {
    let n = 0;
    for (const p of is_pair ? this.pair : this.single)
      if ("SpecialToken" in p) n += this.special_tokens[p.SpecialToken.id].ids.length;
    return n;
  }

  process(encoding: Encoding, pair: Encoding | null, add_special_tokens: boolean): Encoding {
    const out: Encoding = { ids: [], tokens: [], type_ids: [], special_tokens_mask: [] };
    for (const piece of pair ? this.pair : this.single) {
      if ("Sequence" in piece) {
        const e = piece.Sequence.id === "A" ? encoding : pair;
        if (!e) continue;
        // Element-wise appends: push(...xs) overflows the call stack for the ~10^5 ids of a long text.
        for (let i = 0; i < e.ids.length; i++) {
          out.ids.push(e.ids[i]);
          out.tokens.push(e.tokens[i]);
          out.type_ids.push(piece.Sequence.type_id);
          out.special_tokens_mask.push(e.special_tokens_mask[i]);
        }
      } else if (add_special_tokens) {
        const st = this.special_tokens[piece.SpecialToken.id];
        out.ids.push(...st.ids);
        out.tokens.push(...st.tokens);
        for (let i = 0; i < st.ids.length; i++) {
          out.type_ids.push(piece.SpecialToken.type_id);
          out.special_tokens_mask.push(1);
        }
      }
    }
    return out;
  }

  /** @internal */
  appendIds(ids: ArrayLike<number>, pair: ArrayLike<number> | null, add_special_tokens: boolean, out: IdRun): void {
    for (const piece of pair ? this.pair : this.single) {
      if ("Sequence" in piece) {
        const e = piece.Sequence.id === "A" ? ids : pair;
        if (e) out.append(e);
      } else if (add_special_tokens) {
        out.append(this.special_tokens[piece.SpecialToken.id].ids);
      }
    }
  }

  toJSON(): PostProcessorConfig {
    return { type: "TemplateProcessing", single: this.single, pair: this.pair, special_tokens: this.special_tokens };
  }
}

/** tokenizers' `processors::Sequence`: each processor applied to the previous one's output. */
class SequenceProcessor implements PostProcessor {
  constructor(readonly processors: PostProcessor[]) {}
  added_tokens(is_pair: boolean): number {
    return this.processors.reduce((n, p) => n + p.added_tokens(is_pair), 0);
  }
  process(encoding: Encoding, pair: Encoding | null, add_special_tokens: boolean): Encoding {
    let e = encoding;
    let p = pair;
    for (const proc of this.processors) {
      e = proc.process(e, p, add_special_tokens);
      p = null;
    }
    return e;
  }
  /** @internal */
  appendIds(ids: ArrayLike<number>, pair: ArrayLike<number> | null, add_special_tokens: boolean, out: IdRun): void {
    let e = ids;
    let p = pair;
    for (let k = 0; k + 1 < this.processors.length; k++) {
      const step = new IdRun();
      this.processors[k].appendIds(e, p, add_special_tokens, step);
      e = step.ids.subarray(0, step.length);
      p = null;
    }
    const last = this.processors[this.processors.length - 1];
    // Without processors `process` gives the first sequence alone; so does this.
    if (last) last.appendIds(e, p, add_special_tokens, out);
    else out.append(e);
  }
}

export function buildPostProcessor(cfg: PostProcessorConfig): PostProcessor {
  if (cfg.type === "TemplateProcessing") return new TemplateProcessing(cfg.single, cfg.pair, cfg.special_tokens);
  return new SequenceProcessor(cfg.processors.map(buildPostProcessor));
}

/** No post-processor: the pair is appended (tokenizers' `default_process`; the pair was encoded with type id 1). */
export function defaultProcess(encoding: Encoding, pair: Encoding | null): Encoding {
  if (!pair) return encoding;
  return {
    ids: [...encoding.ids, ...pair.ids],
    tokens: [...encoding.tokens, ...pair.tokens],
    type_ids: [...encoding.type_ids, ...pair.type_ids],
    special_tokens_mask: [...encoding.special_tokens_mask, ...pair.special_tokens_mask],
  };
}
