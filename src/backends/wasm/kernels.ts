/**
 * WASM SIMD matmul kernels (AssemblyScript source of kernels.wasm; `npm run build:wasm` rebuilds it byte for
 * byte). Every function computes a column range [n0, n1) of
 *
 *     out[m, n] = sum_k x[m, k] * W[n, k] + bias[n]        x: [M, K] f32, W: [N, K] (f32, f16 or bf16 bits), out: [M, N]
 *
 * (torch's F.linear), reading and writing the module's imported shared memory through raw byte addresses. The JS
 * side (wasm_simd.ts) places x, the bias and out in that memory; the weights already live there.
 *
 * Bit-identity contract: the value of out[m, n] depends only on x[m, :], W[n, :], bias[n] and on which path runs
 * (GEMM for M >= 4 rows, GEMV for fewer; f32 or 2-byte weights), never on the column range, the blocking or the
 * thread that computes it. That is why splitting columns over threads gives the same bits for any worker count.
 *   - GEMM: four f32 lanes over k = 0, 4, 8, ... (lane j sums k = j mod 4), the lanes added as
 *     (l0 + l1) + (l2 + l3), then the k tail (K mod 4) one term at a time, then the bias.
 *   - GEMV (K <= GEMV_MAX_K): four f32x4 accumulators over blocks of 16 k (accumulator a sums k = 4a .. 4a + 3
 *     mod 16; the last block of fewer than 16 goes four at a time into accumulator 0), added as
 *     (a0 + a1) + (a2 + a3), the four lanes of that as above, then the k tail (K mod 4), then the bias. Longer
 *     rows take the GEMM's 1 x 4 block and its order (see GEMV_MAX_K); the 2-byte GEMVs document their own.
 * Why two orders: decode (M = 1) reads every weight once and is bound by memory bandwidth. A GEMV that walks one
 * W row at a time, front to back, is a single sequential stream the hardware prefetcher follows at full speed;
 * interleaving four rows (as the GEMM's register block must, to reuse each x load) is four streams 8 KB apart,
 * which measured about a third slower on this project's machine. Four accumulators per row keep four
 * independent add chains in flight, so the adds' latency does not bound the loop either.
 *
 * 2-byte weights are widened inside the kernel, never copied into a float32 model:
 *   - bfloat16 bits are the top half of a float32, so a 32-bit lane holding two weights (w_2i low, w_2i+1 high)
 *     gives w_2i as `lane << 16` and w_2i+1 as `lane & 0xFFFF0000`: two instructions for eight weights. x is
 *     pre-split into even and odd positions (splitEvenOdd) to meet them.
 *   - float16 placed in the top half of a lane (same trick) becomes float32 by moving exponent and mantissa down
 *     three bits, `((lane >> 3) & 0x8FFFE000)` (arithmetic shift keeps the sign in bit 31), and scaling by 2^112
 *     to rebias the exponent (15 -> 127); subnormal halves come out exact too. Inf/NaN (exponent 31) need an
 *     extra select: the GEMV path is used only for weights without them (checked once per weight), the panel
 *     widening of the GEMM path always handles them.
 */

// ---------------------------------------------------------------------------------------------------------------
// Scalar pieces (k tails)
// ---------------------------------------------------------------------------------------------------------------

const TWO_POW_112: f32 = 5.192296858534828e33;

/** One float16 (bits in the low 16 of h) as float32, exact for every value including Inf/NaN. */
@inline function f16ToF32(h: u32): f32 {
  const hi = h << 16;
  const bits = ((<i32>hi >> 3) & 0x8fffe000) as u32;
  if ((hi & 0x7c000000) == 0x7c000000) return reinterpret<f32>(bits | 0x7f800000);
  return reinterpret<f32>(bits) * TWO_POW_112;
}

@inline function bf16ToF32(h: u32): f32 {
  return reinterpret<f32>(h << 16);
}

