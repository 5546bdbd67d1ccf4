/**
 * `npm start` / `llama-ts start`: the main job on the embedded default, every stage printed.
 *
 * Without --model: the real Llama 2 tokenizer (embedded in data/, see data/README.md) and a tiny
 * LlamaForCausalLM with the real 32,000-token vocabulary but RANDOM weights (seeded, so every run prints the
 * same numbers). With --model DIR: the checkpoint and tokenizer of that folder.
 */
import { LlamaConfig } from "../models/llama/configuration_llama.ts";
import { LlamaForCausalLM } from "../models/llama/modeling_llama.ts";
import { softmaxRows } from "../ops/softmax.ts";
import { loadDefaultTokenizer } from "../models/llama/default_tokenizer.ts";
import type { PreTrainedTokenizerBase } from "../tokenization_utils_base.ts";
import { checkFolder, flagHelp, parseFlags, type FlagTable } from "./args.ts";
import { loadModelFor, noTokenizer, tokenizerFor } from "./load.ts";

const START_FLAGS = {
  model: {
    type: "string",
    arg: "DIR|ID",
    help: "a Llama checkpoint folder or Hub id (default: a tiny seeded model with RANDOM weights and Llama 2's vocabulary)",
  },
  tokenizer: { type: "string", arg: "DIR|ID", help: "tokenizer folder (default: the checkpoint's own)" },
  prompt: {
    type: "string",
    arg: "TEXT",
    help: 'default: "Hey, are you conscious? Can you talk to me?" (HF\'s Llama example)',
  },
  max_new_tokens: { type: "int", min: 1, help: "greedy steps (default 8)" },
  seed: { type: "int", help: "seed of the random weights (default 0)" },
} satisfies FlagTable;

export const START_HELP = `Run the main job: tokenize a prompt, run a forward pass, generate a few tokens, printing each stage.

Usage: llama-ts start [options]

${flagHelp(START_FLAGS)}`;

/** The embedded default: Llama 2's vocabulary and special ids, a few small layers. */
export function tinyDefaultConfig(): LlamaConfig {
  return new LlamaConfig({
    vocab_size: 32000,
    hidden_size: 64,
    intermediate_size: 172,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 256,
    bos_token_id: 1,
    eos_token_id: 2,
  });
}

export async function runStart(argv: string[]): Promise<void> {
  const flags = parseFlags("start", argv, START_FLAGS);
  if (flags.model !== undefined) checkFolder("model", flags.model, { hubIds: true });
  if (flags.tokenizer !== undefined) checkFolder("tokenizer", flags.tokenizer, { hubIds: true });
  const prompt = flags.prompt ?? "Hey, are you conscious? Can you talk to me?";
  const max_new_tokens = flags.max_new_tokens ?? 8;
  const seed = flags.seed ?? 0;
  const out = (s = "") => process.stdout.write(s + "\n");

  let model: LlamaForCausalLM;
  let tokenizer: PreTrainedTokenizerBase;
  let tokenizerSource: string;
  if (flags.model !== undefined) {
    ({ model } = await loadModelFor<LlamaForCausalLM>("start", flags.model, "ForCausalLM", "auto"));
    const t = await tokenizerFor(flags, model.config.vocab_size);
    if (t.tokenizer === null) throw noTokenizer(flags.model, "start");
    ({ tokenizer, source: tokenizerSource } = t as { tokenizer: PreTrainedTokenizerBase; source: string });
    out(`model: ${flags.model} (weights from the checkpoint)`);
  } else {
    tokenizer = loadDefaultTokenizer() as unknown as PreTrainedTokenizerBase;
    tokenizerSource = "embedded Llama 2 tokenizer (no download)";
    model = new LlamaForCausalLM(tinyDefaultConfig(), { seed });
    out("NOTE: this model has RANDOM weights (seeded, not trained): the numbers below show the pipeline,");
    out("      not language. Pass --model DIR with a real HF Llama checkpoint folder for real text.");
  }
  const c = model.config;
  const nParams = model.named_parameters().reduce((n, [, t]) => n + t.size, 0);
  out();
  out("1. tokenizer");
  out(`   source: ${tokenizerSource}`);
  out(`   prompt: ${JSON.stringify(prompt)}`);
  const ids = tokenizer.encode(prompt);
  out(`   input_ids [1, ${ids.length}]: [${ids.join(", ")}]`);
  out(`   tokens: ${JSON.stringify(tokenizer.convert_ids_to_tokens(ids))}`);
  out();
  out("2. model");
  out(
    `   LlamaForCausalLM: vocab ${c.vocab_size}, hidden ${c.hidden_size}, ${c.num_hidden_layers} layers, ${c.num_attention_heads} heads (${c.num_key_value_heads} kv heads, head_dim ${c.head_dim}), intermediate ${c.intermediate_size}`,
  );
  out(`   parameters: ${nParams.toLocaleString("en-US")}`);
  out();
  out("3. forward");
  const t0 = performance.now();
  const res = model.forward({ input_ids: [ids], use_cache: false, output_hidden_states: true });
  const ms = performance.now() - t0;
  out(
    `   logits ${JSON.stringify(res.logits.shape)}, hidden_states ${res.hidden_states!.length} x ${JSON.stringify(res.hidden_states![0].shape)} (${ms.toFixed(1)} ms)`,
  );
  const V = c.vocab_size;
  const last = res.logits.toFloat32().subarray((ids.length - 1) * V, ids.length * V);
  const probs = softmaxRows(new Float32Array(V), last, 1, V);
  const top = Array.from(probs.keys())
    .sort((a, b) => probs[b] - probs[a])
    .slice(0, 5);
  out("   top next tokens:");
  for (const id of top)
    out(
      `     ${String(id).padStart(6)} ${JSON.stringify(tokenizer.convert_ids_to_tokens([id])[0]).padEnd(18)} p=${probs[id].toExponential(4)} logit=${last[id].toFixed(4)}`,
    );
  out();
  out(`4. generate (greedy, ${max_new_tokens} new tokens, KV cache)`);
  const t1 = performance.now();
  const gen: number[] = model.generate([ids], { max_new_tokens, do_sample: false }).tolist()[0];
  const gs = (performance.now() - t1) / 1000;
  out(`   new ids: [${gen.slice(ids.length).join(", ")}] (${((gen.length - ids.length) / gs).toFixed(1)} tokens/s)`);
  out(`   text: ${JSON.stringify(tokenizer.decode(gen, { skip_special_tokens: true }))}`);
}
