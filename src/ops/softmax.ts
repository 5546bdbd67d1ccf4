/**
 * Row-wise softmax in float32: `out[r, j] = exp(x[r, j] - max_r) / sum_j exp(x[r, j] - max_r)`.
 *
 * Mirrors `nn.functional.softmax(x, dim=-1, dtype=torch.float32)`. Subtracting the row maximum keeps it finite
 * for the float32-minimum masks HF uses: a row whose entries are all `finfo.min` becomes uniform (1/n), exactly
 * what HF's padded query rows get. A row containing -Infinity entries treats them as zero weight; a row that is
 * all -Infinity gives NaN, as torch does.
 */
export function softmaxRows(out: Float32Array, x: Float32Array, rows: number, cols: number): Float32Array {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > max) max = x[o + j];
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.fround(Math.exp(x[o + j] - max));
      out[o + j] = e;
      sum += e;
    }
    const inv = 1 / Math.fround(sum);
    for (let j = 0; j < cols; j++) out[o + j] = Math.fround(out[o + j] * inv);
  }
  return out;
}

/** log(sum(exp(row))) computed stably, in float64 (used by the losses). */
export function logSumExp(x: Float32Array, offset: number, n: number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) if (x[offset + j] > max) max = x[offset + j];
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(x[offset + j] - max);
  return max + Math.log(sum);
}
