/**
 * `npm run bench` / `llama-ts bench`: throughput on a fixed corpus, printed as tables on stdout (progress on
 * stderr). Tokenizers: encode and decode MB/s of llama-ts' fast and slow Llama tokenizers side by side with
 * `@huggingface/tokenizers` in the same process, and the ratio ours / peer (src/bench/tokenizer_bench.ts). Model:
 * prefill and decode tokens/s of the tiny default LlamaForCausalLM (src/bench/model_bench.ts), no peer. Compute
 * (src/bench/compute_bench.ts): matmul kernels per backend and thread count, and random models at three shapes
 * beside llama.cpp (node-llama-cpp) on the same weights.
 * Timings are medians of `--repeats` runs after `--warmup` untimed runs; they depend on the machine.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { attentionMemoryTable, benchAttentionMemory } from "../bench/attention_bench.ts";
import { benchCorpus } from "../bench/corpus.ts";
import { fmt, formatTable } from "../bench/measure.ts";
import { benchLlama2_7bLayer, benchModel } from "../bench/model_bench.ts";
import {
  LOGPROB_TOLERANCE,
  MODEL_SHAPES,
  benchCacheDir,
  benchLlama2_7b,
  benchMatmul,
  benchModels,
  modelTable,
} from "../bench/compute_bench.ts";
import type { WeightDType } from "../bench/random_checkpoint.ts";
import { benchStartup } from "../bench/startup_bench.ts";
import { benchTokenizers, defaultModelBytes } from "../bench/tokenizer_bench.ts";
import { ATTN_IMPLEMENTATIONS, type AttnImplementation } from "../integrations/attention.ts";
import { loadDefaultTokenizer } from "../models/llama/default_tokenizer.ts";
import { LlamaForCausalLM } from "../models/llama/modeling_llama.ts";
import { flagHelp, parseFlags, type FlagTable, UsageError } from "./args.ts";
import { tinyDefaultConfig } from "./start.ts";

const BENCH_FLAGS = {
  corpus_mb: { type: "float", min: 0.001, max: 256, help: "size of the generated corpus in MB (default 1)" },
  repeats: { type: "int", min: 1, max: 1000, help: "timed runs per measurement, the median is reported (default 5)" },
  warmup: { type: "int", min: 0, max: 100, help: "untimed runs first (default 1)" },
  seed: { type: "int", help: "seed of the corpus and of the model's random weights (default 0)" },
  prompt_tokens: { type: "int", min: 1, max: 4096, help: "prompt length of the model line (default 128)" },
  new_tokens: { type: "int", min: 1, max: 4096, help: "greedy steps of the model line (default 32)" },
  skip_model: { type: "boolean", help: "tokenizers only" },
  skip_tokenizers: { type: "boolean", help: "model only" },
  skip_startup: { type: "boolean", help: "leave out the CLI startup line (npx llama-ts --help)" },
  skip_matmul: { type: "boolean", help: "no matmul kernel table" },
  skip_models: { type: "boolean", help: "no random-model table (and no llama.cpp peer)" },
  models: { type: "string", arg: "LIST", help: "random models to run, from 288,768,1.1b (default all three)" },
  dtypes: {
    type: "string",
    arg: "LIST",
    help: "weight dtypes of the random models (default float32,float16,bfloat16)",
  },
  threads: { type: "int", min: 1, max: 256, help: "threads of llama-ts and llama.cpp alike (default: every core)" },
  model_rounds: {
    type: "int",
    min: 1,
    max: 100,
    help: "rounds per random model, each a fresh process of llama-ts then of llama.cpp; medians over rounds (default 3)",
  },
  model_repeats: {
    type: "int",
    min: 1,
    max: 100,
    help: "timed runs in each of those processes, after one warm-up (default 2)",
  },
  attn_implementation: {
    type: "choice",
    choices: ATTN_IMPLEMENTATIONS,
    help: "attention of llama-ts in the random-model table: eager, sdpa or flash_attention_2 (default sdpa, HF's default with torch >= 2.1.1)",
  },
  "no-peer": {
    type: "boolean",
    help: "skip llama.cpp (node-llama-cpp, installed in bench/peer on first use, ~700 MB)",
  },
  llama2_7b: {
    type: "boolean",
    help: 'only this: a Llama-2-7B-shaped float16 random checkpoint (~12.6 GiB in the cache folder) loaded with torch_dtype "auto", a few tokens: peak RSS and tokens/s',
  },
  attention: {
    type: "boolean",
    help: "only the attention memory table: eager vs sdpa vs flash_attention_2, a fresh process per run (--attention_seqs, default 512,1024,2048,4096)",
  },
  attention_seqs: {
    type: "ids",
    arg: "L",
    help: "comma-separated sequence lengths of the attention memory table (default 512,1024,2048)",
  },
  skip_attention: { type: "boolean", help: "leave the attention memory table out" },
  llama2_7b_layer: {
    type: "boolean",
    help: "also time one decoder layer at Llama-2-7B's shape with float32, bfloat16 and float16 weights (about 1 GB, a minute)",
  },
} satisfies FlagTable;

export const BENCH_HELP = `Benchmark tokenizer and model throughput (medians of repeated runs; numbers depend on the machine).

Usage: llama-ts bench [options]

${flagHelp(BENCH_FLAGS)}`;

export async function runBench(argv: string[]): Promise<void> {
  const flags = parseFlags("bench", argv, BENCH_FLAGS);
  if (flags.llama2_7b) {
    // the 7B run is its own job (minutes, ~13 GB): nothing else with it
    for (const k of [
      "skip_tokenizers",
      "skip_model",
      "skip_matmul",
      "skip_models",
      "skip_startup",
      "skip_attention",
    ] as const)
      flags[k] ??= true;
  }
  const corpusMB = flags.corpus_mb ?? 1;
  const repeats = flags.repeats ?? 5;
  const warmup = flags.warmup ?? 1;
  const seed = flags.seed ?? 0;
  const promptTokens = flags.prompt_tokens ?? 128;
  const newTokens = flags.new_tokens ?? 32;
  const threads = flags.threads ?? os.availableParallelism();
  const modelRounds = flags.model_rounds ?? 3;
  const modelRepeats = flags.model_repeats ?? 2;
  const shapes = (flags.models ?? "288,768,1.1b").split(",");
  for (const m of shapes)
    if (!Object.hasOwn(MODEL_SHAPES, m))
      throw new UsageError(`--models: expected names from 288,768,1.1b, got ${JSON.stringify(m)}`);
  const dtypes = (flags.dtypes ?? "float32,float16,bfloat16").split(",") as WeightDType[];
  for (const d of dtypes)
    if (!["float32", "float16", "bfloat16"].includes(d))
      throw new UsageError(`--dtypes: expected float32, float16 or bfloat16, got ${JSON.stringify(d)}`);
  const attn = (flags.attn_implementation ?? "sdpa") as AttnImplementation; // parseFlags checked the choice
  const log = (s: string) => process.stderr.write(s + "\n");
  const out = (s = "") => process.stdout.write(s + "\n");
  const attentionSeqs = flags.attention_seqs ?? (flags.attention ? [512, 1024, 2048, 4096] : [512, 1024, 2048]);
  if (attentionSeqs.some((S) => S < 1 || S > 16384))
    throw new UsageError(`--attention_seqs: expected lengths in [1, 16384], got ${attentionSeqs.join(",")}`);
  if (flags.attention) return benchAttention(attentionSeqs, out, log);

  const referenceDir = process.env.LLAMA_TS_REFERENCE ?? path.resolve(process.cwd(), "../shared/reference");
  const corpus = benchCorpus({ targetBytes: Math.round(corpusMB * 1e6), seed, referenceDir });
  out(
    `llama-ts bench: node ${process.version}, ${os.cpus()[0]?.model ?? "unknown CPU"} (${os.cpus().length} cores), median of ${repeats} runs after ${warmup} warm-up`,
  );
  out(`corpus: ${corpus.docs.length} documents, ${(corpus.bytes / 1e6).toFixed(2)} MB UTF-8, sha256 ${corpus.hash}`);
  for (const s of corpus.sources) out(`  - ${s}`);

  if (!flags.skip_startup) {
    log("CLI startup ...");
    const rows = await benchStartup({ warmup, repeats });
    const floor = rows[0].timing.median;
    out();
    out("CLI startup (spawn to exit; commands load their modules only when they run)");
    out(
      formatTable([
        ["command", "median ms", "min ms", 'vs node -e ""'],
        ...rows.map((r) => [
          r.what,
          fmt(r.timing.median * 1000, 0),
          fmt(r.timing.min * 1000, 0),
          `${fmt(r.timing.median / floor, 2)}x`,
        ]),
      ]),
    );
  }

  if (!flags.skip_tokenizers) {
    const modelPath = path.join(mkdtempSync(path.join(os.tmpdir(), "llama-ts-bench-")), "tokenizer.model");
    writeFileSync(modelPath, defaultModelBytes());
    const lines = await benchTokenizers({ seed, corpusMB, warmup, repeats, modelPath, log });
    for (const line of lines) out(line);
  }

  if (!flags.skip_model) {
    const model = new LlamaForCausalLM(tinyDefaultConfig(), { seed });
    const c = model.config;
    // The prompt: the corpus' tokens, document after document, cut at prompt_tokens.
    const tokenizer = loadDefaultTokenizer();
    const prompt: number[] = [];
    for (let i = 0; prompt.length < promptTokens; i = (i + 1) % corpus.docs.length)
      prompt.push(...tokenizer.encode(corpus.docs[i], { add_special_tokens: prompt.length === 0 }));
    prompt.length = promptTokens;
    log(`model: prefill ${promptTokens} tokens, then ${newTokens} greedy steps ...`);
    const r = benchModel(model, prompt, { new_tokens: newTokens, warmup, repeats });
    out();
    out(
      `Model: the tiny default LlamaForCausalLM (random weights; vocab ${c.vocab_size}, hidden ${c.hidden_size}, ${c.num_hidden_layers} layers, ` +
        `${c.num_attention_heads} heads / ${c.num_key_value_heads} kv), float32, KV cache. llama-ts only, no peer.`,
    );
    out(
      formatTable([
        ["phase", "tokens", "median s", "tokens/s"],
        [
          `prefill (forward [1, ${r.prompt_tokens}])`,
          String(r.prompt_tokens),
          fmt(r.prefillSeconds, 4),
          fmt(r.prefillTokensPerSec, 1),
        ],
        [
          `decode (${r.new_tokens} steps [1, 1], cache)`,
          String(r.new_tokens),
          fmt(r.decodeSeconds, 4),
          fmt(r.decodeTokensPerSec, 1),
        ],
      ]),
    );
  }

  if (!flags.skip_matmul) {
    const rows = benchMatmul({ threads, repeats, log });
    out();
    out(
      `Matmul kernels: out = x W^T, W [5632, 2048] in kernel memory; median of ${repeats} runs after one warm-up. ` +
        "GB/s = weight bytes / time. GFLOP/CPU-s = work / CPU time of all threads: what a core delivers while it " +
        "runs, less sensitive than wall time to other load on the machine.",
    );
    out(formatTable(rows));
  }

  if (!flags.skip_models) {
    const rows = await benchModels({
      shapes,
      dtypes,
      threads,
      promptTokens,
      newTokens: Math.min(newTokens, 16),
      rounds: modelRounds,
      repeats: modelRepeats,
      peer: !flags["no-peer"],
      attn_implementation: attn,
      log,
    });
    out();
    out(
      `Random models (vocab 32000, checkpoints in ${benchCacheDir()}), ${threads} threads for both engines, each run in ` +
        `its own process: prefill ${promptTokens} tokens, then ${Math.min(newTokens, 16)} greedy decode steps; ` +
        `llama-ts with attn_implementation "${attn}" (--attn_implementation); ` +
        `${modelRounds} rounds, each a fresh llama-ts process then fresh llama.cpp processes (${threads} threads, then 1), ` +
        `each process ${modelRepeats} timed run(s) after one warm-up; tokens/s are medians over rounds, llama-ts' peak ` +
        `RSS the largest, llama.cpp's the median. ratio = the median over rounds of llama-ts / the faster llama.cpp run of the same round (its ` +
        `spinning threads collapse when cores are shared). bfloat16 rows compare with ` +
        `llama.cpp on the f16 export. max |dlogp|: next-token log-probabilities after the prompt, llama-ts vs ` +
        `llama.cpp on the same weights, ok when <= ${LOGPROB_TOLERANCE} ` +
        `(2-byte checkpoints run with float32 activations on both sides); "top-1 differs" when the most likely next ` +
        `token is not the same.`,
    );
    out(formatTable(modelTable(rows, MODEL_SHAPES, threads)));
  }

  if (flags.llama2_7b) {
    const r = await benchLlama2_7b({ threads, newTokens: Math.min(newTokens, 4), attn_implementation: attn, log });
    out();
    if ("skipped" in r) out(`Llama-2-7B shape: skipped (${r.skipped})`);
    else {
      out(
        `Llama-2-7B shape (${r.result.backend}), float16 random weights loaded with torch_dtype "auto", prompt 8 tokens, ` +
          `${Math.min(newTokens, 4)} greedy tokens. llama-ts only.`,
      );
      out(
        formatTable([
          ["checkpoint MiB", "load s", "prefill tok/s", "decode tok/s", "peak RSS MiB", "RSS / checkpoint"],
          [
            fmt(r.ckptBytes / 2 ** 20, 0),
            fmt(r.result.loadSeconds, 1),
            fmt(r.result.prefillTokensPerSec, 2),
            fmt(r.result.decodeTokensPerSec, 3),
            fmt(r.result.peakRssBytes / 2 ** 20, 0),
            fmt(r.result.peakRssBytes / r.ckptBytes, 2),
          ],
        ]),
      );
    }
  }

  if (!flags.skip_attention) benchAttention(attentionSeqs, out, log);

  if (flags.llama2_7b_layer) {
    const rows: string[][] = [
      ["weights", "weight MB", "RSS MB", "prefill 16 tok s", "decode step s", "7B decode s/token (>= 32 x layer)"],
    ];
    for (const dtype of ["float32", "bfloat16", "float16"] as const) {
      log(`Llama-2-7B layer, ${dtype} weights ...`);
      const r = benchLlama2_7bLayer(dtype, { prefillTokens: 16, repeats: Math.max(1, Math.min(repeats, 3)), seed });
      rows.push([
        dtype,
        fmt(r.weightBytes / 2 ** 20, 0),
        fmt(r.rssBytes / 2 ** 20, 0),
        fmt(r.prefillSeconds, 3),
        fmt(r.decodeSeconds, 3),
        fmt(32 * r.decodeSeconds, 1),
      ]);
    }
    out();
    out(
      "One LlamaDecoderLayer at Llama-2-7B's shape (hidden 4096, 32 heads, intermediate 11008), reference matmul, one thread. llama-ts only, no peer.",
    );
    out(formatTable(rows));
  }
}

/** Peak memory per head of eager / sdpa / flash_attention_2 as the sequence grows (src/bench/attention_bench.ts). */
function benchAttention(seqs: number[], out: (s?: string) => void, log: (s: string) => void): void {
  const heads = 2;
  const head_dim = 64;
  const rows = benchAttentionMemory({ seqs, heads, head_dim, log });
  out();
  out(
    `Attention memory: one prefill of S tokens, ${heads} heads of ${head_dim}, float32; peak RSS above a baseline process, per head. ` +
      "Eager's [S, S] scores and probabilities grow as S^2; sdpa and flash_attention_2 stay flat.",
  );
  out(formatTable(attentionMemoryTable(rows)));
}
