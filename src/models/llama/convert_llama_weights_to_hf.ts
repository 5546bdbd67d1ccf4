/**
 * convert_llama_weights_to_hf: mirrors HF `models/llama/convert_llama_weights_to_hf.py` (transformers 4.44.2).
 *
 * This file holds the one HF <-> Meta q/k permutation of the project (`permute`, as HF's converter names it, and
 * its inverse `unpermute`); everything that moves q_proj/k_proj between Meta's layout and HF's uses these two.
 *
 * Why a permutation exists at all. Both layouts compute the same rotary position embedding; they only disagree on
 * which two rows of a head form one rotated pair.
 *
 * - Meta (`llama/model.py`, `apply_rotary_emb`) views each head's `hd` query features as `hd/2` complex numbers
 *   `(x[2i], x[2i+1])` and multiplies pair `i` by `e^{i m theta_i}`: the pairs are *interleaved*.
 * - HF (`modeling_llama.py`, `apply_rotary_pos_emb`) computes `q*cos + rotate_half(q)*sin`, where
 *   `rotate_half([x1, x2]) = [-x2, x1]` splits the head into two *halves*: feature `i` is paired with `i + hd/2`.
 *
 * So HF stores the rows of W_q and W_k (each row produces one feature) reordered inside every head such that the
 * Meta pair (2i, 2i+1) lands on rows (i, i + hd/2). HF's helper does this by viewing a head's `hd` rows as an
 * `(hd/2, 2)` grid [pair index i, element j of the pair] and transposing it to `(2, hd/2)`:
 *
 *     HF row  j*hd/2 + i  =  Meta row  2i + j        (i < hd/2, j in {0, 1}, within every head)
 *
 * Worked example, one head with hd = 8, Meta rows named by (pair, element):
 *
 *     Meta rows  0    1    2    3    4    5    6    7
 *               a.re a.im b.re b.im c.re c.im d.re d.im      pairs interleaved: (0,1) (2,3) (4,5) (6,7)
 *     HF rows    0    1    2    3  |  4    5    6    7
 *               a.re b.re c.re d.re| a.im b.im c.im d.im     halves: x1 = real parts, x2 = imaginary parts
 *     HF row r <- Meta row  0, 2, 4, 6, 1, 3, 5, 7
 *
 * With x1 = [a.re..d.re] and x2 = [a.im..d.im], `q*cos + rotate_half(q)*sin` gives x1*cos - x2*sin and
 * x2*cos + x1*sin per pair: exactly Meta's complex product (re*cos - im*sin, im*cos + re*sin). v, o, the MLP,
 * norms and embeddings do not pass through RoPE and are never permuted.
 *
 * The head count matters: q is permuted with `num_attention_heads` heads over `hidden_size` rows, k with
 * `num_key_value_heads` heads over `num_key_value_heads * head_dim` rows. Permuting k with the query-head count
 * would treat its rows as heads of the wrong size (the bug of older revisions of HF's script, harmless only when
 * n_heads = n_kv_heads ** 2, as in Llama 2 70B).
 */
import { ShapeError } from "../../errors.ts";
import { Tensor } from "../../tensor/tensor.ts";

/**
 * Reorder the rows inside every head of a `[n_heads * hd, cols]` weight; `hfFromMeta` selects the direction.
 * Works on any dtype: whole rows are copied, values are never touched.
 */
function reorderHeadRows(w: Tensor, n_heads: number, hfFromMeta: boolean, what: string): Tensor {
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
        const [to, from] = hfFromMeta ? [hfRow, metaRow] : [metaRow, hfRow];
        (out as Float32Array).set((src as Float32Array).subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return new Tensor(w.dtype, out, [rows, cols]);
}

/**
 * HF's `permute(w, n_heads, dim1, dim2)`: Meta's interleaved layout -> HF's rotate_half layout.
 *
 *     w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)
 *
 * `w`: [dim1 = n_heads * hd, dim2]; returns a new tensor of the same shape and dtype. For q pass
 * `num_attention_heads`, for k `num_key_value_heads`.
 */
export function permute(w: Tensor, n_heads: number): Tensor {
  return reorderHeadRows(w, n_heads, true, "permute");
}

/**
 * The inverse of {@link permute}: HF's rotate_half layout -> Meta's interleaved layout (Meta row `2i + j` = HF row
 * `j*hd/2 + i`). In torch: `w.view(n_heads, 2, hd // 2, dim2).transpose(1, 2).reshape(dim1, dim2)`.
 */
export function unpermute(w: Tensor, n_heads: number): Tensor {
  return reorderHeadRows(w, n_heads, false, "unpermute");
}
