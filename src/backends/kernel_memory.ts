/**
 * Kernel memory: where weights live so the WASM kernels and the worker threads read them in place.
 *
 * A WebAssembly module only addresses its own linear memory, and worker threads only see memory that is
 * shared. So weights are allocated inside shared `WebAssembly.Memory` objects ("arenas", 4 GiB each, the wasm32
 * limit; the operating system commits a page only when it is first written, so an arena costs address space,
 * not RSS). A tensor allocated here is an ordinary Float32Array/Uint16Array (a view of the arena's
 * SharedArrayBuffer): every JS path reads it as before, and the kernels pass its byte offset to WASM with no copy.
 * Each worker instantiates the kernel module once per arena (on the same memory), so weights are shared with
 * workers once, when the arena is created, never per call.
 *
 * Allocation is first fit over a free list (64-byte aligned). An allocation is returned to its arena when every
 * typed array registered for it (`adopt`) has been garbage collected (FinalizationRegistry), so loading models
 * one after another reuses the memory. Where shared WebAssembly memory is unavailable (no SharedArrayBuffer),
 * allocations are plain typed arrays and the kernels copy weights per call.
 *
 * Loaders call `allocFloat32` / `allocUint16` / `allocBytes`; `toKernelMemory` moves an existing tensor in.
 */
import { Tensor } from "../tensor/tensor.ts";

/** Pages of 64 KiB: 65536 pages = 4 GiB, the most a wasm32 memory can address. */
const ARENA_PAGES = 65536;
const ARENA_BYTES = ARENA_PAGES * 65536;
/** Offsets below this are never handed out, so 0 can mean "no pointer" (e.g. no bias) in the kernels. */
const RESERVED = 64;
const ALIGN = 64;
const MAX_ARENAS = 64;

export interface Arena {
  readonly index: number;
  readonly memory: WebAssembly.Memory;
  readonly buffer: SharedArrayBuffer;
  /** Free ranges [start, end), sorted by start, never adjacent (coalesced). */
  free: [number, number][];
  used: number;
  /** Bytes above this offset were never handed out: still zero as the OS mapped them. */
  fresh: number;
}

/** One allocation; freed when `refs` views registered for it have all been collected. */
interface Allocation {
  arena: Arena;
  offset: number;
  size: number;
  refs: number;
  freed: boolean;
}

const arenas: Arena[] = [];
const byBuffer = new WeakMap<ArrayBufferLike, Arena>();
/** Listeners told about every new arena (the worker pool forwards it to its workers). */
const arenaListeners: ((a: Arena) => void)[] = [];
let supported: boolean | null = null;

/** Whether shared WebAssembly memory can be created here (SharedArrayBuffer and wasm threads). */
export function kernelMemorySupported(): boolean {
  if (supported === null) {
    try {
      const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      supported = m.buffer instanceof SharedArrayBuffer;
    } catch {
      supported = false;
    }
  }
  return supported;
}

export function listArenas(): readonly Arena[] {
  return arenas;
}

export function onNewArena(listener: (a: Arena) => void): void {
  arenaListeners.push(listener);
}

function newArena(): Arena | null {
  if (arenas.length >= MAX_ARENAS || !kernelMemorySupported()) return null;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({
      initial: ARENA_PAGES,
      maximum: ARENA_PAGES,
      shared: true,
    });
  } catch {
    return null; // address space refused: callers fall back to ordinary memory
  }
  const arena: Arena = {
    index: arenas.length,
    memory,
    buffer: memory.buffer as unknown as SharedArrayBuffer,
    free: [[RESERVED, ARENA_BYTES]],
    used: 0,
    fresh: RESERVED,
  };
  arenas.push(arena);
  byBuffer.set(arena.buffer, arena);
  for (const l of arenaListeners) l(arena);
  return arena;
}

function takeFrom(arena: Arena, size: number): number {
  for (let i = 0; i < arena.free.length; i++) {
    const [s, e] = arena.free[i];
    const start = Math.ceil(s / ALIGN) * ALIGN;
    if (start + size <= e) {
      const pieces: [number, number][] = [];
      if (start > s) pieces.push([s, start]);
      if (start + size < e) pieces.push([start + size, e]);
      arena.free.splice(i, 1, ...pieces);
      arena.used += size;
      return start;
    }
  }
  return -1;
}

function giveBack(arena: Arena, offset: number, size: number): void {
  const f = arena.free;
  let i = 0;
  while (i < f.length && f[i][0] < offset) i++;
  f.splice(i, 0, [offset, offset + size]);
  // coalesce with the neighbours
  if (i + 1 < f.length && f[i][1] === f[i + 1][0]) {
    f[i][1] = f[i + 1][1];
    f.splice(i + 1, 1);
  }
  if (i > 0 && f[i - 1][1] === f[i][0]) {
    f[i - 1][1] = f[i][1];
    f.splice(i, 1);
  }
  arena.used -= size;
}

