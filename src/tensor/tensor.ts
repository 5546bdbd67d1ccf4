/**
 * Tensor: a dtype, a row-major contiguous shape and one typed array. The floor of the project: it imports
 * nothing of ours but the dtype helpers.
 *
 * Storage per dtype (as transformers.js): float32 -> Float32Array, float16/bfloat16 -> Uint16Array (raw bits,
 * 2 bytes a value), int32 -> Int32Array, int64 -> BigInt64Array, bool -> Uint8Array.
 */
import { ShapeError } from "../errors.ts";
import {
  DTYPES,
  type DType,
  type TypedArray,
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToHalf,
  halfToFloat32,
} from "./dtypes.ts";

export type { DType, TypedArray } from "./dtypes.ts";

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The typed array each dtype is stored in. */
const ARRAY_TYPE: Readonly<Record<DType, { new (n: number): TypedArray; readonly name: string }>> = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
};

function checkDtype(dtype: DType): void {
  if (!DTYPES.includes(dtype))
    throw new ShapeError(
      "dtype",
      `expected one of ${DTYPES.join(", ")}, got ${JSON.stringify(dtype) ?? String(dtype)}`,
    );
}

function allocate(dtype: DType, n: number): TypedArray {
  checkDtype(dtype);
  return new ARRAY_TYPE[dtype](n);
}

