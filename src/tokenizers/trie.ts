/**
 * HF transformers' `Trie` (tokenization_utils.py): splits a text on every occurrence of the added tokens in one
 * left-to-right pass, preferring the match that starts first and, among those, the longest
 * ("[CLS] This is a extra_id_100" -> ["[CLS]", " This is a ", "extra_id_100"] with "extra_id_1" also added).
 *
 * A line-for-line port of HF's algorithm (states = partial matches keyed by start offset, a lookahead for the
 * longest match once one completes), kept literal so its corner cases match the slow tokenizer's.
 * Characters are code points (Python iterates a str by code point).
 */

interface Node {
  children: Map<string, Node>;
  end: boolean;
}

function newNode(): Node {
  return { children: new Map(), end: false };
}

export class Trie {
  private data: Node = newNode();
  readonly tokens = new Set<string>();

  constructor(words: Iterable<string> = []) {
    for (const w of words) this.add(w);
  }

  /** Adds a word (idempotent; the empty string is ignored). */
  add(word: string): void {
    if (!word) return;
    this.tokens.add(word);
    let ref = this.data;
    for (const ch of word) {
      let next = ref.children.get(ch);
      if (!next) {
        next = newNode();
        ref.children.set(ch, next);
      }
      ref = next;
    }
    ref.end = true;
  }

  /** The text cut at the boundaries of the words found (empty pieces dropped). */
  split(text: string): string[] {
    const chars = Array.from(text);
    // Partial matches: start offset (in code points) -> trie node reached so far, in insertion order.
    let states = new Map<number, Node>();
    const offsets: number[] = [0];
    let skip = 0;
    for (let current = 0; current < chars.length; current++) {
      const currentChar = chars[current];
      if (skip && current < skip) continue;
      const toRemove = new Set<number>();
      let reset = false;
      for (const [startKey, triePointer] of states) {
        let start = startKey;
        if (triePointer.end) {
          // A match ended just before `current`: look ahead for the longest match among the partial
          // matches that started no later than this one.
          let end = current;
          for (const [lookstart, lookPointerStart] of states) {
            let looktriePointer = lookPointerStart;
            let lookaheadIndex: number;
            if (lookstart > start) break;
            else if (lookstart < start) {
              lookaheadIndex = current + 1;
              end = current + 1;
            } else {
              lookaheadIndex = current;
              end = current;
            }
            let nextChar: string | undefined = lookaheadIndex < chars.length ? chars[lookaheadIndex] : undefined;
            if (looktriePointer.end) {
              start = lookstart;
              end = lookaheadIndex;
              skip = lookaheadIndex;
            }
            while (nextChar !== undefined && looktriePointer.children.has(nextChar)) {
              looktriePointer = looktriePointer.children.get(nextChar)!;
              lookaheadIndex += 1;
              if (looktriePointer.end) {
                start = lookstart;
                end = lookaheadIndex;
                skip = lookaheadIndex;
              }
              if (lookaheadIndex === chars.length) break;
              nextChar = chars[lookaheadIndex];
            }
          }
          offsets.push(start, end);
          reset = true;
          break;
        } else if (triePointer.children.has(currentChar)) {
          states.set(startKey, triePointer.children.get(currentChar)!);
        } else {
          toRemove.add(startKey);
        }
      }
      if (reset) states = new Map();
      else for (const s of toRemove) states.delete(s);
      if (current >= skip && this.data.children.has(currentChar))
        states.set(current, this.data.children.get(currentChar)!);
    }
    for (const [start, triePointer] of states) {
      if (triePointer.end) {
        offsets.push(start, chars.length);
        break;
      }
    }
    return cutText(chars, offsets);
  }
}

function cutText(chars: string[], offsets: number[]): string[] {
  offsets.push(chars.length);
  const tokens: string[] = [];
  let start = 0;
  for (const end of offsets) {
    // HF logs "There was a bug in Trie algorithm" for start > end and skips; equal offsets are empty cuts.
    if (start >= end) continue;
    tokens.push(chars.slice(start, end).join(""));
    start = end;
  }
  return tokens;
}
