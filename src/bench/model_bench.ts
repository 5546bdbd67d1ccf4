/**
 * Model throughput of a LlamaForCausalLM (no peer: llama-ts' own numbers):
 *   prefill tokens/s = prompt length T / median seconds of forward(input_ids [1, T], use_cache, last logits only)
 *   decode tokens/s  = N / median seconds of N greedy steps, each forward(input_ids [1, 1]) with the KV cache
 * (the loop of generate() without its bookkeeping; argmax of the last logits picks the next id).
 */
import { argmax } from "../generation/sampling.ts";
import type { LlamaForCausalLM } from "../models/llama/modeling_llama.ts";
import { median } from "./measure.ts";

export interface ModelBenchResult {
  prompt_tokens: number;
  new_tokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
}

export function benchModel(model: LlamaForCausalLM, prompt: number[], opts: { new_tokens: number; warmup: number; repeats: number }): ModelBenchResult {
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
      out = model.forward({ input_ids: [[next]], past_key_values: out.past_key_values, use_cache: true, num_logits_to_keep: 1 });
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
