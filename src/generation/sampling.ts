/**
 * Token selection for one row of scores: softmax, argmax and multinomial sampling from an injected draw.
 *
 * Mirrors the three lines of HF transformers v4.44 `generation/utils.py` `GenerationMixin._sample` that turn
 * processed scores `[batch, vocab]` into next tokens `[batch]`:
 *
 *   probs = softmax(next_token_scores, dim=-1)              -> {@link softmax}
 *   next_tokens = torch.multinomial(probs, num_samples=1)    -> {@link multinomial} (one uniform draw per row)
 *   next_tokens = torch.argmax(next_token_scores, dim=-1)    -> {@link argmax}
 *
 * Every function here works on a single row (shape `[vocab]`). Randomness is not drawn here: the sampler takes
 * its uniform number `u` in [0, 1) as an argument (as llama2.c's `sample_mult(probabilities, n, coin)`), so a test
 * can replay any draw. torch's own generator cannot be reproduced, so a seeded run here picks the same token as HF
 * only in distribution, never draw for draw.
 */
import { ValueError } from "../errors.ts";
import { softmaxRows } from "../ops/softmax.ts";

/**
 * softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x) over one row, float32 like HF's float32 scores.
 * The row kernel of `ops/softmax.ts`: `-Infinity` entries (filtered tokens) get probability 0; a row that is all
 * `-Infinity` (or holds a NaN) gives NaN, as torch does, and {@link multinomial} then refuses it.
 */
export function softmax(row: ArrayLike<number>): Float32Array {
  const n = row.length;
  return softmaxRows(new Float32Array(n), Float32Array.from(row), 1, n);
}

/**
 * Index of the largest value; on ties the FIRST maximal index, as `torch.argmax` returns. A NaN counts as the
 * maximum (torch propagates NaN in max/argmax), so the first NaN wins.
 */
export function argmax(row: ArrayLike<number>): number {
  if (row.length === 0) throw new ValueError("argmax: empty row");
  let best = 0;
  let bestVal = row[0];
  if (Number.isNaN(bestVal)) return 0;
  for (let i = 1; i < row.length; i++) {
    const v = row[i];
    if (Number.isNaN(v)) return i;
    if (v > bestVal) {
      best = i;
      bestVal = v;
    }
  }
  return best;
}

/**
 * Inverse-CDF sampling: the index i whose interval [cdf_{i-1}, cdf_i) contains u * sum(probs), where
 * cdf_i = p_0 + ... + p_i (float64). Tokens with probability 0 own an empty interval and are never picked.
 *
 * `probs` need not sum to exactly 1 (float32 rounding): the draw is scaled by their sum, as torch.multinomial
 * accepts unnormalised non-negative weights. Like torch, negative, NaN or infinite weights and an all-zero row
 * are refused (torch raises "probability tensor contains either `inf`, `nan` or element < 0").
 *
 * @param probs non-negative weights, shape [vocab]
 * @param u a uniform draw in [0, 1)
 */
export function multinomial(probs: ArrayLike<number>, u: number): number {
  if (!(u >= 0 && u < 1)) throw new ValueError(`multinomial: the uniform draw must lie in [0, 1), got ${u}`);
  let total = 0;
  let lastPositive = -1;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (!(p >= 0) || p === Infinity) {
      throw new ValueError(
        `multinomial: probability tensor contains either inf, nan or element < 0 (index ${i}: ${p})`,
      );
    }
    if (p > 0) lastPositive = i;
    total += p;
  }
  if (lastPositive < 0) throw new ValueError("multinomial: every probability is zero (all tokens were filtered out)");
  const target = u * total;
  let cdf = 0;
  for (let i = 0; i <= lastPositive; i++) {
    cdf += probs[i];
    if (cdf > target) return i;
  }
  // Only reachable when u * total rounds up to total: the draw sits at the very top of the last interval.
  return lastPositive;
}
