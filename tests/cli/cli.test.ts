/**
 * The llama-ts command line, run from its TypeScript source (tsx) as in development; the installed command
 * (bin/llama-ts.mjs on the compiled dist/) is run by the consumer test in .ci/consumer.sh.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const CLI = resolve(process.cwd(), "src/cli/main.ts");
const MODELS = resolve(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping CLI runs on reference checkpoints: ${MODELS} is absent`);

function run(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("llama-ts", () => {
  it("--help lists the commands; each command has --help", () => {
    const r = run("--help");
    expect(r.code).toBe(0);
    for (const c of ["start", "generate", "parity"]) expect(r.stdout).toContain(c);
    const g = run("generate", "--help");
    expect(g.code).toBe(0);
    expect(g.stdout).toContain("--model DIR");
    expect(g.stdout).toContain("--prompt TEXT");
  });

  it("bad input exits non-zero with a one-line reason", () => {
    for (const args of [
      ["bogus"],
      ["generate", "--prompt", "x"],
      ["generate", "--model", "/no/such/dir", "--prompt", "x"],
      ["start", "--max_new_tokens", "-3"],
      ["start", "--unknown-flag"],
    ]) {
      const r = run(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n").length, args.join(" ")).toBe(1);
      expect(r.stderr).toMatch(/^llama-ts: /);
    }
  });

  it("start runs the main job on the embedded default and says the weights are random", () => {
    const r = run("start", "--max_new_tokens", "3");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("RANDOM weights");
    // The seed doc's prompt, tokenized by the real Llama 2 tokenizer (ids checked against the reference corpus elsewhere).
    expect(r.stdout).toContain(
      "input_ids [1, 13]: [1, 18637, 29892, 526, 366, 19861, 29973, 1815, 366, 5193, 304, 592, 29973]",
    );
    expect(r.stdout).toContain("logits [1,13,32000]");
    expect(r.stdout).toMatch(/new ids: \[\d+, \d+, \d+\]/);
  });

  it.skipIf(!present)("generate runs an HF checkpoint folder and prints the decoded text on stdout", () => {
    const r = run(
      "generate",
      "--model",
      resolve(MODELS, "llama-vocab32000"),
      "--prompt",
      "Hello this is a test",
      "--max_new_tokens",
      "4",
    );
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("Hello this is a test")).toBe(true);
    expect(r.stderr).toContain("4 new tokens");
  });

  it.skipIf(!present)("generate refuses a folder whose vocabulary has no tokenizer", () => {
    const r = run("generate", "--model", resolve(MODELS, "llama-mha"), "--prompt", "x");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no tokenizer\.json or tokenizer\.model/);
  });
});