/** (l0 + l1) + (l2 + l3): the fixed order in which every kernel folds its four lanes. */
@inline function hsum(a: v128): f32 {
  return f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

/** The k tail of an f32 dot product, then the bias (0 when biasPtr is 0). */
@inline function finishF32(s: f32, xr: usize, wr: usize, k0: i32, K: i32, biasPtr: usize, n: i32): f32 {
  for (let k = k0; k < K; k++) s += load<f32>(xr + (<usize>k << 2)) * load<f32>(wr + (<usize>k << 2));
  if (biasPtr != 0) s += load<f32>(biasPtr + (<usize>n << 2));
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// float32 weights (also the 2-byte GEMM path, on a widened panel)
// ---------------------------------------------------------------------------------------------------------------

/** Rows n in [nb0, nb1) of the weight block at wBase (row n at wBase + (n - nb0) * K * 4), every row m of x. */
function blockF32(
  x: usize,
  wBase: usize,
  biasPtr: usize,
  out: usize,
  M: i32,
  K: i32,
  N: i32,
  nb0: i32,
  nb1: i32,
): void {
  const K4 = K & ~3;
  const rowX = <usize>K << 2;
  const rowO = <usize>N << 2;
  let m = 0;
  // 4 x 2 register block: eight f32x4 accumulators, four x rows and two W rows loaded per k step.
  for (; m + 4 <= M; m += 4) {
    const x0 = x + <usize>m * rowX;
    const x1 = x0 + rowX;
    const x2 = x1 + rowX;
    const x3 = x2 + rowX;
    let n = nb0;
    for (; n + 2 <= nb1; n += 2) {
      const w0 = wBase + <usize>(n - nb0) * rowX;
      const w1 = w0 + rowX;
      let c00 = f32x4.splat(0);
      let c01 = f32x4.splat(0);
      let c10 = f32x4.splat(0);
      let c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0);
      let c21 = f32x4.splat(0);
      let c30 = f32x4.splat(0);
      let c31 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const a = v128.load(w0 + o);
        const b = v128.load(w1 + o);
        let v = v128.load(x0 + o);
        c00 = f32x4.add(c00, f32x4.mul(v, a));
        c01 = f32x4.add(c01, f32x4.mul(v, b));
        v = v128.load(x1 + o);
        c10 = f32x4.add(c10, f32x4.mul(v, a));
        c11 = f32x4.add(c11, f32x4.mul(v, b));
        v = v128.load(x2 + o);
        c20 = f32x4.add(c20, f32x4.mul(v, a));
        c21 = f32x4.add(c21, f32x4.mul(v, b));
        v = v128.load(x3 + o);
        c30 = f32x4.add(c30, f32x4.mul(v, a));
        c31 = f32x4.add(c31, f32x4.mul(v, b));
      }
      const o0 = out + <usize>m * rowO + (<usize>n << 2);
      store<f32>(o0, finishF32(hsum(c00), x0, w0, K4, K, biasPtr, n));
      store<f32>(o0 + 4, finishF32(hsum(c01), x0, w1, K4, K, biasPtr, n + 1));
      store<f32>(o0 + rowO, finishF32(hsum(c10), x1, w0, K4, K, biasPtr, n));
      store<f32>(o0 + rowO + 4, finishF32(hsum(c11), x1, w1, K4, K, biasPtr, n + 1));
      store<f32>(o0 + 2 * rowO, finishF32(hsum(c20), x2, w0, K4, K, biasPtr, n));
      store<f32>(o0 + 2 * rowO + 4, finishF32(hsum(c21), x2, w1, K4, K, biasPtr, n + 1));
      store<f32>(o0 + 3 * rowO, finishF32(hsum(c30), x3, w0, K4, K, biasPtr, n));
      store<f32>(o0 + 3 * rowO + 4, finishF32(hsum(c31), x3, w1, K4, K, biasPtr, n + 1));
    }
    for (; n < nb1; n++) {
      const w0 = wBase + <usize>(n - nb0) * rowX;
      for (let j = 0; j < 4; j++) {
        const xr = x0 + <usize>j * rowX;
        store<f32>(out + <usize>(m + j) * rowO + (<usize>n << 2), dotF32(xr, w0, K4, K, biasPtr, n));
      }
    }
  }
  // Remaining rows (M mod 4 of them): 1 x 4 block, one x load feeds four W rows.
  for (; m < M; m++) {
    const xr = x + <usize>m * rowX;
    const o0 = out + <usize>m * rowO;
    let n = nb0;
    for (; n + 4 <= nb1; n += 4) {
      const w0 = wBase + <usize>(n - nb0) * rowX;
      const w1 = w0 + rowX;
      const w2 = w1 + rowX;
      const w3 = w2 + rowX;
      let c0 = f32x4.splat(0);
      let c1 = f32x4.splat(0);
      let c2 = f32x4.splat(0);
      let c3 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const v = v128.load(xr + o);
        c0 = f32x4.add(c0, f32x4.mul(v, v128.load(w0 + o)));
        c1 = f32x4.add(c1, f32x4.mul(v, v128.load(w1 + o)));
        c2 = f32x4.add(c2, f32x4.mul(v, v128.load(w2 + o)));
        c3 = f32x4.add(c3, f32x4.mul(v, v128.load(w3 + o)));
      }
      store<f32>(o0 + (<usize>n << 2), finishF32(hsum(c0), xr, w0, K4, K, biasPtr, n));
      store<f32>(o0 + (<usize>(n + 1) << 2), finishF32(hsum(c1), xr, w1, K4, K, biasPtr, n + 1));
      store<f32>(o0 + (<usize>(n + 2) << 2), finishF32(hsum(c2), xr, w2, K4, K, biasPtr, n + 2));
      store<f32>(o0 + (<usize>(n + 3) << 2), finishF32(hsum(c3), xr, w3, K4, K, biasPtr, n + 3));
    }
    for (; n < nb1; n++) store<f32>(o0 + (<usize>n << 2), dotF32(xr, wBase + <usize>(n - nb0) * rowX, K4, K, biasPtr, n));
  }
}

