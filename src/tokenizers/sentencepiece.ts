/**
 * sentencepiece's encoder and decoder for BPE models, in TypeScript: what `spm.SentencePieceProcessor` does
 * with a `tokenizer.model`, step for step, so that `encode`/`decode` give the ids and text Google's library
 * gives (checked against sentencepiece 0.1.97 on the Llama 2 model in tests/tokenizer).
 *
 * Mirrors google/sentencepiece:
 * - `normalizer.cc` `Normalizer::Normalize`: optional precompiled character map (a Darts double-array trie
 *   over UTF-8 bytes, longest match), user-defined symbols passed through untouched, remove_extra_whitespaces
 *   (drop leading/trailing spaces, fold runs), escape_whitespaces (' ' -> U+2581 "▁"), add_dummy_prefix (one
 *   "▁" in front, or at the end with treat_whitespace_as_suffix).
 * - `bpe_model.cc` `Model::SampleEncode` (alpha = 0): split the normalized text into characters (user-defined
 *   symbols stay whole and never merge), then repeatedly merge the adjacent pair whose concatenation is a
 *   piece with the highest score; ties go to the leftmost pair. A priority queue of candidate pairs plus a
 *   doubly linked list of symbols makes this O(n log n). UNUSED pieces may be formed and are then split back
 *   into the two symbols they were made of (`resegment`). Speed, same result: the symbol list lives in typed
 *   arrays reused from call to call, and the text is merged part by part, cut before each "▁" that follows
 *   another character, when no piece holds such a "▁" (Llama's pieces hold "▁" only at their start): no piece
 *   can then span a cut, so no merge crosses one, and each part gets the merges the whole text would give it.
 * - `sentencepiece_processor.cc` `PopulateSentencePieceText`: a piece that is not in the vocabulary is
 *   `<unk>`; with trainer_spec.byte_fallback it becomes its UTF-8 bytes as `<0xNN>` pieces instead, else
 *   consecutive unknown pieces fuse into one.
 * - `Decode`: control pieces vanish, `<unk>` prints as unk_surface (" ⁇ "), "▁" becomes " ", the first
 *   piece loses one leading "▁" when add_dummy_prefix (or remove_extra_whitespaces) is set, and runs of byte
 *   pieces are reassembled as UTF-8 with each invalid byte replaced by U+FFFD.
 *
 * Text in, text out: JS strings are converted to UTF-8 for normalization (lone surrogates become U+FFFD, as a
 * lossy binding would pass them) and the BPE runs on the normalized JS string, whose characters (code points)
 * are exactly sentencepiece's UTF-8 characters.
 *
 * Shapes: encode(text) -> ids[n] (no BOS/EOS; sentencepiece adds none by default); decode(ids[n]) -> text.
 */
import { TokenizerError } from "../errors.ts";
import {
  type ModelProto,
  type NormalizerSpec,
  type ResolvedNormalizerSpec,
  type ResolvedTrainerSpec,
  ModelType,
  PieceType,
  byteToPiece,
  normalizerSpecWithDefaults,
  parseModelProto,
  pieceToByte,
  serializeModelProto,
  trainerSpecWithDefaults,
  validateModelProto,
} from "../formats/sentencepiece_model.ts";
import { MergeHeap } from "./heap.ts";
import { PairTable } from "./pair_table.ts";
import { PrefixTree } from "./trie.ts";
import {
  codePointUtf8,
  decodeBytesSentencePiece,
  decodeUtf8Char,
  toWellFormed,
  utf8DecodeLossy,
  utf8Encode,
} from "./utf8.ts";

/** U+2581 LOWER ONE EIGHTH BLOCK, sentencepiece's visible space (`kSpaceSymbol`). */
export const SPACE_SYMBOL = "\u2581";
const SPACE_SYMBOL_UTF8 = [0xe2, 0x96, 0x81];
/** `charIds` entry for a character not looked up yet. */
const UNSEEN = -2;
const SPACE_CODE = 0x2581;
// Piece types as module constants: encode and decode test them per piece, and reading them here avoids a
// property read on the imported object each time.
const UNKNOWN = PieceType.UNKNOWN;
const CONTROL = PieceType.CONTROL;
const UNUSED = PieceType.UNUSED;
const BYTE = PieceType.BYTE;

