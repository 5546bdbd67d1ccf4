/** Family 4: sizes in config.json that the checkpoint does not back, and inputs past the position limits. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CheckpointError, ConfigError, ValueError } from "../../../src/errors.ts";
import { LlamaConfig } from "../../../src/models/llama/configuration_llama.ts";
import {
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  LlamaModel,
} from "../../../src/models/llama/modeling_llama.ts";
import type { Attack } from "../harness.ts";
import { TINY_CONFIG, tempDir } from "../fixtures.ts";

/** A folder with the tiny model's weights (seed 1) and config.json = TINY_CONFIG edited by `edit`. */
async function checkpointWith(edit: Record<string, unknown>): Promise<string> {
  const dir = tempDir();
  await new LlamaForCausalLM(new LlamaConfig(TINY_CONFIG), { seed: 1 }).save_pretrained(dir);
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...TINY_CONFIG, ...edit }));
  return dir;
}

const tiny = () => new LlamaForCausalLM(new LlamaConfig(TINY_CONFIG), { seed: 1 });

export const attacks: Attack[] = [
  {
    name: "num_hidden_layers 50000 on a 1-layer checkpoint",
    run: async () => LlamaForCausalLM.from_pretrained(await checkpointWith({ num_hidden_layers: 50000 })),
    error: CheckpointError,
    message: /missing layers\.49999\.input_layernorm\.weight, which config\.json \(num_hidden_layers\) requires/,
  },
  {
    name: "num_hidden_layers 1e6 on a 1-layer checkpoint",
    run: async () => LlamaForCausalLM.from_pretrained(await checkpointWith({ num_hidden_layers: 1e6 })),
    error: CheckpointError,
    message: /num_hidden_layers/,
  },
  {
    name: "vocab_size 1e9 against a 16-row embedding",
    run: async () => LlamaForCausalLM.from_pretrained(await checkpointWith({ vocab_size: 1e9 })),
    error: CheckpointError,
    message: /embed_tokens\.weight has shape \[16,8\], config\.json \(vocab_size, hidden_size\) says/,
  },
  {
    name: "hidden_size 65536 against the checkpoint",
    run: async () =>
      LlamaForCausalLM.from_pretrained(await checkpointWith({ hidden_size: 65536, intermediate_size: 16 })),
    error: CheckpointError,
    message: /hidden_size/,
  },
  {
    name: "num_labels 30000000 (sequence classification from a causal-LM checkpoint)",
    run: async () => LlamaForSequenceClassification.from_pretrained(await checkpointWith({ num_labels: 30_000_000 })),
    error: ConfigError,
    message: /num_labels: at most 131072 labels \(MAX_NUM_LABELS\)/,
  },
  {
    name: "num_labels 100000 with no score.weight in the checkpoint",
    run: async () => LlamaForSequenceClassification.from_pretrained(await checkpointWith({ num_labels: 100_000 })),
    error: CheckpointError,
    message: /no score\.weight, and num_labels \(100000\) is more than max\(vocab_size, 65536\)/,
  },
  {
    name: "a module walk over a 20000-layer model (named_modules is iterative)",
    run: () => {
      // Built without weights: LlamaModel's structure only, with a 1-wide hidden state. Then the walk must work.
      const config = new LlamaConfig({
        ...TINY_CONFIG,
        num_hidden_layers: 20000,
        hidden_size: 2,
        intermediate_size: 1,
        num_attention_heads: 1,
        num_key_value_heads: 1,
        vocab_size: 2,
      });
      const model = new LlamaModel(config);
      const n = model.named_modules().length;
      if (n < 20000 * 5) throw new Error(`named_modules found only ${n} modules`);
    },
    error: null,
  },
  {
    name: "a 3000-token prompt on a model with 32 positions (past 8 x max_position_embeddings)",
    run: () => tiny().forward({ input_ids: [Array.from({ length: 3000 }, (_, i) => i % 16)] }),
    error: ValueError,
    message: /cache_position: expected integer positions in \[0, 256\)/,
  },
  {
    name: "generate with max_new_tokens 1e9 ends (capped at the hard position bound)",
    run: () => {
      // No eos id anywhere, so only the length stops it.
      const model = new LlamaForCausalLM(new LlamaConfig({ ...TINY_CONFIG, eos_token_id: null }), { seed: 1 });
      const out = model.generate([[1, 2, 3]], { max_new_tokens: 1e9, pad_token_id: 0 });
      if (out.shape[1] !== 256) throw new Error(`generated to length ${out.shape[1]}, expected the cap 256`);
    },
    error: null,
  },
  {
    name: "hidden_size 6, num_attention_heads 2 (odd head_dim)",
    run: () => new LlamaConfig({ ...TINY_CONFIG, hidden_size: 6, num_attention_heads: 2, num_key_value_heads: 2 }),
    error: ConfigError,
    message: /^head_dim: must be even/,
  },
  {
    name: "explicit head_dim 5",
    run: () => new LlamaConfig({ ...TINY_CONFIG, head_dim: 5 }),
    error: ConfigError,
    message: /^head_dim: must be even/,
  },
];
