/**
 * The llama-ts command line, run as a user runs it. Most runs go through `node --import tsx src/cli/main.ts`
 * (one process; bin/llama-ts.mjs adds a launcher around the same file, run once below).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.ts";
import { LlamaForCausalLM, LlamaTokenizerFast, loadDefaultTokenizer } from "../../src/index.ts";

const ROOT = process.cwd();
const BIN = resolve(ROOT, "bin/llama-ts.mjs");
const MAIN = resolve(ROOT, "src/cli/main.ts");
const REF = resolve(ROOT, "../shared/reference");
const MODELS = join(REF, "models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping CLI runs on reference checkpoints: ${MODELS} is absent`);

/** A command line in a separate process (what a user runs). */
function spawnRun(args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], {
    encoding: "utf8",
    timeout: 120_000,
    input: opts.input,
    env: { ...process.env, ...opts.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A command line in this process (main() returns the exit code instead of exiting): output captured, much faster
 * than a process per case.
 */
async function run(args: string[]) {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof out;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof err;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

const tmp = mkdtempSync(join(tmpdir(), "llama-ts-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// A folder whose config.json cannot be parsed: a command that reads it before checking its flags reports a
// config error, so every bad-flag case below proves the flags were checked first.
const GARBAGE = join(tmp, "garbage");
spawnSync("mkdir", ["-p", GARBAGE]);
writeFileSync(join(GARBAGE, "config.json"), "{ not json");

describe("llama-ts", () => {
  it("--help lists the commands; each command has --help; --version prints package.json's version", async () => {
    const r = spawnSync(process.execPath, [BIN, "--help"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    for (const c of ["start", "generate", "chat", "tokenize", "inspect", "parity", "bench"])
      expect(r.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
    const g = await run(["generate", "--help"]);
    expect(g.code).toBe(0);
    for (const f of ["--model DIR|ID", "--prompt TEXT", "--input_ids 1,2,3", "--tokenizer", "--backend", "--threads"])
      expect(g.stdout).toContain(f);
    for (const c of ["chat", "tokenize", "inspect", "parity", "start"])
      expect((await run([c, "--help"])).stdout).toContain("Usage");
    const v = spawnRun(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(`llama-ts ${JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version}`);
  });

  it("--help and generate load no devDependency; bench (which has a peer in devDependencies) does, so the check can fail", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const dev = Object.keys(pkg.devDependencies ?? {});
    const loaded = (args: string[]) => {
      const log = join(tmp, `imports-${args[0]}-${args.length}.log`);
      writeFileSync(log, "");
      const r = spawnSync(process.execPath, [BIN, ...args], {
        encoding: "utf8",
        env: {
          ...process.env,
          LLAMA_TS_IMPORT_LOG: log,
          NODE_OPTIONS: `--import=${resolve(ROOT, "tests/cli/record_imports.mjs")}`,
        },
      });
      expect(r.status, r.stderr).toBe(0);
      const urls = readFileSync(log, "utf8").split("\n").filter(Boolean);
      expect(urls.some((u) => u.endsWith("/src/cli/main.ts") || u.endsWith("/cli/main.js"))).toBe(true);
      return dev.filter((d) => urls.some((u) => u.includes(`/node_modules/${d}/`)));
    };
    expect(loaded(["--help"])).toEqual([]);
    expect(loaded(["generate", "--help"])).toEqual([]);
    if (present)
      expect(
        loaded(["generate", "--model", join(MODELS, "llama-mha"), "--input_ids", "1,2", "--max_new_tokens", "2"]),
      ).toEqual([]);
    expect(loaded(["bench", "--help"])).toContain("@huggingface/tokenizers");
  });

  it("every bad flag exits 2 with one line naming it, before any file is read", async () => {
    const cases: [string[], RegExp][] = [
      [["bogus"], /^llama-ts: unknown command "bogus"/],
      [["generate", "--prompt", "x"], /--model: required/],
      [
        ["generate", "--model", GARBAGE, "--prompt", "x", "--max_new_tokens", "abc"],
        /--max_new_tokens: expected an integer >= 1, got "abc"/,
      ],
      [
        ["generate", "--model", GARBAGE, "--prompt", "x", "--max_new_tokens", "-3"],
        /--max_new_tokens: expected an integer >= 1, got "-3"/,
      ],
      [
        ["generate", "--model", GARBAGE, "--prompt", "x", "--temperature", "-1"],
        /--temperature: expected a number > 0, got "-1"/,
      ],
      [["generate", "--model", GARBAGE, "--prompt", "x", "--top_p", "1.5"], /--top_p: expected a number >= 0 and <= 1/],
      [["generate", "--model", GARBAGE, "--input_ids", "1,x,3"], /--input_ids: expected comma-separated token ids/],
      [
        ["generate", "--model", GARBAGE, "--prompt", "x", "--torch_dtype", "float64"],
        /--torch_dtype: expected one of auto/,
      ],
      [["generate", "--model", GARBAGE], /give either --prompt TEXT or --input_ids/],
      [
        ["generate", "--model", GARBAGE, "--prompt", "x", "--backend", "nope"],
        /--backend: expected one of auto, wasm-simd, blocked-js, reference, got "nope"/,
      ],
      [["generate", "--model", GARBAGE, "--prompt", "x", "--threads", "0"], /--threads: expected an integer >= 1/],
      [["generate", "--model", GARBAGE, "--prompt", "x", "--frobnicate"], /--frobnicate: unknown option/],
      [["generate", "--model", GARBAGE, "--prompt"], /--prompt: expected a value/],
      [["generate", "--model", GARBAGE, "--prompt", "x", "--system", "s"], /--system: only with --chat/],
      [["chat", "--model", GARBAGE, "--top_k", "-1"], /--top_k: expected an integer >= 0, got "-1"/],
      [["tokenize", "--model", GARBAGE, "--text", "x", "--decode", "1"], /give either --text TEXT or --decode/],
      [["tokenize", "--text", "x"], /give either --model DIR or --tokenizer DIR/],
      [["inspect"], /--model: required/],
      [["start", "--max_new_tokens", "-3"], /--max_new_tokens: expected an integer >= 1, got "-3"/],
      [["start", "--unknown-flag"], /--unknown-flag: unknown option/],
      [["parity", "--models", "/no/such/dir"], /--models: no such folder/],
      [["parity"], /--reference: required/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.stderr, args.join(" ")).toMatch(/^llama-ts( [a-z]+)?: /);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stderr, args.join(" ")).not.toMatch(/loading|config\.json/);
    }
  });

  it("a missing folder gets the same message in every command", async () => {
    const messages = new Set<string>();
    for (const args of [["generate", "--prompt", "x"], ["chat"], ["tokenize", "--text", "x"], ["inspect"], ["start"]]) {
      const r = await run([...args, "--model", "/no/such/dir"]);
      expect(r.code).toBe(2);
      messages.add(r.stderr.replace(/^llama-ts [a-z]+: /, ""));
    }
    expect([...messages]).toEqual(['--model: no such folder "/no/such/dir"\n']);
  });

  it("start runs the main job on the embedded default and says the weights are random", async () => {
    const r = await run(["start", "--max_new_tokens", "3"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("RANDOM weights");
    // HF's Llama example prompt, tokenized by the real Llama 2 tokenizer (ids checked against the reference corpus elsewhere).
    expect(r.stdout).toContain(
      "input_ids [1, 13]: [1, 18637, 29892, 526, 366, 19861, 29973, 1815, 366, 5193, 304, 592, 29973]",
    );
    expect(r.stdout).toContain("logits [1,13,32000]");
    expect(r.stdout).toMatch(/new ids: \[\d+, \d+, \d+\]/);
  });

  it.skipIf(!present)("a checkpoint whose head does not fit the command is named by its architecture", async () => {
    for (const args of [["start"], ["generate", "--input_ids", "1,2"], ["chat"]]) {
      const r = await run([...args, "--model", join(MODELS, "llama-cls")]);
      expect(r.code, args[0]).toBe(2);
      expect(r.stderr, args[0]).toMatch(
        /the checkpoint is a LlamaForSequenceClassification; \w+ needs a LlamaForCausalLM/,
      );
    }
    const s = await run(["start", "--model", join(MODELS, "llama-vocab32000"), "--max_new_tokens", "2"]);
    expect(s.code).toBe(0);
    expect(s.stdout).toContain("(weights from the checkpoint)");
    expect(s.stdout).not.toContain("trained");
  });

  it.skipIf(!present)(
    "generate --input_ids reproduces HF's greedy ids on a checkpoint without a tokenizer",
    async () => {
      const cases = JSON.parse(readFileSync(join(MODELS, "llama-mha", "cases.json"), "utf8")).cases;
      const c = cases.find((x: { name: string }) => x.name === "greedy_generate");
      const r = await run([
        "generate",
        "--model",
        join(MODELS, "llama-mha"),
        "--input_ids",
        c.inputs.prompt_ids[0].join(","),
        "--max_new_tokens",
        String(c.inputs.max_new_tokens),
        "--backend",
        "reference",
        "--threads",
        "1",
        "--seed",
        "-5",
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(c.expected_json.generated_ids[0].join(", "));
      expect(r.stderr).toMatch(/prompt: 5 tokens in [\d.]+ s \([\d.]+ tokens\/s/);
      expect(r.stderr).toMatch(/generated: 12 tokens, [\d.]+ tokens\/s/);
    },
  );

  it.skipIf(!present)(
    "generate --num_beams / --num_return_sequences / --no_repeat_ngram_size give HF's generate() ids",
    async () => {
      const dir = join(MODELS, "llama-gqa");
      const cases = JSON.parse(readFileSync(join(dir, "generate_cases.json"), "utf8")).cases;
      const beam = cases.find((x: { name: string }) => x.name === "beam4_return4_scores");
      const r = await run([
        "generate",
        "--model",
        dir,
        "--input_ids",
        beam.inputs.input_ids[0].join(","),
        "--max_new_tokens",
        "8",
        "--num_beams",
        "4",
        "--num_return_sequences",
        "4",
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n")).toEqual(beam.expected.sequences.map((row: number[]) => row.join(", ")));
      const ngram = cases.find((x: { name: string }) => x.name === "no_repeat_ngram_2");
      const g = await run([
        "generate",
        "--model",
        dir,
        "--input_ids",
        ngram.inputs.input_ids[0].join(","),
        "--max_new_tokens",
        "16",
        "--no_repeat_ngram_size",
        "2",
      ]);
      expect(g.code, g.stderr).toBe(0);
      // streamed: the prompt's ids, then the new ones
      expect(g.stdout.trim()).toBe(ngram.expected.sequences[0].join(", "));
    },
  );

  it.skipIf(!present)("generate streams the text to stdout as tokens come: HF generate()'s ids, decoded", async () => {
    const dir = join(MODELS, "llama-vocab32000");
    const hf = JSON.parse(readFileSync(join(dir, "generate_cases.json"), "utf8")).cases.find(
      (c: { name: string }) => c.name === "greedy_text",
    );
    const args = [
      ...["--import", "tsx", MAIN, "generate", "--model", dir],
      ...["--prompt", "The quick brown fox", "--max_new_tokens", String(hf.kwargs.max_new_tokens)],
    ];
    const child = spawn(process.execPath, args);
    const chunks: string[] = [];
    let stderr = "";
    let chunksBeforeReport = -1;
    child.stdout.on("data", (d) => chunks.push(String(d)));
    child.stderr.on("data", (d) => {
      stderr += String(d);
      if (chunksBeforeReport < 0 && stderr.includes("generated:")) chunksBeforeReport = chunks.length;
    });
    const code = await new Promise((r) => child.on("close", r));
    expect(code, stderr).toBe(0);
    // Written piece by piece while generating (not once at the end): several chunks before the final report.
    expect(chunksBeforeReport).toBeGreaterThan(3);
    // The text is HF 4.44.2's greedy sequence for this prompt (reference file), decoded as HF's batch_decode.
    const tok = loadDefaultTokenizer();
    expect(tok.encode("The quick brown fox")).toEqual(hf.inputs.input_ids[0]);
    expect(chunks.join("")).toBe(tok.decode(hf.expected.sequences[0], { skip_special_tokens: true }) + "\n");
  });

  it.skipIf(!present)("generate --chat applies Llama 2's chat format with --system", async () => {
    const r = await run([
      "generate",
      "--model",
      join(MODELS, "llama-vocab32000"),
      "--tokenizer",
      join(REF, "tokenizer"),
      "--chat",
      "--system",
      "Be brief.",
      "--prompt",
      "Hi",
      "--max_new_tokens",
      "2",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]")).toBe(true);
  });

  it.skipIf(!present)("chat: a scripted conversation, /reset, end of input", async () => {
    const dir = join(MODELS, "llama-vocab32000");
    const tokDir = join(REF, "tokenizer");
    const r = spawnRun(["chat", "--model", dir, "--tokenizer", tokDir, "--max_new_tokens", "6"], {
      input: "Hello\nHow are you?\n/reset\nHi there\n",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("(conversation reset)");
    // Expected replies, computed here: the conversation so far through the Llama 2 template, greedy, new ids decoded.
    const model = await LlamaForCausalLM.from_pretrained(dir);
    const tok = await LlamaTokenizerFast.from_pretrained(tokDir);
    const reply = (messages: { role: string; content: string }[]) => {
      const ids = tok.apply_chat_template(messages, { add_generation_prompt: true }) as number[];
      const out: number[] = model.generate([ids], { max_new_tokens: 6 }).tolist()[0];
      return tok.decode(out.slice(ids.length), { skip_special_tokens: true });
    };
    const a1 = reply([{ role: "user", content: "Hello" }]);
    const a2 = reply([
      { role: "user", content: "Hello" },
      { role: "assistant", content: a1.trim() },
      { role: "user", content: "How are you?" },
    ]);
    const a3 = reply([{ role: "user", content: "Hi there" }]);
    expect(r.stdout).toBe(`${a1}\n${a2}\n${a3}\n`);
  });

  it.skipIf(!present)("tokenize prints ids and pieces, and decodes ids", async () => {
    const r = await run(["tokenize", "--tokenizer", join(REF, "tokenizer"), "--text", "Hello this is a test"]);
    expect(r.code, r.stderr).toBe(0);
    // HF's documented example: "Hello this is a test" -> [1, 15043, 445, 338, 263, 1243].
    expect(r.stdout).toContain("input_ids (6): [1, 15043, 445, 338, 263, 1243]");
    expect(r.stdout).toMatch(/^15043 {2}"▁Hello"$/m);
    const j = await run([
      "tokenize",
      "--tokenizer",
      join(REF, "tokenizer"),
      "--text",
      "Hello this is a test",
      "--json",
    ]);
    expect(JSON.parse(j.stdout)).toEqual({
      ids: [1, 15043, 445, 338, 263, 1243],
      tokens: ["<s>", "▁Hello", "▁this", "▁is", "▁a", "▁test"],
    });
    const d = await run([
      "tokenize",
      "--model",
      join(MODELS, "llama-vocab32000"),
      "--decode",
      "1,15043,445",
      "--no_special_tokens",
    ]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe("Hello this\n");
    const none = await run(["tokenize", "--model", join(MODELS, "llama-mha"), "--text", "x"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/tokenize needs a tokenizer .* pass --tokenizer DIR/);
  });

  it.skipIf(!present)("inspect counts parameters per module and dtype as the config implies", async () => {
    for (const name of ["llama-gqa", "llama-bf16"]) {
      const dir = join(MODELS, name);
      const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      const r = await run(["inspect", "--model", dir, "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      const H = c.hidden_size;
      const hd = c.head_dim ?? H / c.num_attention_heads;
      const kv = c.num_key_value_heads ?? c.num_attention_heads;
      const bias = c.attention_bias ? 1 : 0;
      const attn =
        H * c.num_attention_heads * hd * 2 + H * kv * hd * 2 + bias * (c.num_attention_heads * hd + 2 * kv * hd + H);
      const mlp = 3 * H * c.intermediate_size + (c.mlp_bias ? 2 * c.intermediate_size + H : 0);
      const perLayer = attn + mlp + 2 * H;
      const total = c.vocab_size * H * (c.tie_word_embeddings ? 1 : 2) + c.num_hidden_layers * perLayer + H;
      expect(j.parameters, name).toBe(total);
      expect(j.modules["model.layers.*.mlp.gate_proj.weight"].params).toBe(
        c.num_hidden_layers * H * c.intermediate_size,
      );
      expect(j.modules["model.embed_tokens.weight"].dtype).toBe(c.torch_dtype);
      expect(j.kv_cache_bytes_per_token).toBe(2 * c.num_hidden_layers * kv * hd * 4);
    }
    const t = await run(["inspect", "--model", join(MODELS, "llama-gqa")]);
    expect(t.stdout).toMatch(/model\.layers\.\*\.self_attn\.q_proj\.weight +[\d,]+ +float32 .* x\d+ layers/);
  });
});
