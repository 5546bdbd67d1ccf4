/**
 * Hub ids ("meta-llama/Llama-2-7b-hf") resolved to local files, in the same cache huggingface_hub (Python) and
 * transformers use, so a model downloaded by either is found here and the other way round.
 *
 * Cache layout (huggingface_hub `file_download.py`, `constants.py`):
 *
 *     $HF_HUB_CACHE  (default $HF_HOME/hub, HF_HOME default ~/.cache/huggingface or $XDG_CACHE_HOME/huggingface)
 *       models--<org>--<name>/
 *         refs/<revision>                  the commit hash a branch or tag pointed to at the last download
 *         blobs/<etag>                     file contents, named by the server's ETag (sha256 for LFS files,
 *                                          the git blob sha1 otherwise); <etag>.incomplete while downloading
 *         snapshots/<commit>/<filename>    relative symlink to ../../blobs/<etag> (a copy where links fail)
 *         .no_exist/<commit>/<filename>    empty marker: the Hub said 404 for this optional file
 *
 * Download, per file, as `hf_hub_download` does it: HEAD `$HF_ENDPOINT/<repo>/resolve/<revision>/<file>` (following
 * only relative redirects, i.e. renamed repos) gives the commit (`X-Repo-Commit`), the ETag (`X-Linked-Etag` for
 * LFS files, else `ETag`), the size, and for LFS files a redirect to the CDN; then GET into
 * `blobs/<etag>.incomplete`, resuming with `Range: bytes=<have>-` after a dropped connection (5 attempts, as
 * huggingface_hub's `http_get`) or in a later run, and the bytes are checked against the ETag before the blob is
 * renamed into place: sha256 for LFS files (64 hex digits), git's `sha1("blob <size>\0" + bytes)` for the rest
 * (40 hex digits). huggingface_hub itself checks only the size; a checksum catches a CDN or proxy serving other
 * bytes of the same length. The token (`token` option, else HF_TOKEN, else $HF_HOME/token) is sent to the Hub
 * endpoint only, never to a CDN on another host, as huggingface_hub does.
 *
 * Offline: HF_HUB_OFFLINE=1 or `local_files_only: true` make no network call at all; a file missing from the
 * cache is a LocalEntryNotFoundError. When the Hub cannot be reached, files already in the cache for that
 * revision are used (huggingface_hub's fallback).
 *
 * Why not @huggingface/hub (npm): its cache functions do not check checksums nor resume a partial download, and
 * what llama-ts needs (the cache layout, HEAD + GET with resume, five typed errors) is this one file with no
 * dependency. Left out: file locks between two processes downloading the same blob at once (huggingface_hub uses
 * `.locks/`), Xet storage, and repo types other than models.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { copyFile, mkdir, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { FILE_LIMITS, readTextFileChecked } from "../utils/safe_fs.ts";
import { dirname, join, relative } from "node:path";
import { CheckpointError, ValueError } from "../errors.ts";
import {
  EntryNotFoundError,
  GatedRepoError,
  HubDownloadError,
  HubError,
  LocalEntryNotFoundError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
} from "./errors.ts";

/** What transformers.js passes to `progress_callback` while fetching files (hub.ts) and reading weights (modeling_utils.ts). */
export interface ProgressInfo {
  status: "initiate" | "download" | "progress" | "done";
  name?: string;
  file?: string;
  loaded?: number;
  total?: number;
  progress?: number;
}
export type ProgressCallback = (p: ProgressInfo) => void;

