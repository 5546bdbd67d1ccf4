/**
 * The WASM SIMD backend, single-threaded or with a worker_threads pool: the same `out = x @ W^T + bias` as the
 * reference loop (src/ops/matmul.ts), run by the kernels of wasm/kernels.ts (f32x4, register and cache blocked
 * GEMM for prefill, GEMV for decode, 2-byte weights widened inside the kernel).
 *
 * A call: the weight is read in place when it lives in kernel memory (kernel_memory.ts; loaders put checkpoints
 * there), otherwise it is copied into scratch for this call. x is copied into the arena's scratch, the kernel
 * writes out there, and out is copied back: O(M (K + N)) copies next to O(M N K) work.
 *
 * Threads: with `threads` T > 1, products of at least `POOL_MIN_MACS` multiply-adds are split over the caller
 * and T - 1 workers. The split is by output columns only (tiles claimed one at a time from a shared counter, so
 * a busy core simply claims fewer): every out[m, n] is computed by the same kernel arithmetic whoever computes
 * it, so results are bit-identical for any worker count. The reduction over K is never split. The caller stays
 * synchronous: it computes tiles too, then blocks in Atomics.wait until the workers' last tile is done.
 * Smaller products (tiny models, single-token attention) run on the caller alone: waking workers costs more.
 *
 * Failures: a worker that throws or exits reports it through the control block; the call throws
 * MatmulWorkerError after the other workers have stopped, and the next call replaces the worker. A worker that
 * makes no progress for `stall_timeout_ms` (it was killed without a word) gives the same error; then all workers
 * are replaced and the scratch memory is abandoned (a straggler may still write to it). Workers are unref'd: they
 * never keep the process alive. Nothing here runs at import: the .wasm is read and compiled on the first call,
 * workers start on the first product large enough to need them.
 */
import { readFileSync } from "node:fs";
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";
import { MatmulWorkerError } from "../errors.ts";
import type { MatmulBackend, WeightView } from "./backend.ts";
import { blockedBackend } from "./blocked.ts";
import {
  type Arena,
  abandonScratch,
  arenaOf,
  listArenas,
  onNewArena,
  scratchArena,
  scratchIn,
} from "./kernel_memory.ts";

/** Products below this many multiply-adds (M * N * K) run on the calling thread alone. */
export const POOL_MIN_MACS = 1 << 20;

interface KernelExports {
  linearF32(x: number, w: number, b: number, o: number, M: number, K: number, N: number, n0: number, n1: number): void;
  linearHalfPanel(
    x: number,
    w: number,
    b: number,
    o: number,
    M: number,
    K: number,
    N: number,
    n0: number,
    n1: number,
    kind: number,
    panel: number,
  ): void;
  linearHalfGemv(
    xs: number,
    w: number,
    b: number,
    o: number,
    M: number,
    K: number,
    N: number,
    n0: number,
    n1: number,
    kind: number,
  ): void;
  splitEvenOdd(x: number, xs: number, M: number, K: number): void;
  f16HasSpecials(src: number, count: number): number;
}

let compiled: WebAssembly.Module | null | undefined;
let compileError = "";

/** The kernel module, read and compiled on first use; null (with `wasmUnavailableReason`) where it cannot be. */
export function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(readFileSync(new URL("./wasm/kernels.wasm", import.meta.url)));
    } catch (e) {
      compiled = null;
      compileError = (e as Error)?.message ?? String(e);
    }
  }
  return compiled ?? null;
}

export function wasmUnavailableReason(): string {
  return compileError;
}

const mainInstances = new Map<Arena, KernelExports>();
function instanceFor(arena: Arena): KernelExports {
  let k = mainInstances.get(arena);
  if (!k) {
    k = new WebAssembly.Instance(kernelModule()!, { env: { memory: arena.memory } })
      .exports as unknown as KernelExports;
    mainInstances.set(arena, k);
  }
  return k;
}

