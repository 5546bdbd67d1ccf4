/**
 * The zip container of `torch.save` (PyTorch's `PyTorchStreamReader` / `PyTorchStreamWriter`, built on miniz).
 *
 * Reading: the End Of Central Directory record (EOCD, signature `PK\5\6`, the last 22 bytes plus an optional
 * comment of up to 65,535 bytes), its Zip64 variant when the archive is larger than 4 GiB or has more than 65,535
 * entries, then one central-directory header per entry (`PK\1\2`: method, sizes, name, offset of the entry's
 * local header `PK\3\4`), whose data follow the local header's name and extra field. Every number read is
 * checked against the file size before it is used, so a truncated or corrupted archive is a CheckpointError,
 * never a read past the end or an allocation sized by the file. Only stored (method 0) entries are read: torch
 * never compresses (its writer stores every record so tensors can be memory-mapped); anything else is refused
 * naming the method. CRCs are not verified (neither does torch when it loads).
 *
 * Writing (`buildStoredZip`): the layout torch writes, with every entry stored and each entry's data aligned to
 * 64 bytes by padding the local header's extra field (torch uses the extra-field id "FB" for this padding), and
 * Zip64 records only where a size or offset does not fit 32 bits.
 */
import * as zlib from "node:zlib";
import { CheckpointError } from "../errors.ts";

/** Random access to a file's bytes: a file handle on disk, or bytes in memory (tests, fuzzing). */
export interface ByteSource {
  readonly size: number;
  /** `length` bytes at `offset`; the caller guarantees `offset + length <= size`. */
  read(offset: number, length: number): Uint8Array;
}

export function memorySource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

