/**
 * The tensor operations Llama's forward passes call, under torch's names (`torch.nn.functional` and the torch
 * tensor methods HF's modeling_llama.py uses): `linear`, `matmul`, `softmax`, `cat`, `split`, `narrow`,
 * `transpose`, `reshape`, `unsqueeze`, `repeat_interleave`, element-wise `add` / `mul` / `div` / `neg` / `pow` /
 * `rsqrt`, `mean`, and `get_activation`. With them each module's `forward` reads line for line beside HF's, and
 * the plumbing (index arithmetic, copies, loops) lives here, once.
 *
 * **dtypes, as torch.** Tensors are float32, float16 or bfloat16 (2-byte values stored as raw bits). Every op
 * computes in float32 (torch's "opmath": its CPU and CUDA kernels widen 2-byte inputs to float32) and stores the
 * result in the result dtype. That store is where torch rounds, so a bfloat16 model rounds after every op
 * exactly where HF's does, and a float32 model is unaffected. Result dtype: the input's; for two tensors, torch's
 * promotion (equal dtypes keep theirs; float32 with a 2-byte type, or float16 with bfloat16, gives float32); a JS
 * number never promotes (a Python scalar does not either), and it enters the computation as a float32.
 *
 * **Products** go through the one matrix-multiply seam (src/ops/matmul.ts `linear`, x @ W^T), so a faster
 * backend accelerates every Linear and both attention products without this file knowing.
 *
 * Shapes are row-major and contiguous; a "view" (reshape, unsqueeze, narrow/split on dim 0, a transpose that keeps
 * the layout) shares storage and no op ever writes into its inputs, so sharing is safe.
 */
import { ShapeError, ValueError } from "../errors.ts";
import { linear as matmulSeam, type WeightView } from "../ops/matmul.ts";
import { ACT2FN } from "../ops/activations.ts";
import { softmaxRows } from "../ops/softmax.ts";
import { float32ToHalf } from "../tensor/dtypes.ts";
import { Tensor, shapeSize } from "../tensor/tensor.ts";

export type FloatDType = "float32" | "float16" | "bfloat16";

// ---------------------------------------------------------------------------------------------------------------
// dtypes
// ---------------------------------------------------------------------------------------------------------------

function floatDtype(t: Tensor, name: string): FloatDType {
  if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16")
    throw new ShapeError(name, `expected a float tensor, got ${t.dtype}`);
  return t.dtype;
}

/** torch.result_type for two float tensors: the common dtype, else float32. */
export function promoteTypes(a: FloatDType, b: FloatDType): FloatDType {
  return a === b ? a : "float32";
}

/** The values as float32 (no copy for a float32 tensor): what a kernel computes on. */
function values(t: Tensor): Float32Array {
  return t.toFloat32();
}

/** Store float32 results in `dtype`: the rounding point of every op (none for float32). */
export function store(out: Float32Array, dtype: FloatDType, shape: number[]): Tensor {
  return dtype === "float32" ? new Tensor("float32", out, shape) : new Tensor(dtype, float32ToHalf(out, dtype), shape);
}

/** A float weight as the matmul kernels read it (2-byte weights stay 2 bytes; the kernel widens them). */
export function weightView(t: Tensor): WeightView {
  return { dtype: floatDtype(t, "weight"), data: t.data as Float32Array | Uint16Array };
}

/** `torch.finfo(dtype).min`: HF's additive mask value in that dtype. */
export function finfoMin(dtype: FloatDType): number {
  if (dtype === "float16") return -65504;
  if (dtype === "bfloat16") return -3.3895313892515355e38;
  return -3.4028234663852886e38;
}

// ---------------------------------------------------------------------------------------------------------------
// Shape ops (no arithmetic: 2-byte tensors are copied as raw bits)
// ---------------------------------------------------------------------------------------------------------------

/**
 * dst[d, d + n) = src[s, s + n) between arrays of one type: a plain loop for short runs (a head's 64 values),
 * where making a subarray view would cost more than the copy.
 */
function copyRun(
  dst: Float32Array | Uint16Array,
  d: number,
  src: Float32Array | Uint16Array,
  s: number,
  n: number,
): void {
  if (n >= 256) dst.set(src.subarray(s, s + n), d);
  else for (let i = 0; i < n; i++) dst[d + i] = src[s + i];
}

