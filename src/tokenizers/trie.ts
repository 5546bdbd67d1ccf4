/**
 * The one prefix tree of the tokenizers. A key is a sequence of symbols (UTF-8 bytes, UTF-16 code units or
 * code points) and carries a value (a pattern index; -1 on nodes where no key ends). Its users:
 *   - sentencepiece's user-defined symbols (`PrefixMatcher` in normalizer.cc): `longestPrefix` over UTF-8
 *     bytes or UTF-16 code units (src/tokenizers/sentencepiece.ts);
 *   - tokenizers' added-token split (`AddedVocabulary`, Aho-Corasick LeftmostLongest): `longestPrefix` from
 *     each start, `valueOf` for the token found (src/tokenizers/added_vocabulary.ts);
 *   - transformers' `Trie.split` (tokenization_utils.py), which walks `root` node by node because its
 *     lookahead is not a plain longest-prefix search (src/tokenization_utils.ts).
 */

export interface TrieNode<K> {
  readonly children: Map<K, TrieNode<K>>;
  /** The value of the key ending at this node, -1 if none does. */
  value: number;
}

export class PrefixTree<K> {
  readonly root: TrieNode<K> = { children: new Map(), value: -1 };
  /** Number of keys. */
  size = 0;

  /** Adds a key with a value; a key already present keeps its first value. The empty key is ignored. */
  add(key: Iterable<K>, value = 0): void {
    let node = this.root;
    let empty = true;
    for (const symbol of key) {
      empty = false;
      let next = node.children.get(symbol);
      if (!next) {
        next = { children: new Map(), value: -1 };
        node.children.set(symbol, next);
      }
      node = next;
    }
    if (empty || node.value >= 0) return;
    node.value = value;
    this.size++;
  }

  /** Length of the longest key equal to `at(start), at(start + 1), ..., at(start + length - 1)` with start + length <= end; 0 if none. */
  longestPrefix(at: (i: number) => K, start: number, end: number): number {
    let node: TrieNode<K> | undefined = this.root;
    let best = 0;
    for (let i = start; i < end; i++) {
      node = node.children.get(at(i));
      if (!node) break;
      if (node.value >= 0) best = i - start + 1;
    }
    return best;
  }

  /** The value of the key `at(start..end)`, -1 if it is not a key. */
  valueOf(at: (i: number) => K, start: number, end: number): number {
    let node: TrieNode<K> | undefined = this.root;
    for (let i = start; i < end && node; i++) node = node.children.get(at(i));
    return node ? node.value : -1;
  }
}
