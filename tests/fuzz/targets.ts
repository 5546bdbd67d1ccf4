/**
 * The parsers and loaders under fuzz, each with valid seed files and the way an input is fed to it.
 *
 *   safetensors            parseSafetensors(bytes)
 *   sentencepiece          new LlamaTokenizer({ sp_model_proto: bytes }) (ModelProto parse, validation, the
 *                          sentencepiece processor), then encode and decode a sample text
 *   tokenizer.json         parseTokenizerJSON(text) and new LlamaTokenizerFast({ tokenizer_config }), then
 *                          encode and decode
 *   tokenizer_config.json  LlamaTokenizer / LlamaTokenizerFast.from_pretrained(dir) with the input as the folder's
 *                          tokenizer_config.json (small valid tokenizer.model / tokenizer.json next to it)
 *   config.json            LlamaConfig.from_json_string(text); when the config is small enough, a model is built
 *                          from it and run on two tokens (so a config that validates must also work)
 *   pth                    parseTorchCheckpoint(bytes): torch.save zip and legacy files (.pth / pytorch_model.bin),
 *                          the restricted unpickler and the tensor views it resolves
 *
 * Seeds: files from ../shared/reference when present (the large ones, tokenizer.model and tokenizer.json, marked
 * heavy and drawn rarely), plus small valid files generated here, so the campaign runs without the reference too.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import fc, { type Arbitrary } from "fast-check";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import { LlamaTokenizer } from "../../src/models/llama/tokenization_llama.ts";
import { LlamaTokenizerFast } from "../../src/models/llama/tokenization_llama_fast.ts";
import {
  concatChunks,
  memorySource,
  parseTorchCheckpoint,
  serializeTorchCheckpoint,
} from "../../src/formats/pytorch.ts";
import { parseSafetensors, serializeSafetensors } from "../../src/formats/safetensors.ts";
import { buildStoredZip, readZipDirectory } from "../../src/formats/zip.ts";
import {
  type ModelProto,
  PieceType,
  parseModelProto,
  serializeModelProto,
} from "../../src/formats/sentencepiece_model.ts";
import { parseTokenizerJSON, tokenizerConfigToObject } from "../../src/formats/tokenizer_json.ts";
import { convertLlamaModelProto } from "../../src/convert_slow_tokenizer.ts";
import { type DType, Tensor } from "../../src/tensor/tensor.ts";
import { llamaConfigFieldsArb } from "../../src/testing/arbitraries.ts";
import { chatTemplateTarget, configSizesTarget } from "./targets_hostile.ts";
import {
  type Mutation,
  byteMutation,
  jsonMutation,
  jsonTextMutation,
  oddValue,
  randomBytes,
  safetensorsHeaderRewrite,
  safetensorsLengthRewrite,
} from "./mutate.ts";

export const REF = resolve(process.cwd(), "../shared/reference");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A valid file to start from. Heavy seeds (megabytes) are drawn 1 time in 200. */
export interface Seed {
  label: string;
  bytes: Uint8Array;
  heavy?: boolean;
}

/** A mutation with a name for reports. */
export type NamedMutation = Mutation & { label: string };

function named(label: string, arb: Arbitrary<Mutation>): Arbitrary<NamedMutation> {
  return arb.map((m) => Object.assign((f: Uint8Array) => m(f), { label }));
}

export interface FuzzTarget {
  name: string;
  seeds(opts: { heavy: boolean }): Seed[];
  /** Format-aware mutations, applied to a seed before 0-1 byte mutations. */
  structured: Arbitrary<NamedMutation>[];
  /** Feed one input; returns normally on success, throws on rejection. */
  run(bytes: Uint8Array, index: number): void | Promise<void>;
  /** Resources (temporary folders) to free after a campaign. */
  dispose?(): void;
}

/** The text every loaded tokenizer encodes and decodes back. */
const SAMPLE = "Hello wörld <s> 你好 👍\u2581 x\n\tend</s>";

