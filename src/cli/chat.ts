/**
 * `llama-ts chat --model DIR|ID`: a multi-turn conversation on the terminal. Each line read from stdin is a user
 * turn; the whole conversation goes through the chat template (the tokenizer's, else Llama 2's [INST] format)
 * and the reply is streamed to stdout. `/reset` starts over (the system message stays), Ctrl-D (end of input)
 * or `/quit` ends. Works with piped input too, one user turn per line.
 */
import { createInterface } from "node:readline";
import { TextStreamer } from "../generation/streamers.ts";
import type { LlamaForCausalLM } from "../models/llama/modeling_llama.ts";
import type { TorchDType } from "../modeling_utils.ts";
import type { ChatMessage } from "../tokenization_chat.ts";
import { checkFolder, flagHelp, parseFlags, type FlagTable } from "./args.ts";
import { GENERATION_FLAGS, generationOptions } from "./generate.ts";
import { applyRuntimeFlags, loadModelFor, log, noTokenizer, RUNTIME_FLAGS, tokenizerFor } from "./load.ts";

const CHAT_FLAGS = {
  model: { type: "string", arg: "DIR|ID", required: true, help: "checkpoint folder or Hub id (org/name)" },
  tokenizer: { type: "string", arg: "DIR|ID", help: "tokenizer folder (default: the checkpoint's own)" },
  system: { type: "string", arg: "TEXT", help: "system message at the start of the conversation" },
  ...GENERATION_FLAGS,
  ...RUNTIME_FLAGS,
} satisfies FlagTable;

export const CHAT_HELP = `Chat with a Llama checkpoint on the terminal: type a message, the reply streams back.
/reset starts a new conversation, Ctrl-D or /quit ends. One user turn per line of input.

Usage: llama-ts chat --model DIR|ID [options]

${flagHelp(CHAT_FLAGS)}`;

export async function runChat(argv: string[]): Promise<void> {
  const flags = parseFlags("chat", argv, CHAT_FLAGS);
  checkFolder("model", flags.model!, { hubIds: true });
  if (flags.tokenizer !== undefined) checkFolder("tokenizer", flags.tokenizer, { hubIds: true });
  await applyRuntimeFlags(flags);
  const { model, config } = await loadModelFor<LlamaForCausalLM>(
    "chat",
    flags.model!,
    "ForCausalLM",
    (flags.torch_dtype ?? "auto") as TorchDType,
  );
  const { tokenizer, source } = await tokenizerFor(flags, config.vocab_size);
  if (tokenizer === null) throw noTokenizer(flags.model!, "chat");
  log(`tokenizer: ${source}`);

  const options = generationOptions(flags, { max_new_tokens: model.generation_config.max_new_tokens ?? 256 });
  const start: ChatMessage[] = flags.system !== undefined ? [{ role: "system", content: flags.system }] : [];
  let messages = [...start];
  const interactive = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, terminal: interactive });
  if (interactive) log("type a message; /reset starts over; Ctrl-D quits");
  const promptUser = () => interactive && process.stderr.write("> ");
  promptUser();
  for await (const line of rl) {
    const text = line.trim();
    if (text === "") {
      promptUser();
      continue;
    }
    if (text === "/quit" || text === "/exit") break;
    if (text === "/reset") {
      messages = [...start];
      log("(conversation reset)");
      promptUser();
      continue;
    }
    messages.push({ role: "user", content: text });
    const ids = tokenizer.apply_chat_template(messages, { add_generation_prompt: true }) as number[];
    const streamer = new TextStreamer(tokenizer, { skip_prompt: true, skip_special_tokens: true });
    const out: number[] = model.generate([ids], { ...options, streamer }).tolist()[0];
    const reply = tokenizer.decode(out.slice(ids.length), { skip_special_tokens: true });
    messages.push({ role: "assistant", content: reply.trim() });
    promptUser();
  }
  rl.close();
}
