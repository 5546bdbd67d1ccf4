/**
 * The llama.cpp side of `npm run bench` (node-llama-cpp, CPU only). Prints one JSON line on stdout:
 * prefill and decode tokens/s (medians of --repeats), peak RSS, and the next-token probabilities after the prompt.
 *
 *   node run.mjs --model FILE.gguf --threads T --prompt IDS.json --new_tokens N --repeats R [--probs OUT.json]
 *
 * One repeat: clear the sequence, evaluate the prompt in one batch and generate greedily; prefill = time to the
 * first generated token, decode = the next N tokens / their time.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const { values: a } = parseArgs({
  options: {
    model: { type: "string" },
    threads: { type: "string" },
    prompt: { type: "string" },
    new_tokens: { type: "string" },
    repeats: { type: "string" },
    warmup: { type: "string", default: "1" },
    probs: { type: "string" },
  },
});
const threads = Number(a.threads);
const prompt = JSON.parse(readFileSync(a.prompt, "utf8"));
const N = Number(a.new_tokens);
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
const loadSeconds = (performance.now() - t0) / 1000;
const context = await model.createContext({
  contextSize: prompt.length + N + 16,
  batchSize: prompt.length,
  threads,
  sequences: 1,
});
const seq = context.getSequence();

const prefill = [];
const decode = [];
let tokens = [];
const runs = Number(a.warmup) + Number(a.repeats);
for (let r = 0; r < runs; r++) {
  await seq.clearHistory();
  tokens = [];
  const start = performance.now();
  let first = 0;
  for await (const tok of seq.evaluate(prompt, { temperature: 0 })) {
    if (tokens.length === 0) first = performance.now();
    tokens.push(tok);
    if (tokens.length > N) break;
  }
  const end = performance.now();
  if (r >= Number(a.warmup)) {
    prefill.push((first - start) / 1000);
    decode.push((end - first) / 1000);
  }
  process.stderr.write(`  llama.cpp run ${r + 1}/${runs}\n`);
}

if (a.probs) {
  await seq.clearHistory();
  const items = prompt.map((t, i) =>
    i === prompt.length - 1
      ? [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }]
      : t,
  );
  const res = await seq.controlledEvaluate(items);
  const probs = res[prompt.length - 1]?.next?.probabilities ?? new Map();
  writeFileSync(a.probs, JSON.stringify([...probs.entries()]));
}

const ps = median(prefill);
const ds = median(decode);
process.stdout.write(
  JSON.stringify({
    engine: "llama.cpp (node-llama-cpp 3.21.1)",
    threads,
    loadSeconds,
    prefillTokensPerSec: prompt.length / ps,
    decodeTokensPerSec: N / ds,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    greedy: tokens.slice(0, N + 1),
  }) + "\n",
);
await context.dispose();
await model.dispose();
process.exit(0);
