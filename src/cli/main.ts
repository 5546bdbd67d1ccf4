/**
 * The `llama-ts` command line. Results go to stdout, progress and notes to stderr; exit code 0 on success,
 * 2 with a one-line reason on bad input (a LlamaError: bad flag, missing folder, malformed file), 1 on anything
 * else (a bug: the stack is printed).
 *
 * Each command is its own module, imported when the command runs: `llama-ts --help` loads this file only, and
 * `generate` never loads what `bench` needs (a peer tokenizer from devDependencies).
 */
import { readFileSync } from "node:fs";
import { LlamaError } from "../errors.ts";

/** What a command module provides: its --help text and its body. */
interface Command {
  help: string;
  run(argv: string[]): Promise<void>;
}

/** The dispatch table: name -> one-line summary, and how to load the command. Add one entry per command. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  start: {
    summary: "Run the main job: tokenize, forward, generate, printing each stage",
    load: async () => {
      const m = await import("./start.ts");
      return { help: m.START_HELP, run: m.runStart };
    },
  },
  generate: {
    summary: "Generate text with a checkpoint, streamed to stdout",
    load: async () => {
      const m = await import("./generate.ts");
      return { help: m.GENERATE_HELP, run: m.runGenerate };
    },
  },
  chat: {
    summary: "Chat with a checkpoint on the terminal (Llama 2 chat format)",
    load: async () => {
      const m = await import("./chat.ts");
      return { help: m.CHAT_HELP, run: m.runChat };
    },
  },
  tokenize: {
    summary: "Print the ids and pieces of a text, or decode ids",
    load: async () => {
      const m = await import("./tokenize.ts");
      return { help: m.TOKENIZE_HELP, run: m.runTokenize };
    },
  },
  inspect: {
    summary: "Print a checkpoint's config, parameter counts per module and dtype, and memory",
    load: async () => {
      const m = await import("./inspect.ts");
      return { help: m.INSPECT_HELP, run: m.runInspect };
    },
  },
  parity: {
    summary: "Measure llama-ts against HF transformers' own outputs on reference checkpoints",
    load: async () => {
      const m = await import("./parity.ts");
      return { help: m.PARITY_HELP, run: m.runParity };
    },
  },
  bench: {
    summary: "Benchmark tokenizer and model throughput against peers",
    load: async () => {
      const m = await import("./bench.ts");
      return { help: m.BENCH_HELP, run: m.runBench };
    },
  },
  golden: {
    summary: "Write golden fixtures (checkpoint, every module's inputs and outputs) for another port",
    load: async () => {
      const m = await import("./golden.ts");
      return { help: m.GOLDEN_HELP, run: m.runGolden };
    },
  },
  verify: {
    summary: "Compare another port's outputs with golden fixtures, tensor by tensor",
    load: async () => {
      const m = await import("./verify.ts");
      return { help: m.VERIFY_HELP, run: m.runVerify };
    },
  },
  env: {
    summary: "Print the compute backend, worker threads and SIMD support this machine gets",
    load: async () => {
      const m = await import("./env.ts");
      return { help: m.ENV_HELP, run: m.runEnv };
    },
  },
  "export-gguf": {
    summary: "Write a checkpoint as a GGUF v3 file llama.cpp loads",
    load: async () => {
      const m = await import("./export_gguf.ts");
      return { help: m.EXPORT_GGUF_HELP, run: m.runExportGguf };
    },
  },
  convert_llama_weights_to_hf: {
    summary: "Convert Meta's original checkpoint (params.json, consolidated.*.pth) to an HF folder",
    load: async () => {
      const m = await import("./convert_llama_weights.ts");
      return { help: m.CONVERT_TO_HF_HELP, run: m.runConvertToHf };
    },
  },
  convert_hf_to_llama_weights: {
    summary: "Write an HF Llama folder in Meta's original layout (params.json, consolidated.00.pth)",
    load: async () => {
      const m = await import("./convert_llama_weights.ts");
      return { help: m.CONVERT_TO_META_HELP, run: m.runConvertToMeta };
    },
  },
};

const NAME_WIDTH = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
const MAIN_HELP = `llama-ts: a TypeScript reference implementation of Hugging Face transformers' Llama

Usage: llama-ts <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(NAME_WIDTH)}  ${c.summary}`)
  .join("\n")}

  ${"--version".padEnd(NAME_WIDTH)}  print the version
  ${"--help".padEnd(NAME_WIDTH)}  this list; "llama-ts <command> --help" lists a command's options
`;

function version(): string {
  // src/cli/main.ts and dist/cli/main.js both sit two folders below package.json.
  return JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
}

/** Run one command line; returns the exit code. Errors are printed as one line naming the command. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(MAIN_HELP);
    return 0;
  }
  if (command === "--version" || command === "-v") {
    process.stdout.write(`llama-ts ${version()}\n`);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!entry) {
    process.stderr.write(`llama-ts: unknown command ${JSON.stringify(command)} (see llama-ts --help)\n`);
    return 2;
  }
  try {
    const cmd = await entry.load();
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(cmd.help);
      return 0;
    }
    await cmd.run(rest);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    // Typed errors are the user's input problem: one line. Anything else is a bug: the stack.
    if (e instanceof LlamaError) {
      process.stderr.write(`llama-ts ${command}: ${e.message.split("\n")[0]}\n`);
      return 2;
    }
    process.stderr.write(`llama-ts ${command}: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && /cli[\\/]main\.[jt]s$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
