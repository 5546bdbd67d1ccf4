/**
 * The compute half of `npm run bench`: matmul kernels and whole models, side by side with llama.cpp.
 *
 * Matmul: GFLOP/s (2 M N K / median seconds) of every backend and thread count on the prefill GEMM
 * 128 x 2048 x 5632 and the decode GEMV 1 x 2048 x 5632 (TinyLlama-1.1B's MLP), float32 and 2-byte weights held
 * in kernel memory as a loaded model holds them, with GB/s (weight bytes / seconds) for the GEMV.
 *
 * Models: random checkpoints (random_checkpoint.ts) written once to a cache folder, each measured in a fresh
 * process (model_child.ts) for its own peak RSS: prefill of the same 128-token prompt, then greedy decode steps
 * with the KV cache. The peer is llama.cpp through node-llama-cpp (bench/peer, installed there on first use) on
 * the same weights exported by export-gguf (f32 for float32 checkpoints, f16 for float16 and bfloat16 ones), with
 * the same thread count. Agreement: the next-token log-probabilities after the prompt, max over the vocabulary of
 * |log p_llama-ts - log p_llama.cpp|, must stay within LOGPROB_TOLERANCE.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, statfsSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { AttnImplementation } from "../integrations/attention.ts";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { allocFloat32, allocUint16 } from "../backends/kernel_memory.ts";
import { WasmSimdBackend } from "../backends/wasm_simd.ts";
import { blockedBackend } from "../backends/blocked.ts";
import { type MatmulBackend, type WeightView, referenceBackend } from "../ops/matmul.ts";
import { float32ToHalf } from "../tensor/dtypes.ts";
import { fmt, median } from "./measure.ts";
import {
  type RandomModelShape,
  type WeightDType,
  checkpointBytes,
  writeRandomCheckpoint,
} from "./random_checkpoint.ts";

/**
 * Max |log p_ours - log p_llama.cpp| over the vocabulary for the "agree" column. Both engines compute with float32
 * activations (model_child.ts loads 2-byte checkpoints with compute_dtype "float32", as llama.cpp computes), so
 * only summation order and the float16 rounding of llama.cpp's KV cache differ.
 */
export const LOGPROB_TOLERANCE = 0.01;

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// Matmul
// ---------------------------------------------------------------------------------------------------------------

function xorshiftFill(a: Float32Array, seed: number, amp: number): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 2 ** 31 - 1) * amp;
  }
  return a;
}

