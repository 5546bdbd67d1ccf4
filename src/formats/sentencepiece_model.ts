/**
 * The sentencepiece `ModelProto` (the `tokenizer.model` file): a hand-written reader and writer of its
 * protobuf wire format, so llama-ts needs no protobuf runtime.
 *
 * Mirrors google/sentencepiece `src/sentencepiece_model.proto` (proto2): a `ModelProto` holds the pieces
 * (string, float32 score, type), a `TrainerSpec`, a `NormalizerSpec`, optional `SelfTestData` and an optional
 * `denormalizer_spec`. Field names are the proto's snake_case names, as Python's generated classes expose them
 * (HF's `tokenization_llama.py` edits `model.normalizer_spec.add_dummy_prefix` that way).
 *
 * Wire format in one paragraph: a message is a sequence of (tag, value) records; tag = field_number << 3 |
 * wire_type. Wire type 0 is a base-128 varint (int32, uint64, bool, enum; negative int32 are sign-extended to
 * 10 bytes), 1 is 8 little-endian bytes, 2 is a varint length followed by that many bytes (string, bytes,
 * embedded message), 5 is 4 little-endian bytes (float). Types 3/4 (groups) are not used by this schema.
 *
 * Presence is kept: an unset optional field stays `undefined` (proto2 `has_x()` is false) and is not written
 * back, and the getters `*WithDefaults` apply the proto defaults (`add_dummy_prefix` true, ...). Fields this
 * schema does not know are kept as raw records and written after the known ones, which is where protobuf's
 * C++ serializer puts unknown fields; known fields are written in field-number order, as C++ does. So
 * `serializeModelProto(parseModelProto(bytes))` reproduces a canonically serialized file byte for byte.
 *
 * Safety: every varint is at most 10 bytes, every length is checked against the bytes that remain before
 * anything is sliced, strings must be valid UTF-8, and a known field with the wrong wire type is an error
 * (protobuf would silently treat it as unknown; we prefer telling the user the file is not what it claims).
 * All failures are `TokenizerError(file, message)` naming the field path.
 */
import { TokenizerError } from "../errors.ts";

/** `ModelProto.SentencePiece.Type`. */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** `TrainerSpec.ModelType`. */
export const ModelType = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;

/** Raw records of fields this schema does not know, kept for a faithful round trip. */
export interface UnknownFields {
  _unknown?: Uint8Array[];
}

export interface SentencePiece extends UnknownFields {
  piece?: string;
  /** float32 in the file; a JS number here (every float32 is exactly representable). */
  score?: number;
  type?: number;
}

export interface TrainerSpec extends UnknownFields {
  input?: string[];
  model_prefix?: string;
  model_type?: number;
  vocab_size?: number;
  accept_language?: string[];
  self_test_sample_size?: number;
  input_format?: string;
  character_coverage?: number;
  input_sentence_size?: bigint;
  mining_sentence_size?: number;
  training_sentence_size?: number;
  seed_sentencepiece_size?: number;
  shrinking_factor?: number;
  num_threads?: number;
  num_sub_iterations?: number;
  max_sentence_length?: number;
  shuffle_input_sentence?: boolean;
  max_sentencepiece_length?: number;
  split_by_unicode_script?: boolean;
  split_by_whitespace?: boolean;
  split_by_number?: boolean;
  treat_whitespace_as_suffix?: boolean;
  split_digits?: boolean;
  allow_whitespace_only_pieces?: boolean;
  control_symbols?: string[];
  user_defined_symbols?: string[];
  vocabulary_output_piece_score?: boolean;
  hard_vocab_limit?: boolean;
  use_all_vocab?: boolean;
  byte_fallback?: boolean;
  required_chars?: string;
  unk_id?: number;
  bos_id?: number;
  eos_id?: number;
  pad_id?: number;
  unk_surface?: string;
  unk_piece?: string;
  bos_piece?: string;
  eos_piece?: string;
  pad_piece?: string;
  train_extremely_large_corpus?: boolean;
  enable_differential_privacy?: boolean;
  differential_privacy_noise_level?: number;
  differential_privacy_clipping_threshold?: bigint;
  pretokenization_delimiter?: string;
  seed_sentencepieces_file?: string;
}

