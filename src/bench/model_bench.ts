/**
 * Model throughput of a LlamaForCausalLM (no peer: llama-ts' own numbers):
 *   prefill tokens/s = prompt length T / median seconds of forward(input_ids [1, T], use_cache, last logits only)
 *   decode tokens/s  = N / median seconds of N greedy steps, each forward(input_ids [1, 1]) with the KV cache
 * (the loop of generate() without its bookkeeping; argmax of the last logits picks the next id).
 */
import { DynamicCache } from "../cache_utils.ts";
import { argmax } from "../generation/sampling.ts";
import { LlamaConfig } from "../models/llama/configuration_llama.ts";
import { LlamaDecoderLayer, LlamaRotaryEmbedding, type LlamaForCausalLM } from "../models/llama/modeling_llama.ts";
import { withMetaInit } from "../nn/modules.ts";
import { Tensor } from "../tensor/tensor.ts";
import { Random } from "../utils/random.ts";
import { median } from "./measure.ts";

export interface ModelBenchResult {
  prompt_tokens: number;
  new_tokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
}

export function benchModel(
  model: LlamaForCausalLM,
  prompt: number[],
  opts: { new_tokens: number; warmup: number; repeats: number },
): ModelBenchResult {
  const V = model.config.vocab_size;
  const prefillTimes: number[] = [];
  const decodeTimes: number[] = [];
  for (let run = 0; run < opts.warmup + opts.repeats; run++) {
    const t0 = performance.now();
    let out = model.forward({ input_ids: [prompt], use_cache: true, num_logits_to_keep: 1 });
    const t1 = performance.now();
    for (let step = 0; step < opts.new_tokens; step++) {
      const logits = out.logits.toFloat32();
      const next = argmax(logits.subarray(logits.length - V));
      out = model.forward({
        input_ids: [[next]],
        past_key_values: out.past_key_values,
        use_cache: true,
        num_logits_to_keep: 1,
      });
    }
    const t2 = performance.now();
    if (run >= opts.warmup) {
      prefillTimes.push((t1 - t0) / 1000);
      decodeTimes.push((t2 - t1) / 1000);
    }
  }
  const prefillSeconds = median(prefillTimes);
  const decodeSeconds = median(decodeTimes);
  return {
    prompt_tokens: prompt.length,
    new_tokens: opts.new_tokens,
    prefillSeconds,
    decodeSeconds,
    prefillTokensPerSec: prompt.length / prefillSeconds,
    decodeTokensPerSec: opts.new_tokens / decodeSeconds,
  };
}

export interface LayerBenchResult {
  dtype: "float32" | "float16" | "bfloat16";
  weightBytes: number;
  rssBytes: number;
  prefillTokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
}

/**
 * One LlamaDecoderLayer at Llama-2-7B's shape (hidden 4096, 32 heads, intermediate 11008) with weights held in
 * `dtype`: the time of a prefill of `prefillTokens` tokens and of one cached decode step after it. The weights
 * are uniform in [-0.02, 0.02) (values do not change the time). A full 7B forward is 32 such layers plus the
 * 32000 x 4096 lm_head, so 32x the layer time is a lower bound of a 7B token's time.
 */
export function benchLlama2_7bLayer(
  dtype: "float32" | "float16" | "bfloat16",
  opts: { prefillTokens: number; repeats: number; seed: number },
): LayerBenchResult {
  const config = new LlamaConfig({
    hidden_size: 4096,
    intermediate_size: 11008,
    num_attention_heads: 32,
    num_hidden_layers: 1,
    max_position_embeddings: 4096,
  });
  const layer = withMetaInit(() => new LlamaDecoderLayer(config, 0));
  const rng = new Random(opts.seed);
  let weightBytes = 0;
  for (const [name, t] of layer.named_parameters()) {
    const values = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
    if (name.endsWith("layernorm.weight")) values.fill(1);
    else for (let i = 0; i < values.length; i++) values[i] = (rng.nextUint32() / 2 ** 32 - 0.5) * 0.04;
    const w = new Tensor("float32", values, t.shape);
    const stored = dtype === "float32" ? w : w.to(dtype);
    weightBytes += stored.data.byteLength;
    layer.set_parameter(name, stored);
  }
  const rotary = new LlamaRotaryEmbedding(config);
  const H = config.hidden_size;
  const input = (T: number) =>
    new Tensor(
      "float32",
      new Float32Array(T * H).map(() => rng.nextUint32() / 2 ** 32 - 0.5),
      [1, T, H],
    );
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let run = 0; run < opts.repeats + 1; run++) {
    const cache = new DynamicCache();
    const T = opts.prefillTokens;
    const pos = [Array.from({ length: T }, (_, i) => i)];
    const x = input(T);
    const t0 = performance.now();
    layer.forward(x, { attention_mask: null, position_embeddings: rotary.forward(pos), past_key_value: cache });
    const t1 = performance.now();
    layer.forward(input(1), {
      attention_mask: null,
      position_embeddings: rotary.forward([[T]]),
      past_key_value: cache,
    });
    const t2 = performance.now();
    if (run > 0) {
      prefill.push((t1 - t0) / 1000);
      decode.push((t2 - t1) / 1000);
    }
  }
  return {
    dtype,
    weightBytes,
    rssBytes: process.memoryUsage().rss,
    prefillTokens: opts.prefillTokens,
    prefillSeconds: median(prefill),
    decodeSeconds: median(decode),
  };
}
