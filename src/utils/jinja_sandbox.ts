/**
 * A resource-bounded renderer for chat templates, on top of `@huggingface/jinja`.
 *
 * A chat template arrives inside tokenizer_config.json, i.e. from whoever published the model, and Jinja is a
 * programming language: `{% for i in range(200000000) %}` allocates a 200-million-item list, two nested
 * `range(100000)` loops run for hours, `{% set s = s + s %}` in a loop doubles a string until the process dies.
 * HF renders with jinja2's `ImmutableSandboxedEnvironment`, which blocks ranges over MAX_RANGE (100,000) items
 * and nothing else. Here every render is bounded, and going past a bound is a TemplateError naming it:
 *
 *   range()        at most JINJA_LIMITS.max_range items, as jinja2's sandbox (`safe_range`, same message);
 *   steps          at most JINJA_LIMITS.max_steps + JINJA_LIMITS.steps_per_input_item per message, tool and
 *                  document given, counting every node the interpreter evaluates plus every loop iteration
 *                  (so an empty loop body still costs); the allowance grows with the caller's input, which the
 *                  template's author does not control, so long conversations still render;
 *   one value      no string longer than JINJA_LIMITS.max_string_length characters and no list or mapping of
 *                  more than JINJA_LIMITS.max_items entries, checked on every value the interpreter produces;
 *   volume         at most JINJA_LIMITS.max_volume characters and items produced or read in total (every
 *                  string, list and mapping an evaluation returns is counted by its length), which bounds the
 *                  work of string and list operations such as `in`, `replace` or `join` on large values.
 *
 * With the defaults a hostile template ends within a few seconds (the package's interpreter evaluates some
 * 100,000 to 1,000,000 nodes a second) and a few hundred MB; Llama 2's template needs about 40 steps per message.
 *
 * The interpreter is the package's own; this subclass only counts. The globals are the package's
 * `setupGlobals` (not exported by it), with `range` bounded and `raise_exception` given by the caller.
 */
import { Environment, Interpreter, type Template } from "@huggingface/jinja";
import { TemplateError } from "../errors.ts";

export const JINJA_LIMITS = {
  /** jinja2.sandbox.MAX_RANGE. */
  max_range: 100_000,
  max_steps: 250_000,
  steps_per_input_item: 250,
  max_string_length: 1 << 24,
  max_items: 1 << 20,
  max_volume: 1_000_000_000,
};

type Node = { type: string; [k: string]: unknown };
type Value = { type: string; value: unknown };

// The package's .d.ts re-exports its runtime classes from an extension-less path that TypeScript's NodeNext
// resolution does not follow, so the two classes are typed here with the members used.
interface JinjaEnvironment {
  set(name: string, value: unknown): unknown;
}
interface JinjaInterpreter {
  evaluate(statement: Node | undefined, environment: JinjaEnvironment): Value;
  run(program: unknown): Value;
}
const EnvironmentClass = Environment as unknown as new () => JinjaEnvironment;
const InterpreterClass = Interpreter as unknown as new (env: JinjaEnvironment) => JinjaInterpreter;

/** Python's `range(start, stop[, step])` over integers, refusing more than max_range items before allocating. */
function boundedRange(...args: unknown[]): number[] {
  if (args.length < 1 || args.length > 3)
    throw new TemplateError(`chat_template: range expected 1 to 3 arguments, got ${args.length}`);
  for (const a of args)
    if (typeof a !== "number" || !Number.isSafeInteger(a))
      throw new TemplateError(`chat_template: range() arguments must be integers, got ${String(a)}`);
  const [start, stop, step] = args.length === 1 ? [0, args[0] as number, 1] : [args[0], args[1], args[2] ?? 1];
  const [a, b, s] = [start as number, stop as number, step as number];
  if (s === 0) throw new TemplateError("chat_template: range() arg 3 must not be zero");
  const length = s > 0 ? Math.max(0, Math.ceil((b - a) / s)) : Math.max(0, Math.ceil((a - b) / -s));
  if (length > JINJA_LIMITS.max_range)
    throw new TemplateError(
      `chat_template: Range too big. The sandbox blocks ranges larger than MAX_RANGE (${JINJA_LIMITS.max_range}).`,
    );
  return Array.from({ length }, (_, i) => a + i * s);
}