/** One output by itself, with the same arithmetic as the blocked kernels. */
function dotF32(xr: usize, wr: usize, K4: i32, K: i32, biasPtr: usize, n: i32): f32 {
  let c = f32x4.splat(0);
  for (let k = 0; k < K4; k += 4) {
    const o = <usize>k << 2;
    c = f32x4.add(c, f32x4.mul(v128.load(xr + o), v128.load(wr + o)));
  }
  return finishF32(hsum(c), xr, wr, K4, K, biasPtr, n);
}

/** Rows of W per cache block: about 256 KB of float32 W stays in L2 while every row of x passes over it. */
@inline function blockRows(K: i32): i32 {
  let nc = (65536 / K) & ~3;
  if (nc < 4) nc = 4;
  if (nc > 64) nc = 64;
  return nc;
}

/**
 * The longest row (K) the one-row GEMV takes: x (K float32) must stay in the 32 KB L1 cache while a W row
 * streams past it. Longer rows (the MLP's down_proj, K = intermediate_size) go through the GEMM's 1 x 4 block,
 * whose one x load feeds four W rows, so x comes from L2 four times less often.
 */
const GEMV_MAX_K: i32 = 4096;

/** float32 W, M < 4 rows (decode): one W row at a time, four accumulators (the GEMV order of the header). */
function gemvF32(x: usize, w: usize, bias: usize, out: usize, M: i32, K: i32, N: i32, n0: i32, n1: i32): void {
  const K16 = K & ~15;
  const K4 = K & ~3;
  const rowX = <usize>K << 2;
  for (let m = 0; m < M; m++) {
    const xr = x + <usize>m * rowX;
    const o0 = out + <usize>m * (<usize>N << 2);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rowX;
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      for (let k = 0; k < K16; k += 16) {
        const xp = xr + (<usize>k << 2);
        const wp = wr + (<usize>k << 2);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), v128.load(wp)));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(xp, 16), v128.load(wp, 16)));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(xp, 32), v128.load(wp, 32)));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(xp, 48), v128.load(wp, 48)));
      }
      for (let k = K16; k < K4; k += 4) {
        const o = <usize>k << 2;
        a0 = f32x4.add(a0, f32x4.mul(v128.load(xr + o), v128.load(wr + o)));
      }
      const s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
      store<f32>(o0 + (<usize>n << 2), finishF32(s, xr, wr, K4, K, bias, n));
    }
  }
}

