/**
 * safetensors: read and write the tensor file format of Hugging Face's `safetensors` library.
 *
 * Layout (mirrors the Rust crate `safetensors/src/tensor.rs`, which the Python package and HF transformers
 * call into):
 *
 *     [u64 little-endian N] [N bytes of UTF-8 JSON header] [data section: raw little-endian tensor bytes]
 *
 * The header maps each tensor name to `{"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}`,
 * offsets relative to the first data byte, plus an optional `"__metadata__": {string: string}` (HF writes
 * `{"format": "pt"}`). A valid file, as the crate's `Metadata::validate` defines it: sorted by `data_offsets`,
 * the tensors tile the data section from byte 0 with no hole and no overlap, each spans exactly
 * `product(shape) * dtype_size` bytes, and the last one ends exactly at the end of the file.
 *
 * Reading: `parseSafetensors(bytes, file)` validates the whole header before trusting any number in it, then
 * returns each tensor as a typed-array view into `bytes.buffer` (no copy) when its absolute byte offset is a
 * multiple of the element size, else a copy of that one tensor. Writing: `serializeSafetensors` produces
 * the bytes the crate's `serialize` produces for the same tensors, so a file read and written back is
 * byte-identical.
 *
 * dtypes: F32 -> float32, F16 -> float16, BF16 -> bfloat16, I32 -> int32, I64 -> int64, BOOL -> bool. Every other
 * safetensors dtype (U8, I8, I16, U16, U32, U64, F64, the F8 kinds, ...) is refused with a CheckpointError
 * naming it. In particular U8 is not read as bool: our Tensor has no uint8 dtype, and mapping U8 to bool would
 * silently give 0..255 bytes a 0/1 meaning they do not have (torch writes a bool tensor as BOOL, never U8).
 */
import { basename, dirname } from "node:path";
import { endianness } from "node:os";
import { allocBytes, shareLifetime } from "../backends/kernel_memory.ts";
import { CheckpointError, ValueError } from "../errors.ts";
import { type DType, type TypedArray, dtypeSize } from "../tensor/dtypes.ts";
import { Tensor, shapeSize } from "../tensor/tensor.ts";
import { type ChunkWriter, saveAtomically } from "../utils/atomic_save.ts";
import { FILE_LIMITS, openFileChecked, readExactly } from "../utils/safe_fs.ts";

/** The Rust crate's `MAX_HEADER_SIZE`: a header longer than this is refused before anything is read. */
export const MAX_HEADER_SIZE = 100_000_000;

export interface SafetensorsFile {
  /** Tensors in the order of their data in the file (for files written by safetensors: header order). */
  tensors: Map<string, Tensor>;
  /** The `__metadata__` map, or null when the header has none. */
  metadata: Record<string, string> | null;
}

/** safetensors dtype code -> our dtype. A Map, so that names such as "constructor" are not found on a prototype. */
const FROM_FILE_DTYPE = new Map<string, DType>([
  ["F32", "float32"],
  ["F16", "float16"],
  ["BF16", "bfloat16"],
  ["I32", "int32"],
  ["I64", "int64"],
  ["BOOL", "bool"],
]);

const TO_FILE_DTYPE: Record<DType, string> = {
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  int32: "I32",
  int64: "I64",
  bool: "BOOL",
};

/** dtypes the safetensors format defines but llama-ts does not hold (named as such in the error). */
const FORMAT_ONLY_DTYPES = new Set([
  "U8",
  "I8",
  "I16",
  "U16",
  "U32",
  "U64",
  "F64",
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "F4",
  "F6_E2M3",
  "F6_E3M2",
  "C64",
]);

/**
 * Position of each dtype in the crate's `enum Dtype` (BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32,
 * F32, F64, I64, U64), which "MUST be in increasing alignment order". `serialize` writes tensors by descending
 * rank, then by name, so every tensor stays aligned to its element size.
 */
const DTYPE_RANK: Record<DType, number> = { bool: 0, float16: 7, bfloat16: 8, int32: 9, float32: 11, int64: 13 };

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

let hostChecked = false;

/** Typed-array views reinterpret file bytes in host order; the format is little-endian. */
function checkHostEndianness(file: string): void {
  if (hostChecked) return;
  if (endianness() !== "LE") {
    throw new CheckpointError(
      file,
      "safetensors data are little-endian and this host is big-endian; llama-ts does not byte-swap",
    );
  }
  hostChecked = true;
}

/**
 * Compare two strings by Unicode code point, which is the order of their UTF-8 bytes (Rust's `str` order)
 * and Python's `str` order. JS's `<` compares UTF-16 code units and disagrees for characters above U+E000 vs
 * astral ones; the standard fix-up moves surrogates above the rest of the BMP before comparing.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------------

interface EntryInfo {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isIndex(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Check one header entry's types (serde's `TensorInfo`: dtype, shape: Vec<usize>, data_offsets: (usize, usize)).
 * Unknown extra keys are ignored, as serde does by default.
 */
