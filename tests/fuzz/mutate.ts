/**
 * Mutations for fuzzing the parsers: fast-check arbitraries of functions that turn a valid file into a
 * malformed one. Three layers:
 *   bytes      bit flips, truncation, insertion, deletion, duplication of a chunk, "interesting" byte runs
 *              (0xff.., 0x80.. varint continuations, 0x00..) written over the file, or plain random bytes
 *   JSON       a value somewhere in the document replaced by an odd one, deleted, wrapped, duplicated; keys
 *              added from a dictionary that includes JavaScript's dangerous names (__proto__, constructor,
 *              toString) and names of llama-ts's own methods and accessors; deep nesting
 *   safetensors  the 8-byte length prefix rewritten, one header entry's dtype/shape/data_offsets rewritten
 *
 * A mutation is applied lazily (it is a function), so a campaign of 10,000 inputs holds only recipes.
 */
import fc, { type Arbitrary } from "fast-check";

export type Mutation = (file: Uint8Array) => Uint8Array;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------------------------------------------

export const bitFlips: Arbitrary<Mutation> = fc
  .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 })
  .map((flips) => (file) => {
    const out = file.slice();
    if (out.length === 0) return out;
    for (const [pos, bit] of flips) out[pos % out.length] ^= 1 << bit;
    return out;
  });

export const truncation: Arbitrary<Mutation> = fc.nat().map((cut) => (file) => file.slice(0, cut % (file.length + 1)));

export const insertion: Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }))
  .map(([pos, bytes]) => (file) => {
    const at = pos % (file.length + 1);
    const out = new Uint8Array(file.length + bytes.length);
    out.set(file.subarray(0, at), 0);
    out.set(bytes, at);
    out.set(file.subarray(at), at + bytes.length);
    return out;
  });

export const deletion: Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.integer({ min: 1, max: 64 }))
  .map(([pos, n]) => (file) => {
    const at = pos % (file.length + 1);
    const end = Math.min(file.length, at + n);
    const out = new Uint8Array(file.length - (end - at));
    out.set(file.subarray(0, at), 0);
    out.set(file.subarray(end), at);
    return out;
  });

/** A chunk of the file copied to another place (repeated fields, repeated entries). */
export const duplication: Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.integer({ min: 1, max: 256 }), fc.nat())
  .map(([from, n, to]) => (file) => {
    if (file.length === 0) return file;
    const start = from % file.length;
    const chunk = file.slice(start, Math.min(file.length, start + n));
    return insertionAt(file, to % (file.length + 1), chunk);
  });

function insertionAt(file: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(file.length + bytes.length);
  out.set(file.subarray(0, at), 0);
  out.set(bytes, at);
  out.set(file.subarray(at), at + bytes.length);
  return out;
}

/** Runs of bytes parsers treat specially, written over the file: all-ones, varint continuation bytes, zeros. */
export const interestingOverwrite: Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.constantFrom(0xff, 0x80, 0x7f, 0x00, 0xfe), fc.integer({ min: 1, max: 12 }))
  .map(([pos, byte, n]) => (file) => {
    const out = file.slice();
    if (out.length === 0) return out;
    const at = pos % out.length;
    out.fill(byte, at, Math.min(out.length, at + n));
    return out;
  });

/** One of the byte-level mutations. */
export const byteMutation: Arbitrary<Mutation> = fc.oneof(
  bitFlips,
  truncation,
  insertion,
  deletion,
  duplication,
  interestingOverwrite,
);

/** Random bytes (the seed file is ignored). */
export const randomBytes: Arbitrary<Mutation> = fc.uint8Array({ maxLength: 256 }).map((bytes) => () => bytes);

// ---------------------------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------------------------