function dimIndex(t: Tensor, dim: number, name: string): number {
  const d = dim < 0 ? dim + t.shape.length : dim;
  if (!Number.isInteger(d) || d < 0 || d >= t.shape.length)
    throw new ShapeError(name, `dim ${dim} out of range for shape [${t.shape}]`);
  return d;
}

/** `x.reshape(*shape)` with one -1 inferred. Storage is contiguous, so this is always a view. */
export function reshape(x: Tensor, ...shape: number[]): Tensor {
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  if (shapeSize(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d)))
    throw new ShapeError("reshape", `cannot view [${x.shape}] as [${shape}]`);
  return new Tensor(x.dtype, x.data, resolved);
}

/**
 * `x.view(*shape)`: reshape (contiguous storage). Both torch spellings exist so the model reads as HF writes it.
 * @alias
 */
export const view = reshape;

/** `x.unsqueeze(dim)`: a size-1 dim inserted (a view). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = dim < 0 ? dim + x.shape.length + 1 : dim;
  return new Tensor(x.dtype, x.data, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/**
 * `x.narrow(dim, start, length)` = `x[..., start:start+length, ...]` along `dim` (HF writes the slice). A view
 * when dim is the outermost non-1 dim, else a copy.
 */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = dimIndex(x, dim, "narrow");
  const n = x.shape[d];
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > n)
    throw new ShapeError("narrow", `[${start}, ${start + length}) is outside dim ${d} of [${x.shape}]`);
  const shape = [...x.shape];
  shape[d] = length;
  const outer = shapeSize(x.shape.slice(0, d));
  const inner = shapeSize(x.shape.slice(d + 1));
  if (outer === 1) return new Tensor(x.dtype, x.data.subarray(start * inner, (start + length) * inner) as any, shape);
  const out = Tensor.zeros(x.dtype, shape);
  const src = x.data as any;
  const dst = out.data as any;
  for (let o = 0; o < outer; o++) copyRun(dst, o * length * inner, src, (o * n + start) * inner, length * inner);
  return out;
}

/** `x.index_select(dim, index)`: the slices `index[i]` along dim, in that order (dim 0: rows of the batch). */
export function index_select(x: Tensor, dim: number, index: number[]): Tensor {
  const d = dimIndex(x, dim, "index_select");
  for (const i of index)
    if (!Number.isInteger(i) || i < 0 || i >= x.shape[d])
      throw new ShapeError("index", `${i} is outside dim ${d} of [${x.shape}]`);
  if (index.length === 0) throw new ShapeError("index", "expected at least one index");
  return cat(
    index.map((i) => narrow(x, d, i, 1)),
    d,
  );
}

/** `x.split(split_size, dim)`: consecutive pieces of `split_size` along dim (the last one may be shorter). */
export function split(x: Tensor, split_size: number, dim: number): Tensor[] {
  const d = dimIndex(x, dim, "split");
  if (!Number.isInteger(split_size) || split_size <= 0)
    throw new ShapeError("split_size", `expected a positive integer, got ${split_size}`);
  const out: Tensor[] = [];
  for (let s = 0; s < x.shape[d]; s += split_size) out.push(narrow(x, d, s, Math.min(split_size, x.shape[d] - s)));
  return out;
}

/** `torch.cat(tensors, dim)`: equal shapes except along dim; mixed dtypes promote as torch does. */
export function cat(tensors: Tensor[], dim: number): Tensor {
  if (tensors.length === 0) throw new ShapeError("cat", "expected at least one tensor");
  const first = tensors[0];
  const d = dimIndex(first, dim, "cat");
  const dtype = tensors.map((t) => floatDtype(t, "cat")).reduce(promoteTypes);
  const parts = tensors.map((t) => (t.dtype === dtype ? t : t.to(dtype)));
  for (const t of parts) {
    if (t.shape.length !== first.shape.length || t.shape.some((n, i) => i !== d && n !== first.shape[i]))
      throw new ShapeError("cat", `cannot concatenate [${t.shape}] with [${first.shape}] along dim ${d}`);
  }
  const shape = [...first.shape];
  shape[d] = parts.reduce((s, t) => s + t.shape[d], 0);
  const outer = shapeSize(first.shape.slice(0, d));
  const inner = shapeSize(first.shape.slice(d + 1));
  const out = Tensor.zeros(dtype, shape);
  const dst = out.data as any;
  const rowLen = shape[d] * inner;
  let offset = 0;
  for (const t of parts) {
    const len = t.shape[d] * inner;
    const src = t.data as any;
    for (let o = 0; o < outer; o++) copyRun(dst, o * rowLen + offset, src, o * len, len);
    offset += len;
  }
  return out;
}