/** Rows of W per cache block, as blockRows in kernels.ts (the panel of one thread holds that many rows). */
function blockRows(K: number): number {
  return Math.min(64, Math.max(4, Math.floor(65536 / K) & ~3));
}

const specials = new WeakMap<object, boolean>();
/** Does this float16 weight hold an Inf or NaN? (checked once per weight; the fast GEMV path assumes not) */
function f16HasSpecials(data: Uint16Array, arena: Arena | null, k: KernelExports | null): boolean {
  let r = specials.get(data);
  if (r === undefined) {
    if (arena !== null && k !== null) r = k.f16HasSpecials(data.byteOffset, data.length) !== 0;
    else {
      r = false;
      for (let i = 0; i < data.length; i++) if ((data[i] & 0x7c00) === 0x7c00) r = true;
    }
    specials.set(data, r);
  }
  return r;
}

const align = (n: number) => Math.ceil(n / 64) * 64;

/** Kernel selector: 0 float32, 1/2 float16/bfloat16 via a widened panel (GEMM), 3/4 the same via GEMV. */
type Kind = 0 | 1 | 2 | 3 | 4;

export interface WasmSimdOptions {
  /** Threads computing a large product: the caller plus threads - 1 workers (default 1). */
  threads?: number;
  /** Products below this many multiply-adds stay on the caller (default POOL_MIN_MACS). */
  pool_min_macs?: number;
  /** A call fails with MatmulWorkerError when no tile completes for this long (default 60000). */
  stall_timeout_ms?: number;
  /** Whether the caller computes tiles too (default true; tests turn it off to make workers do all of a job). */
  caller_computes?: boolean;
}

export class WasmSimdBackend implements MatmulBackend {
  readonly name: string;
  readonly threads: number;
  private readonly poolMinMacs: number;
  private pool: Pool | null = null;
  /** Set when the pool could not start: the backend then runs on the caller alone. */
  poolError = "";

  constructor(private readonly opts: WasmSimdOptions = {}) {
    this.threads = opts.threads ?? 1;
    this.name = this.threads === 1 ? "wasm-simd" : `wasm-simd-${this.threads}t`;
    this.poolMinMacs = opts.pool_min_macs ?? POOL_MIN_MACS;
  }

  linear(
    out: Float32Array,
    x: Float32Array,
    w: WeightView,
    bias: Float32Array | null,
    M: number,
    K: number,
    N: number,
  ) {
    if (M === 0 || N === 0) return;
    const module = kernelModule();
    if (module === null) throw new Error(`wasm-simd backend unavailable: ${compileError}`);
    const half = w.dtype !== "float32";
    const esize = half ? 2 : 4;
    let arena = arenaOf(w.data);
    const threads = this.threads > 1 && M * N * K >= this.poolMinMacs && N >= 16 ? this.threads : 1;
    const panelStride = align(blockRows(K) * K * 4);
    // Scratch layout: [weight copy] [x] [x split even/odd] [bias] [out] [one panel per thread]
    const wCopy = arena === null ? align(N * K * esize) : 0;
    let kind: Kind = 0;
    if (half) {
      const k = w.dtype === "float16" ? 1 : 2;
      const gemvOk = M < 4 && (k === 2 || !f16HasSpecials(w.data as Uint16Array, arena, arena && instanceFor(arena)));
      kind = (gemvOk ? k + 2 : k) as Kind;
    }
    const xBytes = align(M * K * 4);
    const xsBytes = kind >= 3 ? xBytes : 0;
    const biasBytes = bias === null ? 0 : align(N * 4);
    const outBytes = align(M * N * 4);
    const panels = kind === 1 || kind === 2 ? panelStride * threads : 0;
    const total = wCopy + xBytes + xsBytes + biasBytes + outBytes + panels;
    let base: number;
    if (arena === null) {
      arena = scratchArena(total);
      base = arena === null ? -1 : scratchIn(arena, total);
    } else base = scratchIn(arena, total);
    if (arena === null || base < 0) {
      blockedBackend.linear(out, x, w, bias, M, K, N); // no kernel memory to be had: the JS kernel, same contract
      return;
    }
    const buf = arena.buffer;
    let wPtr = w.data.byteOffset;
    if (wCopy > 0) {
      wPtr = base;
      new Uint8Array(buf, base, N * K * esize).set(new Uint8Array(w.data.buffer, w.data.byteOffset, N * K * esize));
    }
    const xPtr = base + wCopy;
    new Float32Array(buf, xPtr, M * K).set(x.subarray(0, M * K));
    const xsPtr = xPtr + xBytes;
    const biasPtr = bias === null ? 0 : xsPtr + xsBytes;
    if (bias !== null) new Float32Array(buf, biasPtr, N).set(bias.subarray(0, N));
    const outPtr = xsPtr + xsBytes + biasBytes;
    const panelPtr = outPtr + outBytes;
    const k = instanceFor(arena);
    if (kind >= 3) k.splitEvenOdd(xPtr, xsPtr, M, K);
    const job: Job = { kind, arena, x: kind >= 3 ? xsPtr : xPtr, w: wPtr, bias: biasPtr, out: outPtr, M, K, N };
    job.panel = panelPtr;
    job.panelStride = panelStride;
    if (threads > 1) this.ensurePool()?.run(job, k);
    else runColumns(k, job, 0, N, panelPtr);
    out.set(new Float32Array(buf, outPtr, M * N));
  }

