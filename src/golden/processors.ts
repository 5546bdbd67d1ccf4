/**
 * Logits-processor cases: input scores, settings, output scores, for each processor HF applies when sampling,
 * then sampling itself driven by explicit uniform draws (token = the first index whose cumulative probability
 * exceeds u * sum(probs), the inverse CDF), so a port needs no RNG of ours to reproduce a choice.
 *
 * Written as logits_processors.json (settings, ids, draws, chosen tokens) + logits_processors.safetensors
 * (`<case>/scores` in, `<case>/out` out, float32 [batch, vocab]; filtered entries are -inf).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringifyJson } from "./manifest.ts";
import { saveSafetensors } from "../formats/safetensors.ts";
import {
  MinPLogitsWarper,
  RepetitionPenaltyLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
  type LogitsProcessor,
} from "../generation/logits_process.ts";
import { multinomial, softmax } from "../generation/sampling.ts";
import { Tensor } from "../tensor/tensor.ts";
import { Random } from "../utils/random.ts";

interface ProcessorCase {
  name: string;
  hf_class: string;
  settings: Record<string, number>;
  input_ids: number[][];
  scores: string;
  out: string;
}

export async function writeProcessorCases(
  dir: string,
  vocab: number,
  seed: number,
): Promise<{ file: string; tensors: string; count: number }> {
  const rng = new Random(seed + 104729);
  const B = 2;
  const scores = new Float32Array(B * vocab);
  for (let i = 0; i < scores.length; i++) scores[i] = Math.fround(2 * rng.normal());
  const input = new Tensor("float32", scores, [B, vocab]);
  const input_ids = [0, 1].map(() => Array.from({ length: 6 }, () => rng.nextUint32() % vocab));
  const tensors = new Map<string, Tensor>();
  const cases: ProcessorCase[] = [];
  const run = (name: string, hf_class: string, settings: Record<string, number>, p: LogitsProcessor): Tensor => {
    const out = p.call(input_ids, input);
    tensors.set(`${name}/scores`, input);
    tensors.set(`${name}/out`, out);
    cases.push({ name, hf_class, settings, input_ids, scores: `${name}/scores`, out: `${name}/out` });
    return out;
  };
  run("repetition_penalty", "RepetitionPenaltyLogitsProcessor", { penalty: 1.3 }, new RepetitionPenaltyLogitsProcessor(1.3));
  run("temperature", "TemperatureLogitsWarper", { temperature: 0.7 }, new TemperatureLogitsWarper(0.7));
  run("top_k", "TopKLogitsWarper", { top_k: 5 }, new TopKLogitsWarper(5));
  run("top_p", "TopPLogitsWarper", { top_p: 0.8 }, new TopPLogitsWarper(0.8));
  run("min_p", "MinPLogitsWarper", { min_p: 0.1 }, new MinPLogitsWarper(0.1));

  // HF's sampling order: repetition penalty (processor), then temperature, top_k, top_p, min_p (warpers),
  // softmax, one draw per row
  const chain: [string, LogitsProcessor][] = [
    ["RepetitionPenaltyLogitsProcessor(1.3)", new RepetitionPenaltyLogitsProcessor(1.3)],
    ["TemperatureLogitsWarper(0.7)", new TemperatureLogitsWarper(0.7)],
    ["TopKLogitsWarper(20)", new TopKLogitsWarper(20)],
    ["TopPLogitsWarper(0.9)", new TopPLogitsWarper(0.9)],
    ["MinPLogitsWarper(0.05)", new MinPLogitsWarper(0.05)],
  ];
  let s = input;
  for (const [, p] of chain) s = p.call(input_ids, s);
  tensors.set("sampling/scores", input);
  tensors.set("sampling/out", s);
  const draws = [0.05, 0.5, 0.95];
  const probs = [0, 1].map((b) => softmax((s.data as Float32Array).subarray(b * vocab, (b + 1) * vocab)));
  tensors.set("sampling/probs", new Tensor("float32", Float32Array.from(probs.flatMap((p) => [...p])), [B, vocab]));
  const sampling = {
    name: "sampling",
    chain: chain.map(([n]) => n),
    settings: { repetition_penalty: 1.3, temperature: 0.7, top_k: 20, top_p: 0.9, min_p: 0.05 },
    input_ids,
    scores: "sampling/scores",
    out: "sampling/out",
    probs: "sampling/probs",
    rule: "probs = softmax(out, dim=-1); token = first i with cumsum(probs)[i] > u * sum(probs)",
    draws: draws.map((u) => ({ u, tokens: probs.map((p) => multinomial(p, u)) })),
  };
  await saveSafetensors(join(dir, "logits_processors.safetensors"), tensors, { format: "pt" });
  await writeFile(
    join(dir, "logits_processors.json"),
    stringifyJson({ vocab_size: vocab, cases, sampling }) + "\n",
  );
  return { file: "logits_processors.json", tensors: "logits_processors.safetensors", count: cases.length + 1 };
}
