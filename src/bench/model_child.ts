/**
 * One model measurement in a fresh process (so its peak RSS is its own), run by compute_bench.ts:
 *
 *   tsx src/bench/model_child.ts DIR PROMPT.json NEW_TOKENS WARMUP REPEATS BACKEND THREADS ATTN [LOGPROBS.bin]
 *
 * Loads DIR with from_pretrained(torch_dtype "auto", compute_dtype "float32": 2-byte weights stay 2 bytes,
 * activations float32, as llama.cpp computes) on the given matmul backend, times prefill and decode
 * (benchModel), optionally writes the next-token log-probabilities after the prompt (float32, vocab entries),
 * and prints one JSON line.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { AttnImplementation } from "../integrations/attention.ts";
import { LlamaForCausalLM } from "../models/llama/modeling_llama.ts";
import { configureMatmul } from "../ops/matmul.ts";
import { benchModel } from "./model_bench.ts";

const [dir, promptFile, newTokens, warmup, repeats, backend, threads, attn, logprobsFile] = process.argv.slice(2);
const choice = configureMatmul({ backend: backend as any, threads: Number(threads) });
const prompt: number[] = JSON.parse(readFileSync(promptFile, "utf8"));
const t0 = performance.now();
const model = await LlamaForCausalLM.from_pretrained(dir, {
  torch_dtype: "auto",
  compute_dtype: "float32",
  attn_implementation: attn as AttnImplementation, // checked by the bench command
});
const loadSeconds = (performance.now() - t0) / 1000;
const r = benchModel(model, prompt, {
  new_tokens: Number(newTokens),
  warmup: Number(warmup),
  repeats: Number(repeats),
});
if (logprobsFile) {
  const logits = model.forward({ input_ids: [prompt], num_logits_to_keep: 1 }).logits.toFloat32();
  const V = model.config.vocab_size;
  const last = logits.subarray(logits.length - V);
  let max = -Infinity;
  for (const v of last) max = Math.max(max, v);
  let sum = 0;
  for (const v of last) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const lp = Float32Array.from(last, (v) => v - lse);
  writeFileSync(logprobsFile, new Uint8Array(lp.buffer));
}
process.stdout.write(
  JSON.stringify({
    engine: "llama-ts",
    backend: choice.description,
    loadSeconds,
    prefillTokensPerSec: r.prefillTokensPerSec,
    decodeTokensPerSec: r.decodeTokensPerSec,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }) + "\n",
);