function readIfPresent(path: string): Uint8Array | null {
  try {
    return new Uint8Array(readFileSync(path));
  } catch {
    return null;
  }
}

function referenceModelDirs(): string[] {
  const dir = join(REF, "models");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(dir, e.name));
}

// ---------------------------------------------------------------------------------------------------------------
// Small valid files generated here
// ---------------------------------------------------------------------------------------------------------------

/** A small BPE sentencepiece model: <unk> <s> </s>, optionally the 256 byte pieces, and a few merges. */
export function smallModelProto(opts: {
  byte_fallback: boolean;
  add_dummy_prefix: boolean;
  extra?: string[];
}): ModelProto {
  const pieces: NonNullable<ModelProto["pieces"]> = [
    { piece: "<unk>", score: 0, type: PieceType.UNKNOWN },
    { piece: "<s>", score: 0, type: PieceType.CONTROL },
    { piece: "</s>", score: 0, type: PieceType.CONTROL },
  ];
  if (opts.byte_fallback)
    for (let b = 0; b < 256; b++)
      pieces.push({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, score: 0, type: PieceType.BYTE });
  const words = [
    "▁t",
    "he",
    "▁a",
    "▁the",
    "in",
    "er",
    "▁H",
    "ll",
    "▁Hello",
    "o",
    "H",
    "e",
    "l",
    "▁",
    "t",
    "h",
    "a",
    "i",
    "n",
    "r",
    "w",
    "d",
    "ö",
    "你",
    "好",
    ...(opts.extra ?? []),
  ];
  words.forEach((w, i) => pieces.push({ piece: w, score: -i, type: PieceType.NORMAL }));
  return {
    pieces,
    trainer_spec: {
      model_type: 2,
      vocab_size: pieces.length,
      byte_fallback: opts.byte_fallback,
      unk_id: 0,
      bos_id: 1,
      eos_id: 2,
      pad_id: -1,
    },
    normalizer_spec: {
      name: "identity",
      add_dummy_prefix: opts.add_dummy_prefix,
      remove_extra_whitespaces: false,
      escape_whitespaces: true,
    },
  };
}

const SMALL_PROTOS = [
  smallModelProto({ byte_fallback: true, add_dummy_prefix: true }),
  smallModelProto({ byte_fallback: false, add_dummy_prefix: true }),
  smallModelProto({ byte_fallback: true, add_dummy_prefix: false, extra: ["▁wor", "ld", "▁world"] }),
];

/** The default small tokenizer.model used next to fuzzed tokenizer_config.json files. */
export const SMALL_MODEL_BYTES = serializeModelProto(SMALL_PROTOS[0]);

/** tokenizer.json text converted (LlamaConverter) from a small model. */
function smallTokenizerJson(proto: ModelProto, legacy: boolean): string {
  const config = convertLlamaModelProto(proto, {
    legacy,
    add_prefix_space: true,
    first_tokens: ["<unk>", "<s>", "</s>"],
    special_tokens: ["<unk>", "<s>", "</s>"],
  });
  return JSON.stringify(tokenizerConfigToObject(config), null, 2);
}

/** Small safetensors files: a few tensors of every dtype with patterned bytes. */
function smallSafetensors(): Seed[] {
  const dtypes: DType[] = ["float32", "float16", "bfloat16", "int32", "int64", "bool"];
  return fc
    .sample(
      fc.array(
        fc.record({
          name: fc.string({ maxLength: 6 }),
          dtype: fc.constantFrom(...dtypes),
          shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
        }),
        { maxLength: 5 },
      ),
      { seed: 7, numRuns: 12 },
    )
    .map((entries, i) => {
      const map = new Map<string, Tensor>();
      for (const { name, dtype, shape } of entries) {
        if (name === "__metadata__") continue;
        const t = Tensor.zeros(dtype, shape);
        const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        for (let k = 0; k < bytes.length; k++) bytes[k] = (31 * k + i) & 0xff;
        map.set(name, t);
      }
      return {
        label: `generated safetensors #${i}`,
        bytes: serializeSafetensors(map, i % 2 ? { format: "pt" } : undefined),
      };
    });
}

