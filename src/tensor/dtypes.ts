/**
 * Scalar types and the two 2-byte float formats.
 *
 * float16 (IEEE 754 binary16) conversion comes from @petamoriken/float16 (exact, round-to-nearest-even).
 * bfloat16 is the top 16 bits of a float32; rounding a float32 to it is round-to-nearest-even on the
 * discarded 16 bits, as torch's `tensor.to(torch.bfloat16)` does, and NaN stays a (quiet) NaN.
 */
import { getFloat16, setFloat16 } from "@petamoriken/float16";

export type DType = "float32" | "float16" | "bfloat16" | "int32" | "int64" | "bool";

export const DTYPES: readonly DType[] = ["float32", "float16", "bfloat16", "int32", "int64", "bool"];

export type TypedArray = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

/** Bytes per element. */
export function dtypeSize(dtype: DType): number {
  switch (dtype) {
    case "float32":
    case "int32":
      return 4;
    case "float16":
    case "bfloat16":
      return 2;
    case "int64":
      return 8;
    case "bool":
      return 1;
  }
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "bfloat16";
}

const scratch = new DataView(new ArrayBuffer(4));

/** float32 value -> bfloat16 bits, round-to-nearest-even. */
export function float32ToBfloat16Bits(x: number): number {
  scratch.setFloat32(0, x, true);
  const bits = scratch.getUint32(0, true);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) {
    return ((bits >>> 16) | 0x0040) & 0xffff; // NaN: keep sign and payload top, force quiet bit
  }
  const lsb = (bits >>> 16) & 1;
  const rounded = (bits + 0x7fff + lsb) >>> 0;
  return (rounded >>> 16) & 0xffff;
}

/** bfloat16 bits -> number (exact: every bfloat16 is a float32). */
export function bfloat16BitsToFloat32(bits: number): number {
  scratch.setUint32(0, (bits & 0xffff) << 16, true);
  return scratch.getFloat32(0, true);
}

/** number -> float16 bits, round-to-nearest-even (via float32 first, as torch does for float32 tensors). */
export function float32ToFloat16Bits(x: number): number {
  setFloat16(scratch, 0, Math.fround(x), true);
  return scratch.getUint16(0, true);
}

/** float16 bits -> number (exact). */
export function float16BitsToFloat32(bits: number): number {
  scratch.setUint16(0, bits & 0xffff, true);
  return getFloat16(scratch, 0, true);
}

/** Decode a whole Uint16Array of 2-byte floats into float32. */
export function halfToFloat32(src: Uint16Array, dtype: "float16" | "bfloat16", out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (dtype === "bfloat16") {
    const u32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < src.length; i++) u32[i] = src[i] << 16;
  } else {
    for (let i = 0; i < src.length; i++) out[i] = float16BitsToFloat32(src[i]);
  }
  return out;
}

/** Round a float32 array to 2-byte floats. */
export function float32ToHalf(src: Float32Array, dtype: "float16" | "bfloat16", out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const conv = dtype === "bfloat16" ? float32ToBfloat16Bits : float32ToFloat16Bits;
  for (let i = 0; i < src.length; i++) out[i] = conv(src[i]);
  return out;
}