export function benchMatmul(opts: { threads: number; repeats: number; log: (s: string) => void }): string[][] {
  const K = 2048;
  const N = 5632;
  const wf = xorshiftFill(new Float32Array(N * K), 1, 0.03);
  const weights: Record<WeightDType, WeightView> = {
    float32: { dtype: "float32", data: allocFloat32(N * K) },
    float16: { dtype: "float16", data: allocUint16(N * K) },
    bfloat16: { dtype: "bfloat16", data: allocUint16(N * K) },
  };
  weights.float32.data.set(wf);
  weights.float16.data.set(float32ToHalf(wf, "float16"));
  weights.bfloat16.data.set(float32ToHalf(wf, "bfloat16"));
  const backends: [MatmulBackend, number][] = [
    [referenceBackend, 1],
    [blockedBackend, 1],
    [new WasmSimdBackend({ threads: 1 }), 1],
  ];
  for (let t = 2; t <= opts.threads; t *= 2) backends.push([new WasmSimdBackend({ threads: t }), t]);
  if (opts.threads > 1 && (opts.threads & (opts.threads - 1)) !== 0)
    backends.push([new WasmSimdBackend({ threads: opts.threads }), opts.threads]);
  const rows: string[][] = [
    ["product", "weights", "backend", "threads", "median ms", "GFLOP/s", "GB/s", "x reference"],
  ];
  for (const [label, M] of [
    ["prefill GEMM 128x2048x5632", 128],
    ["decode GEMV 1x2048x5632", 1],
  ] as const) {
    const x = xorshiftFill(new Float32Array(M * K), 2, 1);
    const out = new Float32Array(M * N);
    for (const dtype of ["float32", "float16", "bfloat16"] as const) {
      let refRate = 0;
      for (const [b, threads] of backends) {
        // the JS backends are slow at 128 rows: they run the first 16 (the rate is per row, unchanged)
        const rowsRun = M > 16 && threads === 1 && !(b instanceof WasmSimdBackend) ? 16 : M;
        opts.log(`matmul: ${label} ${dtype} ${b.name} ...`);
        const runs = b instanceof WasmSimdBackend ? opts.repeats : Math.min(opts.repeats, 3);
        const times: number[] = [];
        let cpu = 0;
        for (let r = 0; r <= runs; r++) {
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          b.linear(out, x, weights[dtype], null, rowsRun, K, N);
          if (r > 0) {
            // the first run is warm-up
            times.push((performance.now() - t0) / 1000);
            const c = process.cpuUsage(c0); // every thread of this process, workers included
            cpu += (c.user + c.system) / 1e6;
          }
        }
        times.sort((a, c) => a - c);
        const s = times[times.length >> 1];
        const gflops = (2 * rowsRun * N * K) / s / 1e9;
        if (b === referenceBackend) refRate = gflops;
        const wBytes = N * K * (dtype === "float32" ? 4 : 2);
        rows.push([
          label + (rowsRun !== M ? ` (${rowsRun} rows)` : ""),
          dtype,
          b instanceof WasmSimdBackend ? "wasm-simd" : b.name,
          String(threads),
          fmt(s * 1000, 1),
          fmt(gflops, 2),
          M === 1 ? fmt(wBytes / s / 1e9, 2) : "",
          fmt(gflops / refRate, 1),
          fmt((2 * rowsRun * N * K * runs) / cpu / 1e9, 2),
        ]);
      }
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------------

export const MODEL_SHAPES: Record<string, RandomModelShape> = {
  "288": {
    vocab_size: 32000,
    hidden_size: 288,
    intermediate_size: 768,
    num_hidden_layers: 6,
    num_attention_heads: 6,
    num_key_value_heads: 6,
  },
  "768": {
    vocab_size: 32000,
    hidden_size: 768,
    intermediate_size: 2048,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    num_key_value_heads: 12,
  },
  "1.1b": {
    vocab_size: 32000,
    hidden_size: 2048,
    intermediate_size: 5632,
    num_hidden_layers: 22,
    num_attention_heads: 32,
    num_key_value_heads: 4,
  },
};

function describeShape(s: RandomModelShape): string {
  return `hidden ${s.hidden_size}/${s.num_hidden_layers} layers/${s.num_attention_heads} heads/${s.num_key_value_heads} kv/inter ${s.intermediate_size}`;
}

/** The cache folder of random checkpoints (LLAMA_TS_BENCH_DIR, default <tmp>/llama-ts-bench). */
export function benchCacheDir(): string {
  return process.env.LLAMA_TS_BENCH_DIR || path.join(os.tmpdir(), "llama-ts-bench");
}

async function ensureCheckpoint(name: string, shape: RandomModelShape, dtype: WeightDType, log: (s: string) => void) {
  const dir = path.join(benchCacheDir(), `${name}-${dtype}`);
  const done = path.join(dir, ".complete");
  if (!existsSync(done)) {
    log(`writing random checkpoint ${dir} (${(checkpointBytes(shape, dtype) / 2 ** 30).toFixed(2)} GiB) ...`);
    const tok = path.resolve(process.cwd(), "../shared/reference/tokenizer.model");
    const bundled = path.join(ROOT, "bench", "tokenizer.model");
    await writeRandomCheckpoint(dir, shape, dtype, {
      seed: 1,
      tokenizerModel: existsSync(tok) ? tok : existsSync(bundled) ? bundled : undefined,
      log,
    });
    writeFileSync(done, "");
  }
  return dir;
}

const tsxCli = () => createRequire(import.meta.url).resolve("tsx/cli");

function runJson(cmd: string, args: string[], cwd: string, log: (s: string) => void): any {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
  for (const line of (r.stderr ?? "").split("\n")) if (line.trim()) log(`    ${line}`);
  const last = (r.stdout ?? "").trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !last.startsWith("{"))
    throw new Error(`${path.basename(args[0] ?? cmd)} failed (exit ${r.status}): ${(r.stderr ?? "").slice(-400)}`);
  return JSON.parse(last);
}

const PEER_DIR = path.join(ROOT, "bench", "peer");

/** Install the peer (npm ci in bench/peer) on first use; returns an error message or null. */
export function ensurePeer(log: (s: string) => void): string | null {
  if (existsSync(path.join(PEER_DIR, "node_modules", "node-llama-cpp", "package.json"))) return null;
  log("installing the llama.cpp peer (node-llama-cpp 3.21.1, about 700 MB) in bench/peer ...");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], {
    cwd: PEER_DIR,
    stdio: ["ignore", "inherit", "inherit"],
  });
  return r.status === 0 ? null : `npm ci in bench/peer failed (exit ${r.status})`;
}