/** tokenizer_config.json variants: the fields HF's Llama tokenizers read, drawn from their valid values. */
function smallTokenizerConfigs(): Seed[] {
  const token = fc.oneof(
    fc.constantFrom("<s>", "</s>", "<unk>", "<pad>", null),
    fc.constant({
      content: "<unk>",
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: true,
      __type: "AddedToken",
    }),
  );
  const addedEntry = fc.record({
    content: fc.constantFrom("<unk>", "<s>", "</s>", "<pad>", "[INST]"),
    lstrip: fc.boolean(),
    normalized: fc.boolean(),
    rstrip: fc.boolean(),
    single_word: fc.boolean(),
    special: fc.boolean(),
  });
  const cfg = fc.record(
    {
      add_bos_token: fc.boolean(),
      add_eos_token: fc.boolean(),
      legacy: fc.constantFrom(true, false, null),
      bos_token: token,
      eos_token: token,
      unk_token: token,
      pad_token: token,
      padding_side: fc.constantFrom("left", "right"),
      model_max_length: fc.constantFrom(8, 4096, 1e30),
      clean_up_tokenization_spaces: fc.boolean(),
      spaces_between_special_tokens: fc.boolean(),
      additional_special_tokens: fc.constantFrom([], ["[INST]"], ["<pad>", "[INST]"]),
      added_tokens_decoder: fc.dictionary(fc.constantFrom("0", "1", "2", "40", "41"), addedEntry, { maxKeys: 3 }),
      tokenizer_class: fc.constantFrom("LlamaTokenizer", "LlamaTokenizerFast"),
      chat_template: fc.constantFrom("{% for m in messages %}{{ m['content'] }}{% endfor %}", "{{ bos_token }}"),
    },
    { requiredKeys: [] },
  );
  return fc.sample(cfg, { seed: 11, numRuns: 24 }).map((c, i) => ({
    label: `generated tokenizer_config.json #${i}`,
    bytes: encoder.encode(JSON.stringify(c, null, 2)),
  }));
}