/** True when every "▁" of `piece` has only "▁"s before it: the piece cannot span a cut before a word's "▁". */
function spacesOnlyLead(piece: string): boolean {
  for (let i = piece.indexOf(SPACE_SYMBOL, 1); i > 0; i = piece.indexOf(SPACE_SYMBOL, i + 1))
    if (piece.charCodeAt(i - 1) !== SPACE_CODE) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Prefix matching: user-defined symbols (a PrefixTree, trie.ts) and the precompiled charsmap (a Darts double array)
// ---------------------------------------------------------------------------------------------------------

/**
 * Darts-clone `DoubleArray::commonPrefixSearch`, read-only. A unit is a little-endian uint32: bit 8 = has_leaf,
 * low 31 bits = value (for leaf units), label = unit & (0x80000000 | 0xFF), offset = (unit >> 10) << ((unit &
 * 0x200) >> 6). Walking a key byte b moves node_pos ^= offset ^ b and checks the label; a leaf under a node
 * means "a key ends here".
 */
class DoubleArray {
  constructor(
    private readonly units: Uint32Array,
    private readonly file: string,
  ) {}

  private unit(i: number): number {
    if (i < 0 || i >= this.units.length)
      throw new TokenizerError(
        this.file,
        `normalizer_spec.precompiled_charsmap: trie index ${i} out of range (${this.units.length} units)`,
      );
    return this.units[i];
  }

  /** All (value, length) of keys that are prefixes of `key[start..end)`, shortest first. */
  commonPrefixSearch(key: Uint8Array, start: number, end: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let unit = this.unit(0);
    let nodePos = offsetOf(unit);
    for (let i = start; i < end; i++) {
      const b = key[i];
      nodePos ^= b;
      unit = this.unit(nodePos);
      if ((unit & 0x800000ff) >>> 0 !== b) return out;
      nodePos ^= offsetOf(unit);
      if ((unit >>> 8) & 1) out.push([this.unit(nodePos) & 0x7fffffff, i - start + 1]);
    }
    return out;
  }
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & 0x200) >>> 6);
}

// ---------------------------------------------------------------------------------------------------------
// Normalizer
// ---------------------------------------------------------------------------------------------------------

