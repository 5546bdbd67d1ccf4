/**
 * The torch.nn losses HF's Llama heads use, all with reduction="mean", computed in float64 and returned as a
 * float32-rounded number.
 *
 * - CrossEntropyLoss(logits [N, C], target [N], ignore_index=-100) = mean over counted rows of
 *   `logsumexp(logits[n]) - logits[n, target[n]]`; when every target is ignored torch returns NaN (0/0).
 * - MSELoss(input, target) = mean((input - target)^2).
 * - BCEWithLogitsLoss(x, y) = mean(max(x, 0) - x*y + log(1 + exp(-|x|))).
 */
import { ShapeError } from "../errors.ts";
import { logSumExp } from "./softmax.ts";

export function crossEntropy(
  logits: Float32Array,
  targets: ArrayLike<number>,
  N: number,
  C: number,
  ignoreIndex = -100,
  argName = "labels",
): number {
  let total = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (t === ignoreIndex) continue;
    if (!Number.isInteger(t) || t < 0 || t >= C)
      throw new ShapeError(argName, `target ${t} is out of range [0, ${C}) (use ${ignoreIndex} to ignore a position)`);
    total += logSumExp(logits, n * C, C) - logits[n * C + t];
    count++;
  }
  return Math.fround(total / count);
}

export function mseLoss(input: ArrayLike<number>, target: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < input.length; i++) {
    const d = input[i] - target[i];
    total += d * d;
  }
  return Math.fround(total / input.length);
}

export function bceWithLogits(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    total += Math.max(v, 0) - v * y[i] + Math.log1p(Math.exp(-Math.abs(v)));
  }
  return Math.fround(total / x.length);
}
