/**
 * A growable run of token ids in an `Int32Array`, where the tokenizers gather ids before handing them out as
 * `number[]` of exact length. Two uses, both about the garbage collector:
 * - the engine reuses one run from text to text (src/tokenizers/tokenizer.ts): pushing onto a fresh `number[]`
 *   reallocates it as it grows, and that garbage was most of what encoding a long text allocated;
 * - a batch keeps every row's ids in one run until its last text is encoded (`_batchEncode` in
 *   tokenization_utils_base.ts): rows made while encoding would live in V8's young generation, whose every
 *   collection copies the rows made since the one before (a sixth of the time of a batch of 60,000 short texts).
 *   A run this large lives outside the JS heap and is not copied.
 */
export class IdRun {
  ids = new Int32Array(256);
  length = 0;

  push(id: number): void {
    if (this.length === this.ids.length) this.reserve(1);
    this.ids[this.length++] = id;
  }

  /** Appends all of `src` (a cached word's ids, a row, a sequence). */
  append(src: Int32Array | ArrayLike<number>): void {
    if (this.length + src.length > this.ids.length) this.reserve(src.length);
    if (src instanceof Int32Array) this.ids.set(src, this.length);
    else for (let i = 0; i < src.length; i++) this.ids[this.length + i] = src[i];
    this.length += src.length;
  }

  /** The ids `start..end` (all by default) as a `number[]` of exact length. */
  toArray(start = 0, end = this.length): number[] {
    const out = new Array<number>(end - start);
    for (let i = start; i < end; i++) out[i - start] = this.ids[i];
    return out;
  }

  private reserve(extra: number): void {
    let n = this.ids.length * 2;
    while (n < this.length + extra) n *= 2;
    const grown = new Int32Array(n);
    grown.set(this.ids.subarray(0, this.length));
    this.ids = grown;
  }
}