function smallConfigs(): Seed[] {
  return fc.sample(llamaConfigFieldsArb(), { seed: 13, numRuns: 24 }).map((k, i) => ({
    label: `generated config.json #${i}`,
    bytes: encoder.encode(new LlamaConfig(k).to_json_string()),
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------------------------

/** A proto-level edit: parse a valid model, change one field of one piece or spec, write it back. */
const protoEdit: Arbitrary<NamedMutation> = named(
  "ModelProto field edit",
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom(
        "piece",
        "score",
        "type",
        "drop",
        "dup",
        "model_type",
        "byte_fallback",
        "dummy_prefix",
        "normalizer",
        "vocab_size",
      ),
      oddValue,
      fc.string({ maxLength: 4 }),
    )
    .map(([pick, field, value, str]) => (file) => {
      let proto: ModelProto;
      try {
        proto = parseModelProto(file);
      } catch {
        return file;
      }
      const pieces = proto.pieces ?? [];
      const i = pieces.length ? pick % pieces.length : 0;
      const num = typeof value === "number" && Number.isFinite(value) ? value : -1;
      switch (field) {
        case "piece":
          if (pieces[i])
            pieces[i].piece = pick % 3 === 0 ? "" : pick % 3 === 1 ? pieces[(i + 1) % pieces.length].piece : str;
          break;
        case "score":
          if (pieces[i]) pieces[i].score = [NaN, Infinity, -Infinity, 3.4e38, -0][pick % 5];
          break;
        case "type":
          if (pieces[i]) pieces[i].type = [0, 1, 2, 3, 4, 5, 6, 7, 99][pick % 9];
          break;
        case "drop":
          pieces.splice(i, 1 + (pick % 300));
          break;
        case "dup":
          if (pieces[i]) pieces.push({ ...pieces[i] });
          break;
        case "model_type":
          proto.trainer_spec = { ...proto.trainer_spec, model_type: [0, 1, 2, 3, 4, 9][pick % 6] };
          break;
        case "byte_fallback":
          proto.trainer_spec = { ...proto.trainer_spec, byte_fallback: !(proto.trainer_spec?.byte_fallback ?? false) };
          break;
        case "dummy_prefix":
          proto.normalizer_spec = {
            ...proto.normalizer_spec,
            add_dummy_prefix: !(proto.normalizer_spec?.add_dummy_prefix ?? true),
            remove_extra_whitespaces: pick % 2 === 0,
          };
          break;
        case "normalizer":
          proto.normalizer_spec = {
            ...proto.normalizer_spec,
            name: ["nmt_nfkc", "nfkc", "identity", "", str][pick % 5],
            precompiled_charsmap: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8].slice(0, pick % 9)),
          };
          break;
        case "vocab_size":
          proto.trainer_spec = { ...proto.trainer_spec, vocab_size: num, unk_id: num, bos_id: -num };
          break;
      }
      try {
        return serializeModelProto(proto);
      } catch {
        return file; // the writer refuses values its field types cannot hold (e.g. a non-integer vocab_size)
      }
    }),
);

export const safetensorsTarget: FuzzTarget = {
  name: "safetensors",
  seeds({ heavy }) {
    const seeds = smallSafetensors();
    for (const dir of referenceModelDirs()) {
      for (const f of readdirSync(dir).filter((n) => n.endsWith(".safetensors"))) {
        const bytes = readIfPresent(join(dir, f));
        const big = bytes !== null && bytes.length > 1_000_000;
        if (bytes && (heavy || !big))
          seeds.push({ label: `reference ${dir.split("/").pop()}/${f}`, bytes, heavy: big });
      }
    }
    return seeds;
  },
  structured: [
    named("header rewrite", safetensorsHeaderRewrite),
    named("length rewrite", safetensorsLengthRewrite),
    named("JSON edit of the header", headerJsonEdit()),
  ],
  run(bytes) {
    parseSafetensors(bytes, "fuzz.safetensors");
  },
};

/** jsonMutation applied to the header of a safetensors file (length prefix kept consistent). */
function headerJsonEdit(): Arbitrary<Mutation> {
  return jsonMutation.map((m) => (file) => {
    if (file.length < 8) return file;
    const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
    if (8 + n > file.length) return file;
    const header = m(file.subarray(8, 8 + n));
    const out = new Uint8Array(8 + header.length + file.length - 8 - n);
    new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
    out.set(header, 8);
    out.set(file.subarray(8 + n), 8 + header.length);
    return out;
  });
}

export const sentencepieceTarget: FuzzTarget = {
  name: "sentencepiece",
  seeds({ heavy }) {
    const seeds: Seed[] = SMALL_PROTOS.map((p, i) => ({
      label: `generated tokenizer.model #${i}`,
      bytes: serializeModelProto(p),
    }));
    const ref = heavy ? readIfPresent(join(REF, "tokenizer.model")) : null;
    if (ref) seeds.push({ label: "reference tokenizer.model (Llama 2)", bytes: ref, heavy: true });
    return seeds;
  },
  structured: [protoEdit],
  run(bytes, index) {
    const tok = new LlamaTokenizer({ sp_model_proto: bytes, legacy: index % 2 === 0 });
    tok.decode(tok.encode(SAMPLE));
  },
};

export const tokenizerJsonTarget: FuzzTarget = {
  name: "tokenizer.json",
  seeds({ heavy }) {
    const seeds: Seed[] = [
      {
        label: "generated tokenizer.json (byte fallback, legacy)",
        bytes: encoder.encode(smallTokenizerJson(SMALL_PROTOS[0], true)),
      },
      {
        label: "generated tokenizer.json (no byte fallback, legacy)",
        bytes: encoder.encode(smallTokenizerJson(SMALL_PROTOS[1], true)),
      },
      {
        label: "generated tokenizer.json (non-legacy)",
        bytes: encoder.encode(smallTokenizerJson(SMALL_PROTOS[2], false)),
      },
    ];
    if (heavy) {
      for (const f of ["tokenizer.json", "tokenizer.nonlegacy.json"]) {
        const bytes = readIfPresent(join(REF, "tokenizer", f));
        if (bytes) seeds.push({ label: `reference ${f} (Llama 2)`, bytes, heavy: true });
      }
    }
    return seeds;
  },
  structured: [named("JSON edit", jsonMutation), named("JSON text damage", jsonTextMutation)],
  run(bytes) {
    const config = parseTokenizerJSON(decoder.decode(bytes), "tokenizer.json");
    const tok = new LlamaTokenizerFast({ tokenizer_config: config, legacy: true });
    tok.decode(tok.encode(SAMPLE));
  },
};

/** tokenizer_config.json goes through from_pretrained, so it needs a folder (created lazily, one per process). */
let configDir: string | null = null;
function tokenizerDir(): string {
  if (configDir === null) {
    configDir = mkdtempSync(join(tmpdir(), "llama-ts-fuzz-"));
    writeFileSync(join(configDir, "tokenizer.model"), SMALL_MODEL_BYTES);
    writeFileSync(join(configDir, "tokenizer.json"), smallTokenizerJson(SMALL_PROTOS[0], true));
  }
  return configDir;
}

export const tokenizerConfigTarget: FuzzTarget = {
  name: "tokenizer_config.json",
  seeds() {
    const seeds = smallTokenizerConfigs();
    const ref = readIfPresent(join(REF, "tokenizer", "tokenizer_config.json"));
    if (ref) seeds.push({ label: "reference tokenizer_config.json", bytes: ref });
    return seeds;
  },
  structured: [named("JSON edit", jsonMutation), named("JSON text damage", jsonTextMutation)],
  async run(bytes, index) {
    const dir = tokenizerDir();
    writeFileSync(join(dir, "tokenizer_config.json"), bytes);
    const tok =
      index % 2 === 0 ? await LlamaTokenizer.from_pretrained(dir) : await LlamaTokenizerFast.from_pretrained(dir);
    tok.decode(tok.encode(SAMPLE));
    tok.call(["a b", "Hello"], { padding: tok.pad_token_id === null ? false : "longest" });
  },
  dispose() {
    if (configDir !== null) rmSync(configDir, { recursive: true, force: true });
    configDir = null;
  },
};

/** Parameters of the model a config describes (embeddings, layers, head), to decide whether to build it. */
function parameterCount(c: LlamaConfig): number {
  const H = c.hidden_size;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  return 2 * c.vocab_size * H + c.num_hidden_layers * (H * (2 * q + 2 * kv) + 3 * H * c.intermediate_size);
}

export const configJsonTarget: FuzzTarget = {
  name: "config.json",
  seeds() {
    const seeds = smallConfigs();
    for (const dir of referenceModelDirs()) {
      const bytes = readIfPresent(join(dir, "config.json"));
      if (bytes) seeds.push({ label: `reference ${dir.split("/").pop()}/config.json`, bytes });
    }
    return seeds;
  },
  structured: [
    named("JSON edit", jsonMutation),
    named("JSON edit", jsonMutation),
    named("JSON text damage", jsonTextMutation),
  ],
  run(bytes) {
    const config = LlamaConfig.from_json_string(decoder.decode(bytes), "config.json");
    if (parameterCount(config) <= 200_000 && config.max_position_embeddings >= 2) {
      const model = new LlamaForCausalLM(config, { seed: 0 });
      model.forward({ input_ids: [[0, Math.min(1, config.vocab_size - 1)]] });
    }
  },
};

// ---------------------------------------------------------------------------------------------------------------
// PyTorch checkpoints
// ---------------------------------------------------------------------------------------------------------------

/** Small torch.save files written here: a few dtypes, shapes and a 0-d tensor. */
function smallTorchFiles(): Seed[] {
  const t = (dtype: DType, values: number[], shape: number[]) => new Tensor("float32", values, shape).to(dtype);
  const sets: Map<string, Tensor>[] = [
    new Map([
      ["model.embed_tokens.weight", t("float32", [1, 2, 3, 4, 5, 6], [3, 2])],
      ["model.norm.weight", t("float32", [1, 1], [2])],
    ]),
    new Map([
      ["a", t("float16", [0.5, -1, 2, 65504], [2, 2])],
      ["b", t("bfloat16", [3, 4, 5], [3])],
      ["c", t("int64", [7, 8], [2])],
      ["s", t("float32", [42], [])],
    ]),
  ];
  return sets.map((m, i) => ({
    label: `generated torch.save #${i}`,
    bytes: concatChunks(serializeTorchCheckpoint(m, "archive")),
  }));
}

/** Apply `m` to the bytes of the archive's data.pkl only, and rebuild a valid zip around it. */
function pickleMutation(m: Arbitrary<Mutation>, label: string): Arbitrary<NamedMutation> {
  return named(
    label,
    m.map((mut) => (file: Uint8Array) => {
      let entries;
      try {
        entries = readZipDirectory(memorySource(file), "fuzz.pth");
      } catch {
        return mut(file); // a legacy file: its pickles are at the front, mutate the whole file
      }
      const records = [...entries.values()].map((e) => ({
        name: e.name,
        data: file.subarray(e.dataOffset, e.dataOffset + e.size),
      }));
      for (const r of records) if (r.name.endsWith("/data.pkl")) r.data = mut(r.data);
      return concatChunks(buildStoredZip(records));
    }),
  );
}

/** Overwrite the argument of a BININT1/BININT2/BININT opcode with a boundary value (sizes, strides, offsets). */
const pickleIntRewrite: Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff))
  .map(([pick, value]) => (pkl: Uint8Array) => {
    const at: number[] = [];
    for (let i = 0; i < pkl.length; i++) if (pkl[i] === 0x4b || pkl[i] === 0x4d || pkl[i] === 0x4a) at.push(i);
    if (at.length === 0) return pkl;
    const out = pkl.slice();
    const i = at[pick % at.length];
    const width = out[i] === 0x4b ? 1 : out[i] === 0x4d ? 2 : 4;
    for (let k = 0; k < width && i + 1 + k < out.length; k++) out[i + 1 + k] = (value >>> (8 * k)) & 0xff;
    return out;
  });

