/**
 * PyTorch checkpoints (`.pth`, `pytorch_model.bin`): `torch.load(f, weights_only=True)` for state dicts, and the
 * `torch.save` of one, without Python.
 *
 * Two container formats, both holding a pickle (read by the restricted unpickler of `torch_pickle.ts`) whose
 * tensors point at storages through persistent ids:
 *
 * - zip (torch >= 1.6, `torch/serialization.py` `_save` / `_load`): entries `<archive>/data.pkl`,
 *   `<archive>/data/<key>` (raw storage bytes, one entry per storage), `<archive>/version`, optionally
 *   `<archive>/byteorder` ("little" or "big"). `<archive>` is the file stem at save time, so `data.pkl` is found
 *   as the one entry named `<dir>/data.pkl`. Persistent id: `('storage', storage_type, key, location, numel)`.
 * - legacy (`_legacy_save`): five pickles in a row (magic number 0x1950a86a20f9469cfc6c, protocol version
 *   1001, sys_info, the object, the list of storage keys), then per key in that list: numel as int64
 *   (little-endian on the little-endian hosts that wrote every real file; sys_info says which) and numel *
 *   element-size bytes. Persistent id: `('storage', storage_type, key, location, numel, view_metadata)`.
 *
 * The object must be a state dict: a dict or OrderedDict from tensor names (strings) to tensors. A tensor is a
 * view `(storage, offset, size, stride)`; several tensors may share one storage (Meta's model-parallel files keep
 * a layer's tensors in one storage). Contiguous views come back as typed-array views of their storage, others are
 * copied into a contiguous tensor. Memory is bounded by the file: storages are read once each (their sizes are
 * checked against the file and the persistent id before anything is allocated), and the copies made for
 * non-contiguous views may not total more bytes than the file holds.
 */
import { closeSync, fstatSync, readSync } from "node:fs";
import { FILE_LIMITS, openFileCheckedSync } from "../utils/safe_fs.ts";
import { mkdir, open } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { CheckpointError } from "../errors.ts";
import { type DType, type TypedArray, dtypeSize } from "../tensor/dtypes.ts";
import { Tensor } from "../tensor/tensor.ts";
import {
  type PickleValue,
  type StorageRef,
  StorageType,
  type TensorRef,
  Unpickler,
  pickleStateDict,
} from "./torch_pickle.ts";
import { type ByteSource, buildStoredZip, memorySource, readZipDirectory } from "./zip.ts";

export { memorySource } from "./zip.ts";

/** torch's legacy magic number, pickled as the first object of a legacy file. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

export interface TorchCheckpoint {
  /** Tensors in the order of the state dict. */
  tensors: Map<string, Tensor>;
  format: "zip" | "legacy";
}

/** A file on disk read piecewise with positioned reads (no whole-file buffer: checkpoints exceed 4 GB). */
class FileSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {
    this.size = fstatSync(fd).size;
  }
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, Math.min(length - done, 1 << 30), offset + done);
      if (n === 0) throw new CheckpointError(this.path, `file shrank while being read (at byte ${offset + done})`);
      done += n;
    }
    return out;
  }
}

/** Read a `.pth` / `.bin` file written by `torch.save` (zip or legacy format) into its state dict. */
export function loadTorchCheckpoint(path: string): TorchCheckpoint {
  // A FIFO, device or folder named pytorch_model.bin fails here at once (safe_fs.ts).
  const { fd } = openFileCheckedSync(path, FILE_LIMITS.torch_checkpoint);
  try {
    return parseTorchCheckpoint(new FileSource(fd, path), path);
  } finally {
    closeSync(fd);
  }
}

/** Parse a torch.save file from any byte source (`memorySource(bytes)` for bytes in memory). */
export function parseTorchCheckpoint(src: ByteSource, file: string): TorchCheckpoint {
  const head = src.read(0, Math.min(src.size, 4));
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4)
    return { tensors: parseZip(src, file), format: "zip" };
  if (head.length >= 2 && head[0] === 0x80 && head[1] <= 5)
    return { tensors: parseLegacy(src, file), format: "legacy" };
  throw new CheckpointError(
    file,
    "not a torch.save file (expected a zip archive starting with PK\\3\\4, or a legacy pickle starting with 0x80)",
  );
}