export interface NormalizerSpec extends UnknownFields {
  name?: string;
  precompiled_charsmap?: Uint8Array;
  add_dummy_prefix?: boolean;
  remove_extra_whitespaces?: boolean;
  escape_whitespaces?: boolean;
  normalization_rule_tsv?: string;
}

export interface SelfTestSample extends UnknownFields {
  input?: string;
  expected?: string;
}

export interface SelfTestData extends UnknownFields {
  samples?: SelfTestSample[];
}

export interface ModelProto extends UnknownFields {
  pieces?: SentencePiece[];
  trainer_spec?: TrainerSpec;
  normalizer_spec?: NormalizerSpec;
  self_test_data?: SelfTestData;
  denormalizer_spec?: NormalizerSpec;
}

// ---------------------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------------------

type Kind = "string" | "bytes" | "bool" | "int32" | "uint64" | "float" | "enum" | "message";

interface FieldSpec {
  no: number;
  name: string;
  kind: Kind;
  repeated?: boolean;
  message?: MessageSpec;
}

interface MessageSpec {
  name: string;
  fields: FieldSpec[]; // sorted by field number (the serialization order)
  byNumber: Map<number, FieldSpec>;
}

function messageSpec(name: string, fields: FieldSpec[]): MessageSpec {
  const sorted = [...fields].sort((a, b) => a.no - b.no);
  return { name, fields: sorted, byNumber: new Map(sorted.map((f) => [f.no, f])) };
}

const SENTENCE_PIECE = messageSpec("SentencePiece", [
  { no: 1, name: "piece", kind: "string" },
  { no: 2, name: "score", kind: "float" },
  { no: 3, name: "type", kind: "enum" },
]);

const TRAINER_SPEC = messageSpec("TrainerSpec", [
  { no: 1, name: "input", kind: "string", repeated: true },
  { no: 2, name: "model_prefix", kind: "string" },
  { no: 3, name: "model_type", kind: "enum" },
  { no: 4, name: "vocab_size", kind: "int32" },
  { no: 5, name: "accept_language", kind: "string", repeated: true },
  { no: 6, name: "self_test_sample_size", kind: "int32" },
  { no: 7, name: "input_format", kind: "string" },
  { no: 10, name: "character_coverage", kind: "float" },
  { no: 11, name: "input_sentence_size", kind: "uint64" },
  { no: 12, name: "mining_sentence_size", kind: "int32" },
  { no: 13, name: "training_sentence_size", kind: "int32" },
  { no: 14, name: "seed_sentencepiece_size", kind: "int32" },
  { no: 15, name: "shrinking_factor", kind: "float" },
  { no: 16, name: "num_threads", kind: "int32" },
  { no: 17, name: "num_sub_iterations", kind: "int32" },
  { no: 18, name: "max_sentence_length", kind: "int32" },
  { no: 19, name: "shuffle_input_sentence", kind: "bool" },
  { no: 20, name: "max_sentencepiece_length", kind: "int32" },
  { no: 21, name: "split_by_unicode_script", kind: "bool" },
  { no: 22, name: "split_by_whitespace", kind: "bool" },
  { no: 23, name: "split_by_number", kind: "bool" },
  { no: 24, name: "treat_whitespace_as_suffix", kind: "bool" },
  { no: 25, name: "split_digits", kind: "bool" },
  { no: 26, name: "allow_whitespace_only_pieces", kind: "bool" },
  { no: 30, name: "control_symbols", kind: "string", repeated: true },
  { no: 31, name: "user_defined_symbols", kind: "string", repeated: true },
  { no: 32, name: "vocabulary_output_piece_score", kind: "bool" },
  { no: 33, name: "hard_vocab_limit", kind: "bool" },
  { no: 34, name: "use_all_vocab", kind: "bool" },
  { no: 35, name: "byte_fallback", kind: "bool" },
  { no: 36, name: "required_chars", kind: "string" },
  { no: 40, name: "unk_id", kind: "int32" },
  { no: 41, name: "bos_id", kind: "int32" },
  { no: 42, name: "eos_id", kind: "int32" },
  { no: 43, name: "pad_id", kind: "int32" },
  { no: 44, name: "unk_surface", kind: "string" },
  { no: 45, name: "unk_piece", kind: "string" },
  { no: 46, name: "bos_piece", kind: "string" },
  { no: 47, name: "eos_piece", kind: "string" },
  { no: 48, name: "pad_piece", kind: "string" },
  { no: 49, name: "train_extremely_large_corpus", kind: "bool" },
  { no: 50, name: "enable_differential_privacy", kind: "bool" },
  { no: 51, name: "differential_privacy_noise_level", kind: "float" },
  { no: 52, name: "differential_privacy_clipping_threshold", kind: "uint64" },
  { no: 53, name: "pretokenization_delimiter", kind: "string" },
  { no: 54, name: "seed_sentencepieces_file", kind: "string" },
]);

