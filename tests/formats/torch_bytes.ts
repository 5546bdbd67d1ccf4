/**
 * torch.save files built byte by byte for the tests, independently of src/formats (own zip writer, own pickle
 * assembler). The layout follows torch/serialization.py `_save` (zip) and `_legacy_save`, as PyTorch 1.13 writes
 * it; the shared reference files (made by real PyTorch) check that this layout is the real one.
 */

/** Pickle assembler: `op` appends raw opcodes, the helpers append protocol-2 encodings of Python values. */
export class PickleBytes {
  bytes: number[] = [];
  private memo = 0;
  op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  text(s: string): this {
    for (const c of new TextEncoder().encode(s)) this.bytes.push(c);
    return this;
  }
  u32(v: number): this {
    return this.op(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  }
  /** BINUNICODE + BINPUT, as Python's pickler memoizes strings. */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.op(0x58)
      .u32(b.length)
      .op(...b);
    return this.put();
  }
  put(): this {
    return this.op(0x71, this.memo++ & 0xff);
  }
  int(v: number): this {
    if (v < 256) return this.op(0x4b, v);
    if (v < 65536) return this.op(0x4d, v & 0xff, v >> 8);
    return this.op(0x4a).u32(v);
  }
  global(module: string, name: string): this {
    return this.op(0x63).text(`${module}\n${name}\n`).put();
  }
  tuple(xs: number[]): this {
    if (xs.length === 0) return this.op(0x29);
    this.op(0x28);
    for (const x of xs) this.int(x);
    return this.op(0x74).put();
  }
  /**
   * `_rebuild_tensor_v2(PERSID(('storage', torch.<type>, key, 'cpu', numel [, None])), offset, size, stride,
   * False, OrderedDict())`
   */
  tensor(
    t: { type: string; key: string; numel: number; offset: number; size: number[]; stride: number[] },
    legacy = false,
  ): this {
    this.global("torch._utils", "_rebuild_tensor_v2").op(0x28, 0x28);
    this.str("storage").global("torch", t.type).str(t.key).str("cpu").int(t.numel);
    if (legacy) this.op(0x4e);
    this.op(0x74).put().op(0x51);
    this.int(t.offset).tuple(t.size).tuple(t.stride).op(0x89);
    this.global("collections", "OrderedDict").op(0x29, 0x52).put();
    return this.op(0x74).put().op(0x52).put();
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export interface TestTensor {
  name: string;
  type: string;
  key: string;
  numel: number;
  offset: number;
  size: number[];
  stride: number[];
}

/**
 * data.pkl of a state dict as HF's `model.state_dict()` pickles it: an OrderedDict (GLOBAL + EMPTY_TUPLE +
 * REDUCE), its `_metadata` attribute set through BUILD, then the items (MARK ... SETITEMS).
 */
export function stateDictPickle(tensors: TestTensor[], opts: { ordered?: boolean; legacy?: boolean } = {}): Uint8Array {
  const p = new PickleBytes().op(0x80, 2);
  if (opts.ordered ?? true) {
    p.global("collections", "OrderedDict").op(0x29, 0x52).put();
    // BUILD with {'_metadata': OrderedDict([('', {'version': 1})])}
    p.op(0x7d).put().str("_metadata").global("collections", "OrderedDict").op(0x29, 0x52).put();
    p.op(0x28).str("").op(0x7d).put().str("version").int(1).op(0x73, 0x75); // MARK '' {version: 1} SETITEMS
    p.op(0x73, 0x62); // SETITEM, BUILD
  } else p.op(0x7d).put();
  p.op(0x28);
  for (const t of tensors) p.str(t.name).tensor(t, opts.legacy);
  return p.op(0x75, 0x2e).done();
}

function le(v: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
  return out;
}

/** A minimal stored zip (no alignment padding, no Zip64), written the way the format's spec lays it out. */
export function storedZip(records: [string, Uint8Array][]): Uint8Array {
  const out: number[] = [];
  const central: number[] = [];
  for (const [name, data] of records) {
    const n = [...new TextEncoder().encode(name)];
    const offset = out.length;
    out.push(...le(0x04034b50, 4), ...le(20, 2), 0, 0, 0, 0, 0, 0, 0, 0, ...le(0, 4));
    out.push(...le(data.length, 4), ...le(data.length, 4), ...le(n.length, 2), 0, 0, ...n);
    for (const b of data) out.push(b);
    central.push(...le(0x02014b50, 4), ...le(20, 2), ...le(20, 2), 0, 0, 0, 0, 0, 0, 0, 0, ...le(0, 4));
    central.push(...le(data.length, 4), ...le(data.length, 4), ...le(n.length, 2), 0, 0, 0, 0, 0, 0, 0, 0);
    central.push(...le(0, 4), ...le(offset, 4), ...n);
  }
  const cdOffset = out.length;
  out.push(...central);
  out.push(...le(0x06054b50, 4), 0, 0, 0, 0, ...le(records.length, 2), ...le(records.length, 2));
  out.push(...le(central.length, 4), ...le(cdOffset, 4), 0, 0);
  return Uint8Array.from(out);
}

/** A legacy (non-zip) torch.save file: magic, protocol, sys_info, the object pickle, the key list, storages. */
export function legacyFile(objectPickle: Uint8Array, storages: [string, number, Uint8Array][]): Uint8Array {
  const out: number[] = [];
  // LONG1 0x1950a86a20f9469cfc6c (10 bytes little-endian)
  out.push(0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e);
  out.push(0x80, 2, 0x4d, 0xe9, 0x03, 0x2e); // 1001
  const sys = new PickleBytes().op(0x80, 2, 0x7d, 0x28).str("protocol_version").int(1001);
  sys.str("little_endian").op(0x88).op(0x75, 0x2e);
  out.push(...sys.bytes, ...objectPickle);
  const keys = new PickleBytes().op(0x80, 2, 0x5d, 0x28);
  for (const [k] of storages) keys.str(k);
  out.push(...keys.op(0x65, 0x2e).bytes);
  for (const [, numel, data] of storages) {
    out.push(...le(numel, 8));
    for (const b of data) out.push(b);
  }
  return Uint8Array.from(out);
}

export function f32bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
