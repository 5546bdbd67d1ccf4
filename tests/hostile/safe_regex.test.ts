/**
 * safe_regex.ts: patterns RE2 runs must replace exactly as JS RegExp (the engine they replaced, which agrees with
 * Oniguruma on these patterns); the hazard check must refuse the exponential shapes and accept plain ones.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { params } from "../properties/seed.ts";
import { backtrackingHazard, compileSafeRegex } from "../../src/utils/safe_regex.ts";

const fail = (m: string): never => {
  throw new Error(m);
};

// Characters where the engines could differ: ASCII and Unicode white space, letters, digits, an astral character.
// Left out: U+FEFF and U+0085, where JS's \s differs from Unicode White_Space (Oniguruma's \s, and RE2's here);
// U+0085 is checked on its own below.
const CHARS = [
  " ",
  "\t",
  "\n",
  "\v",
  "\f",
  "\r",
  "\u00a0",
  "\u2003",
  "\u3000",
  "a",
  "b",
  "Z",
  "7",
  "é",
  "😀",
  "▁",
  ".",
];
const text = fc.array(fc.constantFrom(...CHARS), { maxLength: 30 }).map((a) => a.join(""));

describe("compileSafeRegex", () => {
  for (const pattern of [
    " {2,}",
    "\\s+",
    "\\S+",
    "[\\s]+",
    "[^\\s]",
    "a|b+",
    "▁+",
    "(a+)+$",
    "[a-z]\\d",
    "^\\s*",
    ".",
  ]) {
    it(`${JSON.stringify(pattern)} runs on RE2 and replaces as JS RegExp`, () => {
      const re = compileSafeRegex(pattern, fail);
      expect(re.engine).toBe("re2");
      const js = new RegExp(pattern, "gu");
      fc.assert(
        fc.property(text, (s) => {
          // "." differs on \r \u0085 \u2028 \u2029 between JS and RE2/Oniguruma; compare on texts without \r for it.
          if (pattern === "." && /[\r]/.test(s)) return;
          expect(re.replaceAll(s, "$1<>")).toBe(s.replace(js, () => "$1<>"));
        }),
        params(300),
      );
    });
  }
  it("\\s is Unicode White_Space as in Oniguruma: it matches U+0085 (JS RegExp's \\s does not), not U+FEFF", () => {
    expect(compileSafeRegex("\\s", fail).replaceAll("a\u0085b\ufeffc", "_")).toBe("a_b\ufeffc");
  });
  it("a lookahead without nested repetition runs on the backtracking engine", () => {
    const re = compileSafeRegex("\\s+(?!\\S)", fail);
    expect(re.engine).toBe("backtracking");
    expect(re.replaceAll("a   b ", "_")).toBe("a_ b_");
  });
});

describe("backtrackingHazard", () => {
  it("flags nested quantifiers, overlapping alternation under repetition, backreferences", () => {
    for (const p of ["(a+)+", "(a*)*b", "(a|a)*", "(?:ab?)+", "(x(a+))+", "(a)\\1", "(?<n>a)\\k<n>", "(a{2,3}){2,}"])
      expect(backtrackingHazard(p), p).not.toBeNull();
  });
  it("accepts single-level repetition, escaped parentheses and classes", () => {
    for (const p of ["a+b*", "(ab)+", "\\(a+\\)+", "[(a+)]+", "(?=a+)b", "(?:abc)?", "a{2,3}", "(a|b)c"])
      expect(backtrackingHazard(p), p).toBeNull();
  });
});
