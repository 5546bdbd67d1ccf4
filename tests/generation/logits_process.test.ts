import { describe, expect, it } from "vitest";
import { params } from "../properties/seed.ts";
import fc from "fast-check";
import {
  LogitsProcessorList,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  MinPLogitsWarper,
  RepetitionPenaltyLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
} from "../../src/generation/logits_process.ts";
import { ShapeError, ValueError } from "../../src/errors.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const NEG = -Infinity;

function scores(rows: number[][]): Tensor {
  return new Tensor("float32", rows.flat(), [rows.length, rows[0].length]);
}

function rowsOf(t: Tensor): number[][] {
  return t.tolist();
}

/** Which columns of each row survived (are not -Infinity). */
function kept(t: Tensor): number[][] {
  return rowsOf(t).map((r) => r.flatMap((v, i) => (v === NEG ? [] : [i])));
}

/** Logits ln(p) for probabilities that are exact in binary. */
const DYADIC = [0.5, 0.25, 0.125, 0.125].map(Math.log);

describe("RepetitionPenaltyLogitsProcessor", () => {
  it("divides positive and multiplies negative scores of every seen token, once each", () => {
    const s = scores([
      [2, -2, 1, -1, 0.5],
      [2, -2, 1, -1, 0.5],
    ]);
    const out = new RepetitionPenaltyLogitsProcessor(2).call(
      [
        [0, 1, 1, 4],
        [3, 3, 3, 2],
      ],
      s,
    );
    expect(rowsOf(out)).toEqual([
      [1, -4, 1, -1, 0.25],
      [2, -2, 0.5, -2, 0.5],
    ]);
    expect(rowsOf(s)[0]).toEqual([2, -2, 1, -1, 0.5]); // input untouched (HF returns a new tensor)
  });

  it("rewards seen tokens when penalty < 1", () => {
    const out = new RepetitionPenaltyLogitsProcessor(0.5).call([[0, 1]], scores([[2, -2, 3]]));
    expect(rowsOf(out)).toEqual([[4, -1, 3]]);
  });

  it("refuses a non-positive penalty and ids outside the vocabulary", () => {
    expect(() => new RepetitionPenaltyLogitsProcessor(0)).toThrow(/`penalty` has to be a strictly positive float/);
    expect(() => new RepetitionPenaltyLogitsProcessor(-1.2)).toThrow(ValueError);
    expect(() => new RepetitionPenaltyLogitsProcessor(1.2).call([[5]], scores([[0, 1, 2]]))).toThrow(ShapeError);
  });
});

describe("MinLengthLogitsProcessor / MinNewTokensLengthLogitsProcessor", () => {
  const s = scores([
    [1, 2, 3, 4],
    [4, 3, 2, 1],
  ]);

  it("sets every eos score to -inf while the sequence is shorter than min_length", () => {
    const p = new MinLengthLogitsProcessor(5, [2, 3, 99]); // an eos id outside the vocabulary is simply absent
    expect(
      rowsOf(
        p.call(
          [
            [0, 0, 0, 0],
            [1, 1, 1, 1],
          ],
          s,
        ),
      ),
    ).toEqual([
      [1, 2, NEG, NEG],
      [4, 3, NEG, NEG],
    ]);
    expect(
      rowsOf(
        p.call(
          [
            [0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1],
          ],
          s,
        ),
      ),
    ).toEqual(rowsOf(s));
  });

  it("counts only the tokens after the prompt for min_new_tokens", () => {
    const p = new MinNewTokensLengthLogitsProcessor(3, 2, 1);
    expect(
      rowsOf(
        p.call(
          [
            [0, 0, 0, 0],
            [0, 0, 0, 0],
          ],
          s,
        ),
      ),
    ).toEqual([
      [1, NEG, 3, 4],
      [4, NEG, 2, 1],
    ]);
    expect(
      rowsOf(
        p.call(
          [
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
          ],
          s,
        ),
      ),
    ).toEqual(rowsOf(s));
  });

  it("refuses negative or non-integer lengths", () => {
    expect(() => new MinLengthLogitsProcessor(-1, 2)).toThrow(/`min_length` has to be a non-negative integer/);
    expect(() => new MinLengthLogitsProcessor(2.5, 2)).toThrow(ValueError);
    expect(() => new MinNewTokensLengthLogitsProcessor(3, -2, 2)).toThrow(/`min_new_tokens`/);
  });
});