export interface ModelRow {
  model: string;
  dtype: WeightDType;
  ckptBytes: number;
  kvBytes: number;
  /** Medians over the rounds of tokens/s, and the largest peak RSS (the one the RSS target is checked on). */
  ours: EngineRuns;
  /** llama.cpp at the same thread count, and at one thread (null when the same). */
  peer: { same: EngineRuns; one: EngineRuns | null } | null;
  /** Medians over the rounds of llama-ts / the faster llama.cpp run of the same round. */
  prefillRatio: number | null;
  decodeRatio: number | null;
  peerNote: string;
  maxDLogp: number | null;
  top1Agree: boolean | null;
}

/** One engine's runs of one row: each a fresh process; median tokens/s, peak RSS the largest or the median. */
export interface EngineRuns {
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  peakRssBytes: number;
  runs: { prefillTokensPerSec: number; decodeTokensPerSec: number; peakRssBytes: number }[];
}

const speeds = (r: EngineRuns["runs"][number]) =>
  `prefill ${fmt(r.prefillTokensPerSec, 2)} tok/s, decode ${fmt(r.decodeTokensPerSec, 2)} tok/s`;

function engineRuns(runs: EngineRuns["runs"], rss: "largest" | "median"): EngineRuns {
  return {
    prefillTokensPerSec: median(runs.map((r) => r.prefillTokensPerSec)),
    decodeTokensPerSec: median(runs.map((r) => r.decodeTokensPerSec)),
    peakRssBytes:
      rss === "largest" ? Math.max(...runs.map((r) => r.peakRssBytes)) : median(runs.map((r) => r.peakRssBytes)),
    runs,
  };
}

/**
 * The random-model rows. Each row runs `rounds` rounds; a round is one fresh llama-ts process, then llama.cpp at
 * the same thread count, then (with more than one thread) llama.cpp at one thread, each process doing one
 * warm-up and `repeats` timed runs. Interleaving the engines round by round, and taking the median over rounds
 * of each round's ratio, keeps both engines under the same conditions when the machine's memory bandwidth
 * drifts between minutes (on a shared host it does, by about 10%).
 */