/** Validate a persistent id tuple and return the storage it names. */
function storageFromPid(pid: PickleValue, u: Unpickler, legacy: boolean): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== "storage")
    return u.fail("persistent id is not a ('storage', type, key, location, numel) tuple");
  if (pid.length !== (legacy ? 6 : 5)) return u.fail(`storage persistent id has ${pid.length} fields`);
  const [, type, key, , numel] = pid;
  if (!(type instanceof StorageType)) return u.fail("storage persistent id does not name a storage type");
  if (type.dtype === null)
    return u.fail(
      `storage type torch.${type.name} holds a dtype llama-ts does not load (float32/16, bfloat16, int32/64, bool)`,
    );
  if (typeof key !== "string" || key.length === 0 || key.length > 64 || !/^[\w.-]+$/.test(key))
    return u.fail(`storage key ${JSON.stringify(String(key).slice(0, 80))} is not a plain record name`);
  if (!(typeof numel === "number" && Number.isSafeInteger(numel) && numel >= 0))
    return u.fail(`storage ${key} has numel ${String(numel)}`);
  if (legacy && pid[5] !== null) return u.fail("legacy storage views (view_metadata) are not supported");
  return { kind: "storage", key, type, dtype: type.dtype, numel };
}

/** The pickled object as a state dict (name -> TensorRef), every non-tensor entry refused. */
function stateDictOf(obj: PickleValue, file: string): [string, TensorRef][] {
  if (!(obj instanceof Map))
    throw new CheckpointError(file, "the pickled object is not a state dict (a dict of tensor names to tensors)");
  const out: [string, TensorRef][] = [];
  for (const [k, v] of obj) {
    if (typeof k !== "string") throw new CheckpointError(file, `state dict key ${String(k)} is not a string`);
    if (typeof v !== "object" || v === null || (v as TensorRef).kind !== "tensor")
      throw new CheckpointError(file, `state dict entry ${JSON.stringify(k)} is not a tensor`);
    out.push([k, v as TensorRef]);
  }
  return out;
}

function typedView(dtype: DType, bytes: Uint8Array, numel: number): TypedArray {
  const { buffer, byteOffset } = bytes;
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, byteOffset, numel);
    case "float16":
    case "bfloat16":
      return new Uint16Array(buffer, byteOffset, numel);
    case "int32":
      return new Int32Array(buffer, byteOffset, numel);
    case "int64":
      return new BigInt64Array(buffer, byteOffset, numel);
    case "bool":
      return new Uint8Array(buffer, byteOffset, numel);
  }
}

/**
 * Storage bytes -> a typed array of its dtype: copied when unaligned for the element size or when the file is
 * big-endian (then byte-swapped), a view otherwise. Bool storages must hold 0/1 bytes, as torch's bool.
 */
function storageArray(ref: StorageRef, raw: Uint8Array, bigEndian: boolean, file: string): TypedArray {
  const es = dtypeSize(ref.dtype);
  let bytes = raw;
  if (bigEndian || raw.byteOffset % es !== 0) bytes = raw.slice();
  if (bigEndian && es > 1) for (let i = 0; i < bytes.length; i += es) bytes.subarray(i, i + es).reverse();
  if (ref.dtype === "bool" && bytes.some((b) => b > 1))
    throw new CheckpointError(file, `bool storage ${ref.key} holds bytes other than 0 and 1`);
  return typedView(ref.dtype, bytes, ref.numel);
}

/** Resolve the tensor views once every storage array is known; `budget` bounds bytes copied for strided views. */
function buildTensors(
  entries: [string, TensorRef][],
  storage: (ref: StorageRef) => TypedArray,
  budgetBytes: number,
  file: string,
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  let copied = 0;
  for (const [name, t] of entries) {
    const data = storage(t.storage);
    const numel = t.size.reduce((a, b) => a * b, 1);
    let contiguous = true;
    for (let i = t.size.length - 1, expect = 1; i >= 0; i--) {
      if (t.size[i] !== 1 && t.stride[i] !== expect) contiguous = false;
      expect *= t.size[i];
    }
    if (contiguous || numel === 0) {
      out.set(name, new Tensor(t.storage.dtype, data.subarray(t.offset, t.offset + numel), t.size));
      continue;
    }
    copied += numel * dtypeSize(t.storage.dtype);
    if (copied > budgetBytes)
      throw new CheckpointError(
        file,
        `tensor ${JSON.stringify(name)}: strided views would copy more bytes than the ${budgetBytes}-byte file holds`,
      );
    const dst = new (data.constructor as new (n: number) => TypedArray)(numel);
    const nd = t.size.length;
    const idx = new Array<number>(nd).fill(0);
    let src = t.offset;
    for (let k = 0; k < numel; k++) {
      (dst as Float32Array)[k] = (data as Float32Array)[src];
      for (let d = nd - 1; d >= 0; d--) {
        idx[d]++;
        src += t.stride[d];
        if (idx[d] < t.size[d]) break;
        src -= t.stride[d] * t.size[d];
        idx[d] = 0;
      }
    }
    out.set(name, new Tensor(t.storage.dtype, dst, t.size));
  }
  return out;
}

