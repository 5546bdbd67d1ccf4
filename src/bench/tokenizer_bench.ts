/**
 * Tokenizer throughput, llama-ts beside its peers in one run, on three corpora (`tokenizerCorpora`): short
 * strings (~20 bytes, dataset rows), documents (~3 KB) and non-ASCII strings.
 *
 *   encode MB/s = corpus UTF-8 bytes / median seconds to encode every text of the corpus
 *   decode MB/s = the same bytes / median seconds to decode every text's ids (Llama ids, the same for everyone)
 *   ratios      = llama-ts / peer in the same run
 *
 * Contenders: `LlamaTokenizerFast` (text by text, and one `call` on the whole batch), `LlamaTokenizer` (slow),
 * `@huggingface/tokenizers` (Tokenizers.js, pure JS), HF's Rust `tokenizers` through its Node binding (per call,
 * and one `encodeBatch`, on one thread), and Google's sentencepiece through its Python binding (one list call,
 * one thread, timed inside that process) when `python3 -c "import sentencepiece"` works (Debian:
 * python3-sentencepiece); otherwise its lines are left out with a note.
 *
 * Fairness: each repeat runs every contender once, in an order rotated by one per repeat, so a busy neighbour
 * or a GC pause lands on everyone alike; the table gives median, min and max. Caches: HF's Rust BPE and
 * llama-ts' fast tokenizer keep a word cache (10,000 words, filled once and never evicted, as in tokenizers);
 * llama-ts is measured with it on and off. Their words differ: Llama's tokenizer.json has no pre-tokenizer, so
 * Rust's word is the whole normalized text, while llama-ts cuts it before each "▁" (bpe.ts) and caches those
 * parts. One tokenizer serves the three corpora in turn, so the cache holds words of the first (short strings).
 * Tokenizers.js keeps none for Llama's (pre-tokenizer-free) pipeline; sentencepiece keeps none. Every
 * contender's ids are compared with HF Rust's (BOS aside, which sentencepiece does not add).
 */
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer as PeerTokenizer } from "@huggingface/tokenizers";
import {
  defaultModelProto,
  defaultTokenizerConfig,
  loadDefaultSlowTokenizer,
  loadDefaultTokenizer,
} from "../models/llama/default_tokenizer.ts";
import { serializeModelProto } from "../formats/sentencepiece_model.ts";
import { type TokenizerCorpora, tokenizerCorpora } from "./corpus.ts";
import { fmt, formatTable, median } from "./measure.ts";

type CorpusName = keyof TokenizerCorpora;
const CORPUS_NAMES: CorpusName[] = ["short", "documents", "nonAscii"];
const CORPUS_LABEL: Record<CorpusName, string> = {
  short: "short strings",
  documents: "documents",
  nonAscii: "non-ASCII strings",
};

/** One engine, measured on a whole corpus at a time; times come from the caller's clock unless `timed`. */
interface Contender {
  name: string;
  /** Encodes every text; resolves to seconds when the contender times itself (the sentencepiece process). */
  encodeAll(corpus: CorpusName): unknown;
  decodeAll?(corpus: CorpusName): unknown;
  /** Ids of one corpus, for the agreement check (without BOS). */
  ids(corpus: CorpusName): Promise<number[][]>;
  timed?: boolean;
  close?(): void;
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

/** A line-per-request JSON client of sentencepiece_peer.py, or null when no python3 has sentencepiece. */
async function sentencepiecePeer(
  corpora: TokenizerCorpora,
  modelPath: string,
  log: (s: string) => void,
): Promise<Contender | null> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "sentencepiece_peer.py");
  const candidates = [process.env.LLAMA_TS_PYTHON, "python3", "/usr/bin/python3"].filter((x): x is string => !!x);
  const python = candidates.find((p) => spawnSync(p, ["-c", "import sentencepiece"], { stdio: "ignore" }).status === 0);
  if (python === undefined) {
    log("note: no python3 with sentencepiece (Debian: apt-get install python3-sentencepiece); its lines are left out");
    return null;
  }
  const child = spawn(python, ["-u", script], { stdio: ["pipe", "pipe", "inherit"] });
  let buffered = "";
  const waiting: Array<(reply: Record<string, unknown>) => void> = [];
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(JSON.parse(line) as Record<string, unknown>);
    }
  });
  const ask = (req: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      waiting.push((reply) => (reply.ok ? resolve(reply) : reject(new Error(String(reply.error)))));
      child.stdin.write(JSON.stringify(req) + "\n");
    });
  const loaded = await ask({ cmd: "load", model: modelPath });
  for (const name of CORPUS_NAMES) await ask({ cmd: "corpus", name, texts: corpora[name] });
  return {
    name: `sentencepiece ${String(loaded.version)} (C++, one list call, 1 thread)`,
    timed: true,
    encodeAll: async (name) => (await ask({ cmd: "encode", name })).seconds as number,
    decodeAll: async (name) => (await ask({ cmd: "decode", name })).seconds as number,
    ids: async (name) => (await ask({ cmd: "ids", name })).ids as number[][],
    close: () => child.stdin.end(),
  };
}

