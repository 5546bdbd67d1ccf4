/**
 * golden/README.md's examples run as written: the TypeScript consumer (imports mapped to this checkout's source)
 * and the numpy-only Python reader (when python3 with numpy is installed; skipped with a note otherwise).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = process.cwd();
const readme = readFileSync(join(ROOT, "golden/README.md"), "utf8");
const blocks = (lang: string) => [...readme.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
const python = spawnSync("python3", ["-c", "import numpy"], { encoding: "utf8" });
const hasNumpy = python.status === 0;
if (!hasNumpy) console.warn("skipping golden/README.md's Python example: python3 with numpy is not installed");

describe("golden/README.md examples", () => {
  it("the TypeScript consumer replays golden/gqa and passes", async () => {
    const [code] = blocks("ts");
    const src = code
      .replaceAll('"llama-ts/golden"', JSON.stringify(resolve(ROOT, "src/golden/index.ts")))
      .replaceAll('"llama-ts"', JSON.stringify(resolve(ROOT, "src/index.ts")));
    const file = join(mkdtempSync(join(tmpdir(), "golden-readme-")), "consumer.mts");
    writeFileSync(file, src);
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const log = console.log;
    process.stdout.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stdout.write;
    console.log = (...a: unknown[]) => void lines.push(a.map(String).join(" "));
    try {
      await import(pathToFileURL(file).href);
    } finally {
      process.stdout.write = write;
      console.log = log;
    }
    expect(lines.join("\n")).toMatch(/PASS/);
    expect(lines.join("\n")).toMatch(/1,7,256/);
  }, 60_000);

  it.skipIf(!hasNumpy)("the numpy-only Python reader loads the fixtures and checks them", () => {
    const code = blocks("python").find((b) => b.includes("load_safetensors"))!;
    const r = spawnSync("python3", ["-c", code], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").pop()).toBe("True");
  });
});