/** Values a rewrite puts in place of a field: edge numbers, wrong types, arbitrary JSON. */
export const oddValue: Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    -1,
    0,
    1,
    0.5,
    2 ** 31,
    2 ** 53,
    2 ** 53 - 1,
    2 ** 64,
    1e308,
    -1e308,
    1e-320,
    "F32",
    "BF16",
    "U8",
    "I64",
    "BOOL",
    "F64",
    null,
    true,
    false,
    [],
    {},
    "",
    "<s>",
    "\u0000",
  ),
  fc.constantFrom(
    [0, 0],
    [0, 2 ** 53],
    [2 ** 62, 2 ** 62],
    [8, 4],
    [0, 4, 8],
    [2 ** 20, 2 ** 20, 2 ** 20],
    ["1"],
    [null],
    [[]],
    { __proto__: null, a: 1 },
  ),
  fc.integer({ min: -8, max: 64 }),
  fc.array(fc.integer({ min: -2, max: 40 }), { maxLength: 3 }),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Keys to add: JavaScript's prototype names, llama-ts's own method and accessor names, and ordinary junk. */
export const KEY_DICTIONARY = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "toJSON",
  "validate",
  "to_dict",
  "to_json_string",
  "rope_type",
  "num_labels",
  "warnings",
  "model_type",
  "type",
  "vocab",
  "merges",
  "added_tokens",
  "normalizer",
  "pre_tokenizer",
  "decoder",
  "post_processor",
  "model",
  "added_tokens_decoder",
  "pad_token",
  "bos_token",
  "eos_token",
  "unk_token",
  "legacy",
  "add_bos_token",
  "rope_scaling",
  "head_dim",
  "num_key_value_heads",
  "pretraining_tp",
  "dtype",
  "shape",
  "data_offsets",
  "__metadata__",
];

export const keyName: Arbitrary<string> = fc.oneof(fc.constantFrom(...KEY_DICTIONARY), fc.string({ maxLength: 6 }));

type JsonOp = "replace" | "delete" | "add" | "wrap" | "duplicate" | "stringify" | "negate";

/** Every container (object or array) in a JSON value, with the path to it; the root first. */
function containers(v: unknown, limit = 10_000): unknown[] {
  const out: unknown[] = [];
  const stack = [v];
  while (stack.length > 0 && out.length < limit) {
    const x = stack.pop();
    if (x !== null && typeof x === "object") {
      out.push(x);
      for (const child of Object.values(x as object)) stack.push(child);
    }
  }
  return out;
}

/** Make a JSON object own a key even when the key is "__proto__" (a plain assignment would set the prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** One edit somewhere in a parsed JSON document (applied to a copy). */
export const jsonEdit: Arbitrary<(doc: unknown) => unknown> = fc
  .tuple(
    fc.nat(),
    fc.nat(),
    fc.constantFrom<JsonOp>("replace", "replace", "delete", "add", "add", "wrap", "duplicate", "stringify", "negate"),
    oddValue,
    keyName,
  )
  .map(([pickContainer, pickChild, op, value, key]) => (doc) => {
    const root = structuredClone(doc);
    const all = containers(root);
    if (all.length === 0) return value;
    const c = all[pickContainer % all.length] as Record<string, unknown> | unknown[];
    const keys = Object.keys(c);
    const k = keys.length > 0 ? keys[pickChild % keys.length] : null;
    const child = k === null ? undefined : (c as any)[k];
    switch (op) {
      case "replace":
        if (k !== null) (c as any)[k] = value;
        break;
      case "delete":
        if (k !== null) Array.isArray(c) ? c.splice(Number(k), 1) : delete (c as any)[k];
        break;
      case "add":
        if (Array.isArray(c)) c.push(value);
        else setOwn(c, key, value);
        break;
      case "wrap":
        if (k !== null) (c as any)[k] = [child];
        break;
      case "duplicate":
        if (Array.isArray(c) && k !== null) c.splice(Number(k), 0, structuredClone(child));
        else if (k !== null) setOwn(c as Record<string, unknown>, `${k}_`, structuredClone(child));
        break;
      case "stringify":
        if (k !== null) (c as any)[k] = JSON.stringify(child ?? null);
        break;
      case "negate":
        if (k !== null && typeof child === "number") (c as any)[k] = -child - 1;
        else if (k !== null && typeof child === "boolean") (c as any)[k] = !child;
        break;
    }
    return root;
  });

/** Serialise a document that may own "__proto__" keys (JSON.stringify writes own enumerable keys, so it does). */
function stringifyJson(doc: unknown, pretty: boolean): string {
  return JSON.stringify(doc, null, pretty ? 2 : undefined) ?? "null";
}