/** float32 W: columns [n0, n1) of out = x W^T + bias. */
export function linearF32(x: usize, w: usize, bias: usize, out: usize, M: i32, K: i32, N: i32, n0: i32, n1: i32): void {
  if (M < 4 && K <= GEMV_MAX_K) {
    gemvF32(x, w, bias, out, M, K, N, n0, n1);
    return;
  }
  const nc = blockRows(K);
  for (let nb = n0; nb < n1; nb += nc) {
    const nb1 = min(nb + nc, n1);
    blockF32(x, w + <usize>nb * (<usize>K << 2), bias, out, M, K, N, nb, nb1);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 2-byte weights, prefill (GEMM): widen a block of W rows into a float32 panel, then the float32 kernel
// ---------------------------------------------------------------------------------------------------------------

/** Widen `count` 2-byte values at src into float32 at dst (kind 1 = float16, 2 = bfloat16), exactly. */
function widen(src: usize, dst: usize, count: i32, kind: i32): void {
  const count8 = count & ~7;
  const hiMask = i32x4.splat(0xffff0000);
  if (kind == 2) {
    for (let i = 0; i < count8; i += 8) {
      const v = v128.load(src + (<usize>i << 1));
      const even = i32x4.shl(v, 16);
      const odd = v128.and(v, hiMask);
      v128.store(dst + (<usize>i << 2), i32x4.shuffle(even, odd, 0, 4, 1, 5));
      v128.store(dst + (<usize>i << 2) + 16, i32x4.shuffle(even, odd, 2, 6, 3, 7));
    }
    for (let i = count8; i < count; i++) store<f32>(dst + (<usize>i << 2), bf16ToF32(load<u16>(src + (<usize>i << 1))));
  } else {
    const keep = i32x4.splat(0x8fffe000);
    const expMask = i32x4.splat(0x7c000000);
    const infExp = i32x4.splat(0x7f800000);
    const scale = f32x4.splat(TWO_POW_112);
    for (let i = 0; i < count8; i += 8) {
      const v = v128.load(src + (<usize>i << 1));
      const hiE = i32x4.shl(v, 16);
      const hiO = v128.and(v, hiMask);
      const bE = v128.and(i32x4.shr_s(hiE, 3), keep);
      const bO = v128.and(i32x4.shr_s(hiO, 3), keep);
      // lanes with exponent 31 (Inf/NaN) take the all-ones float32 exponent instead of the 2^112 scaling
      const fE = v128.bitselect(v128.or(bE, infExp), f32x4.mul(bE, scale), i32x4.eq(v128.and(hiE, expMask), expMask));
      const fO = v128.bitselect(v128.or(bO, infExp), f32x4.mul(bO, scale), i32x4.eq(v128.and(hiO, expMask), expMask));
      v128.store(dst + (<usize>i << 2), i32x4.shuffle(fE, fO, 0, 4, 1, 5));
      v128.store(dst + (<usize>i << 2) + 16, i32x4.shuffle(fE, fO, 2, 6, 3, 7));
    }
    for (let i = count8; i < count; i++) store<f32>(dst + (<usize>i << 2), f16ToF32(load<u16>(src + (<usize>i << 1))));
  }
}

/**
 * 2-byte W (kind 1 = float16, 2 = bfloat16), any M: columns [n0, n1). `panel` is this thread's scratch of
 * blockRows(K) * K float32. The result has exactly the bits linearF32 gives on the widened weights.
 */
export function linearHalfPanel(
  x: usize,
  w: usize,
  bias: usize,
  out: usize,
  M: i32,
  K: i32,
  N: i32,
  n0: i32,
  n1: i32,
  kind: i32,
  panel: usize,
): void {
  const nc = blockRows(K);
  for (let nb = n0; nb < n1; nb += nc) {
    const nb1 = min(nb + nc, n1);
    widen(w + <usize>nb * (<usize>K << 1), panel, (nb1 - nb) * K, kind);
    blockF32(x, panel, bias, out, M, K, N, nb, nb1);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 2-byte weights, decode (GEMV): widen in registers, x pre-split into even/odd positions
// ---------------------------------------------------------------------------------------------------------------

/**
 * x [M, K] -> xs [M, K]: within every block of eight, the even positions then the odd ones
 * (x0 x2 x4 x6 x1 x3 x5 x7); the tail past K & ~7 is copied as is.
 */
export function splitEvenOdd(x: usize, xs: usize, M: i32, K: i32): void {
  const K8 = K & ~7;
  for (let m = 0; m < M; m++) {
    const src = x + <usize>m * (<usize>K << 2);
    const dst = xs + <usize>m * (<usize>K << 2);
    for (let k = 0; k < K8; k += 8) {
      const a = v128.load(src + (<usize>k << 2));
      const b = v128.load(src + (<usize>k << 2) + 16);
      v128.store(dst + (<usize>k << 2), i32x4.shuffle(a, b, 0, 2, 4, 6));
      v128.store(dst + (<usize>k << 2) + 16, i32x4.shuffle(a, b, 1, 3, 5, 7));
    }
    for (let k = K8; k < K; k++) store<f32>(dst + (<usize>k << 2), load<f32>(src + (<usize>k << 2)));
  }
}

/** The k tail (K & ~7 .. K) of a 2-byte dot product with widening, then the bias. */
@inline function finishHalf(s: f32, xr: usize, wr: usize, K8: i32, K: i32, kind: i32, biasPtr: usize, n: i32): f32 {
  for (let k = K8; k < K; k++) {
    const h = <u32>load<u16>(wr + (<usize>k << 1));
    s += load<f32>(xr + (<usize>k << 2)) * (kind == 2 ? bf16ToF32(h) : f16ToF32(h));
  }
  if (biasPtr != 0) s += load<f32>(biasPtr + (<usize>n << 2));
  return s;
}

/** bfloat16 weights of a 16-byte load, even positions (`lane << 16`) and odd ones (`lane & 0xFFFF0000`). */
@inline function bf16Even(v: v128): v128 {
  return i32x4.shl(v, 16);
}
@inline function bf16Odd(v: v128, hiMask: v128): v128 {
  return v128.and(v, hiMask);
}

/** float16 weights (no Inf/NaN) of a 16-byte load, even and odd positions: shift, mask, 2^112 (module header). */
@inline function f16Even(v: v128, keep: v128, scale: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(i32x4.shl(v, 16), 3), keep), scale);
}
@inline function f16Odd(v: v128, hiMask: v128, keep: v128, scale: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(v128.and(v, hiMask), 3), keep), scale);
}