async function contenders(corpora: TokenizerCorpora, log: (s: string) => void, modelPath: string) {
  const fast = loadDefaultTokenizer();
  const fastNoCache = loadDefaultTokenizer();
  fastNoCache._tokenizer.model.resize_cache(0);
  const slow = loadDefaultSlowTokenizer();
  const json = tokenizerJSON();
  const peer = new PeerTokenizer(json, LLAMA2_TOKENIZER_CONFIG);
  const ids: Record<CorpusName, number[][]> = {
    short: corpora.short.map((t) => fast.encode(t)),
    documents: corpora.documents.map((t) => fast.encode(t)),
    nonAscii: corpora.nonAscii.map((t) => fast.encode(t)),
  };
  const perText = (encode: (t: string) => number[]) => ({
    encodeAll: (name: CorpusName) => {
      for (const t of corpora[name]) encode(t);
    },
    ids: async (name: CorpusName) => corpora[name].map((t) => encode(t).slice(1)),
  });
  const list: Contender[] = [
    {
      name: "llama-ts LlamaTokenizerFast",
      ...perText((t) => fast.encode(t)),
      decodeAll: (name) => {
        for (const x of ids[name]) fast.decode(x);
      },
    },
    { name: "llama-ts LlamaTokenizerFast, word cache off", ...perText((t) => fastNoCache.encode(t)) },
    {
      name: "llama-ts LlamaTokenizerFast, one call() per corpus",
      encodeAll: (name) => fast.call(corpora[name]),
      ids: async (name) => fast.call(corpora[name]).input_ids.map((x) => x.slice(1)),
      decodeAll: (name) => fast.batch_decode(ids[name]),
    },
    {
      name: "llama-ts LlamaTokenizer (slow)",
      ...perText((t) => slow.encode(t)),
      decodeAll: (name) => {
        for (const x of ids[name]) slow.decode(x);
      },
    },
    {
      name: "@huggingface/tokenizers 0.2.0 (pure JS)",
      ...perText((t) => peer.encode(t).ids),
      decodeAll: (name) => {
        for (const x of ids[name]) peer.decode(x);
      },
    },
  ];
  try {
    // One thread for the Rust side: rayon reads this when its pool starts, on the binding's first batch call.
    process.env.RAYON_NUM_THREADS = "1";
    const require = createRequire(import.meta.url);
    const native = require("tokenizers") as typeof import("tokenizers");
    const version = (require("tokenizers/package.json") as { version: string }).version;
    const rust = native.Tokenizer.fromString(JSON.stringify(json));
    list.push(
      {
        name: `tokenizers ${version} (HF Rust, per call)`,
        encodeAll: async (name) => {
          for (const t of corpora[name]) await rust.encode(t);
        },
        decodeAll: async (name) => {
          for (const x of ids[name]) await rust.decode(x, false);
        },
        ids: async (name) => (await rust.encodeBatch(corpora[name])).map((e) => e.getIds().slice(1)),
      },
      {
        name: `tokenizers ${version} (HF Rust, one batch call, 1 thread)`,
        encodeAll: (name) => rust.encodeBatch(corpora[name]),
        decodeAll: (name) => rust.decodeBatch(ids[name], false),
        ids: async (name) => (await rust.encodeBatch(corpora[name])).map((e) => e.getIds().slice(1)),
      },
    );
  } catch (e) {
    log(`note: HF's Rust tokenizers binding is not available here (${(e as Error).message.split("\n")[0]})`);
  }
  const sp = await sentencepiecePeer(corpora, modelPath, log);
  if (sp !== null) list.push(sp);
  return list;
}

interface Measured {
  encode: number[];
  decode: number[];
  mismatches: number;
}