/** Splice an opcode sequence into the pickle: a forbidden global, a persistent id, or stack-shuffling opcodes. */
const pickleSplice: Arbitrary<Mutation> = fc
  .tuple(
    fc.nat(),
    fc.constantFrom(
      "cos\nsystem\n",
      "cbuiltins\neval\n",
      "c__builtin__\ngetattr\n",
      "ctorch\nDoubleStorage\n",
      "ctorch._utils\n_rebuild_tensor_v2\n",
      "ccollections\nOrderedDict\n)R",
      "(X\u0007\u0000\u0000\u0000storagectorch\nFloatStorage\nX\u0001\u0000\u0000\u00000X\u0003\u0000\u0000\u0000cpuK\u0002tQ",
      "0",
      "1",
      "2",
      "(",
      ")",
      "t",
      "R",
      "b",
      "u",
      "s",
      "a",
      "e",
      "h\u0000",
      "q\u0000",
      "]",
      "}",
      "N",
      ".",
    ),
  )
  .map(([pick, text]) => (pkl: Uint8Array) => {
    const ins = Uint8Array.from(text, (c) => c.charCodeAt(0));
    const at = pkl.length === 0 ? 0 : pick % pkl.length;
    const out = new Uint8Array(pkl.length + ins.length);
    out.set(pkl.subarray(0, at));
    out.set(ins, at);
    out.set(pkl.subarray(at), at + ins.length);
    return out;
  });