function readEntry(file: string, name: string, raw: unknown): EntryInfo {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(raw))
    throw new CheckpointError(file, `${where}: expected an object {dtype, shape, data_offsets}, got ${describe(raw)}`);
  const { dtype: code, shape, data_offsets: offsets } = raw;
  if (typeof code !== "string")
    throw new CheckpointError(file, `${where}: "dtype" must be a string, got ${describe(code)}`);
  const dtype = FROM_FILE_DTYPE.get(code);
  if (dtype === undefined) {
    const kind = FORMAT_ONLY_DTYPES.has(code) ? "unsupported dtype" : "unknown dtype";
    throw new CheckpointError(
      file,
      `${where}: ${kind} ${JSON.stringify(code)} (llama-ts reads F32, F16, BF16, I32, I64, BOOL)`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw new CheckpointError(
      file,
      `${where}: "shape" must be an array of non-negative integers, got ${describe(shape)}`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    throw new CheckpointError(
      file,
      `${where}: "data_offsets" must be [begin, end] with non-negative integers, got ${describe(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw new CheckpointError(file, `${where}: data_offsets [${begin}, ${end}] has begin > end`);
  return { name, dtype, shape: shape as number[], begin, end };
}

function describe(x: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(x) ?? String(x);
  } catch {
    s = String(x);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** product(shape) * size, refusing any intermediate beyond 2^53 - 1 (the crate's `checked_mul` fold, in f64). */
function byteLength(file: string, info: EntryInfo): number {
  let n = 1;
  for (const d of info.shape) {
    n *= d; // both factors are safe integers: a true product <= 2^53 - 1 is computed exactly, a larger one rounds to >= 2^53
    if (n > Number.MAX_SAFE_INTEGER) {
      throw new CheckpointError(
        file,
        `tensor ${JSON.stringify(info.name)}: shape [${info.shape.join(", ")}] overflows (element count beyond 2^53)`,
      );
    }
  }
  const bytes = n * dtypeSize(info.dtype);
  if (bytes > Number.MAX_SAFE_INTEGER) {
    throw new CheckpointError(
      file,
      `tensor ${JSON.stringify(info.name)}: shape [${info.shape.join(", ")}] overflows (byte length beyond 2^53)`,
    );
  }
  return bytes;
}

function makeView(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, byteOffset, length);
    case "float16":
    case "bfloat16":
      return new Uint16Array(buffer, byteOffset, length);
    case "int32":
      return new Int32Array(buffer, byteOffset, length);
    case "int64":
      return new BigInt64Array(buffer, byteOffset, length);
    case "bool":
      return new Uint8Array(buffer, byteOffset, length);
  }
}

/**
 * Parse a whole safetensors file held in memory. `file` names the source in error messages.
 *
 * Every failure is a CheckpointError naming `file` and the problem. The header length is checked (as a
 * BigInt, against MAX_HEADER_SIZE and the file size) before anything is decoded, so a 16-byte file claiming
 * a 2^63-byte header fails at once. Tensors alias `bytes.buffer` where aligned: writing into one writes into
 * `bytes`, and any tensor keeps the whole buffer alive.
 */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const { entries, metadata, dataStart } = parseHeader(bytes, bytes.byteLength, file);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const size = dtypeSize(e.dtype);
    const abs = bytes.byteOffset + dataStart + e.begin;
    const count = (e.end - e.begin) / size;
    const data =
      abs % size === 0
        ? makeView(e.dtype, bytes.buffer, abs, count)
        : makeView(e.dtype, bytes.buffer.slice(abs, abs + (e.end - e.begin)), 0, count);
    tensors.set(e.name, new Tensor(e.dtype, data, e.shape));
  }
  return { tensors, metadata };
}

/**
 * Validate the header of a file of `fileLen` bytes whose first bytes are `prefix` (at least the 8-byte length
 * and the header itself, when they fit in the file). Returns the entries sorted by offset.
 */
function parseHeader(
  prefix: Uint8Array,
  fileLen: number,
  file: string,
): { entries: EntryInfo[]; metadata: Record<string, string> | null; dataStart: number } {
  checkHostEndianness(file);
  const bytes = prefix;
  if (fileLen < 8)
    throw new CheckpointError(file, `file is ${fileLen} bytes, shorter than the 8-byte header length prefix`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new CheckpointError(
      file,
      `header length ${n} bytes exceeds the ${MAX_HEADER_SIZE}-byte limit (MAX_HEADER_SIZE of the safetensors crate)`,
    );
  }
  const headerLen = Number(n);
  if (8 + headerLen > fileLen) {
    throw new CheckpointError(
      file,
      `header length ${headerLen} bytes runs past the end of the file (${fileLen} bytes, so at most ${fileLen - 8} for the header)`,
    );
  }

  let text: string;
  try {
    // ignoreBOM keeps a leading U+FEFF, which JSON.parse then refuses, as serde_json does.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new CheckpointError(file, "header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) throw new CheckpointError(file, `header must be a JSON object, got ${describe(header)}`);

  let metadata: Record<string, string> | null = null;
  const entries: EntryInfo[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (raw === null) continue; // serde's Option: null is None
      if (!isPlainObject(raw) || !Object.values(raw).every((v) => typeof v === "string")) {
        throw new CheckpointError(file, `"__metadata__" must be an object of string -> string, got ${describe(raw)}`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    entries.push(readEntry(file, name, raw));
  }

  // The crate sorts by (begin, end) and requires each tensor to start where the previous one ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + headerLen;
  const dataLen = fileLen - dataStart;
  let cursor = 0;
  for (const e of entries) {
    const where = `tensor ${JSON.stringify(e.name)}`;
    if (e.begin < cursor)
      throw new CheckpointError(
        file,
        `${where}: data_offsets [${e.begin}, ${e.end}] overlap the previous tensor, which ends at ${cursor}`,
      );
    if (e.begin > cursor)
      throw new CheckpointError(
        file,
        `${where}: gap of ${e.begin - cursor} bytes before data_offsets [${e.begin}, ${e.end}] (previous tensor ends at ${cursor})`,
      );
    const expected = byteLength(file, e);
    if (e.end - e.begin !== expected) {
      throw new CheckpointError(
        file,
        `${where}: shape [${e.shape.join(", ")}] of ${TO_FILE_DTYPE[e.dtype]} needs ${expected} bytes, data_offsets [${e.begin}, ${e.end}] span ${e.end - e.begin}`,
      );
    }
    if (e.end > dataLen) {
      throw new CheckpointError(
        file,
        `${where}: data_offsets [${e.begin}, ${e.end}] run past the end of the data section (${dataLen} bytes; file truncated?)`,
      );
    }
    cursor = e.end;
  }
  if (cursor !== dataLen) {
    throw new CheckpointError(
      file,
      `${dataLen - cursor} trailing bytes after the last tensor (tensors cover ${cursor} of ${dataLen} data bytes)`,
    );
  }

  return { entries, metadata, dataStart };
}

/** Files up to this size are read in one piece (tensors view that one buffer); larger ones tensor by tensor. */
export const SINGLE_READ_LIMIT = 1 << 30;

/**
 * Read and parse a safetensors file. Up to SINGLE_READ_LIMIT bytes: one read, tensors view the read buffer.
 * Larger files (a 7B checkpoint's 10 GB shards exceed what one ArrayBuffer or fs.readFile can hold): the
 * header is read and validated first, then each tensor's bytes are read into a buffer of its own. Either way
 * no second full copy is made.
 */
export async function loadSafetensors(
  path: string,
  opts: {
    single_read_limit?: number;
    /** Called after each read with the bytes read so far and the file size (last call: loaded === total). */
    on_progress?: (loaded: number, total: number) => void;
  } = {},
): Promise<SafetensorsFile> {
  const kind = FILE_LIMITS.safetensors;
  const { handle, size: fileLen } = await openFileChecked(path, kind);
  try {
    if (fileLen <= (opts.single_read_limit ?? SINGLE_READ_LIMIT)) {
      // read into kernel memory, where the matmul kernels and workers use the weights in place
      const bytes = allocBytes(fileLen);
      await readExactly(handle, bytes, 0, path, kind);
      const parsed = parseSafetensors(bytes, path);
      for (const t of parsed.tensors.values()) shareLifetime(bytes, t.data);
      opts.on_progress?.(fileLen, fileLen);
      return parsed;
    }
    const lenBytes = new Uint8Array(8);
    await readExactly(handle, lenBytes, 0, path, kind);
    const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
    // parseHeader re-checks n against MAX_HEADER_SIZE and fileLen before it is used; clamp the read meanwhile.
    const headerRead = Number(n > BigInt(MAX_HEADER_SIZE) ? 0n : n);
    const prefix = new Uint8Array(8 + Math.min(headerRead, fileLen - 8));
    await readExactly(handle, prefix, 0, path, kind);
    const { entries, metadata, dataStart } = parseHeader(prefix, fileLen, path);
    const tensors = new Map<string, Tensor>();
    let loaded = dataStart;
    opts.on_progress?.(loaded, fileLen);
    for (const e of entries) {
      const len = e.end - e.begin;
      const buf = allocBytes(len);
      await readExactly(handle, buf, dataStart + e.begin, path, kind);
      const data = makeView(e.dtype, buf.buffer, buf.byteOffset, len / dtypeSize(e.dtype));
      shareLifetime(buf, data);
      tensors.set(e.name, new Tensor(e.dtype, data, e.shape));
      loaded += len;
      opts.on_progress?.(loaded, fileLen);
    }
    return { tensors, metadata };
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------

/** The header bytes (length prefix included) and the tensor data chunks in file order. */
interface Prepared {
  header: Uint8Array;
  chunks: Uint8Array[];
  dataSize: number;
}

function checkName(name: string, what: string): void {
  if (LONE_SURROGATE.test(name))
    throw new ValueError(
      `${what} ${JSON.stringify(name)} contains a lone UTF-16 surrogate and cannot be written as UTF-8`,
    );
}

/**
 * Check that tensors and metadata can be written: string names (well-formed UTF-16, not "__metadata__"),
 * Tensors whose data match dtype and shape, string metadata values. Throws ValueError naming the culprit.
 */
export function checkSerializable(entries: [string, Tensor][], metadata?: Record<string, string> | null): void {
  for (const [name, t] of entries) {
    if (typeof name !== "string") throw new ValueError(`tensor names must be strings, got ${describe(name)}`);
    checkName(name, "tensor name");
    if (name === "__metadata__")
      throw new ValueError('a tensor cannot be named "__metadata__" (the header key of the metadata map)');
    if (!(t instanceof Tensor))
      throw new ValueError(`tensor ${JSON.stringify(name)}: expected a Tensor, got ${describe(t)}`);
    if (!Object.hasOwn(TO_FILE_DTYPE, t.dtype))
      throw new ValueError(`tensor ${JSON.stringify(name)}: dtype ${describe(t.dtype)} cannot be written`);
    if (t.data.length !== shapeSize(t.shape) || t.data.BYTES_PER_ELEMENT !== dtypeSize(t.dtype)) {
      throw new ValueError(
        `tensor ${JSON.stringify(name)}: data (${t.data.length} x ${t.data.BYTES_PER_ELEMENT} bytes) does not match ${t.dtype} [${t.shape.join(", ")}]`,
      );
    }
  }
  if (metadata === undefined || metadata === null) return;
  if (typeof metadata !== "object" || Array.isArray(metadata))
    throw new ValueError(`metadata must be an object of string -> string, got ${describe(metadata)}`);
  for (const [k, v] of Object.entries(metadata)) {
    checkName(k, "metadata key");
    if (typeof v !== "string")
      throw new ValueError(`metadata ${JSON.stringify(k)}: values must be strings, got ${describe(v)}`);
    checkName(v, "metadata value");
  }
}

/** Mirrors the crate's `prepare`: sort by descending dtype alignment then name, offsets back to back, pad the header to 8. */
function prepare(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string> | null,
): Prepared {
  checkHostEndianness("safetensors");
  const entries: [string, Tensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  checkSerializable(entries, metadata);
  entries.sort(([an, a], [bn, b]) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareCodePoints(an, bn));

  // serde_json's compact output; JSON.stringify escapes strings exactly as serde_json does for well-formed text.
  const parts: string[] = [];
  if (metadata !== undefined && metadata !== null) {
    const meta: string[] = [];
    for (const [k, v] of Object.entries(metadata)) {
      meta.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${meta.join(",")}}`);
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const n = t.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${TO_FILE_DTYPE[t.dtype]}","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${offset + n}]}`,
    );
    chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, n));
    offset += n;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, chunks, dataSize: offset };
}

/**
 * The bytes of a safetensors file holding `tensors` (and `__metadata__` when `metadata` is given), as the
 * crate's `serialize` (hence Python's `safetensors.torch.save_file`) writes them. One quirk: the crate
 * writes the metadata map in Rust `HashMap` order (unspecified); here it is the object's key order.
 */
export function serializeSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string> | null,
): Uint8Array {
  const { header, chunks, dataSize } = prepare(tensors, metadata);
  const out = new Uint8Array(header.length + dataSize);
  out.set(header, 0);
  let pos = header.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/**
 * A writer of a safetensors file for a save transaction (atomic_save.ts): the header, then each tensor's bytes
 * straight from its typed array (no whole-file copy in memory). Bad input throws before anything is written.
 */
export function safetensorsWriter(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string> | null,
): ChunkWriter {
  const { header, chunks } = prepare(tensors, metadata);
  return async (write) => {
    for (const chunk of [header, ...chunks]) await write(chunk);
  };
}

/**
 * Write a safetensors file atomically: staged under a temporary name next to `path`, fsync'ed, renamed into
 * place, so a failure leaves an existing file at `path` as it was.
 */
export async function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string> | null,
): Promise<void> {
  const writer = safetensorsWriter(tensors, metadata);
  await saveAtomically(dirname(path), (tx) => tx.stageStream(basename(path), writer));
}
