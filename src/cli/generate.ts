/**
 * `llama-ts generate --model DIR --prompt TEXT`: tokenize the prompt with the folder's tokenizer, generate
 * with LlamaForCausalLM.generate, print the decoded text (prompt included, as HF's batch_decode of the
 * returned ids) on stdout.
 */
import { existsSync } from "node:fs";
import { CheckpointError } from "../errors.ts";
import { LlamaForCausalLM } from "../models/llama/modeling_llama.ts";
import { numberFlag, parseFlags, UsageError } from "./args.ts";
import { loadTokenizerFor } from "./tokenizer.ts";

export const GENERATE_HELP = `Generate text with an HF Llama checkpoint folder.

Usage: llama-ts generate --model DIR --prompt TEXT [options]

  --model DIR            folder with config.json, model.safetensors (or shards) and a tokenizer
                         (tokenizer.json or tokenizer.model; the embedded Llama 2 tokenizer otherwise)
  --prompt TEXT          the prompt
  --max_new_tokens N     tokens to generate (default 20)
  --do_sample            sample instead of greedy decoding
  --temperature X        sampling temperature (default 1.0)
  --top_k N              keep the N most likely tokens when sampling (default 50, as HF)
  --top_p X              nucleus sampling mass (default 1.0)
  --repetition_penalty X HF's repetition penalty (default 1.0)
  --seed N               seed of the sampler (default 0)
  --torch_dtype T        auto | float32 | float16 | bfloat16 (weights in memory; compute is float32)
`;

export async function runGenerate(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, {
    model: { type: "string" },
    prompt: { type: "string" },
    max_new_tokens: { type: "string" },
    do_sample: { type: "boolean" },
    temperature: { type: "string" },
    top_k: { type: "string" },
    top_p: { type: "string" },
    repetition_penalty: { type: "string" },
    seed: { type: "string" },
    torch_dtype: { type: "string" },
  });
  if (flags.model === undefined) throw new UsageError("--model DIR is required");
  if (flags.prompt === undefined) throw new UsageError("--prompt TEXT is required");
  const dir = flags.model as string;
  if (!existsSync(dir)) throw new CheckpointError(dir, "no such folder");
  const torch_dtype = (flags.torch_dtype as string | undefined) ?? "auto";
  if (!["auto", "float32", "float16", "bfloat16"].includes(torch_dtype))
    throw new UsageError(
      `--torch_dtype: expected auto, float32, float16 or bfloat16, got ${JSON.stringify(torch_dtype)}`,
    );

  const t0 = performance.now();
  process.stderr.write(`loading ${dir} ...\n`);
  const model = await LlamaForCausalLM.from_pretrained(dir, { torch_dtype: torch_dtype as any });
  const { tokenizer, source } = await loadTokenizerFor(dir, model.config.vocab_size);
  process.stderr.write(`loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s (tokenizer: ${source})\n`);

  const ids = tokenizer.encode(flags.prompt as string);
  const max_new_tokens = numberFlag(flags.max_new_tokens, "max_new_tokens", { integer: true, min: 1 }) ?? 20;
  const t1 = performance.now();
  const out = model.generate([ids], {
    max_new_tokens,
    do_sample: Boolean(flags.do_sample),
    temperature: numberFlag(flags.temperature, "temperature", { min: 0 }),
    top_k: numberFlag(flags.top_k, "top_k", { integer: true, min: 0 }),
    top_p: numberFlag(flags.top_p, "top_p", { min: 0, max: 1 }),
    repetition_penalty: numberFlag(flags.repetition_penalty, "repetition_penalty", { min: 0 }),
    seed: numberFlag(flags.seed, "seed", { integer: true }),
  });
  const row: number[] = out.tolist()[0];
  const seconds = (performance.now() - t1) / 1000;
  const generated = row.length - ids.length;
  process.stderr.write(
    `${generated} new tokens in ${seconds.toFixed(2)} s (${(generated / seconds).toFixed(2)} tokens/s)\n`,
  );
  process.stdout.write(tokenizer.decode(row, { skip_special_tokens: true }) + "\n");
}
