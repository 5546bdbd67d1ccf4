/**
 * Fuzz targets for resource bounds (what a file's author controls beyond its syntax):
 *
 *   chat_template   apply_chat_template with a generated Jinja template: loops over huge and nested ranges,
 *                   doubling strings and lists, scans of large values, filters with huge widths, recursion,
 *                   spliced into valid templates or damaged byte-wise. Must render or end in a TemplateError.
 *                   The campaign lowers JINJA_LIMITS.max_steps to 20,000 so hundreds of inputs run in seconds;
 *                   the bounds behave the same at any budget.
 *   config sizes    config.json with hostile sizes (0, odd, 2^31, 1e9, 50,000 layers, fractional, strings, huge
 *                   num_labels, rope_scaling with zero or negative fields) over a tiny checkpoint folder, loaded
 *                   with from_pretrained (causal LM or sequence classification) and run on a prompt whose length
 *                   and positions are drawn too (past max_position_embeddings included). Must run or end in a
 *                   LlamaError, without allocating what the checkpoint does not hold.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc, { type Arbitrary } from "fast-check";
import { llamaDefaultChatTemplate } from "../../src/tokenization_chat.ts";
import { loadDefaultTokenizer } from "../../src/models/llama/default_tokenizer.ts";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";
import { LlamaForCausalLM, LlamaForSequenceClassification } from "../../src/models/llama/modeling_llama.ts";
import { JINJA_LIMITS } from "../../src/utils/jinja_sandbox.ts";
import type { FuzzTarget, NamedMutation, Seed } from "./targets.ts";
import type { Mutation } from "./mutate.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function named(label: string, arb: Arbitrary<Mutation>): Arbitrary<NamedMutation> {
  return arb.map((m) => Object.assign((f: Uint8Array) => m(f), { label }));
}

// ---------------------------------------------------------------------------------------------------------------
// Chat templates
// ---------------------------------------------------------------------------------------------------------------

const bigInt = fc.constantFrom("0", "1", "3", "1000", "100000", "100001", "200000000", "-5", "2**40", "10**12", "1.5");

/** An expression, from a small grammar biased towards expensive operations. */
const expr: Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    bigInt,
    fc.constantFrom("'ab'", "ns.s", "ns.a", "messages", "messages[0]['content']", "loop.index", "i", "none", "x"),
    fc
      .tuple(tie("e"), fc.constantFrom("~", "+", "*", "**", "in", "==", "//", "%"), tie("e"))
      .map(([a, o, b]) => `(${a} ${o} ${b})`),
    fc.tuple(tie("e"), bigInt).map(([a, n]) => `range(${n})|join(${a})`),
    fc.tuple(tie("e"), bigInt).map(([a, n]) => `${a}|tojson(indent=${n})`),
    fc.tuple(tie("e"), bigInt).map(([a, n]) => `${a}|indent(${n})`),
    fc.tuple(tie("e"), tie("e")).map(([a, b]) => `${a}|string|replace('a', ${b})`),
    tie("e").map((a) => `${a}|list|length`),
    tie("e").map((a) => `${a}|upper`),
    tie("e").map((a) => `raise_exception(${a})`),
    fc.constantFrom(
      "messages|selectattr('role', 'equalto', 'user')|list",
      "namespace(s='x')",
      "strftime_now('%Y-%m-%d')",
    ),
  ),
})).e;

const iterable = fc.oneof(
  bigInt.map((n) => `range(${n})`),
  fc.tuple(bigInt, bigInt, fc.constantFrom("1", "-1", "7", "0")).map(([a, b, s]) => `range(${a}, ${b}, ${s})`),
  fc.constantFrom("messages", "ns.a", "range(100000)", "ns.s", "messages|map(attribute='content')"),
);