export interface ZipEntry {
  name: string;
  /** Absolute offset of the entry's first data byte in the archive. */
  dataOffset: number;
  size: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const EOCD64_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const ZIP64_EXTRA = 0x0001;
/** torch's alignment padding extra-field id ("FB"). */
const TORCH_PAD_EXTRA = 0x4246;
/** Data alignment torch uses (`kFieldAlignment` in caffe2/serialize/inline_container.cc). */
export const TORCH_ALIGNMENT = 64;

function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
/** A little-endian u64 as a number; values beyond 2^53 are returned as Infinity so that every bound check fails. */
function u64(b: Uint8Array, o: number): number {
  const lo = u32(b, o);
  const hi = u32(b, o + 4);
  return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
}

/**
 * Read the central directory of a zip archive. Entry names are decoded as UTF-8 (torch writes ASCII names);
 * a duplicated name, an entry whose data would leave the file, or a local header that disagrees with the
 * central one is a CheckpointError naming `file`.
 */
export function readZipDirectory(src: ByteSource, file: string): Map<string, ZipEntry> {
  const fail = (why: string): never => {
    throw new CheckpointError(file, `not a valid zip archive: ${why}`);
  };
  const size = src.size;
  if (size < 22) fail(`${size} bytes is shorter than an end-of-central-directory record`);
  const tailLen = Math.min(size, 22 + 0xffff);
  const tail = src.read(size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (u32(tail, i) === EOCD_SIG && i + 22 + u16(tail, i + 20) === tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail("no end-of-central-directory record (truncated, or not a zip file)");
  let count = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  const eocdAbs = size - tailLen + eocd;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // Zip64: a 20-byte locator right before the EOCD points at the 56-byte Zip64 EOCD record.
    if (eocdAbs < 20) fail("Zip64 end-of-central-directory locator missing");
    const loc = src.read(eocdAbs - 20, 20);
    if (u32(loc, 0) !== EOCD64_LOCATOR_SIG) fail("Zip64 end-of-central-directory locator missing");
    const at = u64(loc, 8);
    if (!(at + 56 <= eocdAbs - 20)) fail("Zip64 end-of-central-directory record out of the file");
    const rec = src.read(at, 56);
    if (u32(rec, 0) !== EOCD64_SIG) fail("bad Zip64 end-of-central-directory signature");
    count = u64(rec, 32);
    cdSize = u64(rec, 40);
    cdOffset = u64(rec, 48);
  }
  if (!(cdOffset + cdSize <= eocdAbs)) fail(`central directory (${cdSize} bytes at ${cdOffset}) out of the file`);
  // Each central header takes at least 46 bytes: a count the directory cannot hold is corruption.
  if (count * 46 > cdSize) fail(`${count} entries cannot fit a ${cdSize}-byte central directory`);
  const cd = src.read(cdOffset, cdSize);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cd.length || u32(cd, p) !== CENTRAL_SIG) fail(`central directory header ${k} is damaged`);
    const flags = u16(cd, p + 8);
    const method = u16(cd, p + 10);
    let csize = u32(cd, p + 20);
    let usize = u32(cd, p + 24);
    const nameLen = u16(cd, p + 28);
    const extraLen = u16(cd, p + 30);
    const commentLen = u16(cd, p + 32);
    let localOffset = u32(cd, p + 42);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cd.length) fail(`central directory header ${k} runs past the directory`);
    let name: string;
    try {
      name = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
    } catch {
      return fail(`entry ${k} has a name that is not UTF-8`);
    }
    // Zip64 extended information: the 64-bit values, in this order, of the fields saturated at 0xffffffff.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = u16(cd, e);
      const len = u16(cd, e + 2);
      if (e + 4 + len > extraEnd) fail(`entry ${JSON.stringify(name)} has a damaged extra field`);
      if (id === ZIP64_EXTRA) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + len) fail(`entry ${JSON.stringify(name)} has a short Zip64 field`);
          const v = u64(cd, q);
          q += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = take();
        if (csize === 0xffffffff) csize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      e += 4 + len;
    }
    if (flags & 1) fail(`entry ${JSON.stringify(name)} is encrypted`);
    if (method !== 0)
      fail(`entry ${JSON.stringify(name)} uses compression method ${method}; torch.save stores entries uncompressed`);
    if (csize !== usize) fail(`stored entry ${JSON.stringify(name)} has sizes ${csize} and ${usize}`);
    if (!(localOffset + 30 <= cdOffset)) fail(`entry ${JSON.stringify(name)} has its header out of the file`);
    const local = src.read(localOffset, 30);
    if (u32(local, 0) !== LOCAL_SIG) fail(`entry ${JSON.stringify(name)} has a bad local header signature`);
    if (u16(local, 26) !== nameLen) fail(`entry ${JSON.stringify(name)}: local and central names differ`);
    const dataOffset = localOffset + 30 + nameLen + u16(local, 28);
    if (!(dataOffset + usize <= cdOffset)) fail(`entry ${JSON.stringify(name)} (${usize} bytes) runs out of the file`);
    if (entries.has(name)) fail(`entry ${JSON.stringify(name)} appears twice`);
    entries.set(name, { name, dataOffset, size: usize });
    p = end;
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------