/** Storages referenced by several persistent ids must agree on their type and size. */
function registerStorage(seen: Map<string, StorageRef>, ref: StorageRef, u: Unpickler): StorageRef {
  const prev = seen.get(ref.key);
  if (prev === undefined) {
    seen.set(ref.key, ref);
    return ref;
  }
  if (prev.type.name !== ref.type.name || prev.numel !== ref.numel)
    u.fail(`storage ${ref.key} is named twice with different types or sizes`);
  return prev;
}

function parseZip(src: ByteSource, file: string): Map<string, Tensor> {
  const entries = readZipDirectory(src, file);
  const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) throw new CheckpointError(file, `expected one <archive>/data.pkl record, found ${pkl.length}`);
  const prefix = pkl[0].slice(0, -"data.pkl".length);
  const text = (name: string): string | null => {
    const e = entries.get(prefix + name);
    if (!e) return null;
    if (e.size > 64) throw new CheckpointError(file, `record ${prefix + name} is ${e.size} bytes long`);
    return new TextDecoder().decode(src.read(e.dataOffset, e.size)).trim();
  };
  const byteorder = text("byteorder") ?? "little";
  if (byteorder !== "little" && byteorder !== "big")
    throw new CheckpointError(file, `byteorder record says ${JSON.stringify(byteorder)}, expected little or big`);
  const version = text("version");
  if (version !== null && !/^\d{1,3}$/.test(version))
    throw new CheckpointError(file, `version record says ${JSON.stringify(version)}`);

  const pklEntry = entries.get(pkl[0])!;
  const seen = new Map<string, StorageRef>();
  const u = new Unpickler(src.read(pklEntry.dataOffset, pklEntry.size), `${file} (${pkl[0]})`, (pid, up) => {
    const ref = registerStorage(seen, storageFromPid(pid, up, false), up);
    const e = entries.get(`${prefix}data/${ref.key}`);
    if (!e) up.fail(`storage ${ref.key}: record ${prefix}data/${ref.key} is missing`);
    const need = ref.numel * dtypeSize(ref.dtype);
    if (e!.size !== need)
      up.fail(`storage ${ref.key} holds ${ref.numel} ${ref.dtype} values (${need} bytes), its record has ${e!.size}`);
    return ref;
  });
  const state = stateDictOf(u.load(), file);
  const arrays = new Map<string, TypedArray>();
  return buildTensors(
    state,
    (ref) => {
      let a = arrays.get(ref.key);
      if (a === undefined) {
        const e = entries.get(`${prefix}data/${ref.key}`)!;
        a = storageArray(ref, src.read(e.dataOffset, e.size), byteorder === "big", file);
        arrays.set(ref.key, a);
      }
      return a;
    },
    src.size,
    file,
  );
}

function parseLegacy(src: ByteSource, file: string): Map<string, Tensor> {
  // The pickles sit at the start of the file, before the storage data; read them from the whole file when it is
  // small, else from a window grown until the object pickle fits (it is at most a few MB for any real model).
  let window = Math.min(src.size, 1 << 20);
  for (;;) {
    try {
      return parseLegacyWindow(src, src.read(0, window), file);
    } catch (e) {
      if (!(e instanceof NeedMoreBytes) || window === src.size) throw e instanceof NeedMoreBytes ? e.cause : e;
      window = Math.min(src.size, window * 4);
    }
  }
}

class NeedMoreBytes extends Error {
  constructor(override readonly cause: CheckpointError) {
    super(cause.message);
  }
}

