/**
 * Child side of the hostile suite: imports one group file (argv[2]), runs its attacks in order and prints
 * "START name" before and "RESULT {json}" after each (see harness.ts).
 */
import { pathToFileURL } from "node:url";
import type { Attack, AttackResult } from "./harness.ts";

const file = process.argv[2];
const { attacks } = (await import(pathToFileURL(file).href)) as { attacks: Attack[] };
// Warnings an attack is expected to cause (HF-style logger.warning) stay out of the report.
console.warn = () => {};
for (const a of attacks) {
  process.stdout.write(`START ${a.name}\n`);
  const t0 = performance.now();
  let thrown = "none";
  let typed = false;
  let message = "";
  try {
    await a.run();
  } catch (e) {
    thrown = e instanceof Error ? e.constructor.name : typeof e;
    typed = a.error !== null && e instanceof a.error;
    message = e instanceof Error ? e.message.slice(0, 500) : String(e).slice(0, 500);
  }
  if (a.error === null) typed = thrown === "none";
  const r: AttackResult = {
    name: a.name,
    thrown,
    typed,
    message,
    ms: Math.round(performance.now() - t0),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
}
