/**
 * Every case of every checkpoint in ../shared/reference/models, run through the public API and compared with
 * the numbers HF transformers 4.44.2 produced, at the tolerances of that folder's README. The harness lives in
 * src/testing/reference_cases.ts (`llama-ts parity` prints the same measurements).
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MatmulBackend, getMatmulBackend, referenceBackend, setMatmulBackend } from "../../src/ops/matmul.ts";
import { runReferenceCases } from "../../src/testing/reference_cases.ts";

const MODELS = resolve(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping reference model cases: ${MODELS} is absent`);
const names = present ? readdirSync(MODELS).filter((n) => existsSync(join(MODELS, n, "cases.json"))) : [];

// Every case runs twice: on the default backend (the fastest here: WASM SIMD with worker threads) and on the
// reference loop, each against HF's numbers.
const backends: [string, () => MatmulBackend][] = [
  ["default backend", () => getMatmulBackend()],
  ["reference backend", () => referenceBackend],
];

describe.skipIf(!present).each(backends)("reference checkpoints (HF 4.44.2), %s", (_label, pick) => {
  let saved: MatmulBackend;
  beforeAll(() => {
    saved = getMatmulBackend();
    setMatmulBackend(pick());
  });
  afterAll(() => setMatmulBackend(saved));
  for (const name of names) {
    const dir = join(MODELS, name);
    const spec = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
    describe(name, () => {
      for (const c of spec.cases) {
        it(c.name, async () => {
          const [result] = await runReferenceCases(dir, (n) => n === c.name);
          expect(result.checks.length).toBeGreaterThan(0);
          const failed = result.checks.filter((k) => !k.ok).map((k) => k.message);
          expect(failed).toEqual([]);
        });
      }
    });
  }
});
