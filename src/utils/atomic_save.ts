/**
 * Atomic saves: how every `save_pretrained` writes into a folder that may already hold a checkpoint.
 *
 * HF writes each file in place (`open(path, "w")`), config.json first: a save that dies midway (killed, disk
 * full, a read-only file) leaves a folder mixing old and new files, or holding a truncated weights file, that
 * no longer loads. Here a save is a transaction ({@link SaveTransaction}):
 *   1. stage: each file is written under a temporary name in the target folder (same filesystem, so the final
 *      rename is atomic), then fsync'ed. This is where nearly all the time goes; dying here leaves the old
 *      files untouched (plus temporaries named `.<name>.tmp-*`, which loaders ignore and the next save removes);
 *   2. commit: the temporaries are renamed over their targets in the order staged, stale files removed, and
 *      config.json renamed last, then the folder is fsync'ed. The commit is only renames (microseconds).
 * If staging fails, the temporaries are removed and the old files are exactly as they were.
 *
 * Saves to one folder are serialized: within the process by a queue per folder, across processes by a lock
 * file `.llama-ts-save.lock` created exclusively (a lock whose owning process has died is taken over).
 * Filesystem errors become a CheckpointError naming the path.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { CheckpointError } from "../errors.ts";

const LOCK_NAME = ".llama-ts-save.lock";
/** How long a save waits for another process's save of the same folder before giving up. */
export const SAVE_LOCK_TIMEOUT_MS = 120_000;
const TEMP_PATTERN = /^\..+\.tmp-[0-9a-f]{12}$/;

function fsError(path: string, what: string, e: unknown): CheckpointError {
  if (e instanceof CheckpointError) return e;
  const err = e as NodeJS.ErrnoException;
  return new CheckpointError(path, `cannot ${what} (${err.code ?? err.message})`);
}

/** Create `dir` (and parents); a CheckpointError when a path component is a file. */
export async function ensureFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw fsError(dir, "create the folder", e);
  }
  let info;
  try {
    info = await stat(dir);
  } catch (e) {
    throw fsError(dir, "read the folder", e);
  }
  if (!info.isDirectory()) throw new CheckpointError(dir, "not a folder: cannot save into it");
}

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes to one temporary file; `write` is called with (bytes, position). */
export type ChunkWriter = (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>;

/** One save into one folder: stage files, then commit them (see the module comment). */
export class SaveTransaction {
  private readonly staged: { temp: string; target: string }[] = [];
  private readonly removals: string[] = [];
  private done = false;

  constructor(readonly dir: string) {}

  /** The final path of `name` in the folder. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Stage a file whose content `writer` streams in chunks. */
  async stageStream(name: string, writer: ChunkWriter): Promise<string> {
    const target = this.path(name);
    await this.checkTarget(target);
    const temp = join(this.dir, `.${name}.tmp-${randomBytes(6).toString("hex")}`);
    let handle;
    try {
      handle = await open(temp, "wx");
    } catch (e) {
      throw fsError(target, "create a file in the folder", e);
    }
    this.staged.push({ temp, target });
    try {
      let position = 0;
      await writer(async (chunk) => {
        let done = 0;
        while (done < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position);
          done += bytesWritten;
          position += bytesWritten;
        }
      });
      await handle.sync();
    } catch (e) {
      throw fsError(target, "write", e);
    } finally {
      await handle.close();
    }
    return target;
  }

  /** Stage a file with the given content. */
  stage(name: string, content: string | Uint8Array): Promise<string> {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    return this.stageStream(name, (write) => write(bytes));
  }

  /** Remove `name` at commit (after every staged file is in place, before config.json). */
  removeAtCommit(name: string): void {
    this.removals.push(this.path(name));
  }

  /** A target that is a folder (e.g. a directory named config.json) cannot be replaced by a file. */
  private async checkTarget(target: string): Promise<void> {
    try {
      if ((await stat(target)).isDirectory())
        throw new CheckpointError(target, "is a folder: cannot replace it with a file");
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw fsError(target, "inspect", e);
    }
  }

  /** Rename every staged file into place, config.json last, remove stale files, fsync the folder. */
  async commit(): Promise<void> {
    const order = [...this.staged].sort(
      (a, b) => Number(basename(a.target) === "config.json") - Number(basename(b.target) === "config.json"),
    );
    const config = order.length && basename(order[order.length - 1].target) === "config.json" ? order.pop() : null;
    for (const { temp, target } of order) await this.renameInto(temp, target);
    for (const stale of this.removals) {
      try {
        await rm(stale, { force: true });
      } catch (e) {
        throw fsError(stale, "remove the stale file", e);
      }
    }
    if (config) await this.renameInto(config.temp, config.target);
    this.done = true;
    try {
      fsyncPath(this.dir, "r");
    } catch {
      // Some filesystems refuse fsync on a folder; the renames are done, durability is the OS's then.
    }
  }

  private async renameInto(temp: string, target: string): Promise<void> {
    try {
      await rename(temp, target);
    } catch (e) {
      throw fsError(target, "move the new file into place", e);
    }
  }

  /** Remove whatever was staged and not committed (the old files stay as they were). */
  async abort(): Promise<void> {
    if (this.done) return;
    for (const { temp } of this.staged) await rm(temp, { force: true }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------------
// Serialization of saves per folder
// ---------------------------------------------------------------------------------------------------------

const queues = new Map<string, Promise<unknown>>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function acquireFileLock(dir: string): Promise<() => Promise<void>> {
  const lock = join(dir, LOCK_NAME);
  const start = Date.now();
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: "wx" });
      return () => rm(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fsError(lock, "create the save lock", e);
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(lock, "utf8"));
    } catch {
      continue; // released meanwhile
    }
    if (Number.isSafeInteger(owner) && owner !== process.pid && !processAlive(owner)) {
      await rm(lock, { force: true }); // its owner died mid-save
      continue;
    }
    if (Date.now() - start > SAVE_LOCK_TIMEOUT_MS)
      throw new CheckpointError(dir, `another save (process ${owner}) holds ${LOCK_NAME}; gave up waiting`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Run `save(tx)` as one transaction on `dir`: serialized with other saves of the folder, committed when it
 * returns, rolled back when it throws. Leftover temporaries of earlier interrupted saves are removed first.
 */
export async function saveAtomically<T>(dir: string, save: (tx: SaveTransaction) => Promise<T>): Promise<T> {
  // The queue slot is taken before the first await, so saves to one folder run in call order (an await first,
  // e.g. creating the folder, would let them queue in whatever order the file system answers).
  const key = resolve(dir);
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous
    .catch(() => {})
    .then(async () => {
      await ensureFolder(dir);
      const release = await acquireFileLock(dir);
      const tx = new SaveTransaction(dir);
      try {
        for (const name of await readdir(dir)) if (TEMP_PATTERN.test(name)) await rm(join(dir, name), { force: true });
        const result = await save(tx);
        await tx.commit();
        return result;
      } catch (e) {
        await tx.abort();
        throw e;
      } finally {
        await release();
      }
    });
  queues.set(key, run);
  try {
    return await run;
  } finally {
    if (queues.get(key) === run) queues.delete(key);
  }
}

/** Write one file atomically (its own transaction on its folder). */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  await saveAtomically(dirname(path), (tx) => tx.stage(basename(path), content));
}