/** The Hub options `from_pretrained` accepts (transformers' names). */
export interface HubOptions {
  /** Branch, tag or commit hash (default "main"). */
  revision?: string;
  /** Use the local cache only; never touch the network. */
  local_files_only?: boolean;
  /** The hub cache folder (default HF_HUB_CACHE, else $HF_HOME/hub). */
  cache_dir?: string;
  /** Access token for gated or private repos (default HF_TOKEN, else the file $HF_HOME/token). */
  token?: string;
  progress_callback?: ProgressCallback;
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;
const COMMIT_HASH = /^[0-9a-f]{40}$/;

function envFlag(name: string): boolean {
  const v = (process.env[name] ?? "").toUpperCase();
  return v === "1" || v === "ON" || v === "YES" || v === "TRUE";
}

/** huggingface_hub's HF_HOME: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hf_home(): string {
  return process.env.HF_HOME || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
}

/** The hub cache folder: HF_HUB_CACHE, else $HF_HOME/hub. */
export function hf_hub_cache(): string {
  return process.env.HF_HUB_CACHE || join(hf_home(), "hub");
}

function endpoint(): string {
  return (process.env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
}

function token(opts: HubOptions): string | null {
  if (opts.token !== undefined) return opts.token;
  if (process.env.HF_TOKEN) return process.env.HF_TOKEN;
  const file = process.env.HF_TOKEN_PATH || join(hf_home(), "token");
  try {
    return readFileSync(file, "utf8").trim() || null;
  } catch {
    return null;
  }
}

/** True when `s` is shaped like a Hub id ("org/name" or "name"); a local folder of that name still wins. */
export function is_hub_id(s: string): boolean {
  return REPO_ID.test(s) && !s.includes("..");
}

/** `models--org--name`, the repo's folder in the cache. */
function repo_folder_name(repo_id: string): string {
  return ["models", ...repo_id.split("/")].join("--");
}

function checkFilename(repo_id: string, filename: string): void {
  // Shard names come from a downloaded index.json: keep them inside the snapshot folder.
  if (filename === "" || filename.startsWith("/") || filename.split(/[\\/]/).some((p) => p === ".." || p === ""))
    throw new HubError(repo_id, filename, "not a relative file name inside the repository");
}

/** Where the cache says `filename` of `revision` is: the path, "absent" (a cached 404), or null (not cached). */
export function try_to_load_from_cache(
  repo_id: string,
  filename: string,
  opts: { revision?: string; cache_dir?: string } = {},
): string | "absent" | null {
  const repoDir = join(opts.cache_dir ?? hf_hub_cache(), repo_folder_name(repo_id));
  const revision = opts.revision ?? "main";
  let commit: string | null = null;
  const ref = join(repoDir, "refs", revision);
  if (existsSync(ref)) commit = readFileSync(ref, "utf8").trim();
  else if (COMMIT_HASH.test(revision)) commit = revision;
  if (commit === null) return null;
  const path = join(repoDir, "snapshots", commit, filename);
  if (existsSync(path)) return path;
  if (existsSync(join(repoDir, ".no_exist", commit, filename))) return "absent";
  return null;
}

interface FileMetadata {
  commit: string | null;
  etag: string;
  size: number | null;
  /** Where the bytes are (the resolve URL, or the CDN URL it redirects to). */
  location: string;
}

const ETAG_TIMEOUT_MS = 10_000; // huggingface_hub DEFAULT_ETAG_TIMEOUT
const DOWNLOAD_STALL_MS = 10_000; // huggingface_hub DEFAULT_DOWNLOAD_TIMEOUT (per read)
const DOWNLOAD_ATTEMPTS = 5;

function authHeaders(url: string, tok: string | null): Record<string, string> {
  const h: Record<string, string> = { "accept-encoding": "identity", "user-agent": "llama-ts" };
  // Only the Hub endpoint gets the token; a CDN URL is signed and on another host.
  if (tok && new URL(url).origin === new URL(endpoint()).origin) h.authorization = `Bearer ${tok}`;
  return h;
}

/** Map a Hub error answer to the typed error huggingface_hub raises (`hf_raise_for_status`). */
function raiseForStatus(res: Response, repo_id: string, filename: string, revision: string, tok: string | null): void {
  if (res.ok || (res.status >= 300 && res.status < 400)) return;
  const code = res.headers.get("x-error-code");
  const msg = res.headers.get("x-error-message");
  if (code === "GatedRepo" || (res.status === 403 && /gated/i.test(msg ?? ""))) {
    throw new GatedRepoError(
      repo_id,
      filename,
      `the repository is gated (HTTP ${res.status}): accept its terms on the Hub, then ${tok ? "check that the token in HF_TOKEN has access" : "set HF_TOKEN to an access token"}`,
    );
  }
  if (code === "RepoNotFound" || (res.status === 401 && code !== "EntryNotFound")) {
    throw new RepositoryNotFoundError(
      repo_id,
      null,
      `repository not found (HTTP ${res.status}${tok ? "" : "; if it is private, set HF_TOKEN"})`,
    );
  }
  if (code === "RevisionNotFound")
    throw new RevisionNotFoundError(repo_id, null, `no revision ${JSON.stringify(revision)}`);
  if (code === "EntryNotFound" || res.status === 404)
    throw new EntryNotFoundError(repo_id, filename, `no such file at revision ${JSON.stringify(revision)} (HTTP 404)`);
  throw new HubDownloadError(repo_id, filename, `the Hub answered HTTP ${res.status}${msg ? ` (${msg})` : ""}`);
}

function normalizeEtag(v: string | null): string | null {
  if (v === null) return null;
  return v.replace(/^W\//, "").replace(/^"|"$/g, "");
}

/** HF `get_hf_file_metadata`: HEAD the resolve URL, following relative redirects only. */
async function fileMetadata(repo_id: string, filename: string, revision: string, tok: string | null) {
  const path = filename.split("/").map(encodeURIComponent).join("/");
  let url = `${endpoint()}/${repo_id}/resolve/${encodeURIComponent(revision)}/${path}`;
  for (let hop = 0; ; hop++) {
    const res = await fetch(url, {
      method: "HEAD",
      headers: authHeaders(url, tok),
      redirect: "manual",
      signal: AbortSignal.timeout(ETAG_TIMEOUT_MS),
    });
    raiseForStatus(res, repo_id, filename, revision, tok);
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location && !/^[a-z][a-z0-9+.-]*:/i.test(location)) {
      // A relative redirect: the repo was renamed or moved. Follow it (huggingface_hub's follow_relative_redirects).
      if (hop >= 10) throw new HubDownloadError(repo_id, filename, "too many redirects");
      url = new URL(location, url).toString();
      continue;
    }
    const etag = normalizeEtag(res.headers.get("x-linked-etag") ?? res.headers.get("etag"));
    if (etag === null)
      throw new HubDownloadError(repo_id, filename, "the server sent no ETag, so the file cannot be checked");
    const sizeHeader = res.headers.get("x-linked-size") ?? res.headers.get("content-length");
    const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : null;
    const meta: FileMetadata = {
      commit: res.headers.get("x-repo-commit"),
      etag,
      size,
      location: res.status >= 300 && res.status < 400 && location ? new URL(location, url).toString() : url,
    };
    return meta;
  }
}

/** What the bytes must hash to: sha256 (LFS), git blob sha1, or nothing checkable (size only). */
function expectedDigest(etag: string): { algo: "sha256" | "git-sha1"; hex: string } | null {
  if (/^[0-9a-f]{64}$/.test(etag)) return { algo: "sha256", hex: etag };
  if (/^[0-9a-f]{40}$/.test(etag)) return { algo: "git-sha1", hex: etag };
  return null;
}

async function digestOf(file: string, algo: "sha256" | "git-sha1"): Promise<string> {
  const h = createHash(algo === "sha256" ? "sha256" : "sha1");
  if (algo === "git-sha1") h.update(`blob ${statSync(file).size}\0`);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/**
 * GET `meta.location` into `blob + ".incomplete"`, resuming from what is already there, retrying a dropped
 * connection; then check size and checksum and rename to `blob`.
 */
async function downloadBlob(
  repo_id: string,
  filename: string,
  meta: FileMetadata,
  blob: string,
  tok: string | null,
  progress?: ProgressCallback,
): Promise<void> {
  const partial = blob + ".incomplete";
  let lastError = "";
  for (let attempt = 0; attempt < DOWNLOAD_ATTEMPTS; attempt++) {
    const have = existsSync(partial) ? statSync(partial).size : 0;
    if (meta.size !== null && have === meta.size) break;
    const headers = authHeaders(meta.location, tok);
    if (have > 0) headers.range = `bytes=${have}-`;
    const ctrl = new AbortController();
    let timer = setTimeout(() => ctrl.abort(), DOWNLOAD_STALL_MS);
    try {
      const res = await fetch(meta.location, { headers, signal: ctrl.signal });
      if (res.status === 416) {
        await rm(partial, { force: true }); // what we have is longer than the file: start over
        continue;
      }
      raiseForStatus(res, repo_id, filename, "", tok);
      if (!res.body) throw new Error("empty response");
      // 206: the server resumed; 200: it sent the whole file again.
      const out = createWriteStream(partial, { flags: res.status === 206 ? "a" : "w" });
      let loaded = res.status === 206 ? have : 0;
      const total = meta.size ?? undefined;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          clearTimeout(timer);
          timer = setTimeout(() => ctrl.abort(), DOWNLOAD_STALL_MS);
          if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
          loaded += chunk.length;
          if (meta.size !== null && loaded > meta.size)
            throw new HubDownloadError(repo_id, filename, `the server sent more than the announced ${meta.size} bytes`);
          progress?.({
            status: "progress",
            name: repo_id,
            file: filename,
            loaded,
            total,
            progress: total ? (100 * loaded) / total : undefined,
          });
        }
      } finally {
        await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
      }
      if (meta.size === null || loaded === meta.size) break;
      lastError = `connection closed after ${loaded} of ${meta.size} bytes`;
    } catch (e) {
      if (e instanceof HubError) throw e;
      lastError = (e as Error).name === "AbortError" ? "no data for 10 s" : (e as Error).message;
      const cause = (e as { cause?: Error }).cause;
      if (cause?.message) lastError += ` (${cause.message})`;
    } finally {
      clearTimeout(timer);
    }
  }
  const got = existsSync(partial) ? statSync(partial).size : 0;
  if (meta.size !== null && got !== meta.size) {
    throw new HubDownloadError(
      repo_id,
      filename,
      `download interrupted at ${got} of ${meta.size} bytes after ${DOWNLOAD_ATTEMPTS} attempts (${lastError}); run again to resume`,
    );
  }
  const want = expectedDigest(meta.etag);
  if (want !== null) {
    const hex = await digestOf(partial, want.algo);
    if (hex !== want.hex) {
      await rm(partial, { force: true });
      throw new HubDownloadError(
        repo_id,
        filename,
        `checksum mismatch: the bytes hash to ${want.algo} ${hex}, the server's ETag says ${want.hex} (the partial file was removed)`,
      );
    }
  }
  await rename(partial, blob);
}

/** Point `snapshots/<commit>/<filename>` at the blob (relative symlink, or a copy where links are not allowed). */
async function linkSnapshot(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  await rm(pointer, { force: true });
  try {
    await symlink(relative(dirname(pointer), blob), pointer);
  } catch {
    await copyFile(blob, pointer);
  }
}

/**
 * huggingface_hub's `hf_hub_download`: the local path of `filename` in `repo_id` at `revision`, downloading it
 * into the cache when needed. With `optional`, a file the repository does not have gives null instead of an
 * EntryNotFoundError.
 */
export async function hf_hub_download(
  repo_id: string,
  filename: string,
  opts: HubOptions & { optional?: boolean } = {},
): Promise<string | null> {
  checkHubArgs(repo_id, opts);
  checkFilename(repo_id, filename);
  const revision = opts.revision ?? "main";
  const cache = opts.cache_dir ?? hf_hub_cache();
  const repoDir = join(cache, repo_folder_name(repo_id));
  const cached = () => try_to_load_from_cache(repo_id, filename, { revision, cache_dir: cache });
  const notFound = (why: string) => {
    const c = cached();
    // An optional file not in the cache: unknown whether the repo has it; go on without it (transformers does).
    if ((c === "absent" || c === null) && opts.optional) return null;
    if (c !== null && c !== "absent") return c;
    if (c === "absent")
      throw new EntryNotFoundError(
        repo_id,
        filename,
        `no such file at revision ${JSON.stringify(revision)} (cached 404)`,
      );
    throw new LocalEntryNotFoundError(
      repo_id,
      filename,
      `not in the local cache (${repoDir}) and ${why}; download it once with network access, or pass a local folder`,
    );
  };

  const offline = offlineReason(opts);
  if (offline !== null) return notFound(offline);

  const tok = token(opts);
  let meta: FileMetadata;
  try {
    meta = await fileMetadata(repo_id, filename, revision, tok);
  } catch (e) {
    if (e instanceof EntryNotFoundError) {
      const commit = await currentCommit(repoDir, revision);
      if (commit !== null) {
        await mkdir(join(repoDir, ".no_exist", commit, dirname(filename)), { recursive: true });
        await writeFile(join(repoDir, ".no_exist", commit, filename), "");
      }
      if (opts.optional) return null;
      throw e;
    }
    if (e instanceof HubError) throw e;
    // Network trouble (refused, DNS, timeout): the cached copy of this revision, if any (huggingface_hub does so).
    const why =
      (e as Error).name === "TimeoutError"
        ? "timed out"
        : ((e as { cause?: Error }).cause?.message ?? (e as Error).message);
    return notFound(`the Hub at ${endpoint()} cannot be reached (${why})`);
  }

  const commit = meta.commit ?? (COMMIT_HASH.test(revision) ? revision : null);
  if (commit === null) throw new HubDownloadError(repo_id, filename, "the server sent no X-Repo-Commit header");
  // Both name folders and files in the cache: a server must not be able to point them elsewhere.
  if (!COMMIT_HASH.test(commit))
    throw new HubDownloadError(repo_id, filename, `X-Repo-Commit ${JSON.stringify(commit)} is not a commit hash`);
  if (!/^[\w-]{1,128}$/.test(meta.etag))
    throw new HubDownloadError(
      repo_id,
      filename,
      `ETag ${JSON.stringify(meta.etag)} is not a checksum or an opaque id`,
    );
  if (revision !== commit) {
    await mkdir(join(repoDir, "refs", dirname(revision)), { recursive: true });
    await writeFile(join(repoDir, "refs", revision), commit);
  }
  const pointer = join(repoDir, "snapshots", commit, filename);
  const blob = join(repoDir, "blobs", meta.etag);
  if (existsSync(pointer) && existsSync(blob)) return pointer;
  if (!existsSync(blob)) {
    mkdirSync(dirname(blob), { recursive: true });
    opts.progress_callback?.({ status: "download", name: repo_id, file: filename, total: meta.size ?? undefined });
    await downloadBlob(repo_id, filename, meta, blob, tok, opts.progress_callback);
    opts.progress_callback?.({ status: "done", name: repo_id, file: filename });
  }
  await linkSnapshot(blob, pointer);
  return pointer;
}

/** Why the network may not be used, or null when it may. */
function offlineReason(opts: HubOptions): string | null {
  if (opts.local_files_only) return "local_files_only is set";
  if (envFlag("HF_HUB_OFFLINE")) return "HF_HUB_OFFLINE is set";
  return null;
}

async function currentCommit(repoDir: string, revision: string): Promise<string | null> {
  if (COMMIT_HASH.test(revision)) return revision;
  try {
    return readFileSync(join(repoDir, "refs", revision), "utf8").trim() || null;
  } catch {
    return null;
  }
}

function checkHubArgs(repo_id: string, opts: HubOptions): void {
  if (typeof repo_id !== "string" || !is_hub_id(repo_id))
    throw new ValueError(`repo_id: expected "org/name" (letters, digits, - _ .), got ${JSON.stringify(repo_id)}`);
  checkHubOptions(opts);
}

/** The Hub options of any from_pretrained, checked even when a local folder makes them unused. */
function checkHubOptions(opts: HubOptions): void {
  if (opts === null || typeof opts !== "object") throw new ValueError("options: expected an object");
  for (const k of ["revision", "cache_dir", "token"] as const)
    if (opts[k] !== undefined && (typeof opts[k] !== "string" || opts[k] === ""))
      throw new ValueError(`${k}: expected a non-empty string, got ${JSON.stringify(opts[k])}`);
  if (opts.revision !== undefined && opts.revision.split("/").some((p) => p === ".." || p === ""))
    throw new ValueError(`revision: not a branch, tag or commit name: ${JSON.stringify(opts.revision)}`);
  if (opts.local_files_only !== undefined && typeof opts.local_files_only !== "boolean")
    throw new ValueError(`local_files_only: expected a boolean, got ${JSON.stringify(opts.local_files_only)}`);
  if (opts.progress_callback !== undefined && typeof opts.progress_callback !== "function")
    throw new ValueError("progress_callback: expected a function");
}

/** Which files a `from_pretrained` needs, asked one at a time (the weights decide on the index's shard list). */
export type FilePlan = (
  get: (filename: string, optional?: boolean) => Promise<string | null>,
  repo_id: string,
) => Promise<void>;

/** A shard index lists one line per tensor (a few hundred KB for the largest Llama); past this it is not one. */
const MAX_INDEX_BYTES = 50_000_000;

/** Files of a model: config, generation config, then the first weights layout the repository has. */
export const MODEL_FILES: FilePlan = async (get, repo_id) => {
  await get("config.json");
  await get("generation_config.json", true);
  if (await get("model.safetensors", true)) return;
  for (const index of ["model.safetensors.index.json", "pytorch_model.bin.index.json"]) {
    const path = await get(index, true);
    if (path === null) continue;
    let shards: string[];
    if (statSync(path).size > MAX_INDEX_BYTES)
      throw new CheckpointError(path, `larger than ${MAX_INDEX_BYTES} bytes: not a shard index`);
    try {
      const map = JSON.parse(readTextFileChecked(path, FILE_LIMITS.safetensors_index)).weight_map;
      shards = [...new Set(Object.values(map as Record<string, string>))];
      if (!shards.every((s) => typeof s === "string")) throw new Error("weight_map values must be file names");
    } catch (e) {
      throw new CheckpointError(path, `cannot read the shard list (${(e as Error).message})`);
    }
    for (const s of shards) await get(s);
    return;
  }
  if (await get("pytorch_model.bin", true)) return;
  throw new EntryNotFoundError(
    repo_id,
    null,
    "no model.safetensors, model.safetensors.index.json or pytorch_model.bin",
  );
};

/** Files of a config only. */
export const CONFIG_FILES: FilePlan = async (get) => {
  await get("config.json");
};

/** Files of a tokenizer: all optional, but one of tokenizer.json / tokenizer.model must exist. */
export const TOKENIZER_FILES: FilePlan = async (get, repo_id) => {
  for (const f of ["tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"]) await get(f, true);
  const json = await get("tokenizer.json", true);
  const model = await get("tokenizer.model", true);
  if (json === null && model === null)
    throw new EntryNotFoundError(repo_id, null, "the repository has neither tokenizer.json nor tokenizer.model");
};

/**
 * What `from_pretrained(pathOrId)` loads from: `pathOrId` itself when it is a local folder, else the snapshot
 * folder of the Hub id in the cache, after fetching the files `plan` asks for (or finding them cached).
 * Anything else is a CheckpointError naming the path.
 */
export async function resolve_pretrained(pathOrId: string, plan: FilePlan, opts: HubOptions = {}): Promise<string> {
  if (typeof pathOrId !== "string" || pathOrId === "")
    throw new ValueError(
      `pretrained_model_name_or_path: expected a folder or a Hub id, got ${JSON.stringify(pathOrId)}`,
    );
  checkHubOptions(opts);
  if (existsSync(pathOrId)) {
    if (!(await stat(pathOrId)).isDirectory())
      throw new CheckpointError(pathOrId, "not a folder (from_pretrained takes a checkpoint folder or a Hub id)");
    return pathOrId;
  }
  if (!is_hub_id(pathOrId) || !pathOrId.includes("/"))
    throw new CheckpointError(pathOrId, "no such folder, and not a Hub id of the form org/name");
  let folder: string | null = null;
  try {
    await plan(async (filename, optional) => {
      const path = await hf_hub_download(pathOrId, filename, { ...opts, optional });
      if (path !== null) folder ??= snapshotOf(path, filename);
      return path;
    }, pathOrId);
  } catch (e) {
    // A typo in a local path looks like a Hub id: say that no folder of that name exists either.
    if (
      e instanceof RepositoryNotFoundError ||
      (e instanceof LocalEntryNotFoundError && !e.message.includes("no such folder"))
    )
      e.message += ` (and there is no local folder ${JSON.stringify(pathOrId)})`;
    // "No weights file" offline means "none of them is cached", not that the repo has none.
    const offline = offlineReason(opts);
    if (e instanceof EntryNotFoundError && e.filename === null && offline !== null)
      throw new LocalEntryNotFoundError(
        pathOrId,
        null,
        `${e.message.slice(pathOrId.length + 2)} in the local cache (${join(opts.cache_dir ?? hf_hub_cache(), repo_folder_name(pathOrId))}) and ${offline}`,
      );
    throw e;
  }
  if (folder === null) throw new EntryNotFoundError(pathOrId, null, "no files resolved");
  return folder;
}

/** The snapshot folder holding `path`, which is `<snapshot>/<filename>`. */
function snapshotOf(path: string, filename: string): string {
  let dir = path;
  for (let i = 0; i < filename.split("/").length; i++) dir = dirname(dir);
  return dir;
}

const HUB_OPTION_KEYS = ["revision", "local_files_only", "cache_dir", "token", "progress_callback"] as const;

/** Split `from_pretrained` options into the Hub's and the rest (a tokenizer passes the rest to its constructor). */
export function split_hub_options<T extends object>(opts: T): [HubOptions, Omit<T, keyof HubOptions>] {
  const hub: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts ?? {}))
    ((HUB_OPTION_KEYS as readonly string[]).includes(k) ? hub : rest)[k] = v;
  return [hub as HubOptions, rest as Omit<T, keyof HubOptions>];
}
