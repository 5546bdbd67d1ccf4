/**
 * Where the tests find ../shared/reference (HF-made ground truth). On a user's machine the folder may be
 * absent: the tests that need it skip, and say why. CI sets LLAMA_TS_REQUIRE_REFERENCE=1 (.ci/run), which
 * turns an absent folder into a failure, so CI can never pass by skipping.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const REFERENCE_ROOT = resolve(process.cwd(), "../shared/reference");

/** What the test suite reads from ../shared/reference (each folder's README describes it). */
export const REFERENCE_ENTRIES = ["models", "tokenizer", "tokenizer.model", "pth", "meta"];

/** True when absent reference data must fail the run instead of skipping tests (CI sets it). */
export function referenceRequired(): boolean {
  return process.env.LLAMA_TS_REQUIRE_REFERENCE === "1";
}

/**
 * The reference entries missing under `root`; throws naming them when referenceRequired(). Run once before the
 * suite (vitest globalSetup, tests/global_setup.ts), so that with the variable set no test can skip for a
 * missing reference, whichever way it checks for one.
 */
export function checkReference(root = REFERENCE_ROOT): string[] {
  const missing = REFERENCE_ENTRIES.filter((e) => !existsSync(join(root, e)));
  if (missing.length && referenceRequired())
    throw new Error(
      `LLAMA_TS_REQUIRE_REFERENCE=1 but ${root} lacks ${missing.join(", ")}: the tests that need them would skip`,
    );
  return missing;
}

/** `../shared/reference/<sub>` if it exists; otherwise null after printing why `what` is skipped. */
export function referenceDir(sub: string, what: string): string | null {
  const dir = join(REFERENCE_ROOT, sub);
  if (existsSync(dir)) return dir;
  if (referenceRequired())
    throw new Error(`${dir} is absent and LLAMA_TS_REQUIRE_REFERENCE=1: ${what} cannot be skipped`);
  console.warn(`skipping ${what}: ${dir} is absent`);
  return null;
}
