import { getFloat16, setFloat16 } from "@petamoriken/float16";
import { describe, expect, it } from "vitest";
import { Random } from "../../src/utils/random.ts";
import {
  float32ToHalf,
  halfToFloat32,
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from "../../src/tensor/dtypes.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { ShapeError } from "../../src/errors.ts";

/** float32 bit pattern -> number, written independently of the code under test. */
function f32(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits >>> 0);
  return dv.getFloat32(0);
}

describe("bfloat16", () => {
  // Known bit patterns: bfloat16 is the top half of a float32.
  it.each([
    [1.0, 0x3f80],
    [-2.0, 0xc000],
    [0.0, 0x0000],
    [-0.0, 0x8000],
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [3.140625, 0x4049],
  ])("encodes %s exactly as 0x%s", (x, bits) => {
    expect(float32ToBfloat16Bits(x)).toBe(bits);
    expect(Object.is(bfloat16BitsToFloat32(bits), x)).toBe(true);
  });

  it("rounds to nearest, ties to even", () => {
    // 0x3f808000 is exactly halfway between 0x3f80 and 0x3f81: tie -> even (0x3f80).
    expect(float32ToBfloat16Bits(f32(0x3f808000))).toBe(0x3f80);
    // 0x3f818000 is halfway between 0x3f81 and 0x3f82: tie -> even (0x3f82).
    expect(float32ToBfloat16Bits(f32(0x3f818000))).toBe(0x3f82);
    // Just above halfway rounds up, just below rounds down.
    expect(float32ToBfloat16Bits(f32(0x3f808001))).toBe(0x3f81);
    expect(float32ToBfloat16Bits(f32(0x3f807fff))).toBe(0x3f80);
    // The largest finite float32 rounds up to infinity, as torch does.
    expect(float32ToBfloat16Bits(f32(0x7f7fffff))).toBe(0x7f80);
  });

  it("keeps NaN a NaN", () => {
    expect(Number.isNaN(bfloat16BitsToFloat32(float32ToBfloat16Bits(NaN)))).toBe(true);
    expect(Number.isNaN(bfloat16BitsToFloat32(float32ToBfloat16Bits(f32(0x7f800001))))).toBe(true);
  });
});

describe("float16", () => {
  it.each([
    [1.0, 0x3c00],
    [-2.0, 0xc000],
    [65504, 0x7bff],
    [2 ** -24, 0x0001], // smallest subnormal
    [Infinity, 0x7c00],
  ])("encodes %s as 0x%s", (x, bits) => {
    expect(float32ToFloat16Bits(x)).toBe(bits);
    expect(float16BitsToFloat32(bits)).toBe(x);
  });

  it("rounds ties to even and overflows to infinity", () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: tie -> even (1.0).
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00);
  });
});

describe("Tensor", () => {
  it("tolist nests by shape and decodes 2-byte floats", () => {
    const t = new Tensor("float32", [1, 2, 3, 4, 5, 6], [2, 3]);
    expect(t.tolist()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const h = new Tensor("bfloat16", new Uint16Array([0x3f80, 0xc000]), [2]);
    expect(h.tolist()).toEqual([1, -2]);
    const l = new Tensor("int64", [7, -1], [1, 2]);
    expect(l.tolist()).toEqual([[7, -1]]);
    expect(new Tensor("float32", [2.5], []).tolist()).toBe(2.5);
  });

  it("rejects data that does not fit the shape or dtype", () => {
    expect(() => new Tensor("float32", [1, 2, 3], [2, 2])).toThrow(ShapeError);
    expect(() => new Tensor("float16", new Float32Array(4), [4])).toThrow(/Uint16Array/);
    expect(() => new Tensor("float32", [1], [-1])).toThrow(ShapeError);
  });
});

describe("Tensor.zeros", () => {
  it("an impossible size is a ShapeError naming the shape, not a RangeError", () => {
    expect(() => Tensor.zeros("float32", [1e6, 1e6])).toThrow(ShapeError);
    expect(() => Tensor.zeros("float32", [1e6, 1e6])).toThrow(
      /shape: cannot allocate a float32 tensor of shape \[1000000, 1000000\]/,
    );
  });
});

describe("float16 conversion agrees with @petamoriken/float16 (an independent implementation)", () => {
  const dv = new DataView(new ArrayBuffer(4));
  const libToF32 = (h: number) => {
    dv.setUint16(0, h, true);
    return getFloat16(dv, 0, true);
  };
  const libFromF32 = (x: number) => {
    setFloat16(dv, 0, x, true);
    return dv.getUint16(0, true);
  };

  it("widening: all 65,536 bit patterns", () => {
    let bad = 0;
    for (let h = 0; h < 65536; h++) {
      const a = float16BitsToFloat32(h);
      const b = libToF32(h);
      if (!(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)))) bad++;
    }
    expect(bad).toBe(0);
    const all = new Uint16Array(65536).map((_, i) => i);
    const bulk = halfToFloat32(all, "float16");
    for (let h = 0; h < 65536; h += 1) if (!Number.isNaN(bulk[h])) expect(Object.is(bulk[h], libToF32(h))).toBe(true);
  });

  it("narrowing: every float16 value maps back to itself, and 2^20 float32 patterns (ties, subnormals, overflow) round as the library does", () => {
    for (let h = 0; h < 65536; h++) {
      const x = libToF32(h);
      if (!Number.isNaN(x)) expect(float32ToFloat16Bits(x)).toBe(h);
    }
    const rng = new Random(11);
    const f32 = new Float32Array(1 << 20);
    const u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < u32.length; i++) {
      const exp = 96 + (rng.nextUint32() % 56); // from below the float16 subnormals to past its overflow
      const low = [0x0fff, 0x1000, 0x1001, 0x0000, rng.nextUint32() & 0x1fff][i % 5]; // bits float16 drops: ties and neighbours
      u32[i] = (((rng.nextUint32() & 1) << 31) | (exp << 23) | (rng.nextUint32() & 0x7fe000) | low) >>> 0;
    }
    const bulk = float32ToHalf(f32, "float16");
    let bad = 0;
    for (let i = 0; i < f32.length; i++)
      if (bulk[i] !== libFromF32(f32[i]) || float32ToFloat16Bits(f32[i]) !== bulk[i]) bad++;
    expect(bad).toBe(0);
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
  });
});

describe("bulk bfloat16 narrowing", () => {
  it("equals the per-value conversion on ties, NaNs, infinities and random patterns", () => {
    const rng = new Random(5);
    const f32 = new Float32Array(1 << 16);
    const u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < u32.length; i++)
      u32[i] = ((rng.nextUint32() & 0xffff0000) | [0x8000, 0x7fff, 0x8001, 0, rng.nextUint32() & 0xffff][i % 5]) >>> 0;
    u32[0] = 0x7fc00001; // NaN
    u32[1] = 0x7f800000; // +inf
    const bulk = float32ToHalf(f32, "bfloat16");
    for (let i = 0; i < f32.length; i++) {
      // independent: round-to-nearest-even on the top half, written from the definition
      const bits = u32[i];
      let want: number;
      if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0)
        want = -1; // any NaN
      else {
        const hi = bits >>> 16;
        const lo = bits & 0xffff;
        want = lo > 0x8000 || (lo === 0x8000 && (hi & 1) === 1) ? (hi + 1) & 0xffff : hi;
      }
      if (want === -1) expect(Number.isNaN(bfloat16BitsToFloat32(bulk[i]))).toBe(true);
      else expect(bulk[i]).toBe(want);
    }
  });
});