export const pthTarget: FuzzTarget = {
  name: "pth",
  seeds() {
    const seeds = smallTorchFiles();
    const files = [
      ["pth/zip/pytorch_model.bin", "reference zip pytorch_model.bin"],
      ["pth/legacy/pytorch_model.bin", "reference legacy pytorch_model.bin"],
      ["pth/sharded/pytorch_model-00002-of-00002.bin", "reference shard 2 of 2"],
      ["meta/llama-gqa-mp2/consolidated.00.pth", "reference Meta shard (shared storages)"],
      ["meta/llama-mha/consolidated.00.pth", "reference Meta file (plain dict)"],
    ];
    for (const [file, label] of files) {
      const bytes = readIfPresent(join(REF, file));
      if (bytes) seeds.push({ label, bytes });
    }
    return seeds;
  },
  structured: [
    pickleMutation(byteMutation, "data.pkl byte mutation"),
    pickleMutation(pickleIntRewrite, "data.pkl int rewrite"),
    pickleMutation(pickleSplice, "data.pkl opcode splice"),
  ],
  run(bytes) {
    const { tensors } = parseTorchCheckpoint(memorySource(bytes), "fuzz.pth");
    for (const t of tensors.values()) if (t.size > 0) t.item(t.size - 1); // the last element of every view
  },
};