/** Growable byte buffer. */
class Bytes {
  buf = new Uint8Array(64);
  length = 0;
  push(b: number): void {
    if (this.length === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = b;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** sentencepiece `normalizer::Normalizer` (the forward direction, without the norm-to-orig alignment). */
export class SentencePieceNormalizer {
  private readonly trie: DoubleArray | null = null;
  private readonly normalizedBlob: Uint8Array = new Uint8Array(0);

  constructor(
    readonly spec: ResolvedNormalizerSpec,
    private readonly treatWhitespaceAsSuffix: boolean,
    private readonly userDefined: PrefixTree<number> | null,
    file: string,
  ) {
    const blob = spec.precompiled_charsmap;
    if (blob.length > 0) {
      // <trie size: uint32 LE><double-array units><NUL-terminated replacement strings>
      if (blob.length <= 4)
        throw new TokenizerError(
          file,
          "normalizer_spec.precompiled_charsmap: blob for normalization rule is broken (too short)",
        );
      const trieSize = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
      if (trieSize >= blob.length)
        throw new TokenizerError(
          file,
          `normalizer_spec.precompiled_charsmap: trie size ${trieSize} exceeds the blob size ${blob.length}`,
        );
      if (trieSize % 4 !== 0)
        throw new TokenizerError(
          file,
          `normalizer_spec.precompiled_charsmap: trie size ${trieSize} is not a multiple of 4`,
        );
      const units = new Uint32Array(trieSize / 4);
      const dv = new DataView(blob.buffer, blob.byteOffset + 4, trieSize);
      for (let i = 0; i < units.length; i++) units[i] = dv.getUint32(4 * i, true);
      this.trie = new DoubleArray(units, file);
      this.normalizedBlob = blob.subarray(4 + trieSize);
    }
  }

  /** `NormalizePrefix`: the replacement bytes for the longest rule matching at `pos`, and how many input bytes it consumes. */
  private normalizePrefix(input: Uint8Array, pos: number): [ArrayLike<number>, number] {
    if (this.userDefined) {
      const n = this.userDefined.longestPrefix((i) => input[i], pos, input.length);
      if (n > 0) return [input.subarray(pos, pos + n), n];
    }
    if (this.trie) {
      let longestLen = 0;
      let longestValue = 0;
      for (const [value, len] of this.trie.commonPrefixSearch(input, pos, input.length)) {
        if (longestLen === 0 || len > longestLen) {
          longestLen = len;
          longestValue = value;
        }
      }
      if (longestLen > 0) {
        let e = longestValue;
        while (e < this.normalizedBlob.length && this.normalizedBlob[e] !== 0) e++;
        return [this.normalizedBlob.subarray(longestValue, e), longestLen];
      }
    }
    const [cp, n] = decodeUtf8Char(input, pos, input.length);
    // A malformed byte becomes U+FFFD (3 bytes) but consumes only one input byte.
    if (cp < 0) return [[0xef, 0xbf, 0xbd], 1];
    return [input.subarray(pos, pos + n), n];
  }

  /** The normalized text. */
  normalize(text: string): string {
    if (this.trie === null && this.userDefined === null) return this.normalizeWithoutRules(text);
    const input = utf8Encode(text);
    if (input.length === 0) return "";
    const spec = this.spec;
    let pos = 0;
    if (spec.remove_extra_whitespaces) {
      while (pos < input.length) {
        const [sp, n] = this.normalizePrefix(input, pos);
        if (!(sp.length === 1 && sp[0] === 0x20)) break;
        pos += n;
      }
    }
    if (pos >= input.length) return "";

    const out = new Bytes();
    const addWs = () => {
      if (spec.escape_whitespaces) for (const b of SPACE_SYMBOL_UTF8) out.push(b);
      else out.push(0x20);
    };
    if (!this.treatWhitespaceAsSuffix && spec.add_dummy_prefix) addWs();

    let isPrevSpace = spec.remove_extra_whitespaces;
    while (pos < input.length) {
      const [sp, n] = this.normalizePrefix(input, pos);
      let s = 0;
      while (isPrevSpace && s < sp.length && sp[s] === 0x20) s++;
      if (s < sp.length) {
        for (let k = s; k < sp.length; k++) {
          if (spec.escape_whitespaces && sp[k] === 0x20) for (const b of SPACE_SYMBOL_UTF8) out.push(b);
          else out.push(sp[k]);
        }
        isPrevSpace = sp[sp.length - 1] === 0x20;
      }
      pos += n;
      if (!spec.remove_extra_whitespaces) isPrevSpace = false;
    }

    if (spec.remove_extra_whitespaces) {
      const space = spec.escape_whitespaces ? SPACE_SYMBOL_UTF8 : [0x20];
      const endsWithSpace = () => {
        if (out.length < space.length) return false;
        for (let k = 0; k < space.length; k++) if (out.buf[out.length - space.length + k] !== space[k]) return false;
        return true;
      };
      while (endsWithSpace()) out.length -= space.length;
    }
    if (this.treatWhitespaceAsSuffix && spec.add_dummy_prefix) addWs();
    return utf8DecodeLossy(out.view());
  }

  /**
   * `normalize` for a spec with no rules and no user-defined symbols (Llama's "identity" normalizer): the same
   * steps done on the JS string, without the round trip through UTF-8. Lone surrogates become U+FFFD, as
   * UTF-8 encoding makes them. As in the byte loop above, only U+0020 counts as a space when folding, and the
   * trailing strip removes escaped spaces whatever their origin (a literal "▁" at the end goes too).
   */
  private normalizeWithoutRules(text: string): string {
    const spec = this.spec;
    let s = toWellFormed(text);
    if (spec.remove_extra_whitespaces) s = s.replace(/^ +/, "").replace(/ {2,}/g, " ");
    if (s.length === 0) return "";
    const ws = spec.escape_whitespaces ? SPACE_SYMBOL : " ";
    if (spec.escape_whitespaces) s = s.replaceAll(" ", SPACE_SYMBOL);
    if (spec.add_dummy_prefix && !this.treatWhitespaceAsSuffix) s = ws + s;
    if (spec.remove_extra_whitespaces) {
      let end = s.length;
      while (end > 0 && s[end - 1] === ws) end--;
      s = s.slice(0, end);
    }
    if (spec.add_dummy_prefix && this.treatWhitespaceAsSuffix) s += ws;
    return s;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Processor
// ---------------------------------------------------------------------------------------------------------

/**
 * sentencepiece's `SentencePieceProcessor` for BPE models, with the Python binding's method names
 * (`encode`, `encode_as_pieces`, `decode`, `piece_to_id`, `id_to_piece`, ...), which is what HF's
 * `LlamaTokenizer` calls.
 */
export class SentencePieceProcessor {
  readonly model_proto: ModelProto;
  readonly trainer: ResolvedTrainerSpec;
  readonly normalizerSpec: ResolvedNormalizerSpec;
  private readonly normalizer: SentencePieceNormalizer;
  private readonly denormalizer: SentencePieceNormalizer | null = null;
  /** NORMAL, USER_DEFINED and UNUSED pieces: the ones BPE may form (`pieces_`). */
  private readonly pieces = new Map<string, number>();
  /** UNKNOWN, CONTROL and BYTE pieces (`reserved_id_map_`): found by `piece_to_id`, never formed by merges. */
  private readonly reserved = new Map<string, number>();
  private readonly pieceList: string[];
  private readonly scores: Float64Array;
  private readonly types: Uint8Array;
  private readonly userDefined: PrefixTree<number> | null;
  private readonly unkId: number;
  private readonly bytePieceIds = new Int32Array(256).fill(-1);
  /** Piece id of each BMP character, filled on first sight (-1: not a piece). */
  private readonly charIds = new Int32Array(0x10000).fill(UNSEEN);
  private pairTable: PairTable | null = null;
  private readonly agenda = new MergeHeap();
  /** Text may be merged part by part, cut before a "▁" that follows another character (module comment). */
  private readonly cutAtSpaces: boolean;
  /** The symbol list of `bpeEncode`: span (start, len) of `normalized`, piece id, frozen flag, links. */
  private symStart = new Int32Array(256);
  private symLen = new Int32Array(256);
  private symIds = new Int32Array(256);
  private symFreeze = new Uint8Array(256);
  private symPrev = new Int32Array(256);
  private symNext = new Int32Array(256);
  /** Unused piece -> the two symbols it was formed from, for `resegment` (filled only when one forms). */
  private readonly revMerge = new Map<string, [string, string]>();
  /** The previous emitted piece was unknown (`PopulateSentencePieceText` fuses runs of them). */
  private prevUnk = false;
  /** `byteToPiece(b)` for every byte, and the UTF-8 bytes of one unknown character, for byte fallback. */
  private readonly bytePieces = Array.from({ length: 256 }, (_, b) => byteToPiece(b));
  private readonly charBytes = [0, 0, 0, 0];

  /** Loads a parsed proto; validates it as sentencepiece does (`file` names the source in errors). */
  constructor(proto: ModelProto, file = "tokenizer.model") {
    validateModelProto(proto, file);
    this.model_proto = proto;
    this.trainer = trainerSpecWithDefaults(proto.trainer_spec);
    if (this.trainer.model_type !== ModelType.BPE) {
      const name =
        Object.entries(ModelType).find(([, v]) => v === this.trainer.model_type)?.[0] ??
        String(this.trainer.model_type);
      throw new TokenizerError(file, `trainer_spec.model_type is ${name}; only BPE sentencepiece models are supported`);
    }
    this.normalizerSpec = normalizerSpecWithDefaults(proto.normalizer_spec);
    const pieces = proto.pieces!;
    this.pieceList = pieces.map((p) => p.piece!);
    this.scores = Float64Array.from(pieces, (p) => p.score ?? 0);
    this.types = Uint8Array.from(pieces, (p) => p.type ?? PieceType.NORMAL);
    let unk = -1;
    const user = new PrefixTree<number>();
    for (let i = 0; i < pieces.length; i++) {
      const t = this.types[i];
      const piece = this.pieceList[i];
      if (t === PieceType.NORMAL || t === PieceType.USER_DEFINED || t === PieceType.UNUSED) this.pieces.set(piece, i);
      else this.reserved.set(piece, i);
      if (t === PieceType.UNKNOWN) unk = i;
      if (t === PieceType.USER_DEFINED) user.add(utf16Units(piece));
      if (t === PieceType.BYTE) this.bytePieceIds[pieceToByte(piece)] = i;
    }
    this.unkId = unk;
    this.userDefined = user.size > 0 ? user : null;
    // UNUSED pieces are resegmented with the text-wide last split recorded for them, which a part cannot know.
    this.cutAtSpaces =
      this.pieces.has(SPACE_SYMBOL) &&
      !this.types.includes(PieceType.UNUSED) &&
      [...this.pieces.keys()].every(spacesOnlyLead);
    const userBytes = new PrefixTree<number>();
    for (let i = 0; i < pieces.length; i++)
      if (this.types[i] === PieceType.USER_DEFINED) userBytes.add(utf8Encode(this.pieceList[i]));
    this.normalizer = new SentencePieceNormalizer(
      this.normalizerSpec,
      this.trainer.treat_whitespace_as_suffix,
      userBytes.size > 0 ? userBytes : null,
      file,
    );
    const den: NormalizerSpec | undefined = proto.denormalizer_spec;
    if (den && den.precompiled_charsmap && den.precompiled_charsmap.length > 0) {
      this.denormalizer = new SentencePieceNormalizer(normalizerSpecWithDefaults(den), false, null, file);
    }
  }

  /** `LoadFromSerializedProto`: parse and load the bytes of a tokenizer.model. */
  static fromBytes(bytes: Uint8Array, file = "tokenizer.model"): SentencePieceProcessor {
    return new SentencePieceProcessor(parseModelProto(bytes, file), file);
  }

  serialized_model_proto(): Uint8Array {
    return serializeModelProto(this.model_proto);
  }

  get_piece_size(): number {
    return this.pieceList.length;
  }

  /** Reserved pieces first, then normal ones; anything else is `<unk>`'s id (`ModelInterface::PieceToId`). */
  piece_to_id(piece: string): number {
    return this.reserved.get(piece) ?? this.pieces.get(piece) ?? this.unkId;
  }

  id_to_piece(id: number): string {
    this.checkId(id);
    return this.pieceList[id];
  }

  get_score(id: number): number {
    this.checkId(id);
    return this.scores[id];
  }

  is_unknown(id: number): boolean {
    return this.types[id] === UNKNOWN;
  }
  is_control(id: number): boolean {
    return this.types[id] === CONTROL;
  }
  is_unused(id: number): boolean {
    return this.types[id] === UNUSED;
  }
  is_byte(id: number): boolean {
    return this.types[id] === BYTE;
  }

  /** The id of `trainer_spec.unk_piece` if it is the UNKNOWN piece, else -1 (sentencepiece `unk_id()`). */
  unk_id(): number {
    const id = this.piece_to_id(this.trainer.unk_piece);
    return this.is_unknown(id) ? id : -1;
  }
  bos_id(): number {
    const id = this.piece_to_id(this.trainer.bos_piece);
    return this.is_control(id) ? id : -1;
  }
  eos_id(): number {
    const id = this.piece_to_id(this.trainer.eos_piece);
    return this.is_control(id) ? id : -1;
  }
  pad_id(): number {
    const id = this.piece_to_id(this.trainer.pad_piece);
    return this.is_control(id) ? id : -1;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.pieceList.length) {
      throw new TokenizerError("token_ids", `piece id ${id} is out of range [0, ${this.pieceList.length})`);
    }
  }

  /** The normalized form sentencepiece segments (`normalizer_->Normalize`). */
  normalize(text: string): string {
    return this.normalizer.normalize(text);
  }

  /** `sp.encode(text, out_type=str)`. */
  encode_as_pieces(text: string): string[] {
    const pieces: string[] = [];
    this.encodeInto(text, [], pieces);
    return pieces;
  }

  /** `sp.encode(text)`: ids, no BOS/EOS. */
  encode(text: string): number[] {
    const ids: number[] = [];
    this.encodeInto(text, ids, null);
    return ids;
  }

  /** Pieces with ids, after unknown handling (`PopulateSentencePieceText`). */
  encodeToPieces(text: string): Array<[string, number]> {
    const ids: number[] = [];
    const pieces: string[] = [];
    this.encodeInto(text, ids, pieces);
    return ids.map((id, i) => [pieces[i], id]);
  }

  /**
   * `PopulateSentencePieceText` over the BPE result: appends ids (and, when `pieces` is given, the piece
   * strings). An unknown piece becomes its UTF-8 bytes' byte pieces with byte_fallback; otherwise consecutive
   * unknown pieces fuse into one (one id, the surfaces joined).
   */
  private encodeInto(text: string, ids: number[], pieces: string[] | null): void {
    const normalized = this.normalizer.normalize(text);
    this.prevUnk = false;
    this.unitsOf = normalized;
    let from = 0;
    if (this.cutAtSpaces) {
      for (let i = 1; i < normalized.length; i++) {
        if (normalized.charCodeAt(i) === SPACE_CODE && normalized.charCodeAt(i - 1) !== SPACE_CODE) {
          this.bpeEncode(normalized, from, i, ids, pieces);
          from = i;
        }
      }
    }
    this.bpeEncode(normalized, from, normalized.length, ids, pieces);
  }

  /** One final piece of `bpeEncode`, the span `normalized[start, start + len)`, through the unknown handling. */
  private emit(normalized: string, id: number, start: number, len: number, ids: number[], pieces: string[] | null) {
    const isUnk = this.types[id] === UNKNOWN;
    if (isUnk && this.trainer.byte_fallback) {
      // The UTF-8 bytes of the span, character by character (`TextEncoder` would give the same bytes).
      const bytes = this.charBytes;
      for (let i = start; i < start + len;) {
        const cp = normalized.codePointAt(i)!;
        const n = codePointUtf8(cp, bytes);
        for (let k = 0; k < n; k++) {
          ids.push(this.bytePieceIds[bytes[k]]);
          pieces?.push(this.bytePieces[bytes[k]]);
        }
        i += cp > 0xffff ? 2 : 1;
      }
    } else if (this.prevUnk && isUnk) {
      if (pieces !== null) pieces[pieces.length - 1] += normalized.substr(start, len);
    } else {
      ids.push(id);
      pieces?.push(normalized.substr(start, len));
    }
    this.prevUnk = isUnk;
  }

  /** Id of the symbol `normalized[i..i+width)` as a piece BPE may form, or -1 (BMP characters cached). */
  private symbolId(normalized: string, i: number, width: number): number {
    if (width === 1) {
      const c = normalized.charCodeAt(i);
      let id = this.charIds[c];
      if (id === UNSEEN) id = this.charIds[c] = this.pieces.get(normalized[i]) ?? -1;
      return id;
    }
    return this.pieces.get(normalized.substr(i, width)) ?? -1;
  }

  /**
   * (left piece id, right piece id) -> id of the piece spelled by their concatenation, for every piece that
   * splits into two pieces: "is left + right a piece?" answered without building the string. Built on the
   * first encode (about 150,000 pairs for Llama's 32,000 pieces).
   */
  private pairs(): PairTable {
    if (this.pairTable !== null) return this.pairTable;
    const table = new PairTable(this.pieces.size * 4);
    for (const [piece, id] of this.pieces) {
      for (let k = 1; k < piece.length; k++) {
        const c = piece.charCodeAt(k);
        if (c >= 0xdc00 && c <= 0xdfff) continue; // never split a surrogate pair
        const left = this.pieces.get(piece.slice(0, k));
        if (left === undefined) continue;
        const right = this.pieces.get(piece.slice(k));
        if (right !== undefined) table.set(left, right, id);
      }
    }
    this.pairTable = table;
    return table;
  }

  private growSymbols(min: number): void {
    let n = this.symStart.length;
    while (n < min) n *= 2;
    this.symStart = new Int32Array(n);
    this.symLen = new Int32Array(n);
    this.symIds = new Int32Array(n);
    this.symFreeze = new Uint8Array(n);
    this.symPrev = new Int32Array(n);
    this.symNext = new Int32Array(n);
  }

  /** Id of the piece the symbols `left` and `right` would merge into, or -1 (`pairs()` when both are pieces). */
  private pairId(normalized: string, left: number, right: number): number {
    const a = this.symIds[left];
    const b = this.symIds[right];
    if (a >= 0 && b >= 0) return this.pairs().get(a, b);
    return this.pieces.get(normalized.substr(this.symStart[left], this.symLen[left] + this.symLen[right])) ?? -1;
  }

  /** `MaybeAddNewSymbolPair`: queues the merge of symbols `left` and `right` if it makes a piece. */
  private maybeAddPair(normalized: string, left: number, right: number): void {
    if (left === -1 || right === -1 || this.symFreeze[left] === 1 || this.symFreeze[right] === 1) return;
    const id = this.pairId(normalized, left, right);
    if (id < 0) return;
    const len = this.symLen;
    // Agenda entries: key (-score, left) so the best score pops first and ties go to the leftmost pair;
    // payload (right, size) to recognise stale entries.
    this.agenda.push(-this.scores[id], left, right, len[left] + len[right]);
    if (this.types[id] === UNUSED) {
      const start = this.symStart;
      this.revMerge.set(this.pieceList[id], [
        normalized.substr(start[left], len[left]),
        normalized.substr(start[right], len[right]),
      ]);
    }
  }

  /**
   * `bpe::Model::SampleEncode(normalized[from, to), alpha=0)`: emits each final piece (see `emit`), a span of
   * `normalized` in code units, before unknown handling (an unknown character's id is unk's).
   *
   * Symbols are spans in a doubly linked list (typed arrays), each with its piece id (-1 for a character that is
   * no piece). A candidate pair is found in `pairs()` when both sides are pieces, else by looking up the
   * concatenated string (only characters outside the vocabulary take that path).
   */
  private bpeEncode(normalized: string, from: number, to: number, ids: number[], pieces: string[] | null): void {
    if (from >= to) return;
    if (to - from > this.symStart.length) this.growSymbols(to - from);
    const start = this.symStart;
    const len = this.symLen;
    const symIds = this.symIds;
    const freeze = this.symFreeze;
    let count = 0;
    for (let i = from; i < to; count++) {
      let l = this.userDefined ? this.userDefined.longestPrefix(this.unitAt, i, to) : 0;
      if (l > 0) {
        freeze[count] = 1;
        symIds[count] = this.pieces.get(normalized.substr(i, l)) ?? -1;
      } else {
        const c = normalized.charCodeAt(i);
        l = c >= 0xd800 && c <= 0xdbff && i + 1 < to ? 2 : 1;
        freeze[count] = 0;
        symIds[count] = this.symbolId(normalized, i, l);
      }
      start[count] = i;
      len[count] = l;
      i += l;
    }
    const prev = this.symPrev;
    const next = this.symNext;
    for (let k = 0; k < count; k++) {
      prev[k] = k - 1;
      next[k] = k + 1 < count ? k + 1 : -1;
    }
    const agenda = this.agenda;
    agenda.size = 0;
    this.revMerge.clear();
    for (let k = 1; k < count; k++) this.maybeAddPair(normalized, k - 1, k);

    while (agenda.pop()) {
      const left = agenda.topKey2;
      const right = agenda.topPay1;
      // Stale entry: one side was merged away or grew since the pair was queued.
      if (len[left] === 0 || len[right] === 0 || len[left] + len[right] !== agenda.topPay2) continue;
      symIds[left] = this.pairId(normalized, left, right);
      len[left] += len[right];
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      len[right] = 0;
      this.maybeAddPair(normalized, prev[left], left);
      this.maybeAddPair(normalized, left, next[left]);
    }

    for (let k = 0; k !== -1; k = next[k]) {
      const id = symIds[k];
      if (id >= 0 && this.types[id] !== UNUSED) this.emit(normalized, id, start[k], len[k], ids, pieces);
      else this.resegment(normalized, normalized.substr(start[k], len[k]), start[k], ids, pieces);
    }
  }

  /** An UNUSED piece may be formed but not emitted: it is split back into the two symbols it was made of. */
  private resegment(normalized: string, w: string, at: number, ids: number[], pieces: string[] | null): void {
    const id = this.piece_to_id(w);
    const p = this.is_unused(id) ? this.revMerge.get(w) : undefined;
    if (p === undefined) {
      this.emit(normalized, id, at, w.length, ids, pieces);
      return;
    }
    this.resegment(normalized, p[0], at, ids, pieces);
    this.resegment(normalized, p[1], at + p[0].length, ids, pieces);
  }

  /** The text `unitAt` reads: UTF-16 unit `i` of it, for the prefix tree of user-defined symbols. */
  private unitsOf = "";
  private readonly unitAt = (i: number): number => this.unitsOf.charCodeAt(i);

  /** `sp.decode(ids)`: ids must be in range (sentencepiece returns "Invalid id" otherwise). */
  decode(ids: readonly number[]): string {
    for (const id of ids) this.checkId(id);
    return this.decodeWithIds(
      ids.map((id) => this.pieceList[id]),
      ids,
    );
  }

  /** `sp.decode(pieces)` / `DecodePieces`: each piece is looked up with `piece_to_id` (unknown strings get unk's id). */
  decode_pieces(pieces: readonly string[]): string {
    return this.decodeWithIds(
      pieces,
      pieces.map((p) => this.piece_to_id(p)),
    );
  }

  private decodeWithIds(pieces: readonly string[], ids: readonly number[]): string {
    let text = "";
    let byteStart = 0;
    let isBosWs = true; // still expecting the dummy-prefix "▁" to strip
    let bosWsSeen = false;
    for (let i = 0; i < pieces.length; i++) {
      if (this.is_byte(ids[i])) continue;
      text += this.decodeBytePieces(pieces, byteStart, i);
      if (bosWsSeen || text.length > 0) isBosWs = false;
      byteStart = i + 1;
      // `has_bos_ws`: the first piece's dummy-prefix "▁" is dropped.
      const strip = isBosWs && this.startsWithDummyPrefix(pieces[i], ids[i]);
      bosWsSeen = strip && !this.normalizerSpec.remove_extra_whitespaces;
      text += this.decodePiece(pieces[i], ids[i], strip);
    }
    text += this.decodeBytePieces(pieces, byteStart, pieces.length);
    return this.denormalizer ? this.denormalizer.normalize(text) : text;
  }

  /** The text of the byte pieces `pieces[from, to)` (`ProcessBytePieces`: each invalid byte is one U+FFFD). */
  private decodeBytePieces(pieces: readonly string[], from: number, to: number): string {
    if (from >= to) return "";
    const bytes = new Uint8Array(to - from);
    for (let i = from; i < to; i++) bytes[i - from] = pieceToByte(pieces[i]);
    return decodeBytesSentencePiece(bytes);
  }

  /** A normal piece starting with "▁" where the normalizer adds a dummy prefix (or removes extra spaces). */
  private startsWithDummyPrefix(piece: string, id: number): boolean {
    const spec = this.normalizerSpec;
    if (this.is_control(id) || this.is_unknown(id)) return false;
    return (spec.add_dummy_prefix || spec.remove_extra_whitespaces) && piece.startsWith(SPACE_SYMBOL);
  }

  /** `DecodeSentencePiece`: the surface of one non-byte piece, without its first "▁" when `strip`. */
  private decodePiece(piece: string, id: number, strip: boolean): string {
    if (this.is_control(id)) return "";
    if (this.is_unknown(id)) return this.pieceList[id] === piece ? this.trainer.unk_surface : piece;
    if (strip) piece = piece.slice(SPACE_SYMBOL.length);
    return piece.replaceAll(SPACE_SYMBOL, " ");
  }
}

function utf16Units(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  return out;
}
