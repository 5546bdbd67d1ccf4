/**
 * The benchmark corpus: about `targetBytes` of UTF-8 text, the same on every run and machine.
 *
 * Documents (each encoded on its own, as a tokenizer meets text in practice) of four kinds, drawn with the
 * seeded `Random`: English prose (words, numbers, punctuation), code (indentation, brackets, operators,
 * newlines), CJK/Korean text with punctuation, and mixed text heavy in emoji (ZWJ sequences, skin tones, flags),
 * accents and combining marks. When the shared reference is present, its tokenizer cases (235 strings chosen to
 * cover whitespace, byte fallback, special-token text and many scripts) are added first, repeated, as about a
 * quarter of the corpus. Shape: `docs[n]`, each at most ~2 KB; `bytes` is their total UTF-8 length.
 */
import { existsSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { Random } from "../utils/random.ts";

export interface BenchCorpus {
  docs: string[];
  /** Total UTF-8 bytes of `docs`. */
  bytes: number;
  /** Short SHA-256 of the documents: equal hashes, equal corpora. */
  hash: string;
  /** Where the text came from, for the report. */
  sources: string[];
}

const WORDS =
  "the of and to in is was that for it with as his on be at by I this had not are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three".split(
    " ",
  );
const CODE_WORDS =
  "value index result count items config tokenizer model layer hidden output input buffer offset length data cache state token ids mask".split(
    " ",
  );
const CJK =
  "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跑".split(
    "",
  );
const KOREAN = "안녕하세요 감사합니다 사랑해요 한국어 토크나이저 모델 학습 데이터 문장".split(" ");
const JAPANESE = "こんにちは ありがとう 日本語 東京 トークナイザー モデル ひらがな カタカナ".split(" ");
const EMOJI = ["😀", "😂", "🦙", "👍", "👍🏽", "❤️", "🎉", "🔥", "👨‍👩‍👧", "🏳️‍🌈", "🇫🇷", "🤖", "✨", "🚀", "🙏🏿", "😅"];
const ACCENTED = [
  "café",
  "naïve",
  "résumé",
  "Ångström",
  "São Paulo",
  "Zürich",
  "e\u0301",
  "n\u0303",
  "ﬁne",
  "Ｆｕｌｌ",
  "Ελληνικά",
  "Привет",
  "مرحبا",
  "שלום",
  "हिन्दी",
];

function pick<T>(rng: Random, list: readonly T[]): T {
  return list[Math.floor(rng.random() * list.length)];
}

function englishDoc(rng: Random, chars: number): string {
  let out = "";
  while (out.length < chars) {
    const n = 5 + Math.floor(rng.random() * 15);
    const words: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = rng.random();
      words.push(r < 0.05 ? String(Math.floor(rng.random() * 10000)) : pick(rng, WORDS));
    }
    words[0] = words[0][0].toUpperCase() + words[0].slice(1);
    out += words.join(" ") + pick(rng, [".", ".", ".", "!", "?", ";", ","]) + (rng.random() < 0.15 ? "\n\n" : " ");
  }
  return out;
}

function codeDoc(rng: Random, chars: number): string {
  let out = "";
  let depth = 0;
  while (out.length < chars) {
    const ind = "    ".repeat(depth);
    const a = pick(rng, CODE_WORDS);
    const b = pick(rng, CODE_WORDS);
    const r = rng.random();
    if (r < 0.2 && depth < 3) {
      out += `${ind}for (let ${a} = 0; ${a} < ${b}.length; ${a}++) {\n`;
      depth++;
    } else if (r < 0.35 && depth > 0) {
      depth--;
      out += `${"    ".repeat(depth)}}\n`;
    } else if (r < 0.5) {
      out += `${ind}def ${a}_${b}(self, ${b}=None):  # ${pick(rng, WORDS)} ${pick(rng, WORDS)}\n`;
    } else {
      out += `${ind}${a}[${Math.floor(rng.random() * 64)}] = ${b}.get("${pick(rng, CODE_WORDS)}", ${(rng.random() * 10).toFixed(3)}) * 0x${Math.floor(rng.random() * 65536).toString(16)};\n`;
    }
  }
  return out;
}

function cjkDoc(rng: Random, chars: number): string {
  let out = "";
  while (out.length < chars) {
    const r = rng.random();
    if (r < 0.6) {
      const n = 4 + Math.floor(rng.random() * 20);
      for (let i = 0; i < n; i++) out += pick(rng, CJK);
      out += pick(rng, ["。", "，", "、", "！", "？"]);
    } else if (r < 0.8) out += pick(rng, KOREAN) + " ";
    else out += pick(rng, JAPANESE) + pick(rng, ["。", "、", " "]);
  }
  return out;
}

function mixedDoc(rng: Random, chars: number): string {
  let out = "";
  while (out.length < chars) {
    const r = rng.random();
    if (r < 0.3) out += pick(rng, EMOJI);
    else if (r < 0.6) out += pick(rng, ACCENTED) + " ";
    else if (r < 0.9) out += pick(rng, WORDS) + pick(rng, [" ", " ", "  ", "\n", "\t"]);
    else out += pick(rng, ["<s>", "</s>", "▁", " ▁", "\u00a0", "...", "—"]);
  }
  return out;
}

