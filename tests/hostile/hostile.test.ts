/**
 * The hostile-input suite (issue: hostile input and faults). Every attack in tests/hostile/groups/*.ts must end
 * in its typed LlamaError within ATTACK_TIMEOUT_MS and MEMORY_LIMIT_MB, never a hang, an abort or a raw
 * JavaScript error. Groups run in child processes (harness.ts), two at a time.
 */
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { ATTACK_TIMEOUT_MS, type Attack, type GroupOutcome, MEMORY_LIMIT_MB, runGroup } from "./harness.ts";

const groupsDir = fileURLToPath(new URL("./groups/", import.meta.url));
const groups = readdirSync(groupsDir)
  .filter((f) => f.endsWith(".ts"))
  .sort();
const attacksOf = new Map<string, Attack[]>();
for (const g of groups)
  attacksOf.set(
    g,
    ((await import(/* @vite-ignore */ pathToFileURL(groupsDir + g).href)) as { attacks: Attack[] }).attacks,
  );

const outcomes = new Map<string, GroupOutcome>();
beforeAll(async () => {
  const queue = [...groups];
  const worker = async () => {
    for (let g = queue.shift(); g !== undefined; g = queue.shift()) outcomes.set(g, await runGroup(groupsDir + g));
  };
  await Promise.all([worker(), worker()]);
}, 20 * ATTACK_TIMEOUT_MS);

for (const g of groups) {
  describe(`hostile: ${g}`, () => {
    for (const a of attacksOf.get(g)!) {
      it(a.name, () => {
        const outcome = outcomes.get(g)!;
        const r = outcome.results.get(a.name);
        if (!r) {
          const f = outcome.failure;
          throw new Error(
            f?.attack === a.name ? `this attack broke the child: ${f.reason}` : `not run (${f?.reason ?? "?"})`,
          );
        }
        if (a.error === null) {
          expect(r.thrown, `expected no error, got ${r.thrown}: ${r.message}`).toBe("none");
        } else {
          expect(r.thrown, `${r.thrown}: ${r.message}`).not.toBe("none");
          expect(r.typed, `expected ${a.error.name}, got ${r.thrown}: ${r.message}`).toBe(true);
          expect(r.message).toMatch(a.message ?? /./);
        }
        expect(r.ms).toBeLessThan(ATTACK_TIMEOUT_MS);
        expect(r.peakRssMb).toBeLessThan(MEMORY_LIMIT_MB);
      });
    }
  });
}
