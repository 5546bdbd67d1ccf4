/**
 * A restricted unpickler for PyTorch state dicts, and the few pickle opcodes `torch.save` needs to write one.
 *
 * A pickle is a program for a small stack machine: opcodes push constants, build tuples/lists/dicts, and two of
 * them reach outside the data: `GLOBAL module name` imports any Python object, and `REDUCE` calls it with a tuple
 * of arguments. `GLOBAL posix system` + `REDUCE ("rm -rf ~",)` is all an attack needs, which is why HF and
 * PyTorch moved to `torch.load(weights_only=True)`: its `_weights_only_unpickler` accepts a fixed allowlist of
 * globals. This interpreter does the same, and goes further: it executes nothing at all. Every allowlisted
 * global maps to a pure data builder written here (`_rebuild_tensor_v2` builds a {@link TensorRef} descriptor,
 * `OrderedDict()` an ordered Map); any other global is refused with an UnsafePickleError (a CheckpointError)
 * naming it. A first pass ({@link scanGlobals}) walks the opcodes without interpreting any and refuses the first
 * GLOBAL outside the allowlist, so a payload placed after a thousand valid tensors is refused before the first
 * of them is built. Tensor bytes are never read here: the caller resolves the descriptors once the pickle has
 * completed. (HF 4.44 loads .bin files with `weights_only=True` too, so what is refused here HF refuses.)
 *
 * Accepted globals (as `torch.load(weights_only=True)` for state dicts):
 *   torch._utils._rebuild_tensor_v2, torch._utils._rebuild_tensor (its older form), torch._utils._rebuild_parameter,
 *   torch._utils._rebuild_parameter_with_state, collections.OrderedDict, torch.Size, and the storage types
 *   torch.{Float,Half,BFloat16,Long,Int,Bool}Storage (plus Double/Byte/Char/Short storages, recognised so that
 *   the error can say the dtype is not held by llama-ts rather than calling them unknown globals).
 *
 * Opcodes: the binary opcodes of protocols 2-5 that build data (ints, floats, strings, bytes, None/bools,
 * tuples, lists, dicts, sets, the memo, MARK, FRAME), plus text INT/LONG/FLOAT/GET/PUT of protocol 0. Refused
 * with a CheckpointError: INST/OBJ/NEWOBJ/NEWOBJ_EX/EXT* (they instantiate classes), PERSID (text persistent
 * ids), out-of-band buffers, and every unknown byte.
 *
 * Bounds: each opcode consumes at least one byte and does work proportional to the items it consumes, so a
 * pickle of n bytes runs in O(n) time and memory; a length read from the pickle is checked against the bytes
 * that remain before anything is sliced; integers wider than 128 bits are refused (state dicts need none).
 */
import { CheckpointError, UnsafePickleError } from "../errors.ts";
import type { DType } from "../tensor/dtypes.ts";

const latin1 = new TextDecoder("latin1");

/** A storage type global, e.g. `torch.FloatStorage`; `dtype` is null for types llama-ts does not hold. */
export class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: DType | null,
    readonly elementSize: number,
  ) {}
}