const NORMALIZER_SPEC = messageSpec("NormalizerSpec", [
  { no: 1, name: "name", kind: "string" },
  { no: 2, name: "precompiled_charsmap", kind: "bytes" },
  { no: 3, name: "add_dummy_prefix", kind: "bool" },
  { no: 4, name: "remove_extra_whitespaces", kind: "bool" },
  { no: 5, name: "escape_whitespaces", kind: "bool" },
  { no: 6, name: "normalization_rule_tsv", kind: "string" },
]);

const SELF_TEST_SAMPLE = messageSpec("SelfTestData.Sample", [
  { no: 1, name: "input", kind: "string" },
  { no: 2, name: "expected", kind: "string" },
]);

const SELF_TEST_DATA = messageSpec("SelfTestData", [
  { no: 1, name: "samples", kind: "message", repeated: true, message: SELF_TEST_SAMPLE },
]);

const MODEL_PROTO = messageSpec("ModelProto", [
  { no: 1, name: "pieces", kind: "message", repeated: true, message: SENTENCE_PIECE },
  { no: 2, name: "trainer_spec", kind: "message", message: TRAINER_SPEC },
  { no: 3, name: "normalizer_spec", kind: "message", message: NORMALIZER_SPEC },
  { no: 4, name: "self_test_data", kind: "message", message: SELF_TEST_DATA },
  { no: 5, name: "denormalizer_spec", kind: "message", message: NORMALIZER_SPEC },
]);

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function wireTypeOf(kind: Kind): number {
  switch (kind) {
    case "string":
    case "bytes":
    case "message":
      return WIRE_LEN;
    case "float":
      return WIRE_I32;
    default:
      return WIRE_VARINT;
  }
}

const WIRE_NAMES = [
  "varint",
  "64-bit",
  "length-delimited",
  "start-group",
  "end-group",
  "32-bit",
  "6 (invalid)",
  "7 (invalid)",
];

// ---------------------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------------------

const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class Cursor {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    readonly file: string,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  fail(path: string, message: string): never {
    throw new TokenizerError(this.file, `${path}: ${message} (at byte ${this.pos})`);
  }

  /** A base-128 varint as [low 32 bits, high 32 bits] (both unsigned), at most 10 bytes. */
  varint(path: string): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail(path, "truncated varint");
      const b = this.buf[this.pos++];
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    this.fail(path, "varint longer than 10 bytes");
  }

  /** A length-delimited payload: the length is checked against what remains before slicing. */
  lengthDelimited(path: string): [number, number] {
    const [lo, hi] = this.varint(path);
    const remaining = this.end - this.pos;
    if (hi !== 0 || lo > remaining)
      this.fail(path, `length ${hi !== 0 ? "> 2^32" : lo} exceeds the ${remaining} bytes that remain`);
    const start = this.pos;
    this.pos += lo;
    return [start, this.pos];
  }

  fixed(path: string, n: number): number {
    if (this.end - this.pos < n) this.fail(path, `truncated ${n * 8}-bit value`);
    const start = this.pos;
    this.pos += n;
    return start;
  }
}