  private ensurePool(): Pool | null {
    if (this.pool === null && this.poolError === "") {
      try {
        this.pool = new Pool(this.threads - 1, this.opts);
      } catch (e) {
        this.poolError = (e as Error)?.message ?? String(e);
      }
    }
    return this.pool;
  }

  /**
   * Test hook: make worker `slot` fail at its next job, by throwing (mode "throw") or by exiting its thread
   * (mode "exit"), as a broken worker would.
   */
  _injectWorkerFault(slot: number, mode: "throw" | "exit"): void {
    const pool = this.ensurePool();
    if (pool === null) throw new Error(`no worker pool: ${this.poolError}`);
    pool.injectFault(slot, mode);
  }

  /** The worker threads, for tests (undefined before the pool has started). */
  _workers(): (Worker | null)[] | undefined {
    return this.pool?.workers.map((w) => w?.worker ?? null);
  }

  /** Stop the workers (they are unref'd, so this is only needed to free them early). */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    if (p) await p.terminateAll();
  }
}

interface Job {
  kind: Kind;
  arena: Arena;
  x: number;
  w: number;
  bias: number;
  out: number;
  M: number;
  K: number;
  N: number;
  panel?: number;
  panelStride?: number;
}

/** Columns [n0, n1) of a job on one thread (`panel` is that thread's panel). */
function runColumns(k: KernelExports, j: Job, n0: number, n1: number, panel: number): void {
  if (j.kind === 0) k.linearF32(j.x, j.w, j.bias, j.out, j.M, j.K, j.N, n0, n1);
  else if (j.kind <= 2) k.linearHalfPanel(j.x, j.w, j.bias, j.out, j.M, j.K, j.N, n0, n1, j.kind, panel);
  else k.linearHalfGemv(j.x, j.w, j.bias, j.out, j.M, j.K, j.N, n0, n1, j.kind - 2);
}

// ---------------------------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------------------------

/** Int32 slots of the control block shared with the workers (matmul_worker.mjs reads this table). */
const CTRL = {
  SEQ: 0, // job number; bumped and notified to start a job
  CLAIM: 1, // (job number & 0x7fff) << 16 | next tile
  DONE: 2, // tiles finished
  ERR: 3, // id of a worker that failed during the job, 0 if none
  NTILES: 4,
  TILE: 5, // columns per tile
  KIND: 6,
  ARENA: 7,
  X: 8,
  W: 9,
  BIAS: 10,
  OUT: 11,
  M: 12,
  K: 13,
  N: 14,
  PANEL: 15,
  PANEL_STRIDE: 16,
  FAULT_WORKER: 17, // test hook: slot + 1 of the worker to fail
  FAULT_MODE: 18, // 1 throw, 2 exit
  BUSY: 32, // BUSY + slot: the job a worker is working on, 0 when idle
} as const;