/**
 * `x.transpose(dim0, dim1)`, materialized (torch returns a strided view; `.contiguous()` copies like this), or a
 * view when the swap leaves the memory layout as it is.
 */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = dimIndex(x, dim0, "transpose");
  const b = dimIndex(x, dim1, "transpose");
  if (a === b) return x;
  const rank = x.shape.length;
  const shape = [...x.shape];
  [shape[a], shape[b]] = [shape[b], shape[a]];
  // When at most one of dims a..b is longer than 1, the swap keeps the order of every dim longer than 1, so the
  // memory layout is unchanged: a view (the decode step's [B, 1, H, D] -> [B, H, 1, D]).
  let moved = 0;
  for (let i = Math.min(a, b); i <= Math.max(a, b); i++) if (x.shape[i] > 1) moved++;
  if (moved <= 1) return new Tensor(x.dtype, x.data, shape);
  const inStrides = stridesOf(x.shape);
  const strides = [...inStrides]; // input stride of each output dim
  [strides[a], strides[b]] = [strides[b], strides[a]];
  const out = Tensor.zeros(x.dtype, shape);
  const src = x.data as any;
  const dst = out.data as any;
  // The last dim untouched: copy whole rows. Otherwise element by element.
  const row = a !== rank - 1 && b !== rank - 1 ? shape[rank - 1] : 1;
  const outerRank = row === 1 ? rank : rank - 1;
  const idx = new Array(outerRank).fill(0);
  const total = out.size / row;
  for (let o = 0; o < total; o++) {
    let s = 0;
    for (let i = 0; i < outerRank; i++) s += idx[i] * strides[i];
    if (row === 1) dst[o] = src[s];
    else copyRun(dst, o * row, src, s, row);
    for (let i = outerRank - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length);
  let n = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = n;
    n *= shape[i];
  }
  return s;
}