/**
 * 2-byte W, M < 4 rows (decode), x already split by splitEvenOdd (xs): columns [n0, n1), one W row at a time
 * (a single sequential stream, as gemvF32). Four accumulators over blocks of 16 weights (two 16-byte loads):
 * a0 += even(first) * xe, a1 += odd(first) * xo, a2 += even(second) * xe', a3 += odd(second) * xo'; a last
 * block of 8 goes into a0 and a1; then (a0 + a1) + (a2 + a3), its lanes, the k tail (K mod 8), the bias.
 * kind 2 = bfloat16; kind 1 = float16 whose weights hold no Inf/NaN (the caller checks with f16HasSpecials;
 * otherwise it uses linearHalfPanel).
 */
export function linearHalfGemv(xs: usize, w: usize, bias: usize, out: usize, M: i32, K: i32, N: i32, n0: i32, n1: i32, kind: i32): void {
  if (K > GEMV_MAX_K) {
    halfGemvRows4(xs, w, bias, out, M, K, N, n0, n1, kind);
    return;
  }
  const K16 = K & ~15;
  const K8 = K & ~7;
  const rowW = <usize>K << 1;
  const hiMask = i32x4.splat(0xffff0000);
  const keep = i32x4.splat(0x8fffe000);
  const scale = f32x4.splat(TWO_POW_112);
  for (let m = 0; m < M; m++) {
    const xr = xs + <usize>m * (<usize>K << 2);
    const o0 = out + <usize>m * (<usize>N << 2);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rowW;
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      // Two copies of the loop so the dtype test is outside it.
      if (kind == 2) {
        for (let k = 0; k < K16; k += 16) {
          const xp = xr + (<usize>k << 2);
          const v = v128.load(wr + (<usize>k << 1));
          const u = v128.load(wr + (<usize>k << 1), 16);
          a0 = f32x4.add(a0, f32x4.mul(bf16Even(v), v128.load(xp)));
          a1 = f32x4.add(a1, f32x4.mul(bf16Odd(v, hiMask), v128.load(xp, 16)));
          a2 = f32x4.add(a2, f32x4.mul(bf16Even(u), v128.load(xp, 32)));
          a3 = f32x4.add(a3, f32x4.mul(bf16Odd(u, hiMask), v128.load(xp, 48)));
        }
        if (K8 > K16) {
          const xp = xr + (<usize>K16 << 2);
          const v = v128.load(wr + (<usize>K16 << 1));
          a0 = f32x4.add(a0, f32x4.mul(bf16Even(v), v128.load(xp)));
          a1 = f32x4.add(a1, f32x4.mul(bf16Odd(v, hiMask), v128.load(xp, 16)));
        }
      } else {
        for (let k = 0; k < K16; k += 16) {
          const xp = xr + (<usize>k << 2);
          const v = v128.load(wr + (<usize>k << 1));
          const u = v128.load(wr + (<usize>k << 1), 16);
          a0 = f32x4.add(a0, f32x4.mul(f16Even(v, keep, scale), v128.load(xp)));
          a1 = f32x4.add(a1, f32x4.mul(f16Odd(v, hiMask, keep, scale), v128.load(xp, 16)));
          a2 = f32x4.add(a2, f32x4.mul(f16Even(u, keep, scale), v128.load(xp, 32)));
          a3 = f32x4.add(a3, f32x4.mul(f16Odd(u, hiMask, keep, scale), v128.load(xp, 48)));
        }
        if (K8 > K16) {
          const xp = xr + (<usize>K16 << 2);
          const v = v128.load(wr + (<usize>K16 << 1));
          a0 = f32x4.add(a0, f32x4.mul(f16Even(v, keep, scale), v128.load(xp)));
          a1 = f32x4.add(a1, f32x4.mul(f16Odd(v, hiMask, keep, scale), v128.load(xp, 16)));
        }
      }
      const s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
      store<f32>(o0 + (<usize>n << 2), finishHalf(s, xr, wr, K8, K, kind, bias, n));
    }
  }
}

