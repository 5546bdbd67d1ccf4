/**
 * Tensor comparison with tolerances: `|got - expected| <= atol + rtol * |expected|`, element-wise.
 *
 * Unlike tfjs' closeness check, non-finite values must match exactly in kind: NaN only equals NaN, +Infinity
 * only +Infinity, -Infinity only -Infinity. Shapes must be equal (no broadcasting).
 */
import { Tensor } from "../tensor/tensor.ts";

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CompareResult {
  ok: boolean;
  /** Largest |got - expected| over finite pairs. */
  max_abs_diff: number;
  /** Flat index of the first failing element, or -1. */
  first_bad: number;
  message: string;
}

function valuesOf(x: Tensor | ArrayLike<number>): ArrayLike<number> {
  return x instanceof Tensor ? (x.dtype === "int64" ? Array.from(x.data as BigInt64Array, Number) : x.toFloat32()) : x;
}

/** Compare element-wise; shapes are checked when both sides are Tensors. */
export function compareTensors(
  got: Tensor | ArrayLike<number>,
  expected: Tensor | ArrayLike<number>,
  tol: Tolerance,
  name = "tensor",
): CompareResult {
  if (got instanceof Tensor && expected instanceof Tensor) {
    const same = got.shape.length === expected.shape.length && got.shape.every((d, i) => d === expected.shape[i]);
    if (!same)
      return {
        ok: false,
        max_abs_diff: Infinity,
        first_bad: -1,
        message: `${name}: shape [${got.shape}] != expected [${expected.shape}]`,
      };
  }
  const a = valuesOf(got);
  const b = valuesOf(expected);
  if (a.length !== b.length)
    return {
      ok: false,
      max_abs_diff: Infinity,
      first_bad: -1,
      message: `${name}: ${a.length} values != expected ${b.length}`,
    };
  let maxDiff = 0;
  let firstBad = -1;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    let bad: boolean;
    if (Number.isNaN(y) || Number.isNaN(x)) bad = !(Number.isNaN(x) && Number.isNaN(y));
    else if (!Number.isFinite(y) || !Number.isFinite(x)) bad = x !== y;
    else {
      const d = Math.abs(x - y);
      if (d > maxDiff) maxDiff = d;
      bad = d > tol.atol + tol.rtol * Math.abs(y);
    }
    if (bad && firstBad < 0) firstBad = i;
  }
  const ok = firstBad < 0;
  return {
    ok,
    max_abs_diff: maxDiff,
    first_bad: firstBad,
    message: ok
      ? `${name}: ok (max |diff| ${maxDiff.toExponential(2)})`
      : `${name}: element ${firstBad} is ${a[firstBad]}, expected ${b[firstBad]} (atol ${tol.atol}, rtol ${tol.rtol}); max |diff| ${maxDiff.toExponential(2)}`,
  };
}

/** Throws an Error with compareTensors' message when the tensors differ beyond the tolerance. */
export function assertClose(
  got: Tensor | ArrayLike<number>,
  expected: Tensor | ArrayLike<number>,
  tol: Tolerance,
  name = "tensor",
): CompareResult {
  const r = compareTensors(got, expected, tol, name);
  if (!r.ok) throw new Error(r.message);
  return r;
}

/** The tolerances of shared/reference/models/README.md. */
export const REFERENCE_TOLERANCES = {
  /** logits, hidden states, KV cache, module outputs */
  activations: { atol: 1e-4, rtol: 1e-4 },
  /** attention probabilities, rotary cos/sin */
  probabilities: { atol: 1e-5, rtol: 0 },
  /** losses */
  loss: { atol: 1e-5, rtol: 1e-5 },
} as const satisfies Record<string, Tolerance>;

/**
 * Element bounds for a 2-byte compute mode held against float32 references (float16 compute, which torch
 * cannot run on the CPU): the bfloat16 element tolerances of shared/reference/models/README.md
 * ("bfloat16 compute cases"), without their mismatch-share cap (every element of a 2-byte run differs from a
 * float32 one). The causal-LM loss takes the classification loss bound: against a float32 reference it moves
 * by up to ~2e-3 (the 2-byte logits' rounding), more than two 2-byte runs differ by.
 */
export const HALF_TOLERANCES = {
  logits: { atol: 0.1, rtol: 0.03125 },
  hidden_states: { atol: 0.1, rtol: 0.03125 },
  attentions: { atol: 0.015625, rtol: 0.03125 },
  kv_cache: { atol: 0.0625, rtol: 0.03125 },
  modules: { atol: 0.0625, rtol: 0.03125 },
  loss: { atol: 0.004, rtol: 0.0078125 },
  cls_loss: { atol: 0.004, rtol: 0.0078125 },
} as const satisfies Record<string, Tolerance>;
