/**
 * A hash table from a pair of token ids `(left, right)` to an int32 value, the lookup at the heart of both BPE
 * engines ("is there a merge for these two neighbours, and what does it make?").
 *
 * Why not a `Map`: a BPE encode asks this question once per adjacent pair and again after every merge, so it is
 * the hottest line of the tokenizer. A `Map` keyed by `left * bound + right` hashes a boxed number per lookup,
 * and the composite key collides once ids approach 2^31. Here both ids are stored, so keys cannot collide, and
 * the table is three flat `Int32Array`s with open addressing (linear probing, load factor at most 1/2): a lookup
 * is a multiply-xor hash and, nearly always, one or two array reads.
 *
 * Ids must be non-negative int32 (the vocabulary parsers guarantee it); `-1` marks an empty slot and is what
 * `get` returns for a missing pair.
 */
export class PairTable {
  private lefts: Int32Array;
  private rights: Int32Array;
  private values: Int32Array;
  private mask: number;
  size = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.lefts = new Int32Array(capacity).fill(-1);
    this.rights = new Int32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  /** Slot index to probe first for `(left, right)`: a 32-bit multiply-xor mix of both ids. */
  private static hash(left: number, right: number): number {
    let h = Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    return h ^ (h >>> 12);
  }

  /** The value stored for `(left, right)`, or -1. */
  get(left: number, right: number): number {
    const lefts = this.lefts;
    let i = PairTable.hash(left, right) & this.mask;
    for (;;) {
      const l = lefts[i];
      if (l === -1) return -1;
      if (l === left && this.rights[i] === right) return this.values[i];
      i = (i + 1) & this.mask;
    }
  }

  /** Stores `value` for `(left, right)`, replacing an earlier value (as a HashMap insert does). */
  set(left: number, right: number, value: number): void {
    if ((this.size + 1) * 2 > this.lefts.length) this.grow();
    let i = PairTable.hash(left, right) & this.mask;
    for (;;) {
      const l = this.lefts[i];
      if (l === -1) {
        this.lefts[i] = left;
        this.rights[i] = right;
        this.values[i] = value;
        this.size++;
        return;
      }
      if (l === left && this.rights[i] === right) {
        this.values[i] = value;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const { lefts, rights, values } = this;
    const capacity = lefts.length * 2;
    this.lefts = new Int32Array(capacity).fill(-1);
    this.rights = new Int32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.size = 0;
    for (let i = 0; i < lefts.length; i++) if (lefts[i] !== -1) this.set(lefts[i], rights[i], values[i]);
  }
}
