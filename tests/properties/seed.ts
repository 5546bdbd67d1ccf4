/**
 * Seed and run counts shared by the property tests.
 *
 * `npm test` runs every property with the fixed seed below, so CI is reproducible. `npm run test:properties`
 * (tests/properties/run_random_seed.ts) draws a seed, prints it, and passes it in FC_SEED; FC_RUNS_SCALE
 * multiplies every run count (e.g. FC_RUNS_SCALE=10 for a longer search). A failure message always starts with
 * the seed and the command that replays it.
 */
import fc from "fast-check";

export const FIXED_SEED = 20250607;

function readSeed(): number {
  const raw = process.env.FC_SEED;
  if (raw === undefined || raw === "") return FIXED_SEED;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`FC_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return n | 0;
}

function readScale(): number {
  const raw = process.env.FC_RUNS_SCALE;
  if (raw === undefined || raw === "") return 1;
  const n = Number(raw);
  if (!(n > 0)) throw new Error(`FC_RUNS_SCALE must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

export const SEED = readSeed();
export const RUNS_SCALE = readScale();

/** How to replay a failure of this run. */
export const REPLAY = `FC_SEED=${SEED} npx vitest run tests/properties`;

/** fast-check parameters for `numRuns` runs (scaled by FC_RUNS_SCALE) with this run's seed. */
export function params(numRuns: number, extra: Partial<fc.Parameters<unknown>> = {}): fc.Parameters<unknown> {
  return { seed: SEED, numRuns: Math.max(1, Math.round(numRuns * RUNS_SCALE)), ...extra };
}

/** fc.assert with the seed and the replay command at the head of the failure message. */
export function assertProperty<Ts>(
  property: fc.IProperty<Ts>,
  numRuns: number,
  extra: Partial<fc.Parameters<Ts>> = {},
): void {
  const details = fc.check(property, { ...params(numRuns), ...extra } as fc.Parameters<Ts>);
  if (details.failed) {
    throw new Error(`property failed with FC_SEED=${SEED} (replay: ${REPLAY})\n${fc.defaultReportMessage(details)}`, {
      cause: details.errorInstance,
    });
  }
}