export async function benchModels(opts: {
  shapes: string[];
  dtypes: WeightDType[];
  threads: number;
  promptTokens: number;
  newTokens: number;
  rounds: number;
  repeats: number;
  peer: boolean;
  attn_implementation: AttnImplementation;
  log: (s: string) => void;
}): Promise<ModelRow[]> {
  const { log } = opts;
  const work = path.join(benchCacheDir(), "runs");
  mkdirSync(work, { recursive: true });
  // the prompt: fixed pseudo-random ids in [3, 32000), BOS first, identical for both engines
  const prompt = [1];
  let s = 12345;
  while (prompt.length < opts.promptTokens) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    prompt.push(3 + (s % 31997));
  }
  const promptFile = path.join(work, "prompt.json");
  writeFileSync(promptFile, JSON.stringify(prompt));
  const peerError = opts.peer ? ensurePeer(log) : "skipped (--no-peer)";
  const rows: ModelRow[] = [];
  for (const name of opts.shapes) {
    const shape = MODEL_SHAPES[name];
    for (const dtype of opts.dtypes) {
      const dir = await ensureCheckpoint(name, shape, dtype, log);
      const lpOurs = path.join(work, `${name}-${dtype}.ours.bin`);
      const runOurs = (logprobs: string | null) => {
        const args = [
          tsxCli(),
          path.join(ROOT, "src/bench/model_child.ts"),
          dir,
          promptFile,
          String(opts.newTokens),
          "1",
          String(opts.repeats),
          "auto",
          String(opts.threads),
          opts.attn_implementation,
        ];
        if (logprobs) args.push(logprobs);
        return runJson(process.execPath, args, ROOT, log);
      };
      const hd = shape.hidden_size / shape.num_attention_heads;
      const kvBytes =
        2 * shape.num_hidden_layers * shape.num_key_value_heads * hd * (prompt.length + opts.newTokens) * 4;
      const ggufType = dtype === "float32" ? "f32" : "f16";
      const key = `${name}-${ggufType}`;
      const gguf = path.join(benchCacheDir(), `${key}.gguf`);
      const probs = path.join(work, `${key}.peer.json`);
      let peerNote = peerError ?? `llama.cpp ${ggufType}`;
      if (peerError === null && !existsSync(gguf + ".complete")) {
        try {
          log(`export-gguf ${dir} -> ${gguf} ...`);
          runJsonless(
            process.execPath,
            [
              tsxCli(),
              path.join(ROOT, "src/cli/main.ts"),
              "export-gguf",
              "--model",
              dir,
              "--out",
              gguf,
              "--dtype",
              ggufType,
            ],
            log,
          );
          writeFileSync(gguf + ".complete", "");
        } catch (e) {
          peerNote = `peer failed: ${(e as Error).message.split("\n")[0]}`;
        }
      }
      // llama.cpp at the same thread count, and (when that is > 1) at one thread too: its threads wait for each
      // other by spinning, which collapses on a machine whose cores are shared with other work
      const runPeer = (t: number, probsOut: string | null) => {
        const args = [
          path.join(PEER_DIR, "run.mjs"),
          "--model",
          gguf,
          "--threads",
          String(t),
          "--prompt",
          promptFile,
          "--new_tokens",
          String(opts.newTokens),
          "--repeats",
          String(opts.repeats),
          "--warmup",
          "1",
        ];
        if (probsOut) args.push("--probs", probsOut);
        return runJson(process.execPath, args, PEER_DIR, log);
      };
      const ours: EngineRuns["runs"] = [];
      const same: EngineRuns["runs"] = [];
      const one: EngineRuns["runs"] = [];
      let peerOk = peerNote.startsWith("llama.cpp");
      for (let round = 0; round < opts.rounds; round++) {
        const at = `${name} ${dtype}, round ${round + 1}/${opts.rounds}`;
        log(`${at}: llama-ts ...`);
        ours.push(runOurs(round === 0 ? lpOurs : null));
        log(`    llama-ts: ${speeds(ours[round])}`);
        if (!peerOk) continue;
        try {
          log(`${at}: llama.cpp ${key}.gguf, ${opts.threads} thread(s) ...`);
          same.push(runPeer(opts.threads, round === 0 ? probs : null));
          log(`    llama.cpp: ${speeds(same[round])}`);
          if (opts.threads > 1) {
            log(`${at}: llama.cpp ${key}.gguf, 1 thread ...`);
            one.push(runPeer(1, null));
            log(`    llama.cpp: ${speeds(one[round])}`);
          }
        } catch (e) {
          peerNote = `peer failed: ${(e as Error).message.split("\n")[0]}`;
          peerOk = false;
        }
      }
      const row: ModelRow = {
        model: name,
        dtype,
        ckptBytes: statSync(path.join(dir, "model.safetensors")).size,
        kvBytes,
        ours: engineRuns(ours, "largest"),
        peer: null,
        prefillRatio: null,
        decodeRatio: null,
        peerNote,
        maxDLogp: null,
        top1Agree: null,
      };
      if (peerOk) {
        // the peer's RSS is for comparison only: its median, so one odd process does not stand for it
        row.peer = { same: engineRuns(same, "median"), one: one.length > 0 ? engineRuns(one, "median") : null };
        const ratios = (k: "prefillTokensPerSec" | "decodeTokensPerSec") =>
          ours.map((o, i) => o[k] / Math.max(same[i][k], one[i]?.[k] ?? 0));
        const [pr, dr] = [ratios("prefillTokensPerSec"), ratios("decodeTokensPerSec")];
        log(
          `${name} ${dtype}: ratio by round, prefill ${pr.map((r) => fmt(r, 2)).join(" ")}, decode ${dr.map((r) => fmt(r, 2)).join(" ")}`,
        );
        row.prefillRatio = median(pr);
        row.decodeRatio = median(dr);
        if (dtype !== "bfloat16") {
          // same weights on both sides (bfloat16 rows run llama.cpp on the f16 export: close, not identical)
          const raw = readFileSync(lpOurs);
          const ourLp = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
          const peerP: [number, number][] = JSON.parse(readFileSync(probs, "utf8"));
          let maxD = 0;
          for (const [t, p] of peerP) maxD = Math.max(maxD, Math.abs(Math.log(p) - ourLp[t]));
          let am = 0;
          for (let i = 1; i < ourLp.length; i++) if (ourLp[i] > ourLp[am]) am = i;
          row.maxDLogp = peerP.length === ourLp.length ? maxD : Infinity;
          row.top1Agree = peerP.length > 0 && peerP[0][0] === am;
        }
      }
      rows.push(row);
    }
  }
  return rows;
}

function runJsonless(cmd: string, args: string[], log: (s: string) => void): void {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`export-gguf failed (exit ${r.status}): ${(r.stderr ?? "").slice(-400)}`);
  log(`    ${(r.stdout ?? "").trim()}`);
}

