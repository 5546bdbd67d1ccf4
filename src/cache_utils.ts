/**
 * DynamicCache: the key/value cache of HF's `cache_utils.DynamicCache`.
 *
 * Per layer it holds `key_cache[layer]` and `value_cache[layer]`, each a Tensor in the activations' dtype
 * `[batch, num_key_value_heads, seq, head_dim]`: keys after RoPE, before `repeat_kv` (HF stores them there).
 * `update(k, v, layer_idx)` appends the new `[batch, kv_heads, q_len, head_dim]` states along `seq` and
 * returns the whole cached key and value states, as HF's `update` returns `(k_cat, v_cat)`.
 */
import { ShapeError } from "./errors.ts";
import * as F from "./nn/functional.ts";
import type { Tensor } from "./tensor/tensor.ts";

export class DynamicCache {
  key_cache: Tensor[] = [];
  value_cache: Tensor[] = [];
  /** Tokens seen by layer 0 (HF's `_seen_tokens`). */
  private seenTokens = 0;

  /** Sequence length cached for a layer (HF: `get_seq_length(layer_idx=0)`). */
  get_seq_length(layer_idx = 0): number {
    const k = this.key_cache[layer_idx];
    return k === undefined ? 0 : k.shape[2];
  }

  get seen_tokens(): number {
    return this.seenTokens;
  }

  /** Append `key_states`/`value_states` `[B, H_kv, q_len, D]` to layer `layer_idx`; returns the full `[B, H_kv, past+q_len, D]`. */
  update(key_states: Tensor, value_states: Tensor, layer_idx: number): [Tensor, Tensor] {
    if (layer_idx === 0) this.seenTokens += key_states.shape[2];
    if (this.key_cache.length <= layer_idx) {
      if (this.key_cache.length !== layer_idx)
        throw new ShapeError(
          "layer_idx",
          `cache has ${this.key_cache.length} layers, cannot update layer ${layer_idx}`,
        );
      this.key_cache.push(key_states);
      this.value_cache.push(value_states);
    } else {
      this.key_cache[layer_idx] = F.cat([this.key_cache[layer_idx], key_states], -2);
      this.value_cache[layer_idx] = F.cat([this.value_cache[layer_idx], value_states], -2);
    }
    return [this.key_cache[layer_idx], this.value_cache[layer_idx]];
  }

  /** Number of layers held. */
  get length(): number {
    return this.key_cache.length;
  }

  /** HF `reorder_cache(beam_idx)`: batch rows `beam_idx[i]`, in that order, in every layer (beam search). */
  reorder_cache(beam_idx: number[]): void {
    this.batch_select_indices(beam_idx);
  }

  /** HF `batch_select_indices(indices)`: keep batch rows `indices` (`index_select(0, indices)`) in every layer. */
  batch_select_indices(indices: number[]): void {
    this.key_cache = this.key_cache.map((k) => F.index_select(k, 0, indices));
    this.value_cache = this.value_cache.map((v) => F.index_select(v, 0, indices));
  }

  /** HF `crop(max_length)`: keep the first `max_length` cached positions of every layer. */
  crop(max_length: number): void {
    if (this.get_seq_length() <= max_length) return;
    this.key_cache = this.key_cache.map((k) => F.narrow(k, 2, 0, max_length));
    this.value_cache = this.value_cache.map((v) => F.narrow(v, 2, 0, max_length));
    this.seenTokens = max_length;
  }
}
