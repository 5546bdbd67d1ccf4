import { expect } from "vitest";
import { TokenizerError } from "../../src/errors.ts";

/** `f()` must throw a TokenizerError naming `file` whose message matches `pattern`. */
export function expectTokenizerError(f: () => unknown, pattern: RegExp, file: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TokenizerError);
    expect((e as TokenizerError).file).toBe(file);
    expect((e as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected a TokenizerError matching ${pattern}`);
}