function readMessage(spec: MessageSpec, cur: Cursor, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  while (cur.pos < cur.end) {
    const recordStart = cur.pos;
    const [tagLo, tagHi] = cur.varint(`${path} tag`);
    const wire = tagLo & 7;
    const no = tagLo >>> 3;
    if (tagHi !== 0 || no === 0 || no > 0x1fffffff) cur.fail(path, `invalid field number in tag`);
    const field = spec.byNumber.get(no);
    const fpath = field ? `${path}.${field.name}` : `${path} field ${no}`;
    if (field && wire !== wireTypeOf(field.kind)) {
      cur.fail(
        fpath,
        `wire type ${WIRE_NAMES[wire]}, expected ${WIRE_NAMES[wireTypeOf(field.kind)]} for a ${field.kind} field`,
      );
    }
    if (!field) {
      switch (wire) {
        case WIRE_VARINT:
          cur.varint(fpath);
          break;
        case WIRE_I64:
          cur.fixed(fpath, 8);
          break;
        case WIRE_LEN:
          cur.lengthDelimited(fpath);
          break;
        case WIRE_I32:
          cur.fixed(fpath, 4);
          break;
        default:
          cur.fail(fpath, `unsupported wire type ${WIRE_NAMES[wire]}`);
      }
      const list = (out._unknown as Uint8Array[] | undefined) ?? [];
      list.push(cur.buf.slice(recordStart, cur.pos));
      out._unknown = list;
      continue;
    }
    let value: unknown;
    switch (field.kind) {
      case "bool": {
        const [lo, hi] = cur.varint(fpath);
        value = lo !== 0 || hi !== 0;
        break;
      }
      case "int32":
      case "enum": {
        const [lo] = cur.varint(fpath);
        value = lo | 0; // int32 semantics: the low 32 bits, two's complement
        break;
      }
      case "uint64": {
        const [lo, hi] = cur.varint(fpath);
        value = (BigInt(hi) << 32n) | BigInt(lo);
        break;
      }
      case "float": {
        const at = cur.fixed(fpath, 4);
        value = new DataView(cur.buf.buffer, cur.buf.byteOffset + at, 4).getFloat32(0, true);
        break;
      }
      case "string": {
        const [s, e] = cur.lengthDelimited(fpath);
        try {
          value = utf8Strict.decode(cur.buf.subarray(s, e));
        } catch {
          cur.fail(fpath, "string is not valid UTF-8");
        }
        break;
      }
      case "bytes": {
        const [s, e] = cur.lengthDelimited(fpath);
        value = cur.buf.slice(s, e);
        break;
      }
      case "message": {
        const [s, e] = cur.lengthDelimited(fpath);
        const index = field.repeated ? `[${((out[field.name] as unknown[] | undefined) ?? []).length}]` : "";
        const sub = new Cursor(cur.buf, cur.file, s, e);
        const parsed = readMessage(field.message!, sub, `${fpath}${index}`);
        // proto semantics: a repeated occurrence of a singular message field merges into the first.
        value = !field.repeated && out[field.name] ? { ...(out[field.name] as object), ...parsed } : parsed;
        break;
      }
    }
    if (field.repeated) {
      const list = (out[field.name] as unknown[] | undefined) ?? [];
      list.push(value);
      out[field.name] = list;
    } else {
      out[field.name] = value;
    }
  }
  return out;
}

/**
 * Parses a serialized `ModelProto` (the bytes of a `tokenizer.model`). `file` names the source in errors.
 * Checks the wire format only; {@link validateModelProto} checks what sentencepiece requires of the content.
 */
export function parseModelProto(bytes: Uint8Array, file = "tokenizer.model"): ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new TokenizerError(file, "expected the file's bytes (a Uint8Array)");
  if (bytes.length === 0) throw new TokenizerError(file, "empty file: not a sentencepiece ModelProto");
  return readMessage(MODEL_PROTO, new Cursor(bytes, file, 0, bytes.length), "ModelProto") as ModelProto;
}

// ---------------------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------------------

const utf8Encoder = new TextEncoder();