/** One 16-byte load of 2-byte weights (8 of them) into acc: acc += even * xe, then acc += odd * xo. */
@inline function accHalf(acc: v128, v: v128, xe: v128, xo: v128, kind: i32, hiMask: v128, keep: v128, scale: v128): v128 {
  if (kind == 2) {
    acc = f32x4.add(acc, f32x4.mul(bf16Even(v), xe));
    return f32x4.add(acc, f32x4.mul(bf16Odd(v, hiMask), xo));
  }
  acc = f32x4.add(acc, f32x4.mul(f16Even(v, keep, scale), xe));
  return f32x4.add(acc, f32x4.mul(f16Odd(v, hiMask, keep, scale), xo));
}

/**
 * linearHalfGemv for rows longer than GEMV_MAX_K (x does not stay in L1): four W rows per x load, one accumulator
 * per row (accHalf over blocks of 8 weights), its lanes, the k tail, the bias. A row left over after the blocks
 * of four is summed the same way, so every output has the same bits whichever thread computes it.
 */
function halfGemvRows4(xs: usize, w: usize, bias: usize, out: usize, M: i32, K: i32, N: i32, n0: i32, n1: i32, kind: i32): void {
  const K8 = K & ~7;
  const rowW = <usize>K << 1;
  const hiMask = i32x4.splat(0xffff0000);
  const keep = i32x4.splat(0x8fffe000);
  const scale = f32x4.splat(TWO_POW_112);
  for (let m = 0; m < M; m++) {
    const xr = xs + <usize>m * (<usize>K << 2);
    const o0 = out + <usize>m * (<usize>N << 2);
    let n = n0;
    for (; n + 4 <= n1; n += 4) {
      const w0 = w + <usize>n * rowW;
      const w1 = w0 + rowW;
      const w2 = w1 + rowW;
      const w3 = w2 + rowW;
      let c0 = f32x4.splat(0);
      let c1 = f32x4.splat(0);
      let c2 = f32x4.splat(0);
      let c3 = f32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const xe = v128.load(xr + (<usize>k << 2));
        const xo = v128.load(xr + (<usize>k << 2), 16);
        const o = <usize>k << 1;
        c0 = accHalf(c0, v128.load(w0 + o), xe, xo, kind, hiMask, keep, scale);
        c1 = accHalf(c1, v128.load(w1 + o), xe, xo, kind, hiMask, keep, scale);
        c2 = accHalf(c2, v128.load(w2 + o), xe, xo, kind, hiMask, keep, scale);
        c3 = accHalf(c3, v128.load(w3 + o), xe, xo, kind, hiMask, keep, scale);
      }
      store<f32>(o0 + (<usize>n << 2), finishHalf(hsum(c0), xr, w0, K8, K, kind, bias, n));
      store<f32>(o0 + (<usize>(n + 1) << 2), finishHalf(hsum(c1), xr, w1, K8, K, kind, bias, n + 1));
      store<f32>(o0 + (<usize>(n + 2) << 2), finishHalf(hsum(c2), xr, w2, K8, K, kind, bias, n + 2));
      store<f32>(o0 + (<usize>(n + 3) << 2), finishHalf(hsum(c3), xr, w3, K8, K, kind, bias, n + 3));
    }
    for (; n < n1; n++) {
      const w0 = w + <usize>n * rowW;
      let c0 = f32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const xe = v128.load(xr + (<usize>k << 2));
        const xo = v128.load(xr + (<usize>k << 2), 16);
        c0 = accHalf(c0, v128.load(w0 + (<usize>k << 1)), xe, xo, kind, hiMask, keep, scale);
      }
      store<f32>(o0 + (<usize>n << 2), finishHalf(hsum(c0), xr, w0, K8, K, kind, bias, n));
    }
  }
}

/** 1 if any of the `count` float16 values at src is Inf or NaN (exponent 31), else 0. */
export function f16HasSpecials(src: usize, count: i32): i32 {
  const count8 = count & ~7;
  const expMask = i16x8.splat(0x7c00);
  let any = i16x8.splat(0);
  for (let i = 0; i < count8; i += 8) {
    any = v128.or(any, i16x8.eq(v128.and(v128.load(src + (<usize>i << 1)), expMask), expMask));
  }
  if (v128.any_true(any)) return 1;
  for (let i = count8; i < count; i++) if ((load<u16>(src + (<usize>i << 1)) & 0x7c00) == 0x7c00) return 1;
  return 0;
}