function referenceTexts(referenceDir: string | null): string[] {
  if (referenceDir === null) return [];
  const file = path.join(referenceDir, "tokenizer", "cases.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { text: string }).text);
}

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

/** Builds the corpus (see the module comment). `referenceDir` is ../shared/reference or null. */
export function benchCorpus(
  opts: { targetBytes?: number; seed?: number; referenceDir?: string | null } = {},
): BenchCorpus {
  const target = opts.targetBytes ?? 1 << 20;
  const rng = new Random(opts.seed ?? 0);
  const docs: string[] = [];
  let bytes = 0;
  const sources: string[] = [];
  const add = (d: string) => {
    docs.push(d);
    bytes += utf8Length(d);
  };

  const ref = referenceTexts(opts.referenceDir ?? null);
  if (ref.length > 0) {
    sources.push(`reference tokenizer cases (${ref.length} strings, repeated)`);
    // Join the cases into documents of about 1 KB, repeated up to a quarter of the corpus.
    let doc = "";
    for (let i = 0; bytes < target / 4; i = (i + 1) % ref.length) {
      doc += ref[i] + "\n";
      if (doc.length > 1000) {
        add(doc);
        doc = "";
      }
    }
  } else {
    sources.push("(reference cases absent: generated text only)");
  }
  sources.push("seeded English, code, CJK/Korean/Japanese and emoji/accent documents");
  const kinds = [englishDoc, englishDoc, codeDoc, cjkDoc, mixedDoc];
  while (bytes < target) add(pick(rng, kinds)(rng, 256 + Math.floor(rng.random() * 1800)));
  const hash = createHash("sha256").update(docs.join("\u0000")).digest("hex").slice(0, 12);
  return { docs, bytes, hash, sources };
}

/** The three corpora of the tokenizer bench: what tokenizers meet as dataset rows, as documents, and beyond ASCII. */
export interface TokenizerCorpora {
  /** Sentences and lines of about 20 UTF-8 bytes (English, code, CJK, mixed), each encoded on its own. */
  short: string[];
  /** Documents of about 3 KB (English, code, CJK/Korean/Japanese, emoji and accents). */
  documents: string[];
  /** Short strings of about 20 bytes, almost all outside ASCII (CJK, Korean, Japanese, accents, emoji). */
  nonAscii: string[];
}

/**
 * Tokenizer bench corpora of about `targetBytes` x (1.2, 1.0, 0.2) for short strings, documents and non-ASCII
 * strings, seeded. No special-token text (e.g. "<s>"), so that sentencepiece, which reads such text as plain
 * characters, and the HF tokenizers, which read it as the special token, produce the same ids.
 */
export function tokenizerCorpora(opts: { targetBytes?: number; seed?: number } = {}): TokenizerCorpora {
  const target = opts.targetBytes ?? 1e6;
  const rng = new Random(opts.seed ?? 0);
  const plainMixed = (r: Random, chars: number) => mixedDoc(r, chars).replace(/<\/?s>/g, "");
  const fill = (bytes: number, make: () => string): string[] => {
    const out: string[] = [];
    for (let n = 0; n < bytes;) {
      const s = make();
      if (s.length === 0) continue;
      out.push(s);
      n += utf8Length(s);
    }
    return out;
  };
  const words = (r: Random, n: number) => Array.from({ length: n }, () => pick(r, WORDS)).join(" ");
  const shortKinds = [
    (r: Random) => words(r, 1 + Math.floor(r.random() * 5)) + pick(r, ["", ".", "?", ",", "!"]),
    (r: Random) => words(r, 2 + Math.floor(r.random() * 3)),
    (r: Random) => `${pick(r, CODE_WORDS)}.${pick(r, CODE_WORDS)}(${Math.floor(r.random() * 100)})`,
    (r: Random) => cjkDoc(r, 2 + Math.floor(r.random() * 6)),
    (r: Random) => plainMixed(r, 4 + Math.floor(r.random() * 12)),
  ];
  const short = fill(target * 1.2, () => pick(rng, shortKinds)(rng).trim());
  const docKinds = [englishDoc, englishDoc, codeDoc, (r: Random, c: number) => cjkDoc(r, c / 3), plainMixed];
  const documents = fill(target, () => pick(rng, docKinds)(rng, 2500 + Math.floor(rng.random() * 1000)));
  const nonAsciiParts = [
    (r: Random) => Array.from({ length: 1 + Math.floor(r.random() * 4) }, () => pick(r, CJK)).join(""),
    (r: Random) => pick(r, KOREAN),
    (r: Random) => pick(r, JAPANESE),
    (r: Random) => pick(r, ACCENTED),
    (r: Random) => pick(r, EMOJI),
  ];
  const nonAscii = fill(target * 0.2, () =>
    Array.from({ length: 2 + Math.floor(rng.random() * 3) }, () => pick(rng, nonAsciiParts)(rng)).join(
      pick(rng, ["", " "]),
    ),
  );
  return { short, documents, nonAscii };
}