export class Tensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;

  constructor(dtype: DType, data: TypedArray | number[], shape: number[]) {
    checkDtype(dtype);
    if (!Array.isArray(data) && !ArrayBuffer.isView(data))
      throw new ShapeError("data", `expected a typed array or number[], got ${data === null ? "null" : typeof data}`);
    if (!Array.isArray(shape)) throw new ShapeError("shape", `expected an array of sizes, got ${String(shape)}`);
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0)
        throw new ShapeError("shape", `expected non-negative integers, got [${shape.join(", ")}]`);
    }
    const n = shapeSize(shape);
    let arr: TypedArray;
    if (Array.isArray(data)) {
      const integral = dtype === "int32" || dtype === "int64" || dtype === "bool";
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (typeof v !== "number" || (integral && !Number.isFinite(v)))
          throw new ShapeError(
            "data",
            `element ${i}: expected a ${integral ? "finite " : ""}number for ${dtype}, got ${String(v)}`,
          );
      }
      arr = allocate(dtype, data.length);
      if (dtype === "int64") {
        const a = arr as BigInt64Array;
        for (let i = 0; i < data.length; i++) a[i] = BigInt(Math.trunc(data[i]));
      } else if (dtype === "float16" || dtype === "bfloat16") {
        float32ToHalf(Float32Array.from(data), dtype, arr as Uint16Array);
      } else {
        (arr as Float32Array | Int32Array | Uint8Array).set(data);
      }
    } else {
      // by identity first (cheap), then by name: an array from another realm (a vm context) has its own constructor
      const type = ARRAY_TYPE[dtype];
      if (data.constructor !== type && data.constructor.name !== type.name) {
        throw new ShapeError("data", `dtype ${dtype} needs a ${type.name}, got ${data.constructor.name}`);
      }
      arr = data;
    }
    if (arr.length !== n)
      throw new ShapeError("data", `shape [${shape.join(", ")}] holds ${n} values, data has ${arr.length}`);
    this.dtype = dtype;
    this.shape = [...shape];
    this.data = arr;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  get dims(): number[] {
    return this.shape;
  }

  /** Element i (flat index) as a JS number (2-byte floats decoded, int64 converted). */
  item(i = 0): number {
    const v = this.data[i];
    if (this.dtype === "float16") return float16BitsToFloat32(v as number);
    if (this.dtype === "bfloat16") return bfloat16BitsToFloat32(v as number);
    return Number(v);
  }

  /** The values as float32. Returns `data` itself (no copy) when the tensor already is float32. */
  toFloat32(): Float32Array {
    switch (this.dtype) {
      case "float32":
        return this.data as Float32Array;
      case "float16":
      case "bfloat16":
        return halfToFloat32(this.data as Uint16Array, this.dtype);
      default: {
        const out = new Float32Array(this.size);
        for (let i = 0; i < out.length; i++) out[i] = Number(this.data[i]);
        return out;
      }
    }
  }

  /** A float32 copy or view of this tensor. */
  float(): Tensor {
    return this.dtype === "float32" ? this : new Tensor("float32", this.toFloat32(), this.shape);
  }

  /** This tensor converted to another dtype (float -> 2-byte rounds to nearest even). */
  to(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    if (dtype === "float16" || dtype === "bfloat16")
      return new Tensor(dtype, float32ToHalf(this.toFloat32(), dtype), this.shape);
    if (dtype === "float32") return this.float();
    const out = allocate(dtype, this.size);
    for (let i = 0; i < this.size; i++) {
      const v = this.item(i);
      if (dtype === "int64") (out as BigInt64Array)[i] = BigInt(Math.trunc(v));
      else (out as Int32Array | Uint8Array)[i] = dtype === "bool" ? (v !== 0 ? 1 : 0) : Math.trunc(v);
    }
    return new Tensor(dtype, out, this.shape);
  }

  /** The same data under a new shape of equal size (no copy). */
  view(...shape: number[]): Tensor {
    if (shapeSize(shape) !== this.size) throw new ShapeError("view", `cannot view [${this.shape}] as [${shape}]`);
    return new Tensor(this.dtype, this.data, shape);
  }

  /** Nested JS arrays of numbers (float16/bfloat16 decoded, int64 as numbers). A 0-d tensor gives a number. */
  tolist(): any {
    const flat: number[] = new Array(this.size);
    for (let i = 0; i < this.size; i++) flat[i] = this.item(i);
    if (this.shape.length === 0) return flat[0];
    const build = (dim: number, offset: number): any[] => {
      const n = this.shape[dim];
      if (dim === this.shape.length - 1) return flat.slice(offset, offset + n);
      const stride = shapeSize(this.shape.slice(dim + 1));
      const out: any[] = [];
      for (let i = 0; i < n; i++) out.push(build(dim + 1, offset + i * stride));
      return out;
    };
    return build(0, 0);
  }

  static zeros(dtype: DType, shape: number[]): Tensor {
    const n = shapeSize(shape);
    let data: TypedArray;
    try {
      data = allocate(dtype, n);
    } catch (e) {
      if (e instanceof RangeError)
        throw new ShapeError(
          "shape",
          `cannot allocate a ${dtype} tensor of shape [${shape.join(", ")}] (${n} values): ${e.message}`,
        );
      throw e;
    }
    return new Tensor(dtype, data, shape);
  }
}

/** Token ids, masks and labels arrive as an int Tensor or nested arrays; this reads them as rows of numbers. */
export type IntInput = Tensor | number[][] | number[];

/** Read ids / masks / labels (Tensor of any int dtype, or nested arrays) as a 2-D list of rows. */
export function toIntRows(x: IntInput, name: string): number[][] {
  if (x instanceof Tensor) {
    if (x.shape.length === 1) return [Array.from({ length: x.shape[0] }, (_, i) => x.item(i))];
    if (x.shape.length !== 2) throw new ShapeError(name, `expected shape [batch, seq], got [${x.shape.join(", ")}]`);
    return x.tolist();
  }
  if (!Array.isArray(x)) throw new ShapeError(name, "expected a Tensor or number[][]");
  const rows = x.length > 0 && !Array.isArray(x[0]) ? [x as number[]] : (x as number[][]);
  const width = rows.length ? rows[0].length : 0;
  for (const r of rows) {
    if (!Array.isArray(r) || r.length !== width) throw new ShapeError(name, "rows must be arrays of equal length");
    for (const v of r)
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new ShapeError(name, `expected numbers, got ${String(v)}`);
  }
  return rows;
}
