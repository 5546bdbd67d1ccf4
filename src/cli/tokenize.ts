/**
 * `llama-ts tokenize (--model DIR|ID | --tokenizer DIR|ID) (--text TEXT | --decode 1,2,3)`: the ids and pieces of
 * a text as the checkpoint's tokenizer (AutoTokenizer) makes them, or the text of ids.
 */
import { checkFolder, flagHelp, parseFlags, UsageError, type FlagTable } from "./args.ts";
import { log, noTokenizer, tokenizerFor } from "./load.ts";

const TOKENIZE_FLAGS = {
  model: { type: "string", arg: "DIR|ID", help: "checkpoint folder or Hub id whose tokenizer to use" },
  tokenizer: { type: "string", arg: "DIR|ID", help: "tokenizer folder or Hub id (instead of --model)" },
  text: { type: "string", arg: "TEXT", help: "text to tokenize" },
  decode: { type: "ids", arg: "1,2,3", help: "ids to decode instead" },
  no_special_tokens: {
    type: "boolean",
    help: "do not add BOS (add_special_tokens: false) / skip specials when decoding",
  },
  json: { type: "boolean", help: "print one JSON object instead of the table" },
} satisfies FlagTable;

export const TOKENIZE_HELP = `Print the token ids and pieces of a text, or decode ids.

Usage: llama-ts tokenize (--model DIR|ID | --tokenizer DIR|ID) (--text TEXT | --decode 1,2,3) [options]

${flagHelp(TOKENIZE_FLAGS)}`;

export async function runTokenize(argv: string[]): Promise<void> {
  const flags = parseFlags("tokenize", argv, TOKENIZE_FLAGS);
  if ((flags.model === undefined) === (flags.tokenizer === undefined))
    throw new UsageError("--model: give either --model DIR or --tokenizer DIR");
  if ((flags.text === undefined) === (flags.decode === undefined))
    throw new UsageError("--text: give either --text TEXT or --decode 1,2,3");
  if (flags.model !== undefined) checkFolder("model", flags.model, { hubIds: true });
  if (flags.tokenizer !== undefined) checkFolder("tokenizer", flags.tokenizer, { hubIds: true });

  let vocab_size: number | null = null;
  if (flags.model !== undefined) {
    const { AutoConfig } = await import("../models/auto/configuration_auto.ts");
    vocab_size = (await AutoConfig.from_pretrained(flags.model)).vocab_size;
  }
  const { tokenizer, source } = await tokenizerFor(flags, vocab_size);
  if (tokenizer === null) throw noTokenizer(flags.model!, "tokenize");
  log(`tokenizer: ${source}`);
  const out = (s: string) => process.stdout.write(s + "\n");
  if (flags.decode !== undefined) {
    const text = tokenizer.decode(flags.decode, { skip_special_tokens: flags.no_special_tokens ?? false });
    if (flags.json) out(JSON.stringify({ ids: flags.decode, text }));
    else out(text);
    return;
  }
  const ids = tokenizer.encode(flags.text!, { add_special_tokens: !flags.no_special_tokens });
  const pieces = tokenizer.convert_ids_to_tokens(ids) as string[];
  if (flags.json) {
    out(JSON.stringify({ ids, tokens: pieces }));
    return;
  }
  out(`input_ids (${ids.length}): [${ids.join(", ")}]`);
  const w = Math.max(2, ...ids.map((i) => String(i).length));
  for (let i = 0; i < ids.length; i++) out(`${String(ids[i]).padStart(w)}  ${JSON.stringify(pieces[i])}`);
}
