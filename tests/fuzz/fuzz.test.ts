/**
 * The fuzz campaigns of `npm run fuzz` (tests/fuzz/targets.ts), small and in-process: 300 seeded inputs per
 * parser and loader, light seeds only. Every input must end in a result or a typed LlamaError; both outcomes
 * must occur in quantity, so the campaign is neither all-rejected noise nor all-valid files.
 */
import { describe, expect, it } from "vitest";
import { runCampaign } from "./campaign.ts";
import { TARGETS } from "./targets.ts";

const COUNT = 300;

describe("fuzzing every parser and loader (300 inputs each)", () => {
  for (const target of TARGETS) {
    it(`${target.name}: every input parses/loads or raises a LlamaError`, async () => {
      const stats = await runCampaign(target, { count: COUNT, seed: 20250607, heavy: false });
      const report = stats.failures.map((f) => `#${f.index} (${f.input}): ${f.error}`).join("\n\n");
      expect(stats.other, report).toBe(0);
      expect(stats.tried).toBe(COUNT);
      expect(stats.ok).toBeGreaterThan(COUNT / 20);
      expect(stats.typed).toBeGreaterThan(COUNT / 2);
    });
  }
});
