/**
 * One attention call in a fresh process, for `llama-ts bench --attention` (src/bench/attention_bench.ts): a
 * prefill of S tokens attending to themselves, H heads of size D, random q/k/v. Prints JSON with the process'
 * peak RSS (maxRSS) before and after the call and the call's seconds. Eager gets the causal [1, 1, S, S] mask
 * the model builds for it (built inside the measured region); sdpa and flash_attention_2 get none (causal by
 * themselves, as the model calls them when nothing is padded). `none` allocates the inputs only: the baseline.
 *
 * Usage: tsx src/bench/attention_child.ts <eager|sdpa|flash_attention_2|none> <S> <H> <D>
 */
import { ALL_ATTENTION_FUNCTIONS } from "../integrations/attention.ts";
import {
  FLOAT32_MIN,
  _prepare_4d_causal_attention_mask_with_cache_position,
  eager_attention_forward,
} from "../models/llama/modeling_llama.ts";
import { Tensor } from "../tensor/tensor.ts";
import { Random } from "../utils/random.ts";

const [impl, S, H, D] = [process.argv[2], ...process.argv.slice(3, 6).map(Number)];
const rng = new Random(0);
const randn = (shape: number[]) =>
  new Tensor(
    "float32",
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()),
    shape,
  );
const q = randn([1, H, S, D]);
const k = randn([1, H, S, D]);
const v = randn([1, H, S, D]);
const positions = Array.from({ length: S }, (_, i) => i);

const before = process.resourceUsage().maxRSS;
const t0 = performance.now();
if (impl === "eager") {
  const mask = _prepare_4d_causal_attention_mask_with_cache_position(null, S, S, FLOAT32_MIN, positions, 1);
  eager_attention_forward({ num_key_value_groups: 1 }, q, k, v, mask, D ** -0.5);
} else if (impl !== "none") {
  ALL_ATTENTION_FUNCTIONS[impl]({ num_key_value_groups: 1 }, q, k, v, null, D ** -0.5);
}
const seconds = (performance.now() - t0) / 1000;
const after = process.resourceUsage().maxRSS;
process.stdout.write(JSON.stringify({ impl, S, H, D, before_kb: before, after_kb: after, seconds }) + "\n");
