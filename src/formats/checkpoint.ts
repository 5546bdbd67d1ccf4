/**
 * Checkpoint folders: the weight files of an HF model directory.
 *
 * A folder holds either one `model.safetensors`, or shards `model-0000i-of-0000N.safetensors` plus
 * `model.safetensors.index.json` = `{"metadata": {"total_size": bytes}, "weight_map": {tensor: shard file}}`;
 * or the same in PyTorch's format (`pytorch_model.bin`, or `pytorch_model-0000i-of-0000N.bin` shards plus
 * `pytorch_model.bin.index.json`), read by the restricted unpickler of `pytorch.ts` (most Llama 2 fine-tunes on
 * the Hub predate safetensors).
 *
 * Loading mirrors HF `modeling_utils` (`from_pretrained` / `load_sharded_checkpoint`): the first of
 * `model.safetensors`, `model.safetensors.index.json`, `pytorch_model.bin`, `pytorch_model.bin.index.json` that
 * exists is read (HF's order with `use_safetensors=None`: safetensors preferred); shards are read in sorted
 * file-name order (`sorted(set(weight_map.values()))`).
 * Unlike HF, which trusts the index, every inconsistency is a CheckpointError naming the file: a shard name
 * that is not a plain file name in the folder, a missing shard, a listed tensor absent from its shard, a tensor
 * found in two shards or in a shard the index does not map it to, a shard tensor absent from the index.
 *
 * Saving mirrors `PreTrainedModel.save_pretrained` in transformers 4.44 with `safe_serialization=True`:
 * huggingface_hub's `split_state_dict_into_shards_factory` splits the tensors greedily in the order given (pass
 * them in state-dict order to get HF's shards), each shard is written with `metadata={"format": "pt"}`, and the
 * index is `json.dumps(index, indent=2, sort_keys=True) + "\n"`. With `safe_serialization: false` (HF's option)
 * the same shards are written by `torch.save` instead: `pytorch_model.bin` or `pytorch_model-0000i-of-0000N.bin` +
 * `pytorch_model.bin.index.json`.
 */
import { readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { CheckpointError, ValueError } from "../errors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type ChunkWriter, type SaveTransaction, saveAtomically } from "../utils/atomic_save.ts";
import { FILE_LIMITS, readFileCheckedAsync } from "../utils/safe_fs.ts";
import { checkSerializable, compareCodePoints, loadSafetensors, safetensorsWriter } from "./safetensors.ts";
import { loadTorchCheckpoint, serializeTorchCheckpoint } from "./pytorch.ts";

export const SAFE_WEIGHTS_NAME = "model.safetensors";
export const SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json";
export const WEIGHTS_NAME = "pytorch_model.bin";
export const WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json";

/** The two weight formats of a folder: file names and how to read / write one file. */
/**
 * Loading progress of a checkpoint, file by file, in reading order: "initiate" (loaded 0), "progress" (bytes
 * read so far; safetensors files over 1 GiB report after each tensor), "done" (loaded === total).
 */
export interface LoadProgressEvent {
  status: "initiate" | "progress" | "done";
  file: string;
  loaded: number;
  total: number;
}
export type LoadProgress = (event: LoadProgressEvent) => void;

interface WeightsFormat {
  single: string;
  index: string;
  load(path: string, onProgress?: (loaded: number, total: number) => void): Promise<Map<string, Tensor>>;
  /** The writer of one file named `fileName` (for a save transaction, atomic_save.ts). */
  writer(fileName: string, tensors: Map<string, Tensor>, metadata: Record<string, string>): ChunkWriter;
}

const SAFETENSORS_FORMAT: WeightsFormat = {
  single: SAFE_WEIGHTS_NAME,
  index: SAFE_WEIGHTS_INDEX_NAME,
  load: async (path, on_progress) => (await loadSafetensors(path, { on_progress })).tensors,
  writer: (_fileName, tensors, metadata) => safetensorsWriter(tensors, metadata),
};

const PYTORCH_FORMAT: WeightsFormat = {
  single: WEIGHTS_NAME,
  index: WEIGHTS_INDEX_NAME,
  load: async (path, onProgress) => {
    const tensors = loadTorchCheckpoint(path).tensors;
    const { size } = await stat(path);
    onProgress?.(size, size);
    return tensors;
  },
  // torch names the archive after the file stem.
  writer: (fileName, tensors) => {
    const chunks = serializeTorchCheckpoint(tensors, fileName.replace(/\.[^.]*$/, "") || "archive");
    return async (write) => {
      for (const c of chunks) await write(c);
    };
  },
};
/** huggingface_hub's `MAX_SHARD_SIZE` default, also `save_pretrained`'s. */
export const DEFAULT_MAX_SHARD_SIZE = "5GB";

const SIZE_UNITS: Record<string, number> = { TB: 1e12, GB: 1e9, MB: 1e6, KB: 1e3 };

/**
 * huggingface_hub `parse_size_to_int`: "5GB" -> 5_000_000_000. Units TB, GB, MB, KB (decimal, case-insensitive),
 * the value may be fractional ("1.5MB"), the result is truncated to an integer. A number is returned as is.
 */
export function parseSizeToInt(size: number | string): number {
  if (typeof size !== "number" && typeof size !== "string")
    throw new ValueError(
      `max_shard_size: expected a number of bytes or a size string such as "5GB", got ${size === null ? "null" : typeof size}`,
    );
  if (typeof size === "number") {
    if (!(size >= 0)) throw new ValueError(`max_shard_size must be a non-negative number of bytes, got ${size}`);
    return size;
  }
  const s = size.trim();
  const unit = s.slice(-2).toUpperCase();
  if (!Object.hasOwn(SIZE_UNITS, unit))
    throw new ValueError(`Unit '${unit}' not supported. Supported units are TB, GB, MB, KB. Got '${s}'.`);
  const multiplier = SIZE_UNITS[unit];
  const valueText = s.slice(0, -2).trim();
  if (!/^[+]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(valueText))
    throw new ValueError(`Could not parse the size value from '${s}'`);
  return Math.trunc(Number(valueText) * multiplier);
}

export interface StateDictSplit {
  /** One list of tensor names per shard, in file order. */
  shards: string[][];
  /** Sum of the tensors' byte lengths (`metadata.total_size` of the index). */
  total_size: number;
}

/**
 * huggingface_hub `split_state_dict_into_shards_factory`: walk the tensors in order, closing the current shard
 * when the next tensor would tip it over `max_shard_size`. HF quirk kept: a tensor larger than the limit gets a
 * shard of its own *appended at once*, while the shard being filled stays open, so that shard comes after it.
 * (HF's storage-sharing bookkeeping is left out: our tensors never share storage in a state dict.)
 */
export function splitStateDictIntoShards(
  entries: [string, Tensor][],
  max_shard_size: number | string = DEFAULT_MAX_SHARD_SIZE,
): StateDictSplit {
  const limit = parseSizeToInt(max_shard_size);
  const shards: string[][] = [];
  let current: string[] = [];
  let currentSize = 0;
  let total = 0;
  for (const [name, t] of entries) {
    const size = t.data.byteLength;
    total += size;
    if (size > limit) {
      shards.push([name]);
      continue;
    }
    if (currentSize + size > limit) {
      shards.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(name);
    currentSize += size;
  }
  if (current.length > 0) shards.push(current);
  return { shards, total_size: total };
}

/**
 * HF's shard file name: `model-00001-of-00003.safetensors` (or `pytorch_model-00001-of-00003.bin` for the
 * PyTorch format: HF inserts the suffix before the extension of `weights_name`).
 */
export function shardFileName(index: number, count: number, weightsName = SAFE_WEIGHTS_NAME): string {
  const pad = (n: number) => String(n).padStart(5, "0");
  const dot = weightsName.lastIndexOf(".");
  return `${weightsName.slice(0, dot)}-${pad(index + 1)}-of-${pad(count)}${weightsName.slice(dot)}`;
}

/** Python `json.dumps(obj, indent=2, sort_keys=True)` with its default `ensure_ascii=True` (DEL and non-ASCII as \uXXXX). */
function pythonJsonDumps(value: unknown): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (typeof v === "object" && v !== null) {
      const keys = Object.keys(v).sort(compareCodePoints);
      // A Map keeps insertion order for integer-like keys, which a plain object would move to the front.
      return new Map(keys.map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  const write = (v: unknown, indent: string): string => {
    if (v instanceof Map) {
      if (v.size === 0) return "{}";
      const inner = indent + "  ";
      const items = [...v].map(([k, x]) => `${inner}${JSON.stringify(k)}: ${write(x, inner)}`);
      return `{\n${items.join(",\n")}\n${indent}}`;
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const inner = indent + "  ";
      return `[\n${v.map((x) => inner + write(x, inner)).join(",\n")}\n${indent}]`;
    }
    return JSON.stringify(v);
  };
  return write(sortKeys(value), "").replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** A shard name must name a file directly inside the folder: no separators, no `.`/`..`, no NUL. */
function isPlainFileName(name: string): boolean {
  return name.length > 0 && name !== "." && name !== ".." && !/[/\\\0]/.test(name) && basename(name) === name;
}

interface ShardIndex {
  weight_map: Map<string, string>;
}

async function readIndex(indexPath: string): Promise<ShardIndex> {
  const bytes = await readFileCheckedAsync(indexPath, FILE_LIMITS.safetensors_index);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CheckpointError(indexPath, "index is not valid UTF-8");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(indexPath, `index is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new CheckpointError(indexPath, "index must be a JSON object");
  const wm = (raw as Record<string, unknown>).weight_map;
  if (typeof wm !== "object" || wm === null || Array.isArray(wm)) {
    throw new CheckpointError(indexPath, '"weight_map" must be an object mapping tensor names to shard file names');
  }
  const weight_map = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(wm)) {
    if (typeof shard !== "string")
      throw new CheckpointError(
        indexPath,
        `weight_map[${JSON.stringify(tensor)}] must be a file name string, got ${typeof shard}`,
      );
    if (!isPlainFileName(shard)) {
      throw new CheckpointError(
        indexPath,
        `weight_map[${JSON.stringify(tensor)}] = ${JSON.stringify(shard)}: a shard must be a plain file name inside the folder`,
      );
    }
    weight_map.set(tensor, shard);
  }
  // "metadata" (total_size) is informational: HF does not read it back, and real indexes often disagree with it.
  return { weight_map };
}

/**
 * Load every tensor of a checkpoint folder. `files` lists the safetensors files read (joined with `dir`).
 * Tensor order: per file in the order read, each file's tensors in data order.
 */
export async function loadCheckpointTensors(
  dir: string,
  opts: { use_safetensors?: boolean | null; on_progress?: LoadProgress } = {},
): Promise<{ tensors: Map<string, Tensor>; files: string[] }> {
  const use = opts.use_safetensors;
  if (use !== undefined && use !== null && typeof use !== "boolean")
    throw new ValueError(`use_safetensors: expected true, false or null, got ${JSON.stringify(use)}`);
  const onProgress = opts.on_progress;
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new CheckpointError(dir, "checkpoint folder not found");
  }
  if (!info.isDirectory())
    throw new CheckpointError(
      dir,
      "not a folder (expected a checkpoint folder with model.safetensors or model.safetensors.index.json)",
    );

  // HF's `use_safetensors`: null/undefined = safetensors first, then PyTorch files; true = safetensors only;
  // false = PyTorch files only.
  const formats =
    opts.use_safetensors === true
      ? [SAFETENSORS_FORMAT]
      : opts.use_safetensors === false
        ? [PYTORCH_FORMAT]
        : [SAFETENSORS_FORMAT, PYTORCH_FORMAT];
  for (const format of formats) {
    const single = join(dir, format.single);
    if (await isFile(single)) return { tensors: await loadReporting(format, single, onProgress), files: [single] };
    const indexPath = join(dir, format.index);
    if (await isFile(indexPath)) return loadShards(dir, format, onProgress);
  }
  const names = formats.flatMap((f) => [f.single, f.index]);
  throw new CheckpointError(
    dir,
    `no ${names.slice(0, -1).join(", ")} or ${names[names.length - 1]} in the folder` +
      (opts.use_safetensors === true
        ? " (use_safetensors: true)"
        : opts.use_safetensors === false
          ? " (use_safetensors: false)"
          : ""),
  );
}

/** `format.load(path)`, reporting initiate / progress / done to `onProgress`. */
async function loadReporting(
  format: WeightsFormat,
  path: string,
  onProgress: LoadProgress | undefined,
): Promise<Map<string, Tensor>> {
  if (!onProgress) return format.load(path);
  const { size } = await stat(path);
  onProgress({ status: "initiate", file: path, loaded: 0, total: size });
  const tensors = await format.load(path, (loaded, total) =>
    onProgress({ status: "progress", file: path, loaded, total }),
  );
  onProgress({ status: "done", file: path, loaded: size, total: size });
  return tensors;
}

async function loadShards(
  dir: string,
  format: WeightsFormat,
  onProgress: LoadProgress | undefined,
): Promise<{ tensors: Map<string, Tensor>; files: string[] }> {
  const INDEX = format.index;
  const { weight_map } = await readIndex(join(dir, INDEX));
  const shardNames = [...new Set(weight_map.values())].sort(compareCodePoints);
  const tensors = new Map<string, Tensor>();
  const foundIn = new Map<string, string>();
  const files: string[] = [];
  for (const shard of shardNames) {
    const shardPath = join(dir, shard);
    if (!(await isFile(shardPath))) throw new CheckpointError(shardPath, `shard listed in ${INDEX} is missing`);
    const shardTensors = await loadReporting(format, shardPath, onProgress);
    files.push(shardPath);
    for (const [name, t] of shardTensors) {
      const other = foundIn.get(name);
      if (other !== undefined)
        throw new CheckpointError(shardPath, `tensor ${JSON.stringify(name)} is in two shards: ${other} and ${shard}`);
      const listed = weight_map.get(name);
      if (listed === undefined)
        throw new CheckpointError(shardPath, `tensor ${JSON.stringify(name)} is not listed in ${INDEX}`);
      if (listed !== shard)
        throw new CheckpointError(
          shardPath,
          `tensor ${JSON.stringify(name)} is in ${shard} but ${INDEX} maps it to ${listed}`,
        );
      foundIn.set(name, shard);
      tensors.set(name, t);
    }
  }
  for (const [name, shard] of weight_map) {
    if (!foundIn.has(name))
      throw new CheckpointError(
        join(dir, shard),
        `tensor ${JSON.stringify(name)} listed in ${INDEX} is missing from this shard`,
      );
  }
  return { tensors, files };
}

export interface SaveCheckpointOptions {
  /** Bytes (number) or an HF size string ("5GB", "100KB"); default "5GB" as HF. */
  max_shard_size?: number | string;
  /** `__metadata__` of every file; default `{format: "pt"}` as HF's `save_pretrained`. */
  metadata?: Record<string, string>;
  /** HF's option: true (default) writes safetensors, false writes `torch.save` files (`pytorch_model*.bin`). */
  safe_serialization?: boolean;
}

/** HF's shard-name pattern for clean-up: `<name>-ddddd-of-ddddd` once `.bin`/`.safetensors` are removed. */
const SHARD_PATTERN = /^(.*?)-\d{5}-of-\d{5}$/s;

/**
 * Write tensors as HF does: `model.safetensors`, or shards + index when they exceed `max_shard_size`
 * (`pytorch_model.bin` and its shards with `safe_serialization: false`). Returns the paths written. As HF, stale
 * `<weights name>-ddddd-of-ddddd.{safetensors,bin}` files of an earlier save are removed. Beyond HF: a stale
 * single file (sharded save) or index (single-file save) of the same format is removed too, since loading
 * prefers the single file and a stale index would name missing shards; and a `.bin` save removes the
 * safetensors weights of an earlier save, which loading would otherwise prefer to the new files. The save is
 * atomic (atomic_save.ts): a failure leaves the folder's old files as they were.
 */
export async function saveCheckpointTensors(
  dir: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  opts: SaveCheckpointOptions = {},
): Promise<string[]> {
  const plan = planCheckpointSave(tensors, opts);
  return saveAtomically(dir, (tx) => stageCheckpointTensors(tx, plan));
}

/** What a checkpoint save writes, checked before any file is touched. */
export interface CheckpointSavePlan {
  format: WeightsFormat;
  files: { name: string; writer: ChunkWriter }[];
  /** The index text, for a sharded save. */
  index: string | null;
}

/**
 * Check tensors, metadata and max_shard_size and split into files; every problem with the input is thrown
 * here, before a save touches the folder.
 */
export function planCheckpointSave(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  opts: SaveCheckpointOptions = {},
): CheckpointSavePlan {
  const entries: [string, Tensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const metadata = opts.metadata ?? { format: "pt" };
  checkSerializable(entries, metadata);
  const split = splitStateDictIntoShards(entries, opts.max_shard_size ?? DEFAULT_MAX_SHARD_SIZE);
  const format = opts.safe_serialization === false ? PYTORCH_FORMAT : SAFETENSORS_FORMAT;
  if (split.shards.length <= 1)
    return {
      format,
      files: [{ name: format.single, writer: format.writer(format.single, new Map(entries), metadata) }],
      index: null,
    };
  const byName = new Map(entries);
  const weight_map: Record<string, string> = Object.create(null); // a tensor named "__proto__" stays a key
  const files = split.shards.map((names, i) => {
    const name = shardFileName(i, split.shards.length, format.single);
    for (const n of names) weight_map[n] = name;
    return { name, writer: format.writer(name, new Map(names.map((n) => [n, byName.get(n)!])), metadata) };
  });
  const index = pythonJsonDumps({ metadata: { total_size: split.total_size }, weight_map }) + "\n";
  return { format, files, index };
}

/** Stage a planned checkpoint in a save transaction: weight files, then the index; stale weight files go. */
export async function stageCheckpointTensors(tx: SaveTransaction, plan: CheckpointSavePlan): Promise<string[]> {
  const { format } = plan;
  const fileNames = plan.files.map((f) => f.name);
  const stale = new Set([plan.index !== null ? format.single : format.index]);
  const prefixes = [format.single.replace(/\.[^.]*$/, "")];
  if (format === PYTORCH_FORMAT) {
    stale.add(SAFE_WEIGHTS_NAME).add(SAFE_WEIGHTS_INDEX_NAME);
    prefixes.push("model");
  }
  let present: string[];
  try {
    present = await readdir(tx.dir);
  } catch (e) {
    throw new CheckpointError(tx.dir, `cannot list the folder (${(e as NodeJS.ErrnoException).code})`);
  }
  for (const name of present) {
    const stem = name.replaceAll(".bin", "").replaceAll(".safetensors", "");
    // HF: `filename.startswith(weights_no_suffix)` and `reg.fullmatch(filename_no_suffix)`
    const oldShard = prefixes.some((p) => name.startsWith(p)) && SHARD_PATTERN.test(stem) && !fileNames.includes(name);
    if ((oldShard || stale.has(name)) && (await isFile(join(tx.dir, name)))) tx.removeAtCommit(name);
  }
  const written: string[] = [];
  for (const f of plan.files) written.push(await tx.stageStream(f.name, f.writer));
  if (plan.index !== null) written.push(await tx.stage(format.index, plan.index));
  return written;
}
