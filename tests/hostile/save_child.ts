/**
 * A separate process that saves into a folder, for the save attacks: `big DIR` writes 512 MB of weights (slow
 * enough to be killed midway), `model DIR SEED SHARD` saves a tiny model built with SEED, sharded at SHARD bytes.
 */
import { saveCheckpointTensors } from "../../src/formats/checkpoint.ts";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { TINY_CONFIG } from "./fixtures.ts";

const [mode, dir, seed, shard] = process.argv.slice(2);
if (mode === "big") {
  const tensors = new Map<string, Tensor>();
  for (let i = 0; i < 8; i++) tensors.set(`w${i}`, Tensor.zeros("float32", [4096, 4096]));
  await saveCheckpointTensors(dir, tensors);
} else {
  const model = new LlamaForCausalLM(new LlamaConfig(TINY_CONFIG), { seed: Number(seed) });
  await model.save_pretrained(dir, { max_shard_size: Number(shard) });
}
