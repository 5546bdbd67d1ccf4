/** Family 2: chat templates and padding lengths from tokenizer_config.json. */
import { TemplateError, ValueError } from "../../../src/errors.ts";
import { LlamaTokenizerFast } from "../../../src/models/llama/tokenization_llama_fast.ts";
import type { Attack } from "../harness.ts";
import { tokenizerFolder } from "../fixtures.ts";

const MESSAGES = [{ role: "user", content: "ab" }];

/** Load a tokenizer whose tokenizer_config.json holds `config`, then apply its chat template. */
async function render(config: Record<string, unknown>, opts: Record<string, unknown> = { tokenize: false }) {
  const tok = await LlamaTokenizerFast.from_pretrained(tokenizerFolder(config));
  return tok.apply_chat_template(MESSAGES, opts);
}

const template = (chat_template: string, name: string, message: RegExp): Attack => ({
  name,
  run: () => render({ chat_template }),
  error: TemplateError,
  message,
});

export const attacks: Attack[] = [
  template("{% for i in range(200000000) %}{% endfor %}", "range(200000000)", /MAX_RANGE \(100000\)/),
  template("{% for i in range(0, 10**12, 3) %}x{% endfor %}", "range with a step, 3e11 items", /MAX_RANGE/),
  template(
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "two nested range(100000) loops with empty bodies",
    /max_steps/,
  ),
  template(
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
    "two nested range(100000) loops printing",
    /max_steps/,
  ),
  template(
    "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
    "three nested loops",
    /max_steps/,
  ),
  template(
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "a string doubled 64 times",
    /max_string_length/,
  ),
  template(
    "{% set ns = namespace(a=[1]) %}{% for i in range(64) %}{% set ns.a = ns.a + ns.a %}{% endfor %}{{ ns.a|length }}",
    "a list doubled 64 times",
    /max_items/,
  ),
  template(
    "{% set ns = namespace(s='x') %}{% for i in range(23) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}" +
      "{% for i in range(100000) %}{% if 'y' in ns.s %}y{% endif %}{% endfor %}",
    "100000 scans of an 8-million-character string",
    /max_volume/,
  ),
  template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "unbounded macro recursion", /chat_template/),
  template("{{ " + "(".repeat(20000) + "1" + ")".repeat(20000) + " }}", "20000 nested parentheses", /chat_template/),
  template("{% if %}", "a template that does not parse", /cannot parse/),
  template("{{ raise_exception('no system role') }}", "raise_exception", /no system role/),
  {
    name: 'model_max_length 4e8 with padding "max_length"',
    run: () =>
      render({ model_max_length: 4e8, pad_token: "<unk>", chat_template: "{{ 'ab' }}" }, { padding: "max_length" }),
    error: ValueError,
    message:
      /cannot pad to 400000000 tokens \(from model_max_length \(tokenizer_config\.json\)\): more than MAX_PADDED_LENGTH/,
  },
  {
    name: "max_length 1e9 with padding",
    run: async () => {
      const tok = await LlamaTokenizerFast.from_pretrained(tokenizerFolder({ pad_token: "<unk>" }));
      return tok.call(["ab"], { padding: "max_length", max_length: 1e9 });
    },
    error: ValueError,
    message: /cannot pad to 1000000000 tokens \(from max_length\)/,
  },
  {
    name: "pad_to_multiple_of 1e12",
    run: async () => {
      const tok = await LlamaTokenizerFast.from_pretrained(tokenizerFolder({ pad_token: "<unk>" }));
      return tok.call(["ab"], { padding: true, pad_to_multiple_of: 1e12 });
    },
    error: ValueError,
    message: /pad_to_multiple_of/,
  },
  {
    name: "max_length 2e7 on a batch of 4",
    run: async () => {
      const tok = await LlamaTokenizerFast.from_pretrained(tokenizerFolder({ pad_token: "<unk>" }));
      return tok.call(["ab", "a", "b", "ba"], { padding: "max_length", max_length: 1e7 });
    },
    error: ValueError,
    message: /MAX_PADDED_CELLS/,
  },
];
