/**
 * The same attacks through the command line: each must exit with code 2 and a one-line typed error (the CLI's
 * contract for bad input) within the time bound, never hang or print an internal error.
 */
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Attack } from "../harness.ts";
import { TINY_CONFIG, fifo, tempDir, tinyTokenizerJson, tokenizerFolder } from "../fixtures.ts";

const BIN = fileURLToPath(new URL("../../../bin/llama-ts.mjs", import.meta.url));

/** Run the CLI; it must exit 2 with a stderr line matching `expected`. */
function cli(args: string[], expected: RegExp): void {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 50_000 });
  if (r.error) throw new Error(`the CLI did not finish: ${r.error.message}`);
  if (r.status !== 2 || !expected.test(r.stderr))
    throw new Error(`exit ${r.status} (expected 2), stderr: ${r.stderr.slice(0, 400)}`);
}

export const attacks: Attack[] = [
  {
    name: "inspect --model DIR whose config.json is a named pipe",
    run: () => {
      const dir = tempDir();
      fifo(join(dir, "config.json"));
      cli(["inspect", "--model", dir], /config\.json: a named pipe/);
    },
    error: null,
  },
  {
    name: "tokenize --tokenizer DIR whose tokenizer.json is a named pipe",
    run: () => {
      const dir = tokenizerFolder();
      rmSync(join(dir, "tokenizer.json"));
      fifo(join(dir, "tokenizer.json"));
      cli(["tokenize", "--tokenizer", dir, "--text", "ab"], /tokenizer\.json: a named pipe/);
    },
    error: null,
  },
  {
    name: "tokenize with a backtracking normalizer regex",
    run: () => {
      const json = tinyTokenizerJson() as Record<string, unknown>;
      json.normalizer = { type: "Replace", pattern: { Regex: "(a+)+(?=b)" }, content: "x" };
      cli(["tokenize", "--tokenizer", tokenizerFolder({}, json), "--text", "a".repeat(40)], /Regex: refused/);
    },
    error: null,
  },
  {
    name: "inspect --model DIR with num_hidden_layers 1e6 and no weights",
    run: () => {
      const dir = tempDir();
      writeFileSync(join(dir, "config.json"), JSON.stringify({ ...TINY_CONFIG, num_hidden_layers: 1e6 }));
      cli(["inspect", "--model", dir], /no model\.safetensors/);
    },
    error: null,
  },
];
