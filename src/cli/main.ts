/**
 * The `llama-ts` command line. Results go to stdout, progress and notes to stderr; exit code 0 on success,
 * 2 with a one-line reason on bad input (a LlamaError), 1 on anything else.
 *
 *   llama-ts start [--model DIR]                      the main job: tokenize, forward, generate, step by step
 *   llama-ts generate --model DIR --prompt TEXT ...   generate text with any HF Llama checkpoint folder
 */
import { LlamaError } from "../errors.ts";
import { runBench, BENCH_HELP } from "./bench.ts";
import { CONVERT_TO_HF_HELP, CONVERT_TO_META_HELP, runConvertToHf, runConvertToMeta } from "./convert_llama_weights.ts";
import { runGenerate, GENERATE_HELP } from "./generate.ts";
import { runParity, PARITY_HELP } from "./parity.ts";
import { runStart, START_HELP } from "./start.ts";

const COMMANDS: Record<string, { help: string; run: (argv: string[]) => Promise<void> }> = {
  start: { help: START_HELP, run: runStart },
  generate: { help: GENERATE_HELP, run: runGenerate },
  parity: { help: PARITY_HELP, run: runParity },
  bench: { help: BENCH_HELP, run: runBench },
  convert_llama_weights_to_hf: { help: CONVERT_TO_HF_HELP, run: runConvertToHf },
  convert_hf_to_llama_weights: { help: CONVERT_TO_META_HELP, run: runConvertToMeta },
};

const MAIN_HELP = `llama-ts: a TypeScript reference implementation of Hugging Face transformers' Llama

Usage: llama-ts <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(
    ([name, c]) =>
      `  ${name.padEnd(Math.max(...Object.keys(COMMANDS).map((n) => n.length)))}  ${c.help.split("\n")[0]}`,
  )
  .join("\n")}

Run "llama-ts <command> --help" for a command's options.
`;

/** Run one command line; returns the exit code (bin/llama-ts.mjs calls it on the compiled CLI). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(MAIN_HELP);
    return 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`llama-ts: unknown command "${command}" (try --help)\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(entry.help);
    return 0;
  }
  try {
    await entry.run(rest);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof LlamaError) {
      process.stderr.write(`llama-ts: ${e.message.split("\n")[0]}\n`);
      return 2;
    }
    process.stderr.write(`llama-ts: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && /cli[\\/]main\.[jt]s$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