/** HF's `strftime_now(format)`: the local time formatted with Python's strftime directives. */
function strftimeNow(format: unknown): string {
  if (typeof format !== "string") throw new TemplateError("chat_template: strftime_now expects a format string");
  const d = new Date();
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const month = (style: "long" | "short") => new Intl.DateTimeFormat("en-US", { month: style }).format(d);
  const day = (style: "long" | "short") => new Intl.DateTimeFormat("en-US", { weekday: style }).format(d);
  const directives: Record<string, () => string> = {
    Y: () => String(d.getFullYear()),
    y: () => pad(d.getFullYear() % 100),
    m: () => pad(d.getMonth() + 1),
    d: () => pad(d.getDate()),
    b: () => month("short"),
    B: () => month("long"),
    a: () => day("short"),
    A: () => day("long"),
    H: () => pad(d.getHours()),
    I: () => pad(((d.getHours() + 11) % 12) + 1),
    p: () => (d.getHours() < 12 ? "AM" : "PM"),
    M: () => pad(d.getMinutes()),
    S: () => pad(d.getSeconds()),
    j: () => pad(Math.floor((d.getTime() - new Date(d.getFullYear(), 0, 1).getTime()) / 86_400_000) + 1, 3),
    "%": () => "%",
  };
  return format.replace(/%(.)/gs, (m, c: string) => (Object.hasOwn(directives, c) ? directives[c]() : m));
}

class BoundedInterpreter extends InterpreterClass {
  constructor(
    env: JinjaEnvironment,
    private readonly maxSteps: number,
  ) {
    super(env);
  }
  private steps = 0;
  private volume = 0;
  /** Nodes whose value a `for` loop iterates: their length is charged as steps (one per iteration). */
  private readonly iterables = new WeakSet<object>();

  override evaluate(statement: Node | undefined, environment: JinjaEnvironment): Value {
    if (statement) {
      const node = statement;
      if (node.type === "For") {
        const iterable = node.iterable as Node;
        this.iterables.add(iterable.type === "SelectExpression" ? (iterable.lhs as object) : iterable);
      }
      this.charge(1);
    }
    const v = super.evaluate(statement, environment);
    let size = 0;
    if (v.type === "StringValue") {
      size = (v.value as string).length;
      if (size > JINJA_LIMITS.max_string_length)
        throw new TemplateError(
          `chat_template: a string of ${size} characters exceeds the limit of ${JINJA_LIMITS.max_string_length} (JINJA_LIMITS.max_string_length)`,
        );
    } else if (Array.isArray(v.value) || v.value instanceof Map) {
      size = Array.isArray(v.value) ? v.value.length : v.value.size;
      if (size > JINJA_LIMITS.max_items)
        throw new TemplateError(
          `chat_template: a list or mapping of ${size} items exceeds the limit of ${JINJA_LIMITS.max_items} (JINJA_LIMITS.max_items)`,
        );
      if (statement && this.iterables.has(statement)) this.charge(size);
    }
    this.volume += size;
    if (this.volume > JINJA_LIMITS.max_volume)
      throw new TemplateError(
        `chat_template: rendering produced or read more than ${JINJA_LIMITS.max_volume} characters and items (JINJA_LIMITS.max_volume)`,
      );
    return v;
  }

  private charge(steps: number): void {
    this.steps += steps;
    if (this.steps > this.maxSteps)
      throw new TemplateError(
        `chat_template: rendering took more than ${this.maxSteps} steps (JINJA_LIMITS.max_steps + steps_per_input_item per message, tool and document); the template loops too long`,
      );
  }
}

/**
 * Render a parsed template with the bounds above. `variables` are the template's variables (they may replace
 * globals, as the package's `Template.render` allows); `inputItems` the number of messages, tools and documents
 * they hold. Errors other than TemplateError propagate unchanged.
 */
export function renderBounded(
  template: Template,
  variables: Record<string, unknown>,
  raise_exception: (message: unknown) => never,
  inputItems: number,
): string {
  const env = new EnvironmentClass();
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    True: true,
    False: false,
    None: null,
    raise_exception,
    range: boundedRange,
    strftime_now: strftimeNow,
  };
  for (const [k, v] of Object.entries(globals)) env.set(k, v);
  for (const [k, v] of Object.entries(variables)) env.set(k, v);
  const maxSteps = JINJA_LIMITS.max_steps + JINJA_LIMITS.steps_per_input_item * inputItems;
  return new BoundedInterpreter(env, maxSteps).run(template.parsed).value as string;
}