interface WorkerSlot {
  worker: Worker;
  port: MessagePort;
  id: number;
  dead: boolean;
}

const livePools = new Set<Pool>();
let arenaHook = false;

class Pool {
  readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * (CTRL.BUSY + 256)));
  readonly workers: (WorkerSlot | null)[];
  private seq = 0;
  private nextId = 1;
  private readonly stallMs: number;
  private readonly callerComputes: boolean;

  constructor(
    readonly nWorkers: number,
    opts: WasmSimdOptions,
  ) {
    if (nWorkers > 255) throw new Error(`at most 256 threads, got ${nWorkers + 1}`);
    this.workers = new Array(nWorkers).fill(null);
    this.stallMs = opts.stall_timeout_ms ?? 60000;
    this.callerComputes = opts.caller_computes ?? true;
    livePools.add(this);
    if (!arenaHook) {
      arenaHook = true;
      // a new arena reaches every live worker before the job that first uses it (workers drain their port on wake)
      onNewArena((a) => {
        for (const p of livePools)
          for (const s of p.workers) if (s && !s.dead) s.port.postMessage({ index: a.index, memory: a.memory });
      });
    }
    this.ensureWorkers();
  }

  private spawn(slot: number): void {
    const { port1, port2 } = new MessageChannel();
    const id = this.nextId++;
    const worker = new Worker(new URL("./matmul_worker.mjs", import.meta.url), {
      workerData: {
        module: kernelModule(),
        control: this.ctrl.buffer,
        index: slot,
        id,
        memories: listArenas().map((a) => a.memory),
        port: port2,
        seq0: this.seq,
        layout: CTRL,
      },
      transferList: [port2],
    });
    worker.unref();
    port1.unref();
    const s: WorkerSlot = { worker, port: port1, id, dead: false };
    worker.on("error", () => (s.dead = true));
    worker.on("exit", () => (s.dead = true));
    this.workers[slot] = s;
  }

  private ensureWorkers(): void {
    for (let i = 0; i < this.nWorkers; i++) {
      const s = this.workers[i];
      if (s === null || s.dead) {
        if (s) void s.worker.terminate();
        this.spawn(i);
      }
    }
  }

  injectFault(slot: number, mode: "throw" | "exit"): void {
    Atomics.store(this.ctrl, CTRL.FAULT_MODE, mode === "exit" ? 2 : 1);
    Atomics.store(this.ctrl, CTRL.FAULT_WORKER, slot + 1);
  }

  run(j: Job, k: KernelExports): void {
    this.ensureWorkers();
    const c = this.ctrl;
    const threads = this.nWorkers + 1;
    // Tiles a thread: the caller waits for the last tile, about half a tile on average, so a GEMV (which streams
    // W once) takes small ones; a GEMM re-reads its x block in every tile, so it takes fewer.
    const perThread = j.M === 1 ? 16 : 4;
    const tile = Math.max(8, Math.ceil(Math.ceil(j.N / (threads * perThread)) / 8) * 8);
    const ntiles = Math.ceil(j.N / tile);
    this.seq = this.seq >= 0x3fffffff ? 1 : this.seq + 1;
    const seq = this.seq;
    const tag = (seq & 0x7fff) << 16;
    c[CTRL.TILE] = tile;
    c[CTRL.KIND] = j.kind;
    c[CTRL.ARENA] = j.arena.index;
    c[CTRL.X] = j.x | 0;
    c[CTRL.W] = j.w | 0;
    c[CTRL.BIAS] = j.bias | 0;
    c[CTRL.OUT] = j.out | 0;
    c[CTRL.M] = j.M;
    c[CTRL.K] = j.K;
    c[CTRL.N] = j.N;
    c[CTRL.PANEL] = j.panel! | 0;
    c[CTRL.PANEL_STRIDE] = j.panelStride!;
    Atomics.store(c, CTRL.NTILES, ntiles);
    Atomics.store(c, CTRL.DONE, 0);
    Atomics.store(c, CTRL.ERR, 0);
    Atomics.store(c, CTRL.CLAIM, tag);
    Atomics.store(c, CTRL.SEQ, seq);
    Atomics.notify(c, CTRL.SEQ);

    if (this.callerComputes) {
      try {
        for (;;) {
          const cl = Atomics.load(c, CTRL.CLAIM);
          const t = cl & 0xffff;
          if (t >= ntiles) break;
          if (Atomics.compareExchange(c, CTRL.CLAIM, cl, cl + 1) !== cl) continue;
          runColumns(k, j, t * tile, Math.min(j.N, (t + 1) * tile), j.panel!);
          if (Atomics.add(c, CTRL.DONE, 1) + 1 === ntiles) break;
        }
      } catch (e) {
        this.stopJob(tag, seq);
        throw e;
      }
    }

    let last = -1;
    let stuckSince = 0; // when a check first saw no new tile finished (0: progress at the last check)
    for (;;) {
      const err = Atomics.load(c, CTRL.ERR);
      if (err !== 0) {
        const failed = this.workers.find((s) => s !== null && s.id === err);
        if (failed) this.fail(failed, tag, seq);
        Atomics.compareExchange(c, CTRL.ERR, err, 0); // a report from a worker already replaced
      }
      const d = Atomics.load(c, CTRL.DONE);
      if (d >= ntiles) return;
      if (d !== last) {
        last = d;
        stuckSince = 0;
      } else {
        const now = performance.now();
        if (stuckSince === 0) stuckSince = now;
        else if (now - stuckSince > this.stallMs) {
          this.stopJob(tag, seq);
          void this.terminateAll();
          abandonScratch();
          throw new MatmulWorkerError(
            `matmul worker pool: no tile finished for ${Math.round(now - stuckSince)} ms (${d} of ${ntiles} done); ` +
              `the workers were replaced`,
          );
        }
      }
      Atomics.wait(c, CTRL.DONE, d, 50);
    }
  }

  /** A worker reported a failure: stop the job, wait for the others to finish their tiles, throw. */
  private fail(s: WorkerSlot, tag: number, seq: number): never {
    const m = receiveMessageOnPort(s.port);
    s.dead = true;
    void s.worker.terminate();
    this.stopJob(tag, seq);
    const reason = m === undefined ? "it stopped" : String(m.message).split("\n")[0];
    throw new MatmulWorkerError(`matmul worker failed during this call (${reason}); it is replaced on the next call`);
  }

  /** No new tiles for this job; wait (bounded) until no live worker is still inside one. */
  private stopJob(tag: number, seq: number): void {
    Atomics.store(this.ctrl, CTRL.CLAIM, tag | 0xffff);
    const deadline = performance.now() + Math.min(this.stallMs, 10000);
    for (let i = 0; i < this.nWorkers; i++) {
      const s = this.workers[i];
      if (s === null || s.dead) continue;
      while (Atomics.load(this.ctrl, CTRL.BUSY + i) === seq) {
        if (performance.now() > deadline) {
          void this.terminateAll();
          abandonScratch();
          return;
        }
        Atomics.wait(this.ctrl, CTRL.BUSY + i, seq, 20);
      }
    }
  }

  async terminateAll(): Promise<void> {
    const ws = this.workers.map((s) => s);
    for (const s of this.workers) if (s) s.dead = true;
    await Promise.all(ws.map((s) => s?.worker.terminate()));
  }
}