describe("TemperatureLogitsWarper", () => {
  it("divides every score by the temperature", () => {
    expect(rowsOf(new TemperatureLogitsWarper(2).call([[0]], scores([[2, -4, 1, NEG]])))).toEqual([[1, -2, 0.5, NEG]]);
  });

  it("refuses temperature <= 0 or NaN, pointing to do_sample=false for 0", () => {
    expect(() => new TemperatureLogitsWarper(0)).toThrow(/set `do_sample=False`/);
    expect(() => new TemperatureLogitsWarper(-0.5)).toThrow(
      /`temperature` \(=-0.5\) has to be a strictly positive float/,
    );
    expect(() => new TemperatureLogitsWarper(NaN)).toThrow(ValueError);
  });
});

describe("TopKLogitsWarper", () => {
  it("keeps exactly the two largest when they are distinct", () => {
    expect(kept(new TopKLogitsWarper(2).call([[0]], scores([[0.1, 0.4, -1, 0.3]])))).toEqual([[1, 3]]);
  });

  it("keeps every token tied with the k-th largest value (scores < kth are removed)", () => {
    expect(kept(new TopKLogitsWarper(2).call([[0]], scores([[1, 3, 3, 2]])))).toEqual([[1, 2]]);
    expect(kept(new TopKLogitsWarper(2).call([[0]], scores([[3, 2, 2, 1]])))).toEqual([[0, 1, 2]]);
  });

  it("works per row, caps k at the vocabulary and honours min_tokens_to_keep", () => {
    const s = scores([
      [4, 3, 2, 1],
      [1, 2, 3, 4],
    ]);
    expect(kept(new TopKLogitsWarper(1).call([[0], [0]], s))).toEqual([[0], [3]]);
    expect(kept(new TopKLogitsWarper(50).call([[0], [0]], s))).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    expect(kept(new TopKLogitsWarper(1, -Infinity, 3).call([[0], [0]], s))).toEqual([
      [0, 1, 2],
      [1, 2, 3],
    ]);
  });

  it("uses filter_value for removed tokens", () => {
    expect(rowsOf(new TopKLogitsWarper(1, -100).call([[0]], scores([[1, 2]])))).toEqual([[-100, 2]]);
  });

  it("refuses top_k <= 0 and non-integers", () => {
    expect(() => new TopKLogitsWarper(0)).toThrow(/`top_k` has to be a strictly positive integer/);
    expect(() => new TopKLogitsWarper(-1)).toThrow(ValueError);
    expect(() => new TopKLogitsWarper(1.5)).toThrow(ValueError);
  });
});

describe("TopPLogitsWarper", () => {
  // p = [0.5, 0.25, 0.125, 0.125]; ascending order 2, 3, 1, 0 with cumulative mass 0.125, 0.25, 0.5, 1.
  it.each([
    [0.9, [0, 1, 2, 3]], // 0.5 + 0.25 + 0.125 = 0.875 < 0.9: every token is needed
    [0.7, [0, 1]], // 0.75 >= 0.7
    [0.4, [0]], // 0.5 >= 0.4
  ])("top_p = %s keeps the smallest top set reaching it: %j", (top_p, want) => {
    expect(kept(new TopPLogitsWarper(top_p).call([[0]], scores([DYADIC])))).toEqual([want]);
  });

  it("removes exactly the tokens with cumsum <= 1 - top_p (equal logits: p = 0.25 each, exact)", () => {
    // cumsum 0.25, 0.5, 0.75, 1: top_p = 0.5 drops the first two in (stable) ascending order, top_p = 0.75 one.
    expect(kept(new TopPLogitsWarper(0.5).call([[0]], scores([[0, 0, 0, 0]])))).toEqual([[2, 3]]);
    expect(kept(new TopPLogitsWarper(0.75).call([[0]], scores([[0, 0, 0, 0]])))).toEqual([[1, 2, 3]]);
  });

  it("keeps min_tokens_to_keep and, as in HF, accepts top_p = 0 (only the top token survives)", () => {
    expect(kept(new TopPLogitsWarper(0.4, -Infinity, 2).call([[0]], scores([DYADIC])))).toEqual([[0, 1]]);
    expect(kept(new TopPLogitsWarper(0).call([[0]], scores([DYADIC])))).toEqual([[0]]);
  });

  it("refuses top_p outside [0, 1] and min_tokens_to_keep < 1", () => {
    expect(() => new TopPLogitsWarper(1.2)).toThrow(/`top_p` has to be a float > 0 and < 1, but is 1.2/);
    expect(() => new TopPLogitsWarper(-0.1)).toThrow(ValueError);
    expect(() => new TopPLogitsWarper(0.5, -Infinity, 0)).toThrow(/min_tokens_to_keep/);
  });
});