/** What a persistent id resolves to: one storage of the checkpoint (`numel` elements of `type`). */
export interface StorageRef {
  kind: "storage";
  key: string;
  type: StorageType;
  dtype: DType;
  numel: number;
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`, validated against the storage's numel. */
export interface TensorRef {
  kind: "tensor";
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

/** An allowlisted callable global. */
class Callable {
  constructor(
    readonly name: string,
    readonly call: (args: PickleValue[], u: Unpickler) => PickleValue,
  ) {}
}

/** `collections.OrderedDict()`: a Map that remembers it was ordered (plain dicts are Maps too). */
export class OrderedDict extends Map<PickleValue, PickleValue> {}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | Set<PickleValue>
  | StorageType
  | Callable
  | StorageRef
  | TensorRef;

/** Storage type globals: name -> (dtype held by llama-ts or null, element size). */
const STORAGE_TYPES: Record<string, [DType | null, number]> = {
  FloatStorage: ["float32", 4],
  HalfStorage: ["float16", 2],
  BFloat16Storage: ["bfloat16", 2],
  IntStorage: ["int32", 4],
  LongStorage: ["int64", 8],
  BoolStorage: ["bool", 1],
  DoubleStorage: [null, 8],
  ByteStorage: [null, 1],
  CharStorage: [null, 1],
  ShortStorage: [null, 2],
  ComplexFloatStorage: [null, 8],
  ComplexDoubleStorage: [null, 16],
};

/** Our dtype -> the storage type torch.save names for it. */
export const STORAGE_TYPE_OF: Record<DType, string> = {
  float32: "FloatStorage",
  float16: "HalfStorage",
  bfloat16: "BFloat16Storage",
  int32: "IntStorage",
  int64: "LongStorage",
  bool: "BoolStorage",
};

const MAX_DIMS = 64;

function isIndex(x: PickleValue): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function rebuildTensor(args: PickleValue[], u: Unpickler): TensorRef {
  const [storage, offset, size, stride] = args;
  if (args.length < 4) u.fail(`_rebuild_tensor_v2 needs (storage, offset, size, stride), got ${args.length} arguments`);
  if (typeof storage !== "object" || storage === null || (storage as StorageRef).kind !== "storage")
    u.fail("_rebuild_tensor_v2's first argument is not a storage (persistent id)");
  const st = storage as StorageRef;
  if (!isIndex(offset)) u.fail(`tensor storage_offset must be a non-negative integer, got ${String(offset)}`);
  const dims = (v: PickleValue, what: string): number[] => {
    if (!Array.isArray(v) || v.length > MAX_DIMS || !v.every(isIndex))
      u.fail(`tensor ${what} must be a tuple of at most ${MAX_DIMS} non-negative integers`);
    return v as number[];
  };
  const sz = dims(size, "size");
  const sd = dims(stride, "stride");
  if (sz.length !== sd.length) u.fail(`tensor size has ${sz.length} dims but stride has ${sd.length}`);
  // The last element the view touches must lie in the storage: offset + sum((size_i - 1) * stride_i) < numel.
  let numel = 1;
  let last = offset as number;
  for (let i = 0; i < sz.length; i++) {
    numel *= sz[i];
    if (sz[i] > 0) last += (sz[i] - 1) * sd[i];
  }
  if (numel > 0 && !(last < st.numel))
    u.fail(
      `tensor of size [${sz}] stride [${sd}] at offset ${offset} reaches element ${last} of storage ${JSON.stringify(st.key)}, which holds ${st.numel}`,
    );
  if (!Number.isSafeInteger(numel)) u.fail(`tensor size [${sz}] has too many elements`);
  return { kind: "tensor", storage: st, offset: offset as number, size: [...sz], stride: [...sd] };
}

function tensorArg(args: PickleValue[], u: Unpickler, fn: string): TensorRef {
  const t = args[0];
  if (typeof t !== "object" || t === null || (t as TensorRef).kind !== "tensor") u.fail(`${fn} expects a tensor`);
  return t as TensorRef;
}

const CALLABLES: Record<string, Callable> = {};
for (const c of [
  new Callable("torch._utils._rebuild_tensor_v2", rebuildTensor),
  new Callable("torch._utils._rebuild_tensor", rebuildTensor),
  new Callable("torch._utils._rebuild_parameter", (a, u) => tensorArg(a, u, "_rebuild_parameter")),
  new Callable("torch._utils._rebuild_parameter_with_state", (a, u) =>
    tensorArg(a, u, "_rebuild_parameter_with_state"),
  ),
  new Callable("collections.OrderedDict", (a, u) => {
    if (a.length !== 0) u.fail("OrderedDict(...) with arguments is not supported");
    return new OrderedDict();
  }),
  new Callable("torch.Size", (a, u) => {
    if (a.length !== 1 || !Array.isArray(a[0]) || !a[0].every(isIndex)) u.fail("torch.Size expects a tuple of sizes");
    return Object.freeze([...(a[0] as number[])]) as PickleValue[];
  }),
])
  CALLABLES[c.name] = c;

/** The globals a state dict may name (for error messages and documentation). */
export const ALLOWED_GLOBALS: readonly string[] = [
  ...Object.keys(CALLABLES),
  ...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`),
];