const registry = new FinalizationRegistry<Allocation>((a) => {
  if (--a.refs === 0) release(a);
});

function release(a: Allocation): void {
  if (a.freed) return;
  a.freed = true;
  giveBack(a.arena, a.offset, a.size);
}

/** Raw allocation of `size` bytes in some arena (a new arena if needed); null when kernel memory is unavailable. */
function allocate(size: number): Allocation | null {
  const padded = Math.max(ALIGN, Math.ceil(size / ALIGN) * ALIGN);
  if (padded > ARENA_BYTES - RESERVED) return null;
  for (const arena of arenas) {
    const off = takeFrom(arena, padded);
    if (off >= 0) return { arena, offset: off, size: padded, refs: 0, freed: false };
  }
  const arena = newArena();
  if (arena === null) return null;
  const off = takeFrom(arena, padded);
  return off < 0 ? null : { arena, offset: off, size: padded, refs: 0, freed: false };
}

/** Tie an allocation's lifetime to `view`: it is freed once every adopted view has been collected. */
function adopt(a: Allocation, view: object): void {
  a.refs++;
  registry.register(view, a);
}

const ownerOf = new WeakMap<object, Allocation>();

/** `length` zeroed bytes in kernel memory (or ordinary memory where that is unavailable). */
export function allocBytes(length: number): Uint8Array {
  const a = allocate(length);
  if (a === null) return new Uint8Array(length);
  const view = new Uint8Array(a.arena.buffer, a.offset, length);
  // a reused range holds old data; a fresh one is still zero (filling it would commit its pages for nothing)
  if (a.offset < a.arena.fresh) view.subarray(0, Math.min(length, a.arena.fresh - a.offset)).fill(0);
  a.arena.fresh = Math.max(a.arena.fresh, a.offset + a.size);
  adopt(a, view);
  ownerOf.set(view, a);
  return view;
}

/**
 * Keep the allocation behind `bytes` (from allocBytes) alive as long as `view` is: call it for every typed array
 * made on the same memory (e.g. tensors viewing a file read into kernel memory).
 */
export function shareLifetime(bytes: Uint8Array, view: object): void {
  const a = ownerOf.get(bytes);
  if (a !== undefined && !a.freed) {
    adopt(a, view);
    ownerOf.set(view, a);
  }
}

export function allocFloat32(length: number): Float32Array {
  const b = allocBytes(length * 4);
  const v = new Float32Array(b.buffer, b.byteOffset, length);
  shareLifetime(b, v);
  return v;
}

export function allocUint16(length: number): Uint16Array {
  const b = allocBytes(length * 2);
  const v = new Uint16Array(b.buffer, b.byteOffset, length);
  shareLifetime(b, v);
  return v;
}

/** The arena a typed array lives in (its byte offset is then its address there), or null. */
export function arenaOf(view: ArrayBufferView): Arena | null {
  return byBuffer.get(view.buffer) ?? null;
}

/** A float tensor whose data is in kernel memory: `t` itself if it already is, else a copy. */
export function toKernelMemory(t: Tensor): Tensor {
  if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16") return t;
  if (arenaOf(t.data as ArrayBufferView) !== null || !kernelMemorySupported()) return t;
  const data = t.dtype === "float32" ? allocFloat32(t.size) : allocUint16(t.size);
  if (arenaOf(data) === null) return t;
  data.set(t.data as any);
  return new Tensor(t.dtype, data, t.shape);
}

/**
 * Scratch space of a kernel call: a per-arena buffer reused across calls (grown when a call needs more).
 * `abandonScratch` drops it without freeing (after a worker timed out, a straggler may still write into it).
 */
const scratch = new Map<Arena, { offset: number; size: number; alloc: Allocation }>();

export function scratchIn(arena: Arena, size: number): number {
  const cur = scratch.get(arena);
  if (cur && cur.size >= size) return cur.offset;
  if (cur) {
    release(cur.alloc);
    scratch.delete(arena);
  }
  const padded = Math.max(1 << 20, Math.ceil((size * 1.25) / ALIGN) * ALIGN);
  const off = takeFrom(arena, padded);
  if (off < 0) return -1;
  const alloc: Allocation = { arena, offset: off, size: padded, refs: 1, freed: false };
  arena.fresh = Math.max(arena.fresh, off + padded);
  scratch.set(arena, { offset: off, size: padded, alloc });
  return off;
}

export function abandonScratch(): void {
  scratch.clear();
}

/** An arena with room for `size` scratch bytes (for weights that are not in kernel memory). */
export function scratchArena(size: number): Arena | null {
  for (const a of arenas) if (scratchIn(a, size) >= 0) return a;
  const a = newArena();
  return a !== null && scratchIn(a, size) >= 0 ? a : null;
}
