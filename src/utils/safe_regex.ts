/**
 * Regular expressions from tokenizer.json, compiled so that no pattern can hang encoding.
 *
 * HF `tokenizers` compiles `{"Regex": ...}` patterns with Oniguruma, a backtracking engine, and so would
 * JavaScript's RegExp: `(a+)+$` on 40 a's and a b takes longer than the universe is old. A pattern comes from
 * whoever published the tokenizer, the text from the user, so here:
 *   - a pattern RE2 accepts is run by re2js, a linear-time engine (time proportional to pattern x text);
 *   - a pattern RE2 refuses (lookaround, backreferences: features that need backtracking) runs on JS RegExp
 *     only when it has no nested or overlapping repetition (no quantified group that itself contains a
 *     quantifier or an alternation, no backreference), the shapes that make backtracking exponential; any other
 *     is refused with a TokenizerError naming the field.
 *
 * Semantics: Oniguruma's `\s` is Unicode White_Space, RE2's is ASCII; `\s`/`\S` are rewritten for RE2 to the
 * White_Space set (tab, LF, VT, FF, CR, U+0085 and the Unicode separators \p{Z}) so both engines agree with
 * tokenizers. `\d` and `\w` are ASCII in RE2 and in JS RegExp (the JS path this replaced) alike.
 */
import { RE2JS } from "re2js";

/** A compiled pattern: replace every match with a literal string (no `$1` expansion, as tokenizers' Replace). */
export interface SafeRegex {
  readonly source: string;
  readonly engine: "re2" | "backtracking";
  replaceAll(text: string, content: string): string;
}

const WHITE_SPACE_CLASS_BODY = "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}";

/** `\s` -> White_Space, `\S` -> its complement, inside and outside character classes. */
function rewriteForRe2(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\" && i + 1 < pattern.length) {
      const n = pattern[i + 1];
      i++;
      if (n === "s") out += inClass ? WHITE_SPACE_CLASS_BODY : `[${WHITE_SPACE_CLASS_BODY}]`;
      else if (n === "S" && !inClass) out += `[^${WHITE_SPACE_CLASS_BODY}]`;
      else out += "\\" + n; // \S inside a class has no RE2 spelling as a class body: RE2's own (ASCII) \S stays.
      continue;
    }
    if (c === "[" && !inClass) {
      inClass = true;
      out += c;
      // A `]` right after `[` or `[^` is a literal in both engines.
      if (pattern[i + 1] === "^") out += pattern[++i];
      if (pattern[i + 1] === "]") out += pattern[++i];
      continue;
    }
    if (c === "]" && inClass) inClass = false;
    out += c;
  }
  return out;
}

/**
 * Why a pattern could backtrack exponentially, or null. Scans groups: a group whose body holds a quantifier
 * or a top-level `|`, followed by a quantifier (`*`, `+`, `?`, `{n,m}`), and any backreference `\1`..`\9`
 * or `\k<name>`.
 */
export function backtrackingHazard(pattern: string): string | null {
  // Per open group: does its body contain a quantifier or an alternation?
  const stack: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      const n = pattern[i + 1] ?? "";
      if (/[1-9]/.test(n) || (n === "k" && pattern[i + 2] === "<")) return "a backreference";
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      if (pattern[i + 1] === "^") i++;
      if (pattern[i + 1] === "]") i++;
      continue;
    }
    const isQuantifier = c === "*" || c === "+" || c === "?" || (c === "{" && /^\{\d+(,\d*)?\}/.test(pattern.slice(i)));
    if (c === "(") stack.push(false);
    else if (c === "|") {
      if (stack.length) stack[stack.length - 1] = true;
    } else if (c === ")") {
      const risky = stack.pop() ?? false;
      const next = pattern[i + 1] ?? "";
      const quantified =
        next === "*" || next === "+" || next === "?" || (next === "{" && /^\{\d+(,\d*)?\}/.test(pattern.slice(i + 1)));
      if (risky && quantified) return "a repeated group that itself repeats or alternates (nested quantifiers)";
      if (risky && stack.length) stack[stack.length - 1] = true;
    } else if (isQuantifier && !(c === "?" && pattern[i - 1] === "(")) {
      if (stack.length) stack[stack.length - 1] = true;
    }
  }
  return null;
}

/**
 * Compile a tokenizer.json pattern. Throws `fail(message)`'s error (a TokenizerError naming the field) when
 * the pattern is invalid or could backtrack without bound.
 */
export function compileSafeRegex(pattern: string, fail: (message: string) => never): SafeRegex {
  try {
    const re = RE2JS.compile(rewriteForRe2(pattern));
    return {
      source: pattern,
      engine: "re2",
      replaceAll: (text, content) => re.matcher(text).replaceAll(() => content),
    };
  } catch {
    // Not RE2 syntax: lookaround or backreferences, or invalid. Fall through to the checked JS engine.
  }
  let js: RegExp;
  try {
    js = new RegExp(pattern, "gu");
  } catch (e) {
    fail(`not a valid regular expression: ${(e as Error).message}`);
  }
  const hazard = backtrackingHazard(pattern);
  if (hazard !== null)
    fail(
      `refused: the pattern needs a backtracking engine (RE2 cannot run it) and has ${hazard}, which can take exponential time on some texts`,
    );
  return { source: pattern, engine: "backtracking", replaceAll: (text, content) => text.replace(js, () => content) };
}