/** 1-3 JSON edits, re-serialised; a file that is not JSON falls back to a byte mutation. */
export const jsonMutation: Arbitrary<Mutation> = fc
  .tuple(fc.array(jsonEdit, { minLength: 1, maxLength: 3 }), fc.boolean(), byteMutation)
  .map(([edits, pretty, fallback]) => (file) => {
    let doc: unknown;
    try {
      doc = JSON.parse(decoder.decode(file));
    } catch {
      return fallback(file);
    }
    for (const e of edits) doc = e(doc);
    return encoder.encode(stringifyJson(doc, pretty));
  });

/** Text-level damage a JSON parser must survive: deep nesting, huge numbers, an unterminated string. */
export const jsonTextMutation: Arbitrary<Mutation> = fc
  .tuple(
    fc.constantFrom("nest", "number", "unterminated", "bom", "nul"),
    fc.nat(),
    fc.integer({ min: 1, max: 200_000 }),
  )
  .map(([kind, pos, n]) => (file) => {
    const text = decoder.decode(file);
    const at = pos % (text.length + 1);
    switch (kind) {
      case "nest":
        return encoder.encode("[".repeat(n) + "]".repeat(n));
      case "number":
        return encoder.encode(text.slice(0, at) + "9".repeat(Math.min(n, 5000)) + text.slice(at));
      case "unterminated":
        return encoder.encode(text.slice(0, at) + '"' + "a".repeat(Math.min(n, 1000)));
      case "bom":
        return encoder.encode("\ufeff" + text);
      default:
        return encoder.encode(text.slice(0, at) + "\u0000" + text.slice(at));
    }
  });

// ---------------------------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------------------------

/** The header JSON text of a safetensors file and where its data starts, or null if the prefix is off. */
export function safetensorsHeaderOf(file: Uint8Array): { text: string; end: number } | null {
  if (file.length < 8) return null;
  const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > file.length) return null;
  return { text: decoder.decode(file.subarray(8, 8 + n)), end: 8 + n };
}

/** A safetensors file from a header text and data bytes (the header optionally space-padded to 8 bytes). */
export function safetensorsWithHeader(text: string, data: Uint8Array, pad: boolean): Uint8Array {
  const json = encoder.encode(pad ? text + " ".repeat((8 - (encoder.encode(text).length % 8)) % 8) : text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** The 8-byte header length rewritten: an arbitrary u64, or a small delta from the true length. */
export const safetensorsLengthRewrite: Arbitrary<Mutation> = fc
  .oneof(
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fc.integer({ min: -16, max: 16 }).map((d) => BigInt(d)),
  )
  .map((v) => (file) => {
    const out = file.slice();
    if (out.length < 8) return out;
    const dv = new DataView(out.buffer);
    const next = v >= 0n && v > 16n ? v : dv.getBigUint64(0, true) + v; // small values are deltas
    dv.setBigUint64(0, BigInt.asUintN(64, next), true);
    return out;
  });

/** Replace one field of one entry (or the entry, or the metadata) by an odd value; keep the length prefix right. */
export const safetensorsHeaderRewrite: Arbitrary<Mutation> = fc
  .tuple(
    fc.nat(),
    fc.constantFrom("dtype", "shape", "data_offsets", "entry", "extra", "__metadata__", "delete"),
    oddValue,
    fc.boolean(),
  )
  .map(([pick, field, value, pad]) => (file) => {
    const h = safetensorsHeaderOf(file);
    if (h === null) return file;
    let header: Record<string, any>;
    try {
      header = JSON.parse(h.text) as Record<string, any>;
    } catch {
      return file;
    }
    if (header === null || typeof header !== "object") return file;
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    const data = file.subarray(h.end);
    if (field === "__metadata__") header.__metadata__ = value;
    else if (names.length > 0) {
      const name = names[pick % names.length];
      const entry = header[name];
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) header[name] = {}; // an earlier rewrite replaced it
      if (field === "entry") header[name] = value;
      else if (field === "delete") delete header[name];
      else if (field === "extra") header[name].extra = value;
      else header[name][field] = value;
    }
    return safetensorsWithHeader(JSON.stringify(header), data, pad);
  });
