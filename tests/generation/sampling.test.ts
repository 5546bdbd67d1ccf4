import { describe, expect, it } from "vitest";
import { params } from "../properties/seed.ts";
import fc from "fast-check";
import { argmax, multinomial, softmax } from "../../src/generation/sampling.ts";
import { ValueError } from "../../src/errors.ts";

describe("softmax over a row", () => {
  it("gives p_i = exp(x_i) / sum exp(x) (closed form: logs of 1, 2, 3 -> 1/6, 2/6, 3/6)", () => {
    const p = softmax([0, Math.log(2), Math.log(3)]);
    expect(p).toBeInstanceOf(Float32Array);
    [1 / 6, 2 / 6, 3 / 6].forEach((want, i) => expect(p[i]).toBeCloseTo(want, 7));
  });

  it("is shift-invariant and finite for large logits (float32 inputs, as HF's scores)", () => {
    const hi = Math.fround(1000 + Math.log(3)); // the gap that survives float32 rounding
    const e = Math.exp(hi - 1000);
    const p = softmax([1000, hi]);
    expect(p[0]).toBeCloseTo(1 / (1 + e), 7);
    expect(p[1]).toBeCloseTo(e / (1 + e), 7);
  });

  it("gives filtered (-Infinity) tokens probability 0, and an all -Infinity row NaN as torch does", () => {
    const p = softmax([-Infinity, 0, -Infinity, 0]);
    expect(Array.from(p)).toEqual([0, 0.5, 0, 0.5]);
    expect(Array.from(softmax([-Infinity, -Infinity])).every(Number.isNaN)).toBe(true);
  });
});

describe("argmax (torch tie-breaking)", () => {
  it("returns the first index of the maximum", () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax([5, 5])).toBe(0);
    expect(argmax([-Infinity, -Infinity, -1])).toBe(2);
    expect(argmax(new Float32Array([0.5, 0.25, 0.5]))).toBe(0);
  });

  it("treats NaN as the maximum (torch propagates NaN)", () => {
    expect(argmax([1, NaN, 3])).toBe(1);
  });
});

describe("multinomial from an injected uniform draw", () => {
  // probabilities that are exact in binary: CDF = [0.125, 0.375, 0.5, 1]
  const p = [0.125, 0.25, 0.125, 0.5];

  it.each([
    [0, 0],
    [0.1, 0],
    [0.125, 1], // an interval is [cdf_{i-1}, cdf_i): its left end belongs to it
    [0.374, 1],
    [0.375, 2],
    [0.4999, 2],
    [0.5, 3],
    [0.9999999, 3],
  ])("u = %s falls in the CDF interval of token %s", (u, want) => {
    expect(multinomial(p, u)).toBe(want);
  });

  it("never returns a zero-probability token", () => {
    const q = [0, 0.5, 0, 0.5];
    expect(multinomial(q, 0)).toBe(1);
    expect(multinomial(q, 0.5)).toBe(3);
    expect(multinomial(q, 1 - 2 ** -53)).toBe(3);
  });

  it("accepts unnormalised weights like torch.multinomial (weights 1, 1, 2)", () => {
    expect(multinomial([1, 1, 2], 0.2)).toBe(0);
    expect(multinomial([1, 1, 2], 0.25)).toBe(1);
    expect(multinomial([1, 1, 2], 0.5)).toBe(2);
  });

  it("refuses invalid weights and draws with a ValueError", () => {
    expect(() => multinomial([0.5, -0.1, 0.6], 0.3)).toThrow(ValueError);
    expect(() => multinomial([0.5, NaN], 0.3)).toThrow(ValueError);
    expect(() => multinomial([0.5, Infinity], 0.3)).toThrow(ValueError);
    expect(() => multinomial([0, 0], 0.3)).toThrow(/zero/);
    expect(() => multinomial([1], 1)).toThrow(ValueError);
    expect(() => multinomial([1], -0.1)).toThrow(ValueError);
  });

  it("property: the chosen token has p > 0 and its interval contains u * sum(p)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(0), fc.double({ min: 1e-6, max: 10, noNaN: true })), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (weights, u) => {
          fc.pre(weights.some((w) => w > 0));
          const i = multinomial(weights, u);
          const total = weights.reduce((a, b) => a + b, 0);
          const below = weights.slice(0, i).reduce((a, b) => a + b, 0);
          expect(weights[i]).toBeGreaterThan(0);
          expect(below).toBeLessThanOrEqual(u * total);
          // the interval's right end, up to float64 summation rounding when u*total sits at the very top
          expect(below + weights[i]).toBeGreaterThanOrEqual(u * total * (1 - 1e-12));
        },
      ),
      params(300),
    );
  });
});
