/**
 * Scalar types and the two 2-byte float formats.
 *
 * float16 (IEEE 754 binary16): widening reads a 65,536-entry table (built once, on first use, from the bit
 * layout: sign | 5-bit exponent | 10-bit mantissa, subnormals exact); narrowing rounds the float32 bits to
 * nearest, ties to even, with overflow to infinity, as torch's `tensor.to(torch.float16)`. Both are checked
 * exhaustively against @petamoriken/float16 in the tests; they are written out here because a call into that
 * library per value (a DataView round trip) is ~1,000x slower, and weight matrices hold billions of values.
 * bfloat16 is the top 16 bits of a float32; rounding a float32 to it is round-to-nearest-even on the
 * discarded 16 bits, as torch's `tensor.to(torch.bfloat16)` does, and NaN stays a (quiet) NaN.
 */

export type DType = "float32" | "float16" | "bfloat16" | "int32" | "int64" | "bool";

/** Every dtype, for validating a dtype given at run time. */
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

const scratch = new DataView(new ArrayBuffer(4));

/** float32 value -> bfloat16 bits, round-to-nearest-even. */
export function float32ToBfloat16Bits(x: number): number {
  scratch.setFloat32(0, x, true);
  return float32BitsToBfloat16Bits(scratch.getUint32(0, true));
}

/** float32 bit pattern -> bfloat16 bits: round to nearest, ties to even, on the 16 dropped bits. */
function float32BitsToBfloat16Bits(bits: number): number {
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
  scratch.setFloat32(0, x, true);
  return float32BitsToFloat16Bits(scratch.getUint32(0, true));
}

/** float32 bit pattern -> float16 bits: round to nearest, ties to even; overflow -> inf; NaN stays NaN. */
function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // float16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // float16 subnormal (or zero): value / 2^-24, rounded
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = m & ((1 << shift) - 1);
    let h = m >>> shift;
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  const rem = mant & 0x1fff;
  let h = sign | (e << 10) | (mant >>> 13);
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is the right rounding
  return h;
}

let f16Table: Float32Array | null = null;

/** float16 bits -> float32 value for all 65,536 patterns. */
function float16Table(): Float32Array {
  if (f16Table !== null) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0)
      table[h] = (sign ? -1 : 1) * mant * 2 ** -24; // zero or subnormal, exact in float32
    else if (exp === 0x1f)
      bits[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf or NaN (payload kept)
    else bits[h] = (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  }
  f16Table = table;
  return table;
}

/** float16 bits -> number (exact). */
export function float16BitsToFloat32(bits: number): number {
  return float16Table()[bits & 0xffff];
}

/** Decode a whole Uint16Array of 2-byte floats into float32. */
export function halfToFloat32(
  src: Uint16Array,
  dtype: "float16" | "bfloat16",
  out: Float32Array = new Float32Array(src.length),
): Float32Array {
  if (dtype === "bfloat16") {
    const u32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < src.length; i++) u32[i] = src[i] << 16;
  } else {
    const table = float16Table();
    for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  }
  return out;
}

/** Round a float32 array to 2-byte floats. */
export function float32ToHalf(
  src: Float32Array,
  dtype: "float16" | "bfloat16",
  out: Uint16Array = new Uint16Array(src.length),
): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const conv = dtype === "bfloat16" ? float32BitsToBfloat16Bits : float32BitsToFloat16Bits;
  for (let i = 0; i < src.length; i++) out[i] = conv(bits[i]);
  return out;
}
