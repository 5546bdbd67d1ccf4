/**
 * `npm run fuzz`: at least 10,000 generated malformed inputs per parser and loader (tests/fuzz/targets.ts),
 * each parser in its own worker thread so a hang or a runaway allocation cannot take the runner down with it.
 *
 * Per parser it prints: inputs tried, successes, typed errors (LlamaError subclasses, by class), anything else
 * (must be 0: each one is listed with the input that caused it, saved to the system temp folder), the slowest
 * input, the peak heap + array-buffer growth inside the worker, and the peak RSS of the process while it ran.
 * Exit code 1 when anything else happened, an input ran longer than --timeout-ms (the watchdog terminates the
 * worker), or the worker died (e.g. out of memory: workers run with a 2 GB heap limit).
 *
 *   npm run fuzz                                  all parsers, 10,000 inputs each, seed 20250607
 *   npm run fuzz -- --count 50000 --seed 7        more inputs, another seed
 *   npm run fuzz -- --target config.json          one parser (repeat or comma-separate for several)
 *   npm run fuzz -- --target sentencepiece --index 4711   replay one input in-process and print its outcome
 *   npm run fuzz -- --no-heavy                    skip the megabyte-sized reference seeds
 */
import { Worker } from "node:worker_threads";
import { runCampaign, type CampaignStats } from "./campaign.ts";
import { TARGETS } from "./targets.ts";

interface Args {
  count: number;
  seed: number;
  targets: string[];
  index: number | null;
  timeoutMs: number;
  heavy: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { count: 10_000, seed: 20250607, targets: [], index: null, timeoutMs: 10_000, heavy: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (name: string, v: string) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0)
        throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === "--count") args.count = int("--count", value());
    else if (a === "--seed") args.seed = int("--seed", value());
    else if (a === "--target") args.targets.push(...value().split(","));
    else if (a === "--index") args.index = int("--index", value());
    else if (a === "--timeout-ms") args.timeoutMs = int("--timeout-ms", value());
    else if (a === "--no-heavy") args.heavy = false;
    else if (a === "--help" || a === "-h") {
      console.log(
        "usage: npm run fuzz -- [--count N] [--seed S] [--target NAME]... [--index I] [--timeout-ms MS] [--no-heavy]",
      );
      console.log(`targets: ${TARGETS.map((t) => t.name).join(", ")}`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  const known = TARGETS.map((t) => t.name);
  for (const t of args.targets)
    if (!known.includes(t)) throw new Error(`unknown target ${JSON.stringify(t)}; expected one of ${known.join(", ")}`);
  if (args.targets.length === 0) args.targets = known;
  return args;
}

interface Outcome {
  stats: CampaignStats | null;
  peakRss: number;
  /** Set when the watchdog fired or the worker died. */
  abort: string | null;
}

/** Run one target's campaign in a worker under the watchdog. */
function runInWorker(target: string, args: Args): Promise<Outcome> {
  const progress = new SharedArrayBuffer(4);
  const flags = new Int32Array(progress);
  const api = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./worker.ts", import.meta.url).href;
  // Workers do not inherit tsx's loader for their entry module: register it, then import the TypeScript entry.
  const boot = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(boot, {
    eval: true,
    execArgv: [],
    workerData: { target, count: args.count, seed: args.seed, heavy: args.heavy, progress },
    resourceLimits: { maxOldGenerationSizeMb: 2048 },
  });
  return new Promise((resolve) => {
    let peakRss = process.memoryUsage().rss;
    let lastIndex = 0;
    let lastChange = Date.now();
    let stats: CampaignStats | null = null;
    let abort: string | null = null;
    const setupLimitMs = Math.max(120_000, args.timeoutMs);
    const timer = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      const index = Atomics.load(flags, 0);
      const now = Date.now();
      if (index !== lastIndex) {
        lastIndex = index;
        lastChange = now;
      } else if (now - lastChange > (index === 0 ? setupLimitMs : args.timeoutMs)) {
        abort =
          index === 0
            ? `setup took longer than ${setupLimitMs} ms`
            : `input #${index - 1} ran longer than ${args.timeoutMs} ms (replay: npm run fuzz -- --target ${target} --seed ${args.seed} --count ${args.count} --index ${index - 1})`;
        void worker.terminate();
      }
    }, 100);
    worker.on("message", (m: CampaignStats) => (stats = m));
    worker.on("error", (e) => {
      const index = Atomics.load(flags, 0) - 1;
      abort = `worker died at input #${index}: ${e.name}: ${e.message}`;
    });
    worker.on("exit", () => {
      clearInterval(timer);
      resolve({ stats, peakRss, abort });
    });
  });
}

const MB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.index !== null) {
    if (args.targets.length !== 1) throw new Error("--index needs exactly one --target");
    const target = TARGETS.find((t) => t.name === args.targets[0])!;
    const s = await runCampaign(target, {
      count: args.count,
      seed: args.seed,
      heavy: args.heavy,
      only: args.index,
      dumpFailures: true,
    });
    console.log(`${target.name} input #${args.index}: ${s.slowest.input}`);
    console.log(
      s.ok
        ? "parsed/loaded"
        : s.typed
          ? `typed error: ${Object.keys(s.typedByClass).join(", ")}`
          : `OTHER error:\n${s.failures[0]?.error}\nsaved to ${s.failures[0]?.file}`,
    );
    return s.other > 0 ? 1 : 0;
  }

  console.log(
    `fuzzing ${args.targets.join(", ")}: ${args.count} inputs each, seed ${args.seed}${args.heavy ? "" : ", light seeds only"}, per-input limit ${args.timeoutMs} ms`,
  );
  let failed = false;
  const rows: string[][] = [
    ["parser", "tried", "ok", "typed", "other", "slowest input", "heap growth", "peak RSS", "time"],
  ];
  for (const target of args.targets) {
    const { stats, peakRss, abort } = await runInWorker(target, args);
    if (abort !== null || stats === null) {
      failed = true;
      console.log(`\n${target}: ABORTED: ${abort ?? "the worker exited without a result"}`);
      rows.push([target, "-", "-", "-", "abort", "-", "-", MB(peakRss), "-"]);
      continue;
    }
    const typed = Object.entries(stats.typedByClass)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    console.log(
      `\n${target}: ${stats.tried} inputs, ${stats.ok} ok, ${stats.typed} typed errors (${typed || "none"}), ${stats.other} other`,
    );
    console.log(
      `  slowest: ${stats.slowest.ms.toFixed(1)} ms, input #${stats.slowest.index} (${stats.slowest.input}); largest input ${stats.largestInput} bytes`,
    );
    for (const f of stats.failures)
      console.log(
        `  OTHER at input #${f.index} (${f.input}):\n    ${f.error.replaceAll("\n", "\n    ")}\n    bytes: ${f.file}`,
      );
    if (stats.other > 0) failed = true;
    rows.push([
      target,
      String(stats.tried),
      String(stats.ok),
      String(stats.typed),
      String(stats.other),
      `${stats.slowest.ms.toFixed(1)} ms`,
      MB(stats.memoryGrowthPeak),
      MB(peakRss),
      `${(stats.totalMs / 1000).toFixed(1)} s`,
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log(
    "\n" +
      rows
        .map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  "))
        .join("\n"),
  );
  console.log(
    failed
      ? "\nFAIL: an input ended in something other than a result or a typed LlamaError, ran past the time limit, or killed its worker"
      : "\nOK: every input ended in a result or a typed LlamaError",
  );
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  },
);