export function modelTable(rows: ModelRow[], shapes: Record<string, RandomModelShape>, threads: number): string[][] {
  const t: string[][] = [
    [
      "model",
      "weights",
      "prefill tok/s",
      `llama.cpp ${threads}t`,
      "llama.cpp 1t",
      "ratio",
      "decode tok/s",
      `llama.cpp ${threads}t`,
      "llama.cpp 1t",
      "ratio",
      "peak RSS MiB",
      "ckpt+KV MiB",
      "RSS/(ckpt+KV)",
      "llama.cpp RSS MiB",
      "max |dlogp|",
      "peer",
    ],
  ];
  const mib = (b: number) => fmt(b / 2 ** 20, 0);
  for (const r of rows) {
    const p = r.peer;
    t.push([
      `${r.model} (${describeShape(shapes[r.model])})`,
      r.dtype,
      fmt(r.ours.prefillTokensPerSec, 1),
      p ? fmt(p.same.prefillTokensPerSec, 1) : "-",
      p?.one ? fmt(p.one.prefillTokensPerSec, 1) : "-",
      r.prefillRatio === null ? "-" : fmt(r.prefillRatio, 2),
      fmt(r.ours.decodeTokensPerSec, 2),
      p ? fmt(p.same.decodeTokensPerSec, 2) : "-",
      p?.one ? fmt(p.one.decodeTokensPerSec, 2) : "-",
      r.decodeRatio === null ? "-" : fmt(r.decodeRatio, 2),
      mib(r.ours.peakRssBytes),
      mib(r.ckptBytes + r.kvBytes),
      fmt(r.ours.peakRssBytes / (r.ckptBytes + r.kvBytes), 2),
      p ? mib(p.same.peakRssBytes) : "-",
      r.maxDLogp === null
        ? "-"
        : `${r.maxDLogp.toExponential(1)} ${r.maxDLogp <= LOGPROB_TOLERANCE ? "ok" : "DIFFERS"}` +
          (r.top1Agree ? "" : " top-1 differs"),
      r.peerNote,
    ]);
  }
  return t;
}

/** Llama-2-7B's shape (meta-llama/Llama-2-7b-hf config.json). */
export const LLAMA2_7B: RandomModelShape = {
  vocab_size: 32000,
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
};

/**
 * `bench --llama2_7b`: a Llama-2-7B-shaped float16 checkpoint (random, ~12.6 GiB) written to the cache folder,
 * loaded in a fresh process with torch_dtype "auto" (it stays 2 bytes a weight), a short prompt and a few greedy
 * tokens. Returns null with the reason when disk or memory is short.
 */
export async function benchLlama2_7b(opts: {
  threads: number;
  newTokens: number;
  attn_implementation: AttnImplementation;
  log: (s: string) => void;
}): Promise<{ result: any; ckptBytes: number } | { skipped: string }> {
  const bytes = checkpointBytes(LLAMA2_7B, "float16");
  const dir = path.join(benchCacheDir(), "llama2-7b-float16");
  mkdirSync(benchCacheDir(), { recursive: true });
  if (!existsSync(path.join(dir, ".complete"))) {
    const { bavail, bsize } = statfsSync(benchCacheDir());
    if (bavail * bsize < bytes + 2 ** 30)
      return {
        skipped: `needs ${(bytes / 2 ** 30).toFixed(1)} GiB free in ${benchCacheDir()}, has ${((bavail * bsize) / 2 ** 30).toFixed(1)}`,
      };
  }
  const avail = availableMemory();
  if (avail < bytes * 1.15)
    return {
      skipped: `needs about ${((bytes * 1.15) / 2 ** 30).toFixed(1)} GiB of available memory, has ${(avail / 2 ** 30).toFixed(1)}`,
    };
  await ensureCheckpoint("llama2-7b", LLAMA2_7B, "float16", opts.log);
  const work = path.join(benchCacheDir(), "runs");
  mkdirSync(work, { recursive: true });
  const promptFile = path.join(work, "prompt7b.json");
  writeFileSync(promptFile, JSON.stringify([1, 450, 4996, 17354, 1701, 432, 17204, 975]));
  opts.log(`llama-ts: Llama-2-7B shape, float16, prompt 8 tokens + ${opts.newTokens} greedy tokens ...`);
  const result = runJson(
    process.execPath,
    [
      tsxCli(),
      path.join(ROOT, "src/bench/model_child.ts"),
      dir,
      promptFile,
      String(opts.newTokens),
      "0",
      "1",
      "auto",
      String(opts.threads),
      opts.attn_implementation,
    ],
    ROOT,
    opts.log,
  );
  return { result, ckptBytes: statSync(path.join(dir, "model.safetensors")).size };
}

/** MemAvailable from /proc/meminfo where there is one (free memory plus reclaimable cache), else os.freemem(). */
function availableMemory(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}
