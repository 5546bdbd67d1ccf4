/**
 * Tokenizer throughput, llama-ts against its peer in the same process on the same corpus:
 *   encode MB/s = corpus UTF-8 bytes / median seconds to encode every document (BOS added, as `encode` does)
 *   decode MB/s = decoded UTF-8 bytes / median seconds to decode every document's ids (the fast tokenizer's ids,
 *                 the same for every contender), plus tokens/s
 *   ratio       = ours / peer, where the peer is `@huggingface/tokenizers` (Tokenizers.js, HF's pure-JS
 *                 tokenizer, loading the same tokenizer.json).
 * HF's Rust `tokenizers` (Node binding, a devDependency) is reported too when it loads, labelled as what it is:
 * native code, called once per document through N-API (so the per-call overhead is included).
 * Every contender's ids are compared with the peer's, to show the speeds are for the same work.
 */
import { createRequire } from "node:module";
import { Tokenizer as PeerTokenizer } from "@huggingface/tokenizers";
import {
  defaultTokenizerConfig,
  loadDefaultSlowTokenizer,
  loadDefaultTokenizer,
} from "../models/llama/default_tokenizer.ts";
import type { BenchCorpus } from "./corpus.ts";
import { fmt, measure, type Timing } from "./measure.ts";

interface Contender {
  name: string;
  kind: "ours" | "peer" | "native";
  encode(text: string): number[] | Promise<number[]>;
  decode(ids: number[]): string | Promise<string>;
}

export interface TokenizerBenchRow {
  name: string;
  kind: Contender["kind"];
  encode: Timing;
  encodeMBps: number;
  encodeTokensPerSec: number;
  decode: Timing;
  decodeMBps: number;
  decodeTokensPerSec: number;
  /** Documents whose ids differ from the peer's. */
  idMismatches: number;
}

/** tokenizer_config.json of Llama 2 (the fields Tokenizers.js reads). */
const LLAMA2_TOKENIZER_CONFIG = {
  add_bos_token: true,
  add_eos_token: false,
  bos_token: "<s>",
  eos_token: "</s>",
  unk_token: "<unk>",
  clean_up_tokenization_spaces: false,
  legacy: true,
  tokenizer_class: "LlamaTokenizer",
};

/** The tokenizer.json of the embedded default, as plain JSON (what a file would hold). */
function tokenizerJSON(): Record<string, unknown> {
  const config = defaultTokenizerConfig();
  return JSON.parse(
    JSON.stringify(config, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v)),
  ) as Record<string, unknown>;
}

async function contenders(log: (s: string) => void): Promise<Contender[]> {
  const fast = loadDefaultTokenizer();
  const slow = loadDefaultSlowTokenizer();
  const json = tokenizerJSON();
  const peer = new PeerTokenizer(json, LLAMA2_TOKENIZER_CONFIG);
  const list: Contender[] = [
    {
      name: "llama-ts LlamaTokenizerFast",
      kind: "ours",
      encode: (t) => fast.encode(t),
      decode: (ids) => fast.decode(ids),
    },
    {
      name: "llama-ts LlamaTokenizer (slow)",
      kind: "ours",
      encode: (t) => slow.encode(t),
      decode: (ids) => slow.decode(ids),
    },
    {
      name: "@huggingface/tokenizers 0.2.0 (peer)",
      kind: "peer",
      encode: (t) => peer.encode(t).ids,
      decode: (ids) => peer.decode(ids),
    },
  ];
  try {
    const require = createRequire(import.meta.url);
    const native = require("tokenizers") as typeof import("tokenizers");
    const version = (require("tokenizers/package.json") as { version: string }).version;
    const rust = native.Tokenizer.fromString(JSON.stringify(json));
    list.push({
      name: `tokenizers ${version} (HF Rust, native)`,
      kind: "native",
      encode: async (t) => (await rust.encode(t)).getIds(),
      decode: (ids) => rust.decode(ids, false),
    });
  } catch (e) {
    log(
      `note: HF's Rust tokenizers binding is not available here (${(e as Error).message.split("\n")[0]}); its line is left out`,
    );
  }
  return list;
}

export async function benchTokenizers(
  corpus: BenchCorpus,
  opts: { warmup: number; repeats: number; log: (s: string) => void },
): Promise<TokenizerBenchRow[]> {
  const list = await contenders(opts.log);
  const peer = list.find((c) => c.kind === "peer")!;
  const peerIds: number[][] = [];
  for (const d of corpus.docs) peerIds.push(await peer.encode(d));
  const fastIds: number[][] = [];
  for (const d of corpus.docs) fastIds.push(await list[0].encode(d));
  const tokens = fastIds.reduce((n, ids) => n + ids.length, 0);

  const rows: TokenizerBenchRow[] = [];
  for (const c of list) {
    opts.log(`encoding with ${c.name} ...`);
    let idMismatches = 0;
    for (let i = 0; i < corpus.docs.length; i++) {
      const ids = await c.encode(corpus.docs[i]);
      if (ids.length !== peerIds[i].length || ids.some((x, j) => x !== peerIds[i][j])) idMismatches++;
    }
    const encode = await measure(
      async () => {
        for (const d of corpus.docs) await c.encode(d);
      },
      { warmup: opts.warmup, repeats: opts.repeats },
    );
    opts.log(`decoding with ${c.name} ...`);
    let decodedBytes = 0;
    for (const ids of fastIds) decodedBytes += Buffer.byteLength(await c.decode(ids), "utf8");
    const decode = await measure(
      async () => {
        for (const ids of fastIds) await c.decode(ids);
      },
      { warmup: opts.warmup, repeats: opts.repeats },
    );
    rows.push({
      name: c.name,
      kind: c.kind,
      encode,
      encodeMBps: corpus.bytes / 1e6 / encode.median,
      encodeTokensPerSec: tokens / encode.median,
      decode,
      decodeMBps: decodedBytes / 1e6 / decode.median,
      decodeTokensPerSec: tokens / decode.median,
      idMismatches,
    });
  }
  return rows;
}

/** Table rows: one per contender, with the ratio to the peer. */
export function tokenizerTable(rows: TokenizerBenchRow[], docs: number): string[][] {
  const peer = rows.find((r) => r.kind === "peer")!;
  const out = [
    ["tokenizer", "encode MB/s", "tokens/s", "enc. vs peer", "decode MB/s", "tokens/s", "dec. vs peer", "ids == peer"],
  ];
  const count = (x: number) => Math.round(x).toLocaleString("en-US");
  for (const r of rows) {
    out.push([
      r.name,
      fmt(r.encodeMBps),
      count(r.encodeTokensPerSec),
      r.kind === "peer" ? "1.00x" : `${fmt(r.encodeMBps / peer.encodeMBps)}x`,
      fmt(r.decodeMBps),
      count(r.decodeTokensPerSec),
      r.kind === "peer" ? "1.00x" : `${fmt(r.decodeMBps / peer.decodeMBps)}x`,
      r.idMismatches === 0 ? `${docs}/${docs}` : `${docs - r.idMismatches}/${docs}`,
    ]);
  }
  return out;
}
