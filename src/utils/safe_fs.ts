/**
 * Safe file reading: the one way every loader opens a file it did not write (config.json, tokenizer files,
 * safetensors, index files, torch checkpoints).
 *
 * A checkpoint folder comes from a stranger, so a "file" in it may be a named pipe (reading blocks forever), a
 * symlink to /dev/zero or /dev/urandom (reading never ends), a directory, or simply far larger than its kind
 * ever is. HF reads with plain `open()` and trusts all of that; here every read:
 *   1. opens with O_NONBLOCK (opening a FIFO then returns at once instead of waiting for a writer; a regular
 *      file ignores the flag),
 *   2. checks with fstat on the opened descriptor (not stat on the path, so a swap between check and read is
 *      impossible) that it is a regular file,
 *   3. checks its size against the cap of its kind (FILE_LIMITS) before allocating anything,
 *   4. reads exactly that many bytes, and fails if the file shrank meanwhile.
 * Every failure is the kind's typed error (CheckpointError or TokenizerError) naming the path.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { CheckpointError, type LlamaError, TokenizerError } from "../errors.ts";

/** What a file is, how large it may be, and which typed error reports a problem with it. */
export interface FileKind {
  /** Human name used in messages ("config.json", "safetensors file"). */
  readonly label: string;
  /** Largest accepted size in bytes (checked before any byte is read). */
  readonly maxBytes: number;
  readonly error: new (file: string, message: string) => LlamaError;
}

const MiB = 1 << 20;

/**
 * The size caps, per kind of file. Each is far above the largest such file published on the Hub (Llama 3's
 * tokenizer.json is 9 MB, the largest known ones ~35 MB; configs are a few KB; sentencepiece models < 5 MB)
 * and low enough that parsing a file of that size stays well inside a 4 GB process.
 */
export const FILE_LIMITS = {
  config: { label: "config.json", maxBytes: 16 * MiB, error: CheckpointError },
  generation_config: { label: "generation_config.json", maxBytes: 16 * MiB, error: CheckpointError },
  tokenizer_json: { label: "tokenizer.json", maxBytes: 256 * MiB, error: TokenizerError },
  tokenizer_config: { label: "tokenizer_config.json", maxBytes: 64 * MiB, error: TokenizerError },
  special_tokens_map: { label: "special_tokens_map.json", maxBytes: 16 * MiB, error: TokenizerError },
  added_tokens: { label: "added_tokens.json", maxBytes: 64 * MiB, error: TokenizerError },
  sentencepiece_model: { label: "tokenizer.model", maxBytes: 256 * MiB, error: TokenizerError },
  /** The safetensors crate's MAX_HEADER_SIZE bounds an index the same way. */
  safetensors_index: { label: "safetensors index", maxBytes: 100_000_000, error: CheckpointError },
  /** Weights: no cap beyond the regular-file check (a 70B shard is 10 GB); the format parsers bound the rest. */
  safetensors: { label: "safetensors file", maxBytes: Number.MAX_SAFE_INTEGER, error: CheckpointError },
  torch_checkpoint: { label: "torch checkpoint", maxBytes: Number.MAX_SAFE_INTEGER, error: CheckpointError },
} as const satisfies Record<string, FileKind>;

// O_NONBLOCK is 0 where the platform has none (Windows has no FIFOs to block on there).
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

function fileType(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a named pipe (FIFO)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

function describeOpenError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === "ENOENT") return "file not found";
  if (err.code === "EISDIR") return "a directory, expected a regular file";
  return `cannot open (${err.code ?? err.message})`;
}

/** The size of an opened file after the regular-file and size checks. */
function checkedSize(st: Stats, path: string, kind: FileKind): number {
  if (!st.isFile()) throw new kind.error(path, `${fileType(st)}, expected a regular ${kind.label}`);
  if (st.size > kind.maxBytes)
    throw new kind.error(path, `${st.size} bytes, more than the ${kind.maxBytes}-byte limit for a ${kind.label}`);
  return st.size;
}

/**
 * Open a file synchronously after the checks above: its descriptor (the caller closes it) and the size fstat
 * reported.
 */
export function openFileCheckedSync(path: string, kind: FileKind): { fd: number; size: number } {
  if (typeof path !== "string" || path.length === 0)
    throw new kind.error(String(path), `the path of a ${kind.label} must be a non-empty string`);
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw new kind.error(path, describeOpenError(e));
  }
  try {
    return { fd, size: checkedSize(fstatSync(fd), path, kind) };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Read a whole file synchronously after the checks above. */
export function readFileChecked(path: string, kind: FileKind): Uint8Array {
  const { fd, size } = openFileCheckedSync(path, kind);
  try {
    const bytes = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      let n: number;
      try {
        n = readSync(fd, bytes, done, size - done, done);
      } catch (e) {
        throw new kind.error(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      if (n === 0) throw new kind.error(path, `file shrank while reading (${done} of ${size} bytes)`);
      done += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** Read a whole file as UTF-8 text (invalid sequences become U+FFFD, as `readFileSync(path, "utf8")`). */
export function readTextFileChecked(path: string, kind: FileKind): string {
  return new TextDecoder("utf-8").decode(readFileChecked(path, kind));
}

/** Async twin of {@link readFileChecked}. */
export async function readFileCheckedAsync(path: string, kind: FileKind): Promise<Uint8Array> {
  const { handle, size } = await openFileChecked(path, kind);
  try {
    const bytes = new Uint8Array(size);
    await readExactly(handle, bytes, 0, path, kind);
    return bytes;
  } finally {
    await handle.close();
  }
}

/** Async twin of {@link readTextFileChecked}. */
export async function readTextFileCheckedAsync(path: string, kind: FileKind): Promise<string> {
  return new TextDecoder("utf-8").decode(await readFileCheckedAsync(path, kind));
}

/**
 * Open a file for reading in pieces (large weight files): the checks above, then the handle and the size
 * fstat reported. The caller closes the handle.
 */
export async function openFileChecked(path: string, kind: FileKind): Promise<{ handle: FileHandle; size: number }> {
  if (typeof path !== "string" || path.length === 0)
    throw new kind.error(String(path), `the path of a ${kind.label} must be a non-empty string`);
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (e) {
    throw new kind.error(path, describeOpenError(e));
  }
  try {
    return { handle, size: checkedSize(await handle.stat(), path, kind) };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Fill `buf` from `position` on; a short read (the file shrank) is the kind's error, not silent zeros. */
export async function readExactly(
  handle: FileHandle,
  buf: Uint8Array,
  position: number,
  path: string,
  kind: FileKind,
): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(buf, done, buf.length - done, position + done));
    } catch (e) {
      throw new kind.error(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (n === 0)
      throw new kind.error(path, `file shrank while reading (got ${done} of ${buf.length} bytes at ${position})`);
    done += n;
  }
}