/** `torch.repeat_interleave(x, repeats, dim)`: each slice along dim repeated `repeats` times in place. */
export function repeat_interleave(x: Tensor, repeats: number, dim: number): Tensor {
  const d = dimIndex(x, dim, "repeat_interleave");
  if (repeats === 1) return x;
  const shape = [...x.shape];
  shape[d] *= repeats;
  const outer = shapeSize(x.shape.slice(0, d + 1));
  const inner = shapeSize(x.shape.slice(d + 1));
  const out = Tensor.zeros(x.dtype, shape);
  const src = x.data as any;
  const dst = out.data as any;
  for (let o = 0; o < outer; o++)
    for (let r = 0; r < repeats; r++) copyRun(dst, (o * repeats + r) * inner, src, o * inner, inner);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Element-wise arithmetic with broadcasting
// ---------------------------------------------------------------------------------------------------------------

/** torch's broadcasting: shapes aligned on the right, a 1 (or a missing dim) stretches. */
function broadcastShape(a: readonly number[], b: readonly number[], name: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new ShapeError(name, `shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Strides of `shape` read as `outShape` (0 along broadcast dims). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : own[i - off]));
}

type BinaryOp = "add" | "mul" | "div";

/**
 * out[o + j] = x[ia + j * la] op y[ib + j * lb] for j < n: one run of an element-wise op (a stride of 0 repeats a
 * broadcast value). A loop per op, not a callback per element: the call would cost more than the arithmetic.
 */
function binaryRun(
  op: BinaryOp,
  out: Float32Array,
  o: number,
  x: Float32Array,
  ia: number,
  la: number,
  y: Float32Array,
  ib: number,
  lb: number,
  n: number,
): void {
  if (la === 1 && lb === 1) {
    // both contiguous: the common case (residual adds, gate * up, rotary), worth its own loops
    if (op === "add") for (let j = 0; j < n; j++) out[o + j] = x[ia + j] + y[ib + j];
    else if (op === "mul") for (let j = 0; j < n; j++) out[o + j] = x[ia + j] * y[ib + j];
    else for (let j = 0; j < n; j++) out[o + j] = x[ia + j] / y[ib + j];
  } else if (op === "add") for (let j = 0; j < n; j++) out[o + j] = x[ia + j * la] + y[ib + j * lb];
  else if (op === "mul") for (let j = 0; j < n; j++) out[o + j] = x[ia + j * la] * y[ib + j * lb];
  else for (let j = 0; j < n; j++) out[o + j] = x[ia + j * la] / y[ib + j * lb];
}

/** out = a op b element-wise with torch's broadcasting, computed in float32, stored in the promoted dtype. */
function binary(a: Tensor, b: Tensor | number, op: BinaryOp): Tensor {
  const x = values(a);
  if (typeof b === "number") {
    const out = new Float32Array(x.length);
    binaryRun(op, out, 0, x, 0, 1, Float32Array.of(b), 0, 0, x.length); // b rounded to float32, as torch does
    return store(out, floatDtype(a, op), a.shape);
  }
  const dtype = promoteTypes(floatDtype(a, op), floatDtype(b, op));
  const y = values(b);
  const sameShape = a.shape.length === b.shape.length && a.shape.every((n, i) => n === b.shape[i]);
  if (sameShape) {
    const out = new Float32Array(x.length);
    binaryRun(op, out, 0, x, 0, 1, y, 0, 1, x.length);
    return store(out, dtype, a.shape);
  }
  const shape = broadcastShape(a.shape, b.shape, op);
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  const rank = shape.length;
  const last = rank === 0 ? 1 : shape[rank - 1];
  const la = rank === 0 ? 0 : sa[rank - 1];
  const lb = rank === 0 ? 0 : sb[rank - 1];
  const out = new Float32Array(shapeSize(shape));
  const idx = new Array(Math.max(rank - 1, 0)).fill(0);
  for (let o = 0; o < out.length; o += last) {
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < rank - 1; i++) {
      ia += idx[i] * sa[i];
      ib += idx[i] * sb[i];
    }
    binaryRun(op, out, o, x, ia, la, y, ib, lb, last);
    for (let i = rank - 2; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return store(out, dtype, shape);
}

/** `a + b` (torch.add), broadcasting. */
export function add(a: Tensor, b: Tensor | number): Tensor {
  return binary(a, b, "add");
}

/** `a * b` (torch.mul), broadcasting. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  return binary(a, b, "mul");
}

/** `a / b` (torch.div, true division), broadcasting; a number divisor enters as a float32. */
export function div(a: Tensor, b: Tensor | number): Tensor {
  return binary(a, b, "div");
}

/**
 * An element-wise op on float32 values: `loop(v, out)` writes out[i] = f(v[i]), the result is stored in x's dtype.
 * Each op has its own loop (no callback per element: the call would cost more than the arithmetic).
 */
function unary(x: Tensor, name: string, loop: (v: Float32Array, out: Float32Array) => void): Tensor {
  const v = values(x);
  const out = new Float32Array(v.length);
  loop(v, out);
  return store(out, floatDtype(x, name), x.shape);
}

/** `-x`. */
export function neg(x: Tensor): Tensor {
  return unary(x, "neg", (v, out) => {
    for (let i = 0; i < v.length; i++) out[i] = -v[i];
  });
}

/** `x.pow(exponent)`. */
export function pow(x: Tensor, exponent: number): Tensor {
  return unary(x, "pow", (v, out) => {
    if (exponent === 2) for (let i = 0; i < v.length; i++) out[i] = v[i] * v[i];
    else for (let i = 0; i < v.length; i++) out[i] = v[i] ** exponent;
  });
}

/** `torch.rsqrt(x)` = 1 / sqrt(x). */
export function rsqrt(x: Tensor): Tensor {
  return unary(x, "rsqrt", (v, out) => {
    for (let i = 0; i < v.length; i++) out[i] = 1 / Math.sqrt(v[i]);
  });
}

/** `x.mean(dim=-1, keepdim)`: the sum of a row in a JS number (float64), divided, rounded once. */
export function mean(x: Tensor, dim: number, keepdim = false): Tensor {
  const d = dimIndex(x, dim, "mean");
  if (d !== x.shape.length - 1) throw new ShapeError("mean", "only the last dim is supported");
  const n = x.shape[d];
  const v = values(x);
  const rows = v.length / n;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += v[r * n + i];
    out[r] = s / n;
  }
  return store(out, floatDtype(x, "mean"), keepdim ? [...x.shape.slice(0, -1), 1] : x.shape.slice(0, -1));
}

/**
 * HF `activations.get_activation(name)` (= `ACT2FN[name]`): the activation as a tensor function, computed in
 * float32 and stored in the input's dtype (one rounding, as current torch's silu kernel).
 */
export function get_activation(name: string): (x: Tensor) => Tensor {
  const fn = ACT2FN[name];
  if (fn === undefined) throw new ValueError(`hidden_act: unknown activation ${JSON.stringify(name)}`);
  const loop = (v: Float32Array, out: Float32Array): void => {
    for (let i = 0; i < v.length; i++) out[i] = fn(v[i]);
  };
  return (x) => unary(x, name, loop);
}

// ---------------------------------------------------------------------------------------------------------------
// Products and softmax
// ---------------------------------------------------------------------------------------------------------------

/**
 * `F.linear(input, weight, bias)` = input @ weight^T + bias: [..., K] x [N, K] (+ [N]) -> [..., N], through the
 * matmul seam. The result has the input's dtype (torch requires input and weight to share it; the float32
 * compute mode with 2-byte weights has float32 inputs and widens the weights inside the kernel).
 */
export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const [N, K] = weight.shape;
  if (input.shape[input.shape.length - 1] !== K)
    throw new ShapeError("input", `linear expects last dim ${K}, got [${input.shape}]`);
  const M = input.size / K;
  const out = matmulSeam(values(input), weightView(weight), bias ? values(bias) : null, M, K, N);
  return store(out, floatDtype(input, "input"), [...input.shape.slice(0, -1), N]);
}

/**
 * `torch.matmul(a, b)` for batched matrices: a [..., M, K] @ b [..., K, N] -> [..., M, N]; with `transpose_b`,
 * b is given as [..., N, K] and the product is `a @ b.transpose(-2, -1)` (no copy: that is the seam's layout).
 * Leading dims must be equal, or b 2-D (shared by every batch). Each [M, K] x [K, N] product goes through the
 * matmul seam, accumulated in float32 or better and rounded once to the promoted dtype.
 */
export function matmul(a: Tensor, b: Tensor, transpose_b = false): Tensor {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) throw new ShapeError("matmul", `expected matrices, got [${a.shape}] and [${b.shape}]`);
  const [M, K] = a.shape.slice(-2);
  const [bR, bC] = b.shape.slice(-2);
  const N = transpose_b ? bR : bC;
  const bK = transpose_b ? bC : bR;
  const batch = a.shape.slice(0, -2);
  const shared = rb === 2;
  if (bK !== K || (!shared && (rb !== ra || b.shape.slice(0, -2).some((n, i) => n !== batch[i]))))
    throw new ShapeError(
      "matmul",
      `cannot multiply [${a.shape}] by [${b.shape}]${transpose_b ? " transposed" : ""} (inner dims or batch differ)`,
    );
  const x = values(a);
  const y = values(b);
  const nb = shapeSize(batch);
  const out = new Float32Array(nb * M * N);
  const wT = transpose_b ? null : new Float32Array(N * K); // b^T of one batch: [N, K]
  for (let i = 0; i < nb; i++) {
    const bi = shared ? 0 : i;
    let w = y.subarray(bi * K * N, (bi + 1) * K * N);
    if (wT !== null) {
      if (!shared || i === 0) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) wT[n * K + k] = w[k * N + n];
      w = wT;
    }
    matmulSeam(
      x.subarray(i * M * K, (i + 1) * M * K),
      { dtype: "float32", data: w },
      null,
      M,
      K,
      N,
      out.subarray(i * M * N, (i + 1) * M * N),
    );
  }
  return store(out, promoteTypes(floatDtype(a, "matmul"), floatDtype(b, "matmul")), [...batch, M, N]);
}

/**
 * `F.softmax(x, dim=-1, dtype)`: exp(x - max) / sum, over the last dim, computed in float32 (src/ops/softmax.ts)
 * and returned in `dtype` (default: x's). HF passes dtype=torch.float32 and casts back with `.to(query.dtype)`.
 */
export function softmax(x: Tensor, dim: number, dtype: FloatDType = floatDtype(x, "softmax")): Tensor {
  const d = dimIndex(x, dim, "softmax");
  if (d !== x.shape.length - 1) throw new ShapeError("softmax", "only the last dim is supported");
  const cols = x.shape[d];
  const out = softmaxRows(new Float32Array(x.size), values(x), x.size / Math.max(cols, 1), cols);
  return store(out, dtype, x.shape);
}