/** A statement list; loops nest up to the depth fast-check gives. */
const body: Arbitrary<string> = fc.letrec<{ b: string; s: string }>((tie) => ({
  b: fc.array(tie("s"), { minLength: 0, maxLength: 3 }).map((xs) => xs.join("")),
  s: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("text", "{{ message['content'] }}", "{% set ns.s = ns.s ~ ns.s %}", "{% set ns.a = ns.a + ns.a %}"),
    expr.map((e) => `{{ ${e} }}`),
    expr.map((e) => `{% set x = ${e} %}`),
    fc.tuple(iterable, tie("b")).map(([it, b]) => `{% for i in ${it} %}${b}{% endfor %}`),
    fc.tuple(expr, tie("b")).map(([e, b]) => `{% if ${e} %}${b}{% else %}y{% endif %}`),
    fc.constantFrom("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "{% break %}", "{{ "),
  ),
})).b;

const hostileTemplate = body.map((b) => `{% set ns = namespace(s='ab', a=[1, 2]) %}${b}`);

const CHAT_SEEDS = [
  llamaDefaultChatTemplate(false),
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
  "{% set ns = namespace(n=0) %}{% for m in messages %}{% for i in range(3) %}{% set ns.n = ns.n + 1 %}{% endfor %}{% endfor %}{{ ns.n }}",
  "{{ messages|tojson(indent=2) }}{{ range(10)|join(',') }}",
];

const MESSAGES = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi there" },
  { role: "assistant", content: "Hello!" },
  { role: "user", content: "How are you?" },
];

let chatTokenizer: ReturnType<typeof loadDefaultTokenizer> | null = null;
let savedSteps: number | null = null;

export const chatTemplateTarget: FuzzTarget = {
  name: "chat_template",
  seeds(): Seed[] {
    return CHAT_SEEDS.map((t, i) => ({ label: `chat template #${i}`, bytes: encoder.encode(t) }));
  },
  structured: [
    named(
      "hostile template",
      hostileTemplate.map((t) => () => encoder.encode(t)),
    ),
    named(
      "hostile splice",
      fc.tuple(hostileTemplate, fc.nat()).map(([t, at]) => (f: Uint8Array) => {
        const s = decoder.decode(f);
        const i = at % (s.length + 1);
        return encoder.encode(s.slice(0, i) + t + s.slice(i));
      }),
    ),
  ],
  run(bytes) {
    if (savedSteps === null) {
      savedSteps = JINJA_LIMITS.max_steps;
      JINJA_LIMITS.max_steps = 20_000;
    }
    chatTokenizer ??= loadDefaultTokenizer();
    chatTokenizer.apply_chat_template(MESSAGES, { chat_template: decoder.decode(bytes), tokenize: false });
  },
  dispose() {
    if (savedSteps !== null) JINJA_LIMITS.max_steps = savedSteps;
    savedSteps = null;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Config-driven sizes
// ---------------------------------------------------------------------------------------------------------------

const TINY = {
  model_type: "llama",
  vocab_size: 16,
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 16,
};

const hostileSize = fc.constantFrom<unknown>(
  0,
  1,
  2,
  3,
  7,
  8,
  16,
  50_000,
  1e6,
  2 ** 31,
  1e9,
  -1,
  0.5,
  "8",
  null,
  1e300,
);

/** An edit of one or more size fields, rope_scaling or num_labels. */
const sizeEdit: Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.dictionary(
    fc.constantFrom(
      "vocab_size",
      "hidden_size",
      "intermediate_size",
      "num_hidden_layers",
      "num_attention_heads",
      "num_key_value_heads",
      "max_position_embeddings",
      "head_dim",
      "num_labels",
      "pretraining_tp",
    ),
    hostileSize,
    { minKeys: 1, maxKeys: 3 },
  ),
  fc
    .record({
      rope_type: fc.constantFrom<unknown>(
        "linear",
        "dynamic",
        "yarn",
        "longrope",
        "llama3",
        "toString",
        "__proto__",
        5,
      ),
      factor: hostileSize,
      beta_fast: fc.constantFrom<unknown>(-5, 0, 32, 1e300),
      original_max_position_embeddings: hostileSize,
      low_freq_factor: fc.constantFrom<unknown>(0, 1, -1),
      high_freq_factor: fc.constantFrom<unknown>(4, 1),
      short_factor: fc.constantFrom<unknown>([1, 1], [0, 1], [1], "x"),
      long_factor: fc.constantFrom<unknown>([1, 1], [-1, 2]),
    })
    .map((rope_scaling) => ({ rope_scaling })),
);

let sizesDir: string | null = null;

/** The folder holding the tiny model's weights, saved once per campaign; config.json is rewritten per input. */
async function checkpointDir(): Promise<string> {
  if (sizesDir !== null) return sizesDir;
  const dir = mkdtempSync(join(tmpdir(), "fuzz-sizes-"));
  await new LlamaForCausalLM(new LlamaConfig(TINY), { seed: 0 }).save_pretrained(dir);
  sizesDir = dir;
  return dir;
}

export const configSizesTarget: FuzzTarget = {
  name: "config sizes",
  seeds(): Seed[] {
    // The input is a JSON object: {config: edits, head: "causal" | "cls", prompt: length, positions: kind}.
    return [
      { label: "tiny config", bytes: encoder.encode(JSON.stringify({ config: {}, head: "causal", prompt: 3 })) },
      {
        label: "tiny classifier",
        bytes: encoder.encode(JSON.stringify({ config: { num_labels: 3 }, head: "cls", prompt: 2 })),
      },
    ];
  },
  structured: [
    named(
      "hostile sizes",
      fc
        .record({
          config: sizeEdit,
          head: fc.constantFrom("causal", "cls"),
          prompt: fc.constantFrom(1, 3, 16, 17, 200, 3000),
          positions: fc.constantFrom("none", "fraction", "negative", "huge", "past"),
        })
        .map((input) => () => encoder.encode(JSON.stringify(input))),
    ),
  ],
  async run(bytes) {
    // Damaged inputs (byte mutations, random bytes) that are no longer such a JSON object are written as the
    // config.json itself: from_pretrained must refuse them as it refuses any damaged file.
    let input: {
      config?: Record<string, unknown>;
      head?: string;
      prompt?: number;
      positions?: string;
    };
    let raw: Uint8Array | null = null;
    try {
      const parsed = JSON.parse(decoder.decode(bytes));
      input = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {};
      if (input.config !== undefined && (typeof input.config !== "object" || input.config === null)) raw = bytes;
    } catch {
      input = {};
      raw = bytes;
    }
    const dir = await checkpointDir();
    const edits = typeof input.config === "object" && input.config !== null ? input.config : {};
    writeFileSync(join(dir, "config.json"), raw ?? JSON.stringify({ ...TINY, ...edits }));
    const model =
      input.head === "cls"
        ? await LlamaForSequenceClassification.from_pretrained(dir)
        : await LlamaForCausalLM.from_pretrained(dir);
    const T = Math.max(1, Math.min(Number(input.prompt) || 1, 4000));
    const ids = [Array.from({ length: T }, (_, i) => i % 16)];
    const pos = Array.from({ length: T }, (_, i) => i);
    const position_ids =
      input.positions === "fraction"
        ? [pos.map((p) => p + 0.5)]
        : input.positions === "negative"
          ? [pos.map((p) => p - 1)]
          : input.positions === "huge"
            ? [pos.map((p) => p * 1e300)]
            : input.positions === "past"
              ? [pos.map((p) => p + 100)]
              : undefined;
    model.forward({ input_ids: ids, position_ids });
  },
  dispose() {
    if (sizesDir !== null) rmSync(sizesDir, { recursive: true, force: true });
    sizesDir = null;
  },
};