function parseLegacyWindow(src: ByteSource, head: Uint8Array, file: string): Map<string, Tensor> {
  let pos = 0;
  const noPid = (_pid: PickleValue, u: Unpickler): PickleValue => u.fail("unexpected persistent id");
  const next = (what: string, load = noPid): PickleValue => {
    const u = new Unpickler(head, `${file} (legacy ${what})`, load, pos);
    try {
      const v = u.load();
      pos = u.offset;
      return v;
    } catch (e) {
      // A pickle cut by the window end (not by the file end) just needs a larger window.
      if (e instanceof CheckpointError && head.length < src.size && /more bytes|unterminated/.test(e.message))
        throw new NeedMoreBytes(e);
      throw e;
    }
  };
  if (next("magic number") !== LEGACY_MAGIC)
    throw new CheckpointError(file, "legacy torch file with a wrong magic number");
  const protocol = next("protocol version");
  if (protocol !== LEGACY_PROTOCOL_VERSION)
    throw new CheckpointError(file, `legacy protocol version ${String(protocol)}, expected ${LEGACY_PROTOCOL_VERSION}`);
  const sysInfo = next("sys_info");
  const littleEndian = !(sysInfo instanceof Map) || sysInfo.get("little_endian") !== false;
  const seen = new Map<string, StorageRef>();
  const state = stateDictOf(
    next("object", (pid, u) => registerStorage(seen, storageFromPid(pid, u, true), u)),
    file,
  );
  const keys = next("storage keys");
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string"))
    throw new CheckpointError(file, "legacy storage key list is not a list of strings");
  // Storage records follow in key order: int64 numel, then the bytes. Only headers are read here.
  const where = new Map<string, number>();
  let at = pos;
  for (const key of keys as string[]) {
    const ref = seen.get(key);
    if (!ref) throw new CheckpointError(file, `legacy storage ${key} is listed but no tensor uses it`);
    if (where.has(key)) throw new CheckpointError(file, `legacy storage ${key} is listed twice`);
    if (at + 8 > src.size) throw new CheckpointError(file, `legacy storage ${key}: file truncated at byte ${at}`);
    const h = src.read(at, 8);
    const dv = new DataView(h.buffer, h.byteOffset, 8);
    const n = littleEndian ? dv.getBigInt64(0, true) : dv.getBigInt64(0, false);
    if (n !== BigInt(ref.numel))
      throw new CheckpointError(
        file,
        `legacy storage ${key} records ${n} elements, its persistent id says ${ref.numel}`,
      );
    const bytes = ref.numel * dtypeSize(ref.dtype);
    if (at + 8 + bytes > src.size)
      throw new CheckpointError(
        file,
        `legacy storage ${key} (${bytes} bytes at ${at + 8}) runs past the end of the file`,
      );
    where.set(key, at + 8);
    at += 8 + bytes;
  }
  for (const key of seen.keys())
    if (!where.has(key)) throw new CheckpointError(file, `legacy storage ${key} is used but not in the key list`);
  const arrays = new Map<string, TypedArray>();
  return buildTensors(
    state,
    (ref) => {
      let a = arrays.get(ref.key);
      if (a === undefined) {
        a = storageArray(ref, src.read(where.get(ref.key)!, ref.numel * dtypeSize(ref.dtype)), !littleEndian, file);
        arrays.set(ref.key, a);
      }
      return a;
    },
    src.size,
    file,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------

/**
 * The bytes `torch.save(state_dict, path)` writes (zip format, protocol 2) for contiguous tensors: the archive
 * is named after the file stem as torch names it, storages are keyed "0", "1", ... in state-dict order, and the
 * records are `data.pkl`, `byteorder`, `data/<key>`..., `version` ("3\n"), data aligned to 64 bytes.
 */
export function serializeTorchCheckpoint(
  tensors: Map<string, Tensor>,
  archiveName: string,
  opts: { forceZip64?: boolean } = {},
): Uint8Array[] {
  const list = [...tensors];
  const pkl = pickleStateDict(list.map(([name, t], i) => ({ name, key: String(i), dtype: t.dtype, shape: t.shape })));
  const records = [
    { name: `${archiveName}/data.pkl`, data: pkl },
    { name: `${archiveName}/byteorder`, data: new TextEncoder().encode("little") },
    ...list.map(([, t], i) => ({
      name: `${archiveName}/data/${i}`,
      data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    })),
    { name: `${archiveName}/version`, data: new TextEncoder().encode("3\n") },
  ];
  return buildStoredZip(records, opts);
}

/** `torch.save(state_dict, path)`: writes `path` (its stem names the archive, as torch does). */
export async function saveTorchCheckpoint(path: string, tensors: Map<string, Tensor>): Promise<void> {
  const stem = basename(path).replace(/\.[^.]*$/, "") || "archive";
  const chunks = serializeTorchCheckpoint(tensors, stem);
  try {
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, "w");
    try {
      let position = 0;
      for (const c of chunks) {
        for (let done = 0; done < c.length;) {
          const { bytesWritten } = await fh.write(c, done, c.length - done, position);
          done += bytesWritten;
          position += bytesWritten;
        }
      }
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new CheckpointError(path, `cannot write (${(e as Error).message})`);
  }
}

/** The whole file as one byte array (tests, fuzzing). */
export function concatChunks(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