export const TARGETS: FuzzTarget[] = [
  safetensorsTarget,
  sentencepieceTarget,
  tokenizerJsonTarget,
  tokenizerConfigTarget,
  configJsonTarget,
  pthTarget,
  chatTemplateTarget,
  configSizesTarget,
];

// ---------------------------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------------------------

/** One generated input: which seed, which mutations, in order. Bytes are made on demand by `materialize`. */
export interface Recipe {
  seed: number;
  mutations: NamedMutation[];
}

/**
 * Inputs for a target: 1 in 12 a valid seed as is, 5 in 12 a seed with 1-3 byte mutations, 4 in 12 a seed with
 * a format-aware mutation (plus maybe one byte mutation), 2 in 12 random bytes.
 */
export function recipeArb(target: FuzzTarget, seeds: Seed[]): Arbitrary<Recipe> {
  const light = seeds
    .map((s, i) => [s, i] as const)
    .filter(([s]) => !s.heavy)
    .map(([, i]) => i);
  const heavy = seeds
    .map((s, i) => [s, i] as const)
    .filter(([s]) => s.heavy)
    .map(([, i]) => i);
  const seedIndex =
    heavy.length === 0
      ? fc.constantFrom(...light)
      : fc.oneof(
          { weight: 199, arbitrary: fc.constantFrom(...light) },
          { weight: 1, arbitrary: fc.constantFrom(...heavy) },
        );
  const bytes = named("byte mutation", byteMutation);
  const structured = fc.oneof(...target.structured);
  return fc.oneof(
    { weight: 1, arbitrary: seedIndex.map((seed) => ({ seed, mutations: [] })) },
    {
      weight: 5,
      arbitrary: fc.record({ seed: seedIndex, mutations: fc.array(bytes, { minLength: 1, maxLength: 3 }) }),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(seedIndex, structured, fc.option(bytes, { nil: undefined }))
        .map(([seed, s, b]) => ({ seed, mutations: b ? [s, b] : [s] })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(seedIndex, named("random bytes", randomBytes)).map(([seed, r]) => ({ seed, mutations: [r] })),
    },
  );
}

export function materialize(recipe: Recipe, seeds: Seed[]): Uint8Array {
  let bytes = seeds[recipe.seed].bytes;
  for (const m of recipe.mutations) bytes = m(bytes);
  return bytes;
}

export function describeRecipe(recipe: Recipe, seeds: Seed[]): string {
  return [seeds[recipe.seed].label, ...recipe.mutations.map((m) => m.label)].join(" + ");
}
