/**
 * src/nn/functional.ts against independent index arithmetic (element by element through explicit
 * multi-indices, float64 products), on random shapes (fast-check): transpose, cat/split/narrow, broadcasting,
 * matmul with and without a transposed operand, softmax, repeat_interleave, and torch's dtype rules (2-byte
 * results are the float32 result rounded once; promotion to float32).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { params } from "../properties/seed.ts";
import { ShapeError } from "../../src/errors.ts";
import * as F from "../../src/nn/functional.ts";
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from "../../src/tensor/dtypes.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const dim = fc.integer({ min: 1, max: 4 });
const shapeArb = (rank: number) => fc.array(dim, { minLength: rank, maxLength: rank });
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function tensorOf(shape: number[], seed: number): Tensor {
  // deterministic values with a fractional part, distinct enough to catch any misplaced element
  return new Tensor(
    "float32",
    Float32Array.from({ length: size(shape) }, (_, i) => Math.fround(Math.sin(seed + i * 1.7) * 3)),
    shape,
  );
}

/** Flat index of a multi-index in a row-major shape. */
function flat(shape: number[], idx: number[]): number {
  let o = 0;
  for (let i = 0; i < shape.length; i++) o = o * shape[i] + idx[i];
  return o;
}

/** Every multi-index of a shape, in row-major order. */
function* indices(shape: number[]): Generator<number[]> {
  const idx = shape.map(() => 0);
  for (let n = 0; n < size(shape); n++) {
    yield [...idx];
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
}

const at = (t: Tensor, idx: number[]) => t.toFloat32()[flat(t.shape, idx)];

describe("shape ops", () => {
  it("transpose(d0, d1) moves element [.., i, .., j, ..] to [.., j, .., i, ..]", () => {
    fc.assert(
      fc.property(shapeArb(4), fc.nat(3), fc.nat(3), fc.nat(), (shape, a, b, seed) => {
        const x = tensorOf(shape, seed);
        const y = F.transpose(x, a, b);
        for (const idx of indices(y.shape)) {
          const src = [...idx];
          [src[a], src[b]] = [src[b], src[a]];
          if (at(y, idx) !== at(x, src)) return false;
        }
        return true;
      }),
      params(100),
    );
  });

  it("split then cat is the identity; each piece is narrow at its offset", () => {
    fc.assert(
      fc.property(shapeArb(3), fc.nat(2), fc.integer({ min: 1, max: 3 }), fc.nat(), (shape, d, n, seed) => {
        const x = tensorOf(shape, seed);
        const parts = F.split(x, n, d);
        parts.forEach((p, i) => {
          for (const idx of indices(p.shape)) {
            const src = [...idx];
            src[d] += i * n;
            expect(at(p, idx)).toBe(at(x, src));
          }
        });
        expect(Array.from(F.cat(parts, d).toFloat32())).toEqual(Array.from(x.toFloat32()));
      }),
      params(100),
    );
  });

  it("repeat_interleave(r, 1) repeats each slice r times in place", () => {
    fc.assert(
      fc.property(shapeArb(3), fc.integer({ min: 1, max: 3 }), fc.nat(), (shape, r, seed) => {
        const x = tensorOf(shape, seed);
        const y = F.repeat_interleave(x, r, 1);
        for (const idx of indices(y.shape))
          if (at(y, idx) !== at(x, [idx[0], Math.floor(idx[1] / r), idx[2]])) return false;
        return true;
      }),
      params(100),
    );
  });
});

describe("arithmetic", () => {
  it("add broadcasts as torch: a size-1 or missing dim stretches", () => {
    fc.assert(
      fc.property(
        shapeArb(3),
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        fc.nat(),
        (shape, ones, seed) => {
          const bShape = shape.map((n, i) => (ones[i] ? 1 : n)).slice(ones[0] ? 1 : 0); // sometimes drop a leading 1
          const a = tensorOf(shape, seed);
          const b = tensorOf(bShape, seed + 1);
          const y = F.add(a, b);
          expect(y.shape).toEqual(shape);
          const off = shape.length - bShape.length;
          for (const idx of indices(shape)) {
            const bi = idx.slice(off).map((v, i) => (bShape[i] === 1 ? 0 : v));
            if (at(y, idx) !== Math.fround(at(a, idx) + at(b, bi))) return false;
          }
          return true;
        },
      ),
      params(100),
    );
  });

  it("shapes that do not broadcast raise ShapeError", () => {
    expect(() => F.add(tensorOf([2, 3], 0), tensorOf([4], 0))).toThrow(ShapeError);
  });

  // Every matmul backend is allowed float32 accumulation (the WASM SIMD kernel sums in float32): the bound is
  // the classic one for a K-term float32 dot product, K * 2^-23 * sum |a_k b_k|, on top of the final rounding.
  it("matmul (and with a transposed operand) equals the float64 sum of products within float32 accumulation error", () => {
    fc.assert(
      fc.property(dim, dim, dim, dim, fc.boolean(), fc.nat(), (batch, M, K, N, transposed, seed) => {
        const a = tensorOf([batch, M, K], seed);
        const b = tensorOf(transposed ? [batch, N, K] : [batch, K, N], seed + 1);
        const y = F.matmul(a, b, transposed);
        expect(y.shape).toEqual([batch, M, N]);
        for (const [i, m, n] of indices([batch, M, N])) {
          let s = 0;
          let sumAbs = 0;
          for (let k = 0; k < K; k++) {
            const p = at(a, [i, m, k]) * at(b, transposed ? [i, n, k] : [i, k, n]);
            s += p;
            sumAbs += Math.abs(p);
          }
          if (Math.abs(at(y, [i, m, n]) - s) > 1e-6 * (1 + Math.abs(s)) + K * 2 ** -23 * sumAbs) return false;
        }
        return true;
      }),
      params(100),
    );
  });

  it("softmax rows are exp(x - max) / sum, in float32", () => {
    fc.assert(
      fc.property(shapeArb(2), fc.nat(), (shape, seed) => {
        const x = tensorOf(shape, seed);
        const y = F.softmax(x, -1);
        for (let r = 0; r < shape[0]; r++) {
          const row = Array.from({ length: shape[1] }, (_, j) => at(x, [r, j]));
          const max = Math.max(...row);
          const sum = row.reduce((p, v) => p + Math.exp(v - max), 0);
          for (let j = 0; j < shape[1]; j++)
            if (Math.abs(at(y, [r, j]) - Math.exp(row[j] - max) / sum) > 1e-6) return false;
        }
        return true;
      }),
      params(100),
    );
  });
});

describe("dtypes, as torch", () => {
  it("a bfloat16 op's result is its float32 result rounded once; float32 with bfloat16 promotes to float32", () => {
    fc.assert(
      fc.property(shapeArb(2), fc.nat(), (shape, seed) => {
        const a = tensorOf(shape, seed).to("bfloat16");
        const b = tensorOf(shape, seed + 1).to("bfloat16");
        const y = F.mul(a, b);
        expect(y.dtype).toBe("bfloat16");
        const exact = F.mul(a.float(), b.float()).to("bfloat16");
        expect(Array.from(y.data as Uint16Array)).toEqual(Array.from(exact.data as Uint16Array));
        expect(F.add(a, b.float()).dtype).toBe("float32");
        expect(F.add(a.to("float16"), b).dtype).toBe("float32");
        expect(F.div(a, 3).dtype).toBe("bfloat16"); // a JS number never promotes
      }),
      params(100),
    );
  });

  it("finfoMin is each dtype's most negative finite value (sign 1, largest finite exponent, all-ones mantissa)", () => {
    expect(F.finfoMin("float16")).toBe(float16BitsToFloat32(0xfbff));
    expect(F.finfoMin("bfloat16")).toBe(bfloat16BitsToFloat32(0xff7f));
    const f32 = new DataView(new ArrayBuffer(4));
    f32.setUint32(0, 0xff7fffff);
    expect(F.finfoMin("float32")).toBe(f32.getFloat32(0));
  });
});
