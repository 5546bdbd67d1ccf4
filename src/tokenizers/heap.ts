/**
 * The agenda of candidate merges both BPE engines keep: a binary min-heap of entries ordered by a primary key
 * (float64) then a secondary key (int32), each carrying two int32 payloads. sentencepiece's
 * `std::priority_queue<SymbolPair*>` orders by (-score, left); tokenizers' `QuaternaryHeap<Merge>` by
 * (rank, pos). With it a whole-string encode is O(n log n) instead of a rescan of every pair per merge.
 *
 * Entries live in parallel typed arrays (no object per entry), which keeps a 100 KB encode fast.
 */
export class MergeHeap {
  private key1 = new Float64Array(64);
  private key2 = new Int32Array(64);
  private pay1 = new Int32Array(64);
  private pay2 = new Int32Array(64);
  size = 0;

  /** Fields of the entry last returned by `pop()`. */
  topKey1 = 0;
  topKey2 = 0;
  topPay1 = 0;
  topPay2 = 0;

  private grow(): void {
    const n = this.key1.length * 2;
    const k1 = new Float64Array(n);
    k1.set(this.key1);
    this.key1 = k1;
    const k2 = new Int32Array(n);
    k2.set(this.key2);
    this.key2 = k2;
    const p1 = new Int32Array(n);
    p1.set(this.pay1);
    this.pay1 = p1;
    const p2 = new Int32Array(n);
    p2.set(this.pay2);
    this.pay2 = p2;
  }

  push(k1: number, k2: number, p1: number, p2: number): void {
    if (this.size === this.key1.length) this.grow();
    const key1 = this.key1;
    const key2 = this.key2;
    let i = this.size++;
    // Sift up with a moving hole.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pk1 = key1[parent];
      if (pk1 < k1 || (pk1 === k1 && key2[parent] <= k2)) break;
      key1[i] = pk1;
      key2[i] = key2[parent];
      this.pay1[i] = this.pay1[parent];
      this.pay2[i] = this.pay2[parent];
      i = parent;
    }
    key1[i] = k1;
    key2[i] = k2;
    this.pay1[i] = p1;
    this.pay2[i] = p2;
  }

  /** Removes the smallest entry into `top*`; false when empty. */
  pop(): boolean {
    if (this.size === 0) return false;
    const key1 = this.key1;
    const key2 = this.key2;
    const pay1 = this.pay1;
    const pay2 = this.pay2;
    this.topKey1 = key1[0];
    this.topKey2 = key2[0];
    this.topPay1 = pay1[0];
    this.topPay2 = pay2[0];
    const n = --this.size;
    if (n === 0) return true;
    const lk1 = key1[n];
    const lk2 = key2[n];
    const lp1 = pay1[n];
    const lp2 = pay2[n];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (key1[r] < key1[l] || (key1[r] === key1[l] && key2[r] < key2[l]))) c = r;
      if (lk1 < key1[c] || (lk1 === key1[c] && lk2 <= key2[c])) break;
      key1[i] = key1[c];
      key2[i] = key2[c];
      pay1[i] = pay1[c];
      pay2[i] = pay2[c];
      i = c;
    }
    key1[i] = lk1;
    key2[i] = lk2;
    pay1[i] = lp1;
    pay2[i] = lp2;
    return true;
  }
}