class Writer {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(1024);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.len));
    this.cur = new Uint8Array(Math.max(1024, n, this.cur.length * 2));
    this.len = 0;
  }

  byte(b: number): void {
    this.ensure(1);
    this.cur[this.len++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.cur.set(b, this.len);
    this.len += b.length;
  }

  /** Unsigned varint of a 64-bit value given as two unsigned 32-bit halves. */
  varint64(lo: number, hi: number): void {
    lo >>>= 0;
    hi >>>= 0;
    while (hi !== 0 || lo > 0x7f) {
      this.byte((lo & 0x7f) | 0x80);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.byte(lo);
  }

  varint32(v: number): void {
    // int32/enum: negative values are sign-extended to 64 bits (10 bytes), as protobuf does.
    this.varint64(v >>> 0, v < 0 ? 0xffffffff : 0);
  }

  tag(no: number, wire: number): void {
    this.varint64(((no << 3) | wire) >>> 0, 0);
  }

  finish(): Uint8Array {
    const parts = [...this.chunks, this.cur.subarray(0, this.len)];
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function writeMessage(spec: MessageSpec, msg: Record<string, unknown>, w: Writer, path: string): void {
  for (const field of spec.fields) {
    const v = msg[field.name];
    if (v === undefined || v === null) continue;
    const values = field.repeated ? (v as unknown[]) : [v];
    if (field.repeated && !Array.isArray(v))
      throw new TokenizerError("ModelProto", `${path}.${field.name}: expected an array`);
    for (const value of values) writeField(field, value, w, `${path}.${field.name}`);
  }
  const unknown = msg._unknown as Uint8Array[] | undefined;
  if (unknown) for (const raw of unknown) w.bytes(raw);
}

function writeField(field: FieldSpec, value: unknown, w: Writer, path: string): void {
  const bad = (expected: string): never => {
    throw new TokenizerError("ModelProto", `${path}: expected ${expected}, got ${typeof value}`);
  };
  w.tag(field.no, wireTypeOf(field.kind));
  switch (field.kind) {
    case "bool":
      if (typeof value !== "boolean") bad("a boolean");
      w.byte(value ? 1 : 0);
      return;
    case "int32":
    case "enum":
      if (typeof value !== "number" || !Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff)
        bad("an int32");
      w.varint32(value as number);
      return;
    case "uint64": {
      if (typeof value !== "bigint" || value < 0n || value >= 1n << 64n) bad("a uint64 bigint");
      const b = value as bigint;
      w.varint64(Number(b & 0xffffffffn), Number(b >> 32n));
      return;
    }
    case "float": {
      if (typeof value !== "number") bad("a number");
      const tmp = new Uint8Array(4);
      new DataView(tmp.buffer).setFloat32(0, value as number, true);
      w.bytes(tmp);
      return;
    }
    case "string": {
      if (typeof value !== "string") bad("a string");
      const b = utf8Encoder.encode(value as string);
      w.varint64(b.length, 0);
      w.bytes(b);
      return;
    }
    case "bytes": {
      if (!(value instanceof Uint8Array)) bad("a Uint8Array");
      const b = value as Uint8Array;
      w.varint64(b.length, 0);
      w.bytes(b);
      return;
    }
    case "message": {
      if (typeof value !== "object") bad("an object");
      const sub = new Writer();
      writeMessage(field.message!, value as Record<string, unknown>, sub, path);
      const b = sub.finish();
      w.varint64(b.length, 0);
      w.bytes(b);
      return;
    }
  }
}

/** Serializes a `ModelProto` (what `SerializeToString()` returns): known fields in field-number order, then unknown ones. */
export function serializeModelProto(proto: ModelProto): Uint8Array {
  const w = new Writer();
  writeMessage(MODEL_PROTO, proto as Record<string, unknown>, w, "ModelProto");
  return w.finish();
}

// ---------------------------------------------------------------------------------------------------------
// Defaults and validation
// ---------------------------------------------------------------------------------------------------------

/** `TrainerSpec` fields the encoder reads, with the proto defaults applied. */
export interface ResolvedTrainerSpec {
  model_type: number;
  vocab_size: number;
  byte_fallback: boolean;
  treat_whitespace_as_suffix: boolean;
  allow_whitespace_only_pieces: boolean;
  split_digits: boolean;
  unk_id: number;
  bos_id: number;
  eos_id: number;
  pad_id: number;
  unk_piece: string;
  bos_piece: string;
  eos_piece: string;
  pad_piece: string;
  unk_surface: string;
}

export function trainerSpecWithDefaults(spec: TrainerSpec | undefined): ResolvedTrainerSpec {
  const s = spec ?? {};
  // sentencepiece's `RETURN_PIECE` treats an empty piece name like an unset one.
  const piece = (v: string | undefined, d: string) => (v === undefined || v === "" ? d : v);
  return {
    model_type: s.model_type ?? ModelType.UNIGRAM,
    vocab_size: s.vocab_size ?? 8000,
    byte_fallback: s.byte_fallback ?? false,
    treat_whitespace_as_suffix: s.treat_whitespace_as_suffix ?? false,
    allow_whitespace_only_pieces: s.allow_whitespace_only_pieces ?? false,
    split_digits: s.split_digits ?? false,
    unk_id: s.unk_id ?? 0,
    bos_id: s.bos_id ?? 1,
    eos_id: s.eos_id ?? 2,
    pad_id: s.pad_id ?? -1,
    unk_piece: piece(s.unk_piece, "<unk>"),
    bos_piece: piece(s.bos_piece, "<s>"),
    eos_piece: piece(s.eos_piece, "</s>"),
    pad_piece: piece(s.pad_piece, "<pad>"),
    unk_surface: s.unk_surface ?? " \u2047 ",
  };
}

export interface ResolvedNormalizerSpec {
  name: string;
  precompiled_charsmap: Uint8Array;
  add_dummy_prefix: boolean;
  remove_extra_whitespaces: boolean;
  escape_whitespaces: boolean;
}

export function normalizerSpecWithDefaults(spec: NormalizerSpec | undefined): ResolvedNormalizerSpec {
  const s = spec ?? {};
  return {
    name: s.name ?? "",
    precompiled_charsmap: s.precompiled_charsmap ?? new Uint8Array(0),
    add_dummy_prefix: s.add_dummy_prefix ?? true,
    remove_extra_whitespaces: s.remove_extra_whitespaces ?? true,
    escape_whitespaces: s.escape_whitespaces ?? true,
  };
}

const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;

/** The byte a `<0xNN>` piece stands for (sentencepiece `PieceToByte`: upper-case hex only), or -1. */
export function pieceToByte(piece: string): number {
  const m = BYTE_PIECE.exec(piece);
  return m ? parseInt(m[1], 16) : -1;
}

/** sentencepiece `ByteToPiece`: 0x41 -> "<0x41>". */
export function byteToPiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
}

/**
 * The checks sentencepiece's `ModelInterface::InitializePieces` makes before it will encode with a model:
 * non-empty unique pieces without NUL, exactly one UNKNOWN piece, BYTE pieces only with byte_fallback and then
 * all 256 of them, known piece types. Throws `TokenizerError(file, ...)` naming the offending piece.
 */
export function validateModelProto(proto: ModelProto, file = "tokenizer.model"): void {
  const pieces = proto.pieces ?? [];
  if (pieces.length === 0) throw new TokenizerError(file, "ModelProto.pieces is empty: no vocabulary");
  const trainer = trainerSpecWithDefaults(proto.trainer_spec);
  const seen = new Map<string, number>();
  const byteFound = new Array<boolean>(256).fill(false);
  let unk = -1;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    const piece = p.piece;
    if (piece === undefined || piece === "")
      throw new TokenizerError(file, `piece #${i} is empty (sentencepiece: "piece must not be empty")`);
    if (piece.includes("\0")) throw new TokenizerError(file, `piece #${i} contains a NUL character`);
    const type = p.type ?? PieceType.NORMAL;
    if (type < 1 || type > 6)
      throw new TokenizerError(file, `piece #${i} ${JSON.stringify(piece)} has unknown type ${type}`);
    const prev = seen.get(piece);
    if (prev !== undefined)
      throw new TokenizerError(file, `piece ${JSON.stringify(piece)} is defined twice (#${prev} and #${i})`);
    seen.set(piece, i);
    if (type === PieceType.UNKNOWN) {
      if (unk >= 0)
        throw new TokenizerError(file, `unk is already defined (#${unk}); piece #${i} is a second UNKNOWN piece`);
      unk = i;
    }
    if (type === PieceType.BYTE) {
      if (!trainer.byte_fallback)
        throw new TokenizerError(
          file,
          `byte piece ${JSON.stringify(piece)} (#${i}) found although trainer_spec.byte_fallback is false`,
        );
      const b = pieceToByte(piece);
      if (b < 0)
        throw new TokenizerError(file, `byte piece ${JSON.stringify(piece)} (#${i}) is not of the form <0xNN>`);
      byteFound[b] = true;
    }
  }
  if (unk < 0)
    throw new TokenizerError(file, "no UNKNOWN piece: sentencepiece requires exactly one (unk is not defined)");
  if (trainer.byte_fallback && byteFound.includes(false)) {
    throw new TokenizerError(
      file,
      `trainer_spec.byte_fallback is true but only ${byteFound.filter(Boolean).length} of the 256 <0xNN> byte pieces exist`,
    );
  }
}

/** A deep copy (pieces, specs and unknown fields), for edits such as HF's non-legacy `add_dummy_prefix = False`. */
export function cloneModelProto(proto: ModelProto): ModelProto {
  return parseModelProto(serializeModelProto(proto), "ModelProto (copy)");
}
