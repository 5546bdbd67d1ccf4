/**
 * The two row orders of a rotary q/k projection weight `[n_heads * hd, cols]`, and the one reorder between them.
 *
 * Rotary embedding turns pairs of a head's dimensions. Meta's checkpoints (and GGUF files, which llama.cpp reads
 * in Meta's order) pair neighbours: rows 2i and 2i + 1 of a head. HF's `rotate_half` pairs the two halves: rows
 * i and i + hd/2. So Meta/GGUF row `2i + j` of a head is HF row `j * hd/2 + i` (j = 0, 1). HF's converter calls
 * the Meta -> HF direction `permute`; llama.cpp's convert_hf_to_gguf undoes it with its own `permute`:
 *
 *     Meta -> HF:  w.view(n_heads, hd // 2, 2, cols).transpose(1, 2).reshape(rows, cols)
 *     HF -> Meta:  w.view(n_heads, 2, hd // 2, cols).transpose(1, 2).reshape(rows, cols)
 *
 * Worked example, one head of hd = 4 (rows named by Meta index): Meta order [m0, m1, m2, m3] pairs (m0, m1) and
 * (m2, m3); HF order is [m0, m2, m1, m3], whose halves [m0, m2] and [m1, m3] pair the same rows.
 */
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor/tensor.ts";

/**
 * Reorder the rows inside every head of a `[n_heads * hd, cols]` weight: `"hf"` = Meta/GGUF order -> HF order,
 * `"interleaved"` = HF order -> Meta/GGUF order. Any dtype: whole rows are copied, values are never touched.
 * `what` names the weight in errors.
 */
export function reorderRotaryRows(w: Tensor, n_heads: number, to: "hf" | "interleaved", what: string): Tensor {
  if (w.shape.length !== 2) throw new ShapeError(what, `expected a 2-D weight, got shape [${w.shape.join(", ")}]`);
  const [rows, cols] = w.shape;
  if (!Number.isInteger(n_heads) || n_heads <= 0)
    throw new ShapeError(what, `n_heads must be a positive integer, got ${n_heads}`);
  if (rows % n_heads !== 0 || (rows / n_heads) % 2 !== 0)
    throw new ShapeError(what, `${rows} rows do not split into ${n_heads} heads of an even head size`);
  const hd = rows / n_heads;
  const half = hd / 2;
  const src = w.data;
  const out = new (src.constructor as new (n: number) => typeof src)(src.length);
  for (let h = 0; h < n_heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const hfRow = h * hd + j * half + i;
        const metaRow = h * hd + 2 * i + j;
        const [dst, from] = to === "hf" ? [hfRow, metaRow] : [metaRow, hfRow];
        (out as Float32Array).set((src as Float32Array).subarray(from * cols, (from + 1) * cols), dst * cols);
      }
    }
  }
  return new Tensor(w.dtype, out, [rows, cols]);
}
