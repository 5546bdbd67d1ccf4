/**
 * `npm run test:properties`: the property tests with a fresh random seed (or FC_SEED if set), so every run
 * explores new cases while CI keeps its fixed seed. The seed is printed before the run and again on failure;
 * `FC_SEED=<seed> npm run test:properties` replays it. FC_RUNS_SCALE multiplies every property's run count.
 * Extra arguments go to vitest (e.g. a test-name filter: `npm run test:properties -- -t "KV-cache"`).
 */
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";

const seed =
  process.env.FC_SEED !== undefined && process.env.FC_SEED !== ""
    ? Number(process.env.FC_SEED)
    : randomInt(0, 2 ** 31 - 1);
if (!Number.isSafeInteger(seed)) {
  console.error(`FC_SEED must be an integer, got ${JSON.stringify(process.env.FC_SEED)}`);
  process.exit(2);
}
console.log(
  `property tests with FC_SEED=${seed}${process.env.FC_RUNS_SCALE ? ` FC_RUNS_SCALE=${process.env.FC_RUNS_SCALE}` : ""}`,
);
const result = spawnSync("npx", ["vitest", "run", "tests/properties", ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { ...process.env, FC_SEED: String(seed) },
});
const code = result.status ?? 1;
if (code !== 0)
  console.error(`\nproperty tests FAILED with FC_SEED=${seed}; replay: FC_SEED=${seed} npm run test:properties`);
else console.log(`property tests passed with FC_SEED=${seed}`);
process.exit(code);