describe("MinPLogitsWarper", () => {
  // p = [0.5, 0.25, 0.125, 0.125]: threshold = min_p * 0.5
  it.each([
    [0.4, [0, 1]], // threshold 0.2
    [0.6, [0]], // threshold 0.3
    [0.1, [0, 1, 2, 3]], // threshold 0.05
    [1, [0]],
  ])("min_p = %s keeps tokens with p >= min_p * max p: %j", (min_p, want) => {
    expect(kept(new MinPLogitsWarper(min_p).call([[0]], scores([DYADIC])))).toEqual([want]);
  });

  it("keeps the min_tokens_to_keep highest scores regardless", () => {
    expect(kept(new MinPLogitsWarper(0.6, -Infinity, 3).call([[0]], scores([DYADIC])))).toEqual([[0, 1, 2]]);
  });

  it("refuses min_p outside [0, 1]", () => {
    expect(() => new MinPLogitsWarper(1.5)).toThrow(/`min_p` has to be a float in the \[0, 1\] interval/);
    expect(() => new MinPLogitsWarper(-0.1)).toThrow(ValueError);
  });
});

describe("LogitsProcessorList", () => {
  it("applies the processors in order (temperature then top-k equals doing them by hand)", () => {
    const list = new LogitsProcessorList();
    list.append(new TemperatureLogitsWarper(0.5));
    list.append(new TopKLogitsWarper(2));
    expect(rowsOf(list.call([[0]], scores([[1, -1, 3, 0.5]])))).toEqual([[2, NEG, 6, NEG]]);
    expect(list.length).toBe(2);
  });

  it("refuses scores that do not match input_ids", () => {
    expect(() => new TemperatureLogitsWarper(2).call([[0], [1]], scores([[1, 2]]))).toThrow(ShapeError);
    expect(() => new TemperatureLogitsWarper(2).call([[0]], new Tensor("float32", [1, 2], [2]))).toThrow(/scores/);
  });
});

describe("top-k / top-p against a naive float64 reference (property)", () => {
  // rows mixing negative, positive, tied and -Infinity logits (as after an earlier filter)
  const logit = fc.oneof(
    fc.integer({ min: -6, max: 6 }).map((k) => k / 2),
    fc.constant(-Infinity),
  );
  const row = fc.array(logit, { minLength: 1, maxLength: 24 }).filter((r) => r.some((v) => v > -Infinity));

  it("top-k keeps exactly the tokens >= the k-th largest value", () => {
    fc.assert(
      fc.property(row, fc.integer({ min: 1, max: 30 }), (r, k) => {
        const kth = [...r].sort((a, b) => b - a)[Math.min(k, r.length) - 1];
        const want = r.flatMap((v, i) => (v >= kth && v > -Infinity ? [i] : []));
        expect(kept(new TopKLogitsWarper(k).call([[0]], scores([r])))).toEqual([want]);
      }),
      params(300),
    );
  });

  it("top-p removes the ascending prefix with cumulative probability <= 1 - top_p (stable order on ties)", () => {
    fc.assert(
      fc.property(row, fc.double({ min: 0.01, max: 0.99, noNaN: true }), (r, top_p) => {
        const order = r.map((_, i) => i).sort((a, b) => r[a] - r[b] || a - b);
        const m = Math.max(...r);
        const z = r.reduce((acc, v) => acc + Math.exp(v - m), 0);
        let cum = 0;
        const removed = new Set<number>();
        order.forEach((i, j) => {
          cum += Math.exp(r[i] - m) / z;
          fc.pre(Math.abs(cum - (1 - top_p)) > 1e-5); // away from the float32-vs-float64 boundary
          if (cum <= 1 - top_p && j < order.length - 1) removed.add(i);
        });
        const want = r.flatMap((v, i) => (removed.has(i) || v === -Infinity ? [] : [i]));
        expect(kept(new TopPLogitsWarper(top_p).call([[0]], scores([r])))).toEqual([want]);
      }),
      params(300),
    );
  });
});