/** Runs the bench and returns the report's lines (tables and notes). */
export async function benchTokenizers(opts: {
  seed: number;
  corpusMB: number;
  warmup: number;
  repeats: number;
  modelPath: string;
  log: (s: string) => void;
}): Promise<string[]> {
  const corpora = tokenizerCorpora({ targetBytes: opts.corpusMB * 1e6, seed: opts.seed });
  const list = await contenders(corpora, opts.log, opts.modelPath);
  const out: string[] = [];
  const bytes = (name: CorpusName) => corpora[name].reduce((n, t) => n + Buffer.byteLength(t, "utf8"), 0);
  try {
    for (const name of CORPUS_NAMES) {
      const reference = list.find((c) => c.name.includes("HF Rust")) ?? list[0];
      const expected = await reference.ids(name);
      const results = new Map<Contender, Measured>();
      for (const c of list) {
        const got = await c.ids(name);
        const mismatches = got.filter((ids, i) => ids.join() !== expected[i].join()).length;
        results.set(c, { encode: [], decode: [], mismatches });
      }
      const time = async (job: () => unknown, timed: boolean | undefined) => {
        const t0 = performance.now();
        const r = await job();
        return timed ? (r as number) : (performance.now() - t0) / 1000;
      };
      for (let r = -opts.warmup; r < opts.repeats; r++) {
        opts.log(`tokenizers: ${CORPUS_LABEL[name]}, ${r < 0 ? "warm-up" : `repeat ${r + 1}/${opts.repeats}`}`);
        const shift = ((r % list.length) + list.length) % list.length;
        for (const c of [...list.slice(shift), ...list.slice(0, shift)]) {
          const m = results.get(c)!;
          const e = await time(() => c.encodeAll(name), c.timed);
          const d = c.decodeAll ? await time(() => c.decodeAll!(name), c.timed) : NaN;
          if (r >= 0) {
            m.encode.push(e);
            m.decode.push(d);
          }
        }
      }
      const mb = bytes(name) / 1e6;
      const rate = (xs: number[]) => ({ med: mb / median(xs), min: mb / Math.max(...xs), max: mb / Math.min(...xs) });
      const find = (needle: string) => list.find((c) => c.name.includes(needle));
      const spEnc = find("sentencepiece");
      const jsPeer = find("pure JS")!;
      const ratio = (a: number, c: Contender | undefined, kind: "encode" | "decode") =>
        c === undefined ? "-" : `${fmt(a / rate(results.get(c)![kind]).med)}x`;
      out.push("");
      out.push(
        `Tokenizers, ${CORPUS_LABEL[name]}: ${corpora[name].length} texts, ${fmt(mb)} MB UTF-8 ` +
          `(median of ${opts.repeats}, min-max in brackets; ids compared with ${reference.name})`,
      );
      const rows = [["engine", "encode MB/s", "vs sentencepiece", "decode MB/s", "vs Tokenizers.js", "ids equal"]];
      for (const c of list) {
        const m = results.get(c)!;
        const enc = rate(m.encode);
        const dec = c.decodeAll ? rate(m.decode) : null;
        rows.push([
          c.name,
          `${fmt(enc.med)} [${fmt(enc.min)}-${fmt(enc.max)}]`,
          ratio(enc.med, spEnc, "encode"),
          dec ? `${fmt(dec.med)} [${fmt(dec.min)}-${fmt(dec.max)}]` : "-",
          dec ? ratio(dec.med, jsPeer, "decode") : "-",
          `${corpora[name].length - m.mismatches}/${corpora[name].length}`,
        ]);
      }
      out.push(formatTable(rows));
      const loop = list.find((c) => c.name === "llama-ts LlamaTokenizerFast")!;
      const batched = find("one call()");
      if (batched !== undefined)
        out.push(
          `Batched: one call() on the ${corpora[name].length} texts, attention_mask included, runs at ` +
            `${fmt(rate(results.get(batched)!.encode).med / rate(results.get(loop)!.encode).med)}x the speed of encode() text by text`,
        );
    }
  } finally {
    for (const c of list) c.close?.();
  }
  out.push("");
  out.push(
    "Caches: HF Rust's BPE and llama-ts' fast tokenizer keep a 10,000-word cache (llama-ts also shown with it off);",
    "Rust's words are whole texts here (Llama's tokenizer.json has no pre-tokenizer), llama-ts' are the parts of a",
    'text between "▁" marks. Tokenizers.js and sentencepiece keep none. Decode of the same Llama ids for every engine.',
  );
  return out;
}

/** The sentencepiece model file of the embedded default tokenizer, for the sentencepiece peer. */
export function defaultModelBytes(): Uint8Array {
  return serializeModelProto(defaultModelProto());
}
