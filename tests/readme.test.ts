/**
 * README runs as written: every ```ts block is executed (imports of "llama-ts" mapped to this checkout's source,
 * each `expr; // => value` comment checked as deepStrictEqual), and every command of every ```sh block is run.
 *
 * Substitution, stated: the README names meta-llama/Llama-2-7b-hf and Llama-2-7b-chat-hf. Here those Hub ids
 * resolve, offline (HF_HUB_OFFLINE=1, nothing listening at HF_ENDPOINT), from a Hugging Face cache built in a
 * temporary HF_HOME whose snapshots hold the reference checkpoint llama-vocab32000 (Llama 2's vocabulary, tiny
 * random weights) with the real Llama 2 tokenizer files. Shapes and token ids are the 7B model's; generated text
 * is not.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.ts";

const ROOT = process.cwd();
const REF = resolve(ROOT, "../shared/reference");
const present = existsSync(join(REF, "models", "llama-vocab32000")) && existsSync(join(REF, "tokenizer"));
if (!present) console.warn(`skipping README blocks: ${REF} is absent (they run against its checkpoints)`);

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const blocks = [...readme.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)].map((m, i) => ({
  i,
  lang: m[1],
  code: m[2],
  line: readme.slice(0, m.index).split("\n").length,
}));

const home = mkdtempSync(join(tmpdir(), "llama-ts-readme-"));
// Inside node_modules (ignored by git) so that the blocks resolve their own imports (fast-check) from here.
const scratch = join(ROOT, "node_modules", ".cache", "llama-ts-readme");
afterAll(() => rmSync(home, { recursive: true, force: true }));

function fillCache() {
  const COMMIT = "0123456789abcdef0123456789abcdef01234567";
  for (const name of ["Llama-2-7b-hf", "Llama-2-7b-chat-hf"]) {
    const repo = join(home, "hub", `models--meta-llama--${name}`);
    const snap = join(repo, "snapshots", COMMIT);
    mkdirSync(snap, { recursive: true });
    mkdirSync(join(repo, "refs"), { recursive: true });
    writeFileSync(join(repo, "refs", "main"), COMMIT);
    for (const f of ["config.json", "model.safetensors"])
      copyFileSync(join(REF, "models", "llama-vocab32000", f), join(snap, f));
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(REF, "tokenizer", f), join(snap, f));
    copyFileSync(join(REF, "tokenizer.model"), join(snap, "tokenizer.model"));
  }
}

const env = () => ({
  ...process.env,
  HF_HOME: home,
  HF_HUB_CACHE: "",
  HF_HUB_OFFLINE: "1",
  HF_ENDPOINT: "http://127.0.0.1:9",
});

/** A ts block as a module: imports of the package mapped to the source, `// => value` lines turned into checks. */
function toModule(code: string): string {
  const body = code
    .replace(/from "llama-ts"/g, `from ${JSON.stringify(join(ROOT, "src", "index.ts"))}`)
    .replace(/from "llama-ts\/(\w+)"/g, (_, sub) => `from ${JSON.stringify(join(ROOT, "src", sub, "index.ts"))}`)
    .split("\n")
    .map((line) => {
      const m = /^(\s*)(.+?);\s*\/\/ => (.+)$/.exec(line);
      return m ? `${m[1]}__expect(${m[2]}, ${m[3]}, ${JSON.stringify(m[2])});` : line;
    })
    .join("\n");
  return (
    `import { deepStrictEqual as __eq } from "node:assert";\n` +
    `const __expect = (actual: unknown, expected: unknown, what: string) => __eq(actual, expected, what);\n` +
    body
  );
}

/** `llama-ts ...args` through main(), with the README's environment, output captured. */
async function runInProcess(args: string[]): Promise<{ status: number; stderr: string }> {
  const saved = { ...process.env };
  Object.assign(process.env, env());
  delete process.env.HF_HUB_CACHE;
  let stderr = "";
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = (() => true) as typeof out;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof err;
  try {
    return { status: await main(args), stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** What the test does with each command line of the sh blocks that is not `npx llama-ts ...`. */
const OTHER_COMMANDS: Record<string, string[] | string> = {
  // npm install needs the registry; the install is this checkout. npm start is `llama-ts start`.
  "npm install && npm start": ["start"],
  "npm test": "skipped: this test is part of npm test",
};

describe.skipIf(!present)("README", () => {
  it("has ts and sh blocks to run", () => {
    expect(blocks.filter((b) => b.lang === "ts").length).toBeGreaterThanOrEqual(4);
    expect(blocks.filter((b) => b.lang === "sh").length).toBeGreaterThanOrEqual(2);
    for (const b of blocks) expect(["ts", "sh", ""], `README line ${b.line}`).toContain(b.lang);
  });

  // A hook, not a call: vitest runs a skipped describe's body too, and the reference may be absent.
  beforeAll(fillCache);
  for (const b of blocks.filter((x) => x.lang === "ts")) {
    it(`ts block at README line ${b.line} runs and its // => values hold`, () => {
      mkdirSync(scratch, { recursive: true });
      const file = join(scratch, `block-${b.line}.mts`);
      writeFileSync(file, toModule(b.code));
      const r = spawnSync(process.execPath, ["--import", "tsx", file], {
        encoding: "utf8",
        env: env(),
        timeout: 300_000,
      });
      expect(r.status, `README line ${b.line}:\n${r.stderr}`).toBe(0);
    });
  }

  for (const b of blocks.filter((x) => x.lang === "sh")) {
    it(`sh block at README line ${b.line}: every command exits 0`, async () => {
      for (const raw of b.code.split("\n")) {
        const line = raw.replace(/\s+#.*$/, "").trim();
        if (line === "") continue;
        let args: string[];
        if (line.startsWith("npx llama-ts")) {
          // Shell words as bash splits them (the README's quotes).
          const w = spawnSync("bash", ["-c", `printf '%s\\0' ${line.slice("npx llama-ts".length)}`], {
            encoding: "utf8",
          });
          args = w.stdout.split("\0").slice(0, -1);
        } else {
          const other = OTHER_COMMANDS[line];
          expect(other, `README line ${b.line}: "${line}" is neither npx llama-ts nor a known command`).toBeDefined();
          if (typeof other === "string") {
            console.log(`README "${line}": ${other}`);
            continue;
          }
          args = other;
        }
        // chat reads the terminal: a process of its own with scripted input; the rest run in this process.
        const r =
          args[0] === "chat"
            ? spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src", "cli", "main.ts"), ...args], {
                encoding: "utf8",
                env: env(),
                input: "Hello\n/reset\nHi\n",
                timeout: 300_000,
              })
            : await runInProcess(args);
        expect(r.status, `${line}\n${r.stderr}`).toBe(0);
      }
    });
  }
});
