/**
 * The committed kernels.wasm is what `npm run build:wasm` makes from kernels.ts with the pinned AssemblyScript
 * (a devDependency, so this always runs): nothing is compiled at install time, and the binary matches its source.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
// @ts-expect-error: a plain .mjs build script without type declarations
import { buildKernels } from "../../scripts/build-wasm.mjs";

it("rebuilding src/backends/wasm/kernels.wasm gives the committed bytes", async () => {
  const fresh: Buffer = await buildKernels();
  const committed = readFileSync(new URL("../../src/backends/wasm/kernels.wasm", import.meta.url));
  expect(fresh.length).toBe(committed.length);
  expect(fresh.equals(committed)).toBe(true);
}, 120000);
