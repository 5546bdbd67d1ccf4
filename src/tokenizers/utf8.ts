/**
 * UTF-8 helpers with the two error policies the Llama tokenizers need when byte pieces (`<0xNN>`) are turned
 * back into text:
 *
 * - sentencepiece (`string_util::DecodeUTF8` + `IsValidDecodeUTF8`): decode character by character; a byte
 *   that does not start a structurally valid sequence becomes one U+FFFD and decoding resumes at the next byte.
 *   So `E4 B8` (a truncated 3-byte sequence) gives two U+FFFD.
 * - HF tokenizers' `ByteFallback` decoder: Rust `String::from_utf8` on the whole run of consecutive byte
 *   tokens; if the run is invalid anywhere, every byte of the run becomes U+FFFD (even the valid characters in
 *   it). See `decodeByteRunStrict`.
 *
 * JS strings are UTF-16 and may hold lone surrogates; `TextEncoder` turns each into EF BF BD (U+FFFD), which
 * is also what a Rust or C++ binding receives from such a string after lossy conversion.
 */

const encoder = new TextEncoder();

export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/**
 * The UTF-8 bytes of code point `cp` into `out`, returning their count (1 to 4); a lone surrogate, which has no
 * UTF-8 form, is written as U+FFFD (EF BF BD), as `TextEncoder` does. Speed: byte fallback turns one character
 * at a time into bytes, and this avoids a `TextEncoder` call and a `Uint8Array` per character.
 */
export function codePointUtf8(cp: number, out: number[]): number {
  if (cp < 0x80) {
    out[0] = cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = 0xc0 | (cp >> 6);
    out[1] = 0x80 | (cp & 0x3f);
    return 2;
  }
  if (cp < 0x10000) {
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    out[0] = 0xe0 | (cp >> 12);
    out[1] = 0x80 | ((cp >> 6) & 0x3f);
    out[2] = 0x80 | (cp & 0x3f);
    return 3;
  }
  out[0] = 0xf0 | (cp >> 18);
  out[1] = 0x80 | ((cp >> 12) & 0x3f);
  out[2] = 0x80 | ((cp >> 6) & 0x3f);
  out[3] = 0x80 | (cp & 0x3f);
  return 4;
}

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lossy = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** `new TextDecoder().decode` without BOM stripping, replacing invalid sequences (WHATWG policy). */
export function utf8DecodeLossy(b: Uint8Array): string {
  return lossy.decode(b);
}

/** Rust `String::from_utf8`: the text, or null when the bytes are not valid UTF-8 (overlongs and surrogates included). */
export function utf8DecodeStrict(b: Uint8Array): string | null {
  try {
    return strict.decode(b);
  } catch {
    return null;
  }
}

function isTrail(b: number): boolean {
  return (b & 0xc0) === 0x80;
}

function isValidCodepoint(c: number): boolean {
  return c < 0xd800 || (c >= 0xe000 && c <= 0x10ffff);
}

/**
 * sentencepiece `DecodeUTF8` + `IsValidDecodeUTF8` at `b[pos..end)`: returns [codepoint, byte length], or
 * [-1, 1] for a structurally invalid byte. (A literal EF BF BD is valid: it is U+FFFD itself.)
 */
export function decodeUtf8Char(b: Uint8Array, pos: number, end: number): [number, number] {
  const len = end - pos;
  const b0 = b[pos];
  if (b0 < 0x80) return [b0, 1];
  if (len >= 2 && (b0 & 0xe0) === 0xc0) {
    const cp = ((b0 & 0x1f) << 6) | (b[pos + 1] & 0x3f);
    if (isTrail(b[pos + 1]) && cp >= 0x80 && isValidCodepoint(cp)) return [cp, 2];
  } else if (len >= 3 && (b0 & 0xf0) === 0xe0) {
    const cp = ((b0 & 0x0f) << 12) | ((b[pos + 1] & 0x3f) << 6) | (b[pos + 2] & 0x3f);
    if (isTrail(b[pos + 1]) && isTrail(b[pos + 2]) && cp >= 0x800 && isValidCodepoint(cp)) return [cp, 3];
  } else if (len >= 4 && (b0 & 0xf8) === 0xf0) {
    const cp = ((b0 & 0x07) << 18) | ((b[pos + 1] & 0x3f) << 12) | ((b[pos + 2] & 0x3f) << 6) | (b[pos + 3] & 0x3f);
    if (isTrail(b[pos + 1]) && isTrail(b[pos + 2]) && isTrail(b[pos + 3]) && cp >= 0x10000 && isValidCodepoint(cp))
      return [cp, 4];
  }
  return [-1, 1];
}

/** sentencepiece's byte-piece decoding (`ProcessBytePieces`): each invalid byte becomes one U+FFFD. */
export function decodeBytesSentencePiece(b: Uint8Array): string {
  let out = "";
  let pos = 0;
  while (pos < b.length) {
    const [cp, n] = decodeUtf8Char(b, pos, b.length);
    out += cp < 0 ? "\uFFFD" : String.fromCodePoint(cp);
    pos += n;
  }
  return out;
}

/** HF `ByteFallback` policy for one run of byte tokens: the decoded run, or one U+FFFD per byte if invalid. */
export function decodeByteRunStrict(b: Uint8Array): string {
  const s = utf8DecodeStrict(b);
  return s ?? "\uFFFD".repeat(b.length);
}

const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `String.prototype.isWellFormed` (ES2024, in every Node this package supports; not in its ES2022 typings). */
const isWellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

/**
 * The string with every lone surrogate replaced by U+FFFD (`String.prototype.toWellFormed`): what Google's
 * and HF's native libraries receive from a JS binding, since UTF-8 cannot encode a lone surrogate. Speed: the
 * engine's own check answers the common case (no lone surrogate) without running a regular expression.
 */
export function toWellFormed(s: string): string {
  return isWellFormed.call(s) ? s : s.replace(LONE_SURROGATES, "\uFFFD");
}
