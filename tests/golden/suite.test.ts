/**
 * The committed golden/ suite: regenerating each preset gives the committed bytes (every file, same file list),
 * the README lists every preset, and the whole suite stays small enough for git.
 */
import { mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { GOLDEN_PRESETS } from "../../src/golden/presets.ts";
import { writeSuitePreset } from "../../src/golden/suite.ts";

const ROOT = resolve(process.cwd(), "golden");

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

describe("golden/ suite", () => {
  const tmp = mkdtempSync(join(tmpdir(), "golden-suite-"));

  it.each(Object.keys(GOLDEN_PRESETS))("regenerating %s is byte-identical", async (name) => {
    await writeSuitePreset(tmp, name);
    const committed = files(join(ROOT, name));
    expect(files(join(tmp, name))).toEqual(committed);
    for (const f of committed) {
      const same = readFileSync(join(tmp, name, f)).equals(readFileSync(join(ROOT, name, f)));
      expect(same, `golden/${name}/${f} changed: run npm run golden and commit`).toBe(true);
    }
  }, 60_000);

  it("README lists every preset; the suite is under 20 MB", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const name of Object.keys(GOLDEN_PRESETS)) expect(readme, name).toContain(`golden/${name}`);
    const total = files(ROOT).reduce((s, f) => s + statSync(join(ROOT, f)).size, 0);
    expect(total, `${relative(process.cwd(), ROOT)} holds ${total} bytes`).toBeLessThan(20e6);
  });
});