/** CRC-32 (IEEE 802.3, as zip), table-driven. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `data` (zlib's, Node >= 20.15, when available: about 10x faster than the table loop). */
export function crc32(data: Uint8Array, crc = 0): number {
  if (nativeCrc32) return nativeCrc32(data, crc) >>> 0;
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

class ByteWriter {
  chunks: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  fields(spec: [number, number][]): void {
    const size = spec.reduce((s, [, n]) => s + n, 0);
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    let o = 0;
    for (const [v, n] of spec) {
      if (n === 2) dv.setUint16(o, v, true);
      else if (n === 4) dv.setUint32(o, v >>> 0, true);
      else dv.setBigUint64(o, BigInt(v), true);
      o += n;
    }
    this.push(b);
  }
}

/**
 * A zip archive of stored entries, data aligned to `TORCH_ALIGNMENT` bytes as torch writes them. `forceZip64`
 * writes the Zip64 records even when every value fits 32 bits (to test readers on small files). Returns the
 * archive as a list of chunks (tensor data are not copied).
 */
export function buildStoredZip(
  entries: { name: string; data: Uint8Array }[],
  opts: { forceZip64?: boolean } = {},
): Uint8Array[] {
  const w = new ByteWriter();
  const encoder = new TextEncoder();
  const central: { name: Uint8Array; crc: number; size: number; offset: number }[] = [];
  for (const { name, data } of entries) {
    const nameBytes = encoder.encode(name);
    const offset = w.length;
    const big = opts.forceZip64 || data.length >= 0xffffffff || offset >= 0xffffffff;
    const zip64Len = big ? 4 + 16 : 0;
    const headerEnd = offset + 30 + nameBytes.length + zip64Len;
    // Padding extra field ("FB" + length + filler) so that the data start is aligned; at least 4 bytes.
    const pad = (TORCH_ALIGNMENT - ((headerEnd + 4) % TORCH_ALIGNMENT)) % TORCH_ALIGNMENT;
    const crc = crc32(data);
    w.fields([
      [LOCAL_SIG, 4],
      [big ? 45 : 20, 2], // version needed
      [0, 2], // flags
      [0, 2], // method: stored
      [0, 2], // time
      [0x21, 2], // date (1980-01-01)
      [crc, 4],
      [big ? 0xffffffff : data.length, 4],
      [big ? 0xffffffff : data.length, 4],
      [nameBytes.length, 2],
      [zip64Len + 4 + pad, 2],
    ]);
    w.push(nameBytes);
    if (big)
      w.fields([
        [ZIP64_EXTRA, 2],
        [16, 2],
        [data.length, 8],
        [data.length, 8],
      ]);
    w.fields([
      [TORCH_PAD_EXTRA, 2],
      [pad, 2],
    ]);
    w.push(new Uint8Array(pad).fill(0x5a)); // torch fills with 'Z'
    w.push(data);
    central.push({ name: nameBytes, crc, size: data.length, offset });
  }
  const cdOffset = w.length;
  for (const c of central) {
    const big = opts.forceZip64 || c.size >= 0xffffffff || c.offset >= 0xffffffff;
    w.fields([
      [CENTRAL_SIG, 4],
      [big ? 45 : 20, 2], // version made by
      [big ? 45 : 20, 2], // version needed
      [0, 2],
      [0, 2],
      [0, 2],
      [0x21, 2],
      [c.crc, 4],
      [big ? 0xffffffff : c.size, 4],
      [big ? 0xffffffff : c.size, 4],
      [c.name.length, 2],
      [big ? 28 : 0, 2],
      [0, 2], // comment
      [0, 2], // disk
      [0, 2], // internal attributes
      [0, 4], // external attributes
      [big ? 0xffffffff : c.offset, 4],
    ]);
    w.push(c.name);
    if (big)
      w.fields([
        [ZIP64_EXTRA, 2],
        [24, 2],
        [c.size, 8],
        [c.size, 8],
        [c.offset, 8],
      ]);
  }
  const cdSize = w.length - cdOffset;
  const big = opts.forceZip64 || central.length >= 0xffff || cdOffset >= 0xffffffff || cdSize >= 0xffffffff;
  if (big) {
    const eocd64 = w.length;
    w.fields([
      [EOCD64_SIG, 4],
      [44, 8], // size of the rest of this record
      [45, 2],
      [45, 2],
      [0, 4],
      [0, 4],
      [central.length, 8],
      [central.length, 8],
      [cdSize, 8],
      [cdOffset, 8],
    ]);
    w.fields([
      [EOCD64_LOCATOR_SIG, 4],
      [0, 4],
      [eocd64, 8],
      [1, 4],
    ]);
  }
  w.fields([
    [EOCD_SIG, 4],
    [0, 2],
    [0, 2],
    [big ? 0xffff : central.length, 2],
    [big ? 0xffff : central.length, 2],
    [big ? 0xffffffff : cdSize, 4],
    [big ? 0xffffffff : cdOffset, 4],
    [0, 2],
  ]);
  return w.chunks;
}