function isAllowedGlobal(module: string, name: string): boolean {
  return Object.hasOwn(CALLABLES, `${module}.${name}`) || (module === "torch" && Object.hasOwn(STORAGE_TYPES, name));
}

function refuseGlobal(module: string, name: string, file: string, at: number): never {
  const full = `${module}.${name}`;
  const shown = full.length > 200 ? full.slice(0, 200) + "..." : full;
  throw new UnsafePickleError(
    file,
    full,
    `pickle at byte ${at}: refusing to load: it imports the global ${JSON.stringify(shown)}, which is not one of ` +
      `the globals a state dict needs (tensor rebuilders, storage types, collections.OrderedDict); nothing was executed`,
  );
}

function resolveGlobal(module: string, name: string, u: Unpickler): PickleValue {
  if (!isAllowedGlobal(module, name)) refuseGlobal(module, name, u.file, u.offset);
  const full = `${module}.${name}`;
  if (Object.hasOwn(CALLABLES, full)) return CALLABLES[full];
  const [dtype, size] = STORAGE_TYPES[name];
  return new StorageType(name, dtype, size);
}

/**
 * Argument layout of each opcode, for the scan that runs before interpretation: a fixed byte count, a length
 * prefix of 1/4/8 bytes followed by that many bytes, or newline-terminated text lines.
 */
type ArgKind = number | "len1" | "len4" | "len8" | "line" | "line2";
const ARGS: Record<number, ArgKind> = {};
for (const op of "(.0123NaeltdsuRb]}Qo)\x85\x86\x87\x88\x89\x8f\x90\x91\x93\x94\x81\x92".split(""))
  ARGS[op.charCodeAt(0)] = 0;
for (const [ops, kind] of [
  ["\x80Khq\x82", 1],
  ["M\x83", 2],
  ["Jjr\x84", 4],
  ["G\x95", 8],
  ["\x8a\x8cUC", "len1"],
  ["\x8bXTB", "len4"],
  ["\x8d\x8e\x96", "len8"],
  ["ILFpgPSV", "line"],
  ["ci", "line2"],
] as [string, ArgKind][])
  for (const op of ops) ARGS[op.charCodeAt(0)] = kind;

/**
 * Walk the opcodes of a pickle without interpreting any, and refuse the first GLOBAL (or INST) outside the
 * allowlist. This is what makes "refused before anything runs" literal: a payload placed after a thousand valid
 * tensors is refused before the first of them is built. (STACK_GLOBAL takes its names from the stack, so those
 * are checked when interpreted; the interpreter only builds data, so that is still before anything runs.) The
 * scan stops at STOP, at an unknown opcode or at a truncated argument: the interpreter then reports those.
 */
