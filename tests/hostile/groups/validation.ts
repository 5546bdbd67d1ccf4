/** Family 5: values that used to give NaN or raw TypeErrors: rope_scaling, positions, public arguments. */
import { ConfigError, ShapeError, ValueError } from "../../../src/errors.ts";
import { LlamaConfig } from "../../../src/models/llama/configuration_llama.ts";
import { LlamaForCausalLM } from "../../../src/models/llama/modeling_llama.ts";
import { Tensor } from "../../../src/tensor/tensor.ts";
import type { Attack } from "../harness.ts";
import { TINY_CONFIG } from "../fixtures.ts";

const tiny = () => new LlamaForCausalLM(new LlamaConfig(TINY_CONFIG), { seed: 1 });
const config = (fields: Record<string, unknown>) => () => new LlamaConfig({ ...TINY_CONFIG, ...fields });
const rope = (rope_scaling: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  config({ rope_scaling, ...extra });
const LONG = { short_factor: [1, 1], long_factor: [1, 1] }; // head_dim 4 -> 2 factors

export const attacks: Attack[] = [
  {
    name: 'rope_scaling {"type": "toString"}',
    run: rope({ type: "toString", factor: 2 }),
    error: ConfigError,
    message: /rope_scaling\.rope_type: unknown rope type "toString"/,
  },
  {
    name: 'rope_scaling {"rope_type": "__proto__"}',
    run: rope({ rope_type: "__proto__" }),
    error: ConfigError,
    message: /unknown rope type/,
  },
  {
    name: 'rope_scaling {"rope_type": "constructor"}',
    run: rope({ rope_type: "constructor", factor: 2 }),
    error: ConfigError,
    message: /unknown rope type/,
  },
  { name: "rope_scaling rope_type 5", run: rope({ rope_type: 5 }), error: ConfigError, message: /unknown rope type 5/ },
  {
    name: "longrope with original_max_position_embeddings 0 (config level)",
    run: rope({ rope_type: "longrope", ...LONG }, { original_max_position_embeddings: 0 }),
    error: ConfigError,
    message: /^original_max_position_embeddings: expected a positive integer, got 0/,
  },
  {
    name: 'longrope with original_max_position_embeddings "abc"',
    run: rope({ rope_type: "longrope", ...LONG }, { original_max_position_embeddings: "abc" }),
    error: ConfigError,
    message: /original_max_position_embeddings: expected a positive integer, got "abc"/,
  },
  {
    name: "longrope with original_max_position_embeddings 0 inside rope_scaling",
    run: rope({ rope_type: "longrope", ...LONG, original_max_position_embeddings: 0 }),
    error: ConfigError,
    message: /rope_scaling\.original_max_position_embeddings/,
  },
  {
    name: "longrope with a zero long_factor",
    run: rope({ rope_type: "longrope", short_factor: [1, 1], long_factor: [1, 0] }),
    error: ConfigError,
    message: /rope_scaling\.long_factor\[1\]/,
  },
  {
    name: "longrope attention_factor -1",
    run: rope({ rope_type: "longrope", ...LONG, attention_factor: -1 }),
    error: ConfigError,
    message: /attention_factor/,
  },
  {
    name: "yarn beta_fast -5",
    run: rope({ rope_type: "yarn", factor: 2, beta_fast: -5 }),
    error: ConfigError,
    message: /rope_scaling\.beta_fast: expected a positive number, got -5/,
  },
  {
    name: "yarn beta_slow Infinity (as 1e999)",
    run: rope({ rope_type: "yarn", factor: 2, beta_slow: 1e999 }),
    error: ConfigError,
    message: /beta_slow/,
  },
  { name: "yarn factor 0", run: rope({ rope_type: "yarn", factor: 0 }), error: ConfigError, message: /factor/ },
  { name: "linear factor NaN", run: rope({ rope_type: "linear", factor: NaN }), error: ConfigError, message: /factor/ },
  {
    name: "dynamic factor as a string",
    run: rope({ rope_type: "dynamic", factor: "2" }),
    error: ConfigError,
    message: /factor/,
  },
  {
    name: "llama3 low_freq_factor 0",
    run: rope({
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 0,
      high_freq_factor: 4,
      original_max_position_embeddings: 8,
    }),
    error: ConfigError,
    message: /low_freq_factor/,
  },
  { name: "rope_theta -1", run: config({ rope_theta: -1 }), error: ConfigError, message: /rope_theta/ },
  {
    name: "max_position_embeddings 0.5",
    run: config({ max_position_embeddings: 0.5 }),
    error: ConfigError,
    message: /max_position_embeddings/,
  },
  {
    name: "position_ids with 0.5",
    run: () => tiny().forward({ input_ids: [[1, 2]], position_ids: [[0, 0.5]] }),
    error: ValueError,
    message: /position_ids: expected integer positions/,
  },
  {
    name: "position_ids with 1e300",
    run: () => tiny().forward({ input_ids: [[1, 2]], position_ids: [[0, 1e300]] }),
    error: ValueError,
    message: /position_ids/,
  },
  {
    name: "position_ids with -1",
    run: () => tiny().forward({ input_ids: [[1, 2]], position_ids: [[-1, 0]] }),
    error: ValueError,
    message: /position_ids/,
  },
  {
    name: "cache_position NaN",
    run: () => tiny().forward({ input_ids: [[1, 2]], cache_position: [0, NaN] }),
    error: ShapeError,
    message: /cache_position/,
  },
  {
    name: "cache_position strings",
    run: () => tiny().forward({ input_ids: [[1, 2]], cache_position: ["a", "b"] as never }),
    error: ShapeError,
    message: /cache_position/,
  },
  {
    name: "cache_position a number",
    run: () => tiny().forward({ input_ids: [[1, 2]], cache_position: 7 as never }),
    error: ShapeError,
    message: /cache_position/,
  },
  {
    name: "forward(undefined)",
    run: () => tiny().forward(undefined as never),
    error: ValueError,
    message: /forward: expected an object of named inputs/,
  },
  { name: "forward(null)", run: () => tiny().forward(null as never), error: ValueError, message: /forward/ },
  { name: "forward('hello')", run: () => tiny().forward("hello" as never), error: ValueError, message: /forward/ },
  {
    name: "past_key_values: {}",
    run: () => tiny().forward({ input_ids: [[1]], past_key_values: {} as never }),
    error: ValueError,
    message: /past_key_values: expected a DynamicCache/,
  },
  {
    name: "generate(ids, null)",
    run: () => tiny().generate([[1, 2]], null as never),
    error: ValueError,
    message: /generate: options: expected an options object/,
  },
  {
    name: "generate with a streamer without put",
    run: () => tiny().generate([[1, 2]], { max_new_tokens: 2, streamer: { end() {} } as never }),
    error: ValueError,
    message: /streamer: expected an object with put/,
  },
  {
    name: "generate with a streamer string",
    run: () => tiny().generate([[1, 2]], { max_new_tokens: 2, streamer: "x" as never }),
    error: ValueError,
    message: /streamer/,
  },
  {
    name: 'new Tensor("float99", ...)',
    run: () => new Tensor("float99" as never, [1], [1]),
    error: ShapeError,
    message: /dtype: expected one of float32/,
  },
  {
    name: "new Tensor with null data",
    run: () => new Tensor("float32", null as never, [1]),
    error: ShapeError,
    message: /data: expected a typed array/,
  },
  {
    name: "new Tensor int64 with a string element",
    run: () => new Tensor("int64", ["x"] as never, [1]),
    error: ShapeError,
    message: /element 0/,
  },
  {
    name: "new Tensor int64 with NaN",
    run: () => new Tensor("int64", [NaN], [1]),
    error: ShapeError,
    message: /element 0/,
  },
  {
    name: "new Tensor with shape 3",
    run: () => new Tensor("float32", [1, 2, 3], 3 as never),
    error: ShapeError,
    message: /shape/,
  },
  {
    name: "LlamaConfig with a field named __proto__",
    run: () => new LlamaConfig(JSON.parse('{"__proto__": {"vocab_size": 5}}')),
    error: ConfigError,
    message: /__proto__/,
  },
  {
    name: "from_json_string with hidden_act toString",
    run: () => LlamaConfig.from_json_string(JSON.stringify({ ...TINY_CONFIG, hidden_act: "toString" })),
    error: ConfigError,
    message: /hidden_act/,
  },
];
