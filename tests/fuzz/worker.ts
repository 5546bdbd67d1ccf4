/**
 * Worker side of `npm run fuzz`: runs one campaign (campaign.ts) and posts its statistics. Before each input it
 * stores the input's index + 1 in shared memory, which the main thread's watchdog reads to detect a hang.
 */
import { parentPort, workerData } from "node:worker_threads";
import { runCampaign } from "./campaign.ts";
import { TARGETS } from "./targets.ts";

const { target, count, seed, heavy, progress } = workerData as {
  target: string;
  count: number;
  seed: number;
  heavy: boolean;
  progress: SharedArrayBuffer;
};
const flags = new Int32Array(progress);
const t = TARGETS.find((x) => x.name === target);
if (!t) throw new Error(`unknown fuzz target ${target}`);
const stats = await runCampaign(t, {
  count,
  seed,
  heavy,
  dumpFailures: true,
  onInput: (i) => Atomics.store(flags, 0, i + 1),
});
parentPort!.postMessage(stats);