export function scanGlobals(bytes: Uint8Array, file: string, start = 0, end = bytes.length): void {
  let p = start;
  const lineEnd = (q: number): number => {
    const nl = bytes.indexOf(10, q);
    return nl < 0 || nl >= end ? -1 : nl;
  };
  while (p < end) {
    const at = p;
    const op = bytes[p++];
    if (op === 0x2e) return;
    const kind = ARGS[op];
    if (kind === undefined) return;
    if (typeof kind === "number") p += kind;
    else if (kind === "len1") p += 1 + (p < end ? bytes[p] : 0);
    else if (kind === "len4" || kind === "len8") {
      if (p + (kind === "len4" ? 4 : 8) > end) return;
      const lo = (bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24)) >>> 0;
      const hi =
        kind === "len8" ? (bytes[p + 4] | (bytes[p + 5] << 8) | (bytes[p + 6] << 16) | (bytes[p + 7] << 24)) >>> 0 : 0;
      p += (kind === "len4" ? 4 : 8) + hi * 0x100000000 + lo;
    } else {
      const e1 = lineEnd(p);
      if (e1 < 0) return;
      if (kind === "line") {
        p = e1 + 1;
        continue;
      }
      const e2 = lineEnd(e1 + 1);
      if (e2 < 0) return;
      const module = latin1.decode(bytes.subarray(p, e1));
      const name = latin1.decode(bytes.subarray(e1 + 1, e2));
      // INST names a class to instantiate: refused by the interpreter anyway, but named here if not allowed.
      if (!isAllowedGlobal(module, name)) refuseGlobal(module, name, file, at);
      p = e2 + 1;
    }
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Marker pushed by MARK. */
const MARK = Symbol("mark");

/**
 * One pickle program over `bytes[start..end)`. `persistentLoad` turns a persistent id (BINPERSID) into a value;
 * the zip and legacy formats differ only there.
 */
export class Unpickler {
  private pos: number;
  private stack: (PickleValue | typeof MARK)[] = [];
  private memo = new Map<number, PickleValue>();

  constructor(
    private readonly bytes: Uint8Array,
    readonly file: string,
    private readonly persistentLoad: (pid: PickleValue, u: Unpickler) => PickleValue,
    start = 0,
    private readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  /** Position right after the STOP opcode once `load` returned. */
  get offset(): number {
    return this.pos;
  }

  fail(why: string): never {
    throw new CheckpointError(this.file, `pickle at byte ${this.pos}: ${why}`);
  }

  private take(n: number): Uint8Array {
    if (!(n >= 0 && n <= this.end - this.pos)) this.fail(`needs ${n} more bytes, ${this.end - this.pos} remain`);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  private u8(): number {
    return this.take(1)[0];
  }
  private u16(): number {
    const b = this.take(2);
    return b[0] | (b[1] << 8);
  }
  private u32(): number {
    const b = this.take(4);
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }
  private u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    // Lengths beyond 2^53 can never fit in the file: report them as such instead of losing precision.
    return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
  }
  private line(): string {
    const nl = this.bytes.indexOf(10, this.pos);
    if (nl < 0 || nl >= this.end) this.fail("unterminated text argument");
    const s = latin1.decode(this.bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s;
  }
  private pop(): PickleValue {
    const v = this.stack.pop();
    if (v === undefined) this.fail("stack underflow");
    if (v === MARK) this.fail("unexpected MARK on the stack");
    return v as PickleValue;
  }
  private top(): PickleValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) this.fail("stack underflow");
    return v as PickleValue;
  }
  /** The items pushed since the last MARK, removing them and the mark. */
  private popMark(): PickleValue[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i < 0) this.fail("no MARK on the stack");
    const items = this.stack.slice(i + 1) as PickleValue[];
    this.stack.length = i;
    return items;
  }
  private str(b: Uint8Array): string {
    try {
      return utf8.decode(b);
    } catch {
      return this.fail("string is not valid UTF-8");
    }
  }
  /** LONG1/LONG4 payload: little-endian two's complement. A number when it fits 2^53, else a bigint (which
   * every size and offset check refuses); the legacy format's 10-byte magic number is the one such value. */
  private signedLE(b: Uint8Array): number | bigint {
    if (b.length > 16) this.fail(`integer of ${b.length} bytes is wider than 128 bits`);
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER) ? v : Number(v);
  }
  /** Text INT/LONG values (at most 20 digits). */
  private intValue(v: bigint): number | bigint {
    return v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER) ? v : Number(v);
  }
  private dict(target: PickleValue, items: PickleValue[]): void {
    if (!(target instanceof Map)) this.fail("SETITEM(S) on something that is not a dict");
    if (items.length % 2 !== 0) this.fail("SETITEMS with an odd number of items");
    for (let i = 0; i < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i], items[i + 1]);
  }
  private list(target: PickleValue, items: PickleValue[]): void {
    if (!Array.isArray(target) || Object.isFrozen(target)) this.fail("APPEND(S) on something that is not a list");
    for (const x of items) (target as PickleValue[]).push(x);
  }
  private put(i: number): void {
    this.memo.set(i, this.top());
  }
  private get(i: number): void {
    if (!this.memo.has(i)) this.fail(`memo key ${i} was never stored`);
    this.stack.push(this.memo.get(i)!);
  }
  private tuple(items: PickleValue[]): PickleValue[] {
    return Object.freeze(items) as PickleValue[];
  }

  /** Scan the program for disallowed globals (see {@link scanGlobals}), then run it up to STOP. */
  load(): PickleValue {
    scanGlobals(this.bytes, this.file, this.pos, this.end);
    for (;;) {
      const op = this.u8();
      switch (op) {
        case 0x80: // PROTO
          if (this.u8() > 5) this.fail("pickle protocol above 5");
          break;
        case 0x95: // FRAME: a length hint only
          this.u64();
          break;
        case 0x2e: // STOP
          if (this.stack.length !== 1) this.fail(`STOP with ${this.stack.length} values on the stack`);
          return this.pop();
        case 0x28: // MARK
          this.stack.push(MARK);
          break;
        case 0x30: // POP
          if (this.stack.pop() === undefined) this.fail("stack underflow");
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.stack.push(this.top());
          break;
        case 0x4e: // NONE
          this.stack.push(null);
          break;
        case 0x88: // NEWTRUE
          this.stack.push(true);
          break;
        case 0x89: // NEWFALSE
          this.stack.push(false);
          break;
        case 0x4b: // BININT1
          this.stack.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.stack.push(this.u16());
          break;
        case 0x4a: // BININT
          this.stack.push(this.u32() | 0);
          break;
        case 0x8a: // LONG1
          this.stack.push(this.signedLE(this.take(this.u8())));
          break;
        case 0x8b: {
          // LONG4
          const n = this.u32() | 0;
          if (n < 0) this.fail("LONG4 with a negative length");
          this.stack.push(this.signedLE(this.take(n)));
          break;
        }
        case 0x49: {
          // INT (text): "01"/"00" are True/False in protocol 0
          const s = this.line();
          if (s === "01" || s === "00") this.stack.push(s === "01");
          else if (/^[+-]?\d{1,20}$/.test(s)) this.stack.push(this.intValue(BigInt(s)));
          else this.fail(`bad INT argument ${JSON.stringify(s.slice(0, 40))}`);
          break;
        }
        case 0x4c: {
          // LONG (text): digits with an optional trailing L
          const s = this.line().replace(/L$/, "");
          if (!/^[+-]?\d{1,20}$/.test(s)) this.fail(`bad LONG argument ${JSON.stringify(s.slice(0, 40))}`);
          this.stack.push(this.intValue(BigInt(s)));
          break;
        }
        case 0x46: {
          // FLOAT (text)
          const s = this.line();
          const v = Number(s);
          if (s.trim() === "" || (Number.isNaN(v) && !/^[+-]?nan$/i.test(s))) this.fail(`bad FLOAT argument`);
          this.stack.push(v);
          break;
        }
        case 0x47: {
          // BINFLOAT: big-endian float64
          const b = this.take(8);
          this.stack.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
          break;
        }
        case 0x58: // BINUNICODE
          this.stack.push(this.str(this.take(this.u32())));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.stack.push(this.str(this.take(this.u8())));
          break;
        case 0x8d: // BINUNICODE8
          this.stack.push(this.str(this.take(this.u64())));
          break;
        case 0x54: // BINSTRING (Python 2 str), decoded as latin-1 like pickle's encoding="latin1"
          this.stack.push(latin1.decode(this.take(this.u32() | 0)));
          break;
        case 0x55: // SHORT_BINSTRING
          this.stack.push(latin1.decode(this.take(this.u8())));
          break;
        case 0x42: // BINBYTES
          this.stack.push(this.take(this.u32()).slice());
          break;
        case 0x43: // SHORT_BINBYTES
          this.stack.push(this.take(this.u8()).slice());
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.stack.push(this.take(this.u64()).slice());
          break;
        case 0x29: // EMPTY_TUPLE
          this.stack.push(this.tuple([]));
          break;
        case 0x85: // TUPLE1
          this.stack.push(this.tuple([this.pop()]));
          break;
        case 0x86: {
          // TUPLE2
          const b = this.pop();
          this.stack.push(this.tuple([this.pop(), b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.pop();
          const b = this.pop();
          this.stack.push(this.tuple([this.pop(), b, c]));
          break;
        }
        case 0x74: // TUPLE
          this.stack.push(this.tuple(this.popMark()));
          break;
        case 0x5d: // EMPTY_LIST
          this.stack.push([]);
          break;
        case 0x6c: // LIST
          this.stack.push(this.popMark());
          break;
        case 0x61: {
          // APPEND
          const x = this.pop();
          this.list(this.top(), [x]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          this.list(this.top(), items);
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.stack.push(new Map());
          break;
        case 0x64: {
          // DICT
          const m = new Map<PickleValue, PickleValue>();
          this.dict(m, this.popMark());
          this.stack.push(m);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.dict(this.top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          this.dict(this.top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.stack.push(new Set());
          break;
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail("ADDITEMS on something that is not a set");
          for (const x of items) (s as Set<PickleValue>).add(x);
          break;
        }
        case 0x91: // FROZENSET
          this.stack.push(new Set(this.popMark()));
          break;
        case 0x70: // PUT (text)
          this.put(this.memoIndex(this.line()));
          break;
        case 0x67: // GET (text)
          this.get(this.memoIndex(this.line()));
          break;
        case 0x71: // BINPUT
          this.put(this.u8());
          break;
        case 0x72: // LONG_BINPUT
          this.put(this.u32());
          break;
        case 0x94: // MEMOIZE
          this.put(this.memo.size);
          break;
        case 0x68: // BINGET
          this.get(this.u8());
          break;
        case 0x6a: // LONG_BINGET
          this.get(this.u32());
          break;
        case 0x63: {
          // GLOBAL "module\nname\n"
          const module = this.line();
          const name = this.line();
          this.stack.push(resolveGlobal(module, name, this));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== "string" || typeof name !== "string") this.fail("STACK_GLOBAL needs two strings");
          this.stack.push(resolveGlobal(module as string, name as string, this));
          break;
        }
        case 0x52: {
          // REDUCE: callable(*args), only for the allowlisted data builders
          const args = this.pop();
          const fn = this.pop();
          if (!(fn instanceof Callable)) this.fail("REDUCE on something that is not an allowed callable");
          if (!Array.isArray(args)) this.fail("REDUCE arguments are not a tuple");
          this.stack.push((fn as Callable).call(args as PickleValue[], this));
          break;
        }
        case 0x62: {
          // BUILD: obj.__setstate__(state). torch's state_dict() is an OrderedDict carrying a `_metadata`
          // attribute (per-module version numbers); it is accepted on ordered dicts and dropped.
          const state = this.pop();
          const obj = this.top();
          if (!(obj instanceof OrderedDict)) this.fail("BUILD is only accepted on an OrderedDict");
          if (!(state instanceof Map) && state !== null) this.fail("BUILD state of an OrderedDict must be a dict");
          break;
        }
        case 0x51: // BINPERSID
          this.stack.push(this.persistentLoad(this.pop(), this));
          break;
        case 0x50: // PERSID
          return this.fail("text persistent ids (PERSID) are not used by torch.save");
        case 0x69: // INST
        case 0x6f: // OBJ
        case 0x81: // NEWOBJ
        case 0x92: // NEWOBJ_EX
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
          return this.fail(`opcode 0x${op.toString(16)} instantiates a class, which a state dict never needs`);
        default:
          return this.fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")}`);
      }
    }
  }

  private memoIndex(s: string): number {
    if (!/^\d{1,10}$/.test(s)) this.fail(`bad memo index ${JSON.stringify(s.slice(0, 40))}`);
    return Number(s);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------

/** The pickle of one tensor as `torch.save` writes a state dict entry (protocol 2), storage named `key`. */
export interface PickledTensor {
  name: string;
  key: string;
  dtype: DType;
  shape: number[];
}

/**
 * `torch.save(state_dict)`'s data.pkl for contiguous tensors, each with its own storage:
 *
 *     {name: _rebuild_tensor_v2(PERSID('storage', torch.FloatStorage, key, 'cpu', numel), 0, size, stride,
 *                               False, OrderedDict()), ...}
 *
 * As Python's pickler with protocol 2 (PROTO 2, EMPTY_DICT, MARK ... SETITEMS, STOP), without memo opcodes
 * (they only shorten the file). A plain dict, as HF's `save_pretrained` passes to `torch.save` per shard.
 */
export function pickleStateDict(entries: PickledTensor[]): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  const byte = (...b: number[]) => out.push(...b);
  const int = (v: number) => {
    if (v < 0x100) byte(0x4b, v);
    else if (v < 0x10000) byte(0x4d, v & 0xff, v >> 8);
    else if (v < 0x80000000) byte(0x4a, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
    else {
      // LONG1: minimal little-endian two's complement
      const bytes: number[] = [];
      let x = BigInt(v);
      while (x > 0n) {
        bytes.push(Number(x & 0xffn));
        x >>= 8n;
      }
      if (bytes[bytes.length - 1] & 0x80) bytes.push(0);
      byte(0x8a, bytes.length, ...bytes);
    }
  };
  const str = (s: string) => {
    const b = enc.encode(s);
    byte(0x58, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24);
    for (const x of b) out.push(x);
  };
  const global = (module: string, name: string) => {
    byte(0x63);
    for (const x of enc.encode(`${module}\n${name}\n`)) out.push(x);
  };
  const tuple = (xs: number[]) => {
    if (xs.length === 0) return byte(0x29);
    if (xs.length > 3) byte(0x28);
    for (const x of xs) int(x);
    byte(xs.length === 1 ? 0x85 : xs.length === 2 ? 0x86 : xs.length === 3 ? 0x87 : 0x74);
  };
  byte(0x80, 2, 0x7d);
  if (entries.length > 0) byte(0x28);
  for (const e of entries) {
    str(e.name);
    global("torch._utils", "_rebuild_tensor_v2");
    byte(0x28); // MARK: the argument tuple
    byte(0x28); // MARK: the persistent id tuple
    str("storage");
    global("torch", STORAGE_TYPE_OF[e.dtype]);
    str(e.key);
    str("cpu");
    const numel = e.shape.reduce((a, b) => a * b, 1);
    int(numel);
    byte(0x74, 0x51); // TUPLE, BINPERSID
    int(0);
    tuple(e.shape);
    const stride = e.shape.map((_, i) => e.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    tuple(stride);
    byte(0x89); // requires_grad=False
    global("collections", "OrderedDict");
    byte(0x29, 0x52); // (), REDUCE: backward_hooks = OrderedDict()
    byte(0x74, 0x52); // TUPLE, REDUCE
  }
  if (entries.length > 0) byte(0x75);
  byte(0x2e);
  return Uint8Array.from(out);
}
