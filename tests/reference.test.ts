/** The switch that turns "reference data absent" skips into failures (LLAMA_TS_REQUIRE_REFERENCE=1, set by CI). */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { REFERENCE_ENTRIES, checkReference, referenceDir } from "./reference.ts";

describe("LLAMA_TS_REQUIRE_REFERENCE", () => {
  const saved = process.env.LLAMA_TS_REQUIRE_REFERENCE;
  afterEach(() => {
    if (saved === undefined) delete process.env.LLAMA_TS_REQUIRE_REFERENCE;
    else process.env.LLAMA_TS_REQUIRE_REFERENCE = saved;
    vi.restoreAllMocks();
  });
  const empty = mkdtempSync(join(tmpdir(), "llama-ts-noref-"));

  it("unset: an absent reference folder gives null and a printed reason", () => {
    delete process.env.LLAMA_TS_REQUIRE_REFERENCE;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(referenceDir("no-such-folder", "the example tests")).toBeNull();
    expect(warn.mock.calls[0][0]).toMatch(/^skipping the example tests: .*no-such-folder is absent/);
    expect(checkReference(empty)).toEqual(REFERENCE_ENTRIES);
  });

  it("set to 1: an absent reference folder is an error naming it", () => {
    process.env.LLAMA_TS_REQUIRE_REFERENCE = "1";
    expect(() => referenceDir("no-such-folder", "the example tests")).toThrow(/no-such-folder is absent/);
    expect(() => checkReference(empty)).toThrow(/lacks models, tokenizer, tokenizer.model, pth, meta/);
  });
});
