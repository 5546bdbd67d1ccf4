/**
 * One property per logits processor / warper / stopping criterion: its defining invariant, on random score rows
 * (fast-check), plus the generate-level ones: after no_repeat_ngram_size n no n-gram repeats; num_beams = 1 is
 * greedy; top_k = 1 sampling is greedy whatever the draws; beam search's sequences_scores are the rescored
 * log-probabilities of the returned ids; bad words never appear; min_new_tokens holds eos back.
 * Expected values come from the definitions (closed form), never from the code under test.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EncoderNoRepeatNGramLogitsProcessor,
  EncoderRepetitionPenaltyLogitsProcessor,
  EpsilonLogitsWarper,
  EtaLogitsWarper,
  ExponentialDecayLengthPenalty,
  ForcedBOSTokenLogitsProcessor,
  ForcedEOSTokenLogitsProcessor,
  HammingDiversityLogitsProcessor,
  InfNanRemoveLogitsProcessor,
  LogitNormalization,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  MinPLogitsWarper,
  NoBadWordsLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
  PrefixConstrainedLogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
  SequenceBiasLogitsProcessor,
  SuppressTokensAtBeginLogitsProcessor,
  SuppressTokensLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
  TypicalLogitsWarper,
  UnbatchedClassifierFreeGuidanceLogitsProcessor,
} from "../../src/generation/logits_process.ts";
import { BeamHypotheses } from "../../src/generation/beam_search.ts";
import {
  EosTokenCriteria,
  MaxLengthCriteria,
  MaxTimeCriteria,
  StopStringCriteria,
  type StopStringTokenizer,
} from "../../src/generation/stopping_criteria.ts";
import { generate, type GenerateBeamDecoderOnlyOutput } from "../../src/generation/utils.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { params } from "../properties/seed.ts";
import { FakeModel } from "./fake_model.ts";

// Fixed seed under `npm test`, FC_SEED to replay or vary (tests/properties/seed.ts).
const RUNS = params(60);
const V = 12;

const rowArb = fc.array(fc.float({ min: -20, max: 20, noNaN: true, noDefaultInfinity: true }), {
  minLength: V,
  maxLength: V,
});
const batchArb = fc.array(rowArb, { minLength: 1, maxLength: 3 });
const idsArb = (rows: number, minLen = 1) =>
  fc.array(fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: minLen, maxLength: minLen + 6 }), {
    minLength: rows,
    maxLength: rows,
  });

function scores(rows: number[][]): Tensor {
  return new Tensor("float32", Float32Array.from(rows.flat()), [rows.length, rows[0].length]);
}
function rowsOf(t: Tensor): number[][] {
  return t.tolist() as number[][];
}
function probs(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}
/** Equal-length id rows (processors take the ids of a batch of equal length). */
function sameLength(ids: number[][]): number[][] {
  const n = Math.min(...ids.map((r) => r.length));
  return ids.map((r) => r.slice(0, n));
}

describe("logits processors: defining invariants", () => {
  it("RepetitionPenalty (p > 1): ids of the row never gain, others are unchanged", () => {
    fc.assert(
      fc.property(batchArb, fc.float({ min: 1, max: 5, noNaN: true }), (rows, p) => {
        const ids = rows.map((_, b) => [b % V, (b * 5 + 3) % V]);
        const out = rowsOf(new RepetitionPenaltyLogitsProcessor(p).call(ids, scores(rows)));
        rows.forEach((row, b) =>
          row.forEach((s, v) => {
            if (ids[b].includes(v)) expect(out[b][v]).toBeLessThanOrEqual(Math.fround(s));
            else expect(out[b][v]).toBe(Math.fround(s));
          }),
        );
      }),
      RUNS,
    );
  });

  it("EncoderRepetitionPenalty (p > 1): prompt ids never lose, others are unchanged", () => {
    fc.assert(
      fc.property(batchArb, fc.float({ min: 1, max: 5, noNaN: true }), (rows, p) => {
        const prompt = rows.map((_, b) => [(b + 1) % V, 7]);
        const out = rowsOf(new EncoderRepetitionPenaltyLogitsProcessor(p, prompt).call(prompt, scores(rows)));
        rows.forEach((row, b) =>
          row.forEach((s, v) => {
            if (prompt[b].includes(v)) expect(out[b][v]).toBeGreaterThanOrEqual(Math.fround(s));
            else expect(out[b][v]).toBe(Math.fround(s));
          }),
        );
      }),
      RUNS,
    );
  });

  it("NoRepeatNGram n: an id is -inf exactly when it completes an n-gram already in the row", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), idsArb(2, 3), rowArb, (n, ids, row) => {
        ids = sameLength(ids);
        const out = rowsOf(new NoRepeatNGramLogitsProcessor(n).call(ids, scores(ids.map(() => row))));
        ids.forEach((r, b) => {
          for (let v = 0; v < V; v++) {
            const cand = [...r.slice(r.length - n + 1), v].slice(-n);
            let seen = false;
            for (let i = 0; i + n <= r.length; i++) if (r.slice(i, i + n).join() === cand.join()) seen = true;
            expect(out[b][v] === -Infinity).toBe(seen && r.length + 1 >= n);
          }
        });
      }),
      RUNS,
    );
  });

  it("EncoderNoRepeatNGram n: an id is -inf exactly when it completes an n-gram of the prompt", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), idsArb(1, 3), idsArb(1, 3), rowArb, (n, prompt, ids, row) => {
        const out = rowsOf(new EncoderNoRepeatNGramLogitsProcessor(n, prompt).call(ids, scores([row])))[0];
        const r = ids[0];
        for (let v = 0; v < V; v++) {
          const cand = [...r.slice(Math.max(0, r.length - n + 1)), v].slice(-n);
          let inPrompt = false;
          for (let i = 0; i + n <= prompt[0].length; i++)
            if (prompt[0].slice(i, i + n).join() === cand.join()) inPrompt = true;
          if (r.length + 1 >= n) expect(out[v] === -Infinity).toBe(inPrompt);
        }
      }),
      RUNS,
    );
  });

  it("NoBadWords: single bad ids are -inf (eos excepted), multi-id words only after their prefix", () => {
    fc.assert(
      fc.property(idsArb(1, 2), rowArb, fc.integer({ min: 0, max: V - 1 }), (ids, row, a) => {
        const r = ids[0];
        const prefix = r[r.length - 1];
        const bad = [[a], [prefix, (a + 1) % V], [5]];
        const out = rowsOf(new NoBadWordsLogitsProcessor(bad, 5).call(ids, scores([row])))[0];
        if (a !== 5) expect(out[a]).toBe(-Infinity);
        expect(out[(a + 1) % V]).toBe(-Infinity);
        if (a !== 5 && (a + 1) % V !== 5) expect(out[5]).toBe(Math.fround(row[5]) + 0); // eos stays reachable (bias 0: -0 becomes 0)
        for (let v = 0; v < V; v++) if (v !== a && v !== (a + 1) % V) expect(out[v]).toBe(Math.fround(row[v]) + 0);
      }),
      RUNS,
    );
  });

  it("SequenceBias: only the last ids of matching biased sequences move, by their bias", () => {
    fc.assert(
      fc.property(idsArb(1, 2), rowArb, fc.float({ min: -3, max: 3, noNaN: true }), (ids, row, bias) => {
        const last = ids[0][ids[0].length - 1];
        const out = rowsOf(
          new SequenceBiasLogitsProcessor([
            [[2], bias],
            [[last, 4], 1],
            [[(last + 1) % V, 6], 1],
          ]).call(ids, scores([row])),
        )[0];
        for (let v = 0; v < V; v++) {
          const add = (v === 2 ? Math.fround(bias) : 0) + (v === 4 ? 1 : 0);
          expect(out[v]).toBeCloseTo(Math.fround(row[v]) + add, 4);
        }
      }),
      RUNS,
    );
  });

  it("MinLength / MinNewTokens: eos is -inf exactly while the length is short", () => {
    fc.assert(
      fc.property(idsArb(1, 1), rowArb, fc.integer({ min: 0, max: 10 }), (ids, row, min) => {
        const cur = ids[0].length;
        const a = rowsOf(new MinLengthLogitsProcessor(min, [3, 4]).call(ids, scores([row])))[0];
        const b = rowsOf(new MinNewTokensLengthLogitsProcessor(2, min, 3).call(ids, scores([row])))[0];
        expect(a[3] === -Infinity && a[4] === -Infinity).toBe(cur < min);
        expect(b[3] === -Infinity).toBe(cur - 2 < min);
        expect(a[0]).toBe(Math.fround(row[0]));
      }),
      RUNS,
    );
  });

  it("ForcedBOS at length 1 / ForcedEOS at max_length - 1: the forced id is the only finite score", () => {
    fc.assert(
      fc.property(idsArb(1, 1), rowArb, (ids, row) => {
        const cur = ids[0].length;
        const bos = rowsOf(new ForcedBOSTokenLogitsProcessor(2).call(ids, scores([row])))[0];
        const eos = rowsOf(new ForcedEOSTokenLogitsProcessor(cur + 1, [7, 9]).call(ids, scores([row])))[0];
        if (cur === 1) expect(bos.filter(Number.isFinite)).toEqual([0]);
        else expect(bos).toEqual(row.map(Math.fround));
        expect(eos.map((s, v) => (Number.isFinite(s) ? v : -1)).filter((v) => v >= 0)).toEqual([7, 9]);
      }),
      RUNS,
    );
  });

  it("PrefixConstrained: exactly the allowed ids keep their score", () => {
    fc.assert(
      fc.property(idsArb(2, 1), rowArb, (ids, row) => {
        ids = sameLength(ids);
        const allowed = (b: number, sent: number[]) => [b, sent[sent.length - 1], 9];
        const out = rowsOf(new PrefixConstrainedLogitsProcessor(allowed, 1).call(ids, scores(ids.map(() => row))));
        out.forEach((r, b) =>
          r.forEach((s, v) => expect(s).toBe(allowed(b, ids[b]).includes(v) ? Math.fround(row[v]) : -Infinity)),
        );
      }),
      RUNS,
    );
  });

  it("SuppressTokens always, SuppressTokensAtBegin only at begin_index", () => {
    fc.assert(
      fc.property(idsArb(1, 1), rowArb, (ids, row) => {
        const cur = ids[0].length;
        const s = rowsOf(new SuppressTokensLogitsProcessor([1, 8]).call(ids, scores([row])))[0];
        expect([s[1], s[8]]).toEqual([-Infinity, -Infinity]);
        const b = rowsOf(new SuppressTokensAtBeginLogitsProcessor([0], 3).call(ids, scores([row])))[0];
        expect(b[0] === -Infinity).toBe(cur === 3);
      }),
      RUNS,
    );
  });

  it("ExponentialDecayLengthPenalty: eos scores never fall, grow by |s| (f^k - 1), others unchanged", () => {
    fc.assert(
      fc.property(idsArb(1, 1), rowArb, fc.float({ min: 1, max: 2, noNaN: true }), (ids, row, f) => {
        const cur = ids[0].length;
        const out = rowsOf(new ExponentialDecayLengthPenalty([1, f], [3], 1).call(ids, scores([row])))[0];
        const k = cur - 2;
        const want = k > 0 ? row[3] + Math.abs(row[3]) * (f ** k - 1) : row[3];
        expect(out[3]).toBeCloseTo(want, 2);
        expect(out[3]).toBeGreaterThanOrEqual(Math.fround(row[3]));
        expect(out[0]).toBe(Math.fround(row[0]));
      }),
      RUNS,
    );
  });

  it("LogitNormalization: each row's log-sum-exp is 0 and the order is kept", () => {
    fc.assert(
      fc.property(batchArb, (rows) => {
        const out = rowsOf(
          new LogitNormalization().call(
            rows.map(() => [0]),
            scores(rows),
          ),
        );
        out.forEach((r, b) => {
          expect(Math.log(r.reduce((a, x) => a + Math.exp(x), 0))).toBeCloseTo(0, 4);
          const f = rows[b].map(Math.fround);
          for (let i = 0; i < V; i++)
            for (let j = 0; j < V; j++) if (f[i] > f[j]) expect(r[i]).toBeGreaterThanOrEqual(r[j]);
        });
      }),
      RUNS,
    );
  });

  it("InfNanRemove: every output is finite", () => {
    const out = rowsOf(new InfNanRemoveLogitsProcessor().call([[0]], scores([[NaN, Infinity, -Infinity, 1]])))[0];
    expect(out.every(Number.isFinite)).toBe(true);
    expect(out[0]).toBe(0);
  });

  it("HammingDiversity: group 0 untouched; group g loses penalty * count of earlier groups' picks", () => {
    fc.assert(
      fc.property(rowArb, fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 4, maxLength: 4 }), (row, cur) => {
        const p = new HammingDiversityLogitsProcessor(0.5, 4, 2);
        const s = scores([row, row]);
        expect(rowsOf(p.call([[0], [0]], s, { current_tokens: cur, beam_group_idx: 0 }))).toEqual(
          [row, row].map((r) => r.map(Math.fround)),
        );
        const g1 = rowsOf(p.call([[0], [0]], s, { current_tokens: cur, beam_group_idx: 1 }))[0];
        for (let v = 0; v < V; v++) {
          const count = cur.slice(0, 2).filter((t) => t === v).length;
          expect(g1[v]).toBeCloseTo(Math.fround(row[v]) - 0.5 * count, 4);
        }
      }),
      RUNS,
    );
  });
});

describe("classifier-free guidance and beam hypotheses", () => {
  it("UnbatchedCFG: out = g * (log_softmax(s) - u) + u, u = log_softmax of the unconditional logits", () => {
    fc.assert(
      fc.property(rowArb, rowArb, fc.float({ min: Math.fround(0.5), max: 3, noNaN: true }), (row, un, g) => {
        const model = {
          forward: () => ({ logits: new Tensor("float32", Float32Array.from(un), [1, 1, V]) }),
        };
        const lsm = (r: number[]) => {
          const f = r.map(Math.fround);
          const m = Math.max(...f);
          const l = Math.log(f.reduce((a, x) => a + Math.exp(x - m), 0));
          return f.map((x) => x - m - l);
        };
        const out = rowsOf(
          new UnbatchedClassifierFreeGuidanceLogitsProcessor(g, model).call([[1, 2]], scores([row])),
        )[0];
        const s = lsm(row);
        const u = lsm(un);
        out.forEach((x, v) => expect(x).toBeCloseTo(Math.fround(g) * (s[v] - u[v]) + u[v], 3));
        const one = rowsOf(new UnbatchedClassifierFreeGuidanceLogitsProcessor(1, model).call([[1]], scores([row])))[0];
        one.forEach((x, v) => expect(x).toBeCloseTo(s[v], 4));
      }),
      RUNS,
    );
  });

  it("BeamHypotheses keeps the n best of everything added (score = sum / len^lp) and knows the worst", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.float({ min: -30, max: 0, noNaN: true }), fc.integer({ min: 1, max: 9 })), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(0, 0.5, 1, 2),
        (adds, n, lp) => {
          const h = new BeamHypotheses(n, lp, false);
          // + 0: -0 and 0 tie, and either may be the one kept
          const all = adds.map(([sum, len]) => sum / len ** lp + 0);
          adds.forEach(([sum, len], i) => h.add([i], sum, null, len));
          const kept = h.beams.map((b) => b[0] + 0).sort((a, b) => b - a);
          const best = [...all].sort((a, b) => b - a).slice(0, n);
          expect(kept).toEqual(best);
          if (h.length === n) expect(h.worst_score + 0).toBe(Math.min(...kept));
        },
      ),
      RUNS,
    );
  });
});

describe("logits warpers: defining invariants", () => {
  const kept = (r: number[]) => r.map((s, v) => (s === -Infinity ? -1 : v)).filter((v) => v >= 0);

  it("Temperature: s / t (order kept)", () => {
    fc.assert(
      fc.property(rowArb, fc.float({ min: Math.fround(0.1), max: 5, noNaN: true }), (row, t) => {
        const out = rowsOf(new TemperatureLogitsWarper(t).call([[0]], scores([row])))[0];
        out.forEach((s, v) => expect(s).toBeCloseTo(Math.fround(row[v]) / Math.fround(t), 3));
      }),
      RUNS,
    );
  });

  it("TopK: at least k kept, every kept score >= every dropped one; k = 1 keeps the argmax", () => {
    fc.assert(
      fc.property(rowArb, fc.integer({ min: 1, max: V }), (row, k) => {
        const out = rowsOf(new TopKLogitsWarper(k).call([[0]], scores([row])))[0];
        const keep = kept(out);
        expect(keep.length).toBeGreaterThanOrEqual(k);
        const f = row.map(Math.fround);
        const minKept = Math.min(...keep.map((v) => f[v]));
        f.forEach((s, v) => {
          if (!keep.includes(v)) expect(s).toBeLessThan(minKept);
        });
      }),
      RUNS,
    );
  });

  it("TopP: the kept set is the smallest top set whose mass reaches top_p", () => {
    fc.assert(
      fc.property(rowArb, fc.float({ min: Math.fround(0.05), max: Math.fround(0.95), noNaN: true }), (row, p) => {
        const out = rowsOf(new TopPLogitsWarper(p).call([[0]], scores([row])))[0];
        const pr = probs(row.map(Math.fround));
        const keep = kept(out);
        const mass = keep.reduce((a, v) => a + pr[v], 0);
        expect(mass).toBeGreaterThanOrEqual(p - 1e-5);
        const smallest = Math.min(...keep.map((v) => pr[v]));
        if (keep.length > 1) expect(mass - smallest).toBeLessThan(p + 1e-5);
      }),
      RUNS,
    );
  });

  it("MinP: dropped tokens have p < min_p * max p; the argmax is kept", () => {
    fc.assert(
      fc.property(rowArb, fc.float({ min: 0, max: 1, noNaN: true }), (row, mp) => {
        const out = rowsOf(new MinPLogitsWarper(mp).call([[0]], scores([row])))[0];
        const pr = probs(row.map(Math.fround));
        const top = Math.max(...pr);
        expect(out[pr.indexOf(top)]).not.toBe(-Infinity);
        out.forEach((s, v) => {
          if (s === -Infinity) expect(pr[v]).toBeLessThan(mp * top + 1e-6);
          else expect(pr[v]).toBeGreaterThanOrEqual(mp * top - 1e-6);
        });
      }),
      RUNS,
    );
  });

  it("Typical: kept tokens are those closest to the entropy, with mass >= typical_p", () => {
    fc.assert(
      fc.property(rowArb, fc.float({ min: Math.fround(0.05), max: Math.fround(0.95), noNaN: true }), (row, m) => {
        const out = rowsOf(new TypicalLogitsWarper(m).call([[0]], scores([row])))[0];
        const pr = probs(row.map(Math.fround));
        const H = -pr.reduce((a, q) => a + (q > 0 ? q * Math.log(q) : 0), 0);
        const dist = pr.map((q) => Math.abs(-Math.log(q) - H));
        const keep = kept(out);
        expect(keep.length).toBeGreaterThanOrEqual(1);
        const maxKept = Math.max(...keep.map((v) => dist[v]));
        dist.forEach((d, v) => {
          if (!keep.includes(v)) expect(d).toBeGreaterThan(maxKept - 1e-4);
        });
        expect(keep.reduce((a, v) => a + pr[v], 0)).toBeGreaterThanOrEqual(Math.min(m, 1) - 1e-4);
      }),
      RUNS,
    );
  });

  it("Epsilon / Eta: dropped tokens are below the cutoff; the best token always stays", () => {
    fc.assert(
      fc.property(rowArb, fc.float({ min: Math.fround(0.001), max: Math.fround(0.5), noNaN: true }), (row, e) => {
        const pr = probs(row.map(Math.fround));
        const f = row.map(Math.fround);
        const top = f.indexOf(Math.max(...f));
        const eps = rowsOf(new EpsilonLogitsWarper(e).call([[0]], scores([row])))[0];
        const eta = rowsOf(new EtaLogitsWarper(e).call([[0]], scores([row])))[0];
        expect(eps[top]).not.toBe(-Infinity);
        expect(eta[top]).not.toBe(-Infinity);
        const H = -pr.reduce((a, q) => a + (q > 0 ? q * Math.log(q) : 0), 0);
        const cut = Math.min(e, Math.sqrt(e) * Math.exp(-H));
        // ids tied with the best score are always kept (HF keeps scores >= the top-1 score)
        const best = Math.max(...row.map(Math.fround));
        pr.forEach((q, v) => {
          const isBest = Math.fround(row[v]) === best;
          if (eps[v] === -Infinity) expect(q).toBeLessThan(e + 1e-6);
          else if (!isBest) expect(q).toBeGreaterThanOrEqual(e - 1e-6);
          if (eta[v] === -Infinity) expect(q).toBeLessThan(cut + 1e-6);
          else if (!isBest) expect(q).toBeGreaterThanOrEqual(cut - 1e-6);
        });
      }),
      RUNS,
    );
  });
});

describe("stopping criteria: defining invariants", () => {
  it("MaxLength: done exactly when the length reaches max_length; Eos: exactly when the last id is an eos", () => {
    fc.assert(
      fc.property(idsArb(2, 1), fc.integer({ min: 1, max: 9 }), (ids, max) => {
        ids = sameLength(ids);
        expect(new MaxLengthCriteria(max).call(ids)).toEqual(ids.map((r) => r.length >= max));
        expect(new EosTokenCriteria([3, 4]).call(ids)).toEqual(ids.map((r) => [3, 4].includes(r[r.length - 1])));
      }),
      RUNS,
    );
  });

  it("MaxTime: done once the time is up", () => {
    expect(new MaxTimeCriteria(0.5, Date.now() / 1000 - 1).call([[1]])).toEqual([true]);
    expect(new MaxTimeCriteria(60).call([[1]])).toEqual([false]);
  });

  it("StopString: done exactly when the string ends inside the last token's text", () => {
    // tokens of 1-2 characters so strings span token boundaries and sit inside tokens
    const pieces = ["x", "y", "z", "xy", "yz", "zx", "zz"];
    const tok: StopStringTokenizer = {
      get_vocab: () => new Map(pieces.map((p, i) => [p, i])),
      convert_tokens_to_string: (t) => t.join(""),
      // the context prefix "abcdef" is one extra id reading as itself
      convert_ids_to_tokens: (ids) => ids.map((i) => (i === pieces.length ? "abcdef" : pieces[i])),
      encode: () => [pieces.length],
    };
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: pieces.length - 1 }), { minLength: 1, maxLength: 6 }),
        fc.stringMatching(/^[xyz]{1,3}$/),
        (ids, stop) => {
          const text = ids.map((i) => pieces[i]).join("");
          const lastStart = text.length - pieces[ids[ids.length - 1]].length;
          let want = false;
          for (let s = 0; s + stop.length <= text.length; s++)
            if (text.slice(s, s + stop.length) === stop && s + stop.length > lastStart) want = true;
          expect(new StopStringCriteria(tok, [stop]).call([ids])).toEqual([want]);
        },
      ),
      RUNS,
    );
  });
});

/** A pseudo-random but deterministic LM over V ids: logits depend on (token, position). */
function randomLM(seed: number, eos: number | null = null) {
  const h = (a: number, b: number, c: number) => {
    let x = (a * 73856093) ^ (b * 19349663) ^ (c * 83492791) ^ seed;
    x = Math.imul(x ^ (x >>> 13), 0x5bd1e995);
    return ((x ^ (x >>> 15)) >>> 0) / 2 ** 32;
  };
  return new FakeModel((tok, pos) => Array.from({ length: V }, (_, v) => 6 * h(tok, pos, v)), {
    vocab_size: V,
    eos_token_id: eos,
    pad_token_id: null, // the pad falls back to eos, so no prompt id is read as padding
  });
}

describe("generate: defining invariants of the decoding methods", () => {
  const promptArb = fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 1, maxLength: 5 });

  it("after no_repeat_ngram_size n, no n-gram occurs twice in the sequence", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        promptArb,
        fc.integer({ min: 2, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        (seed, p, n, beams) => {
          const distinct = [...new Set(p)];
          const out = (
            generate(randomLM(seed), [distinct], {
              max_new_tokens: 10,
              no_repeat_ngram_size: n,
              num_beams: beams,
            }).tolist() as number[][]
          )[0];
          const grams = new Set<string>();
          for (let i = 0; i + n <= out.length; i++) {
            const g = out.slice(i, i + n).join();
            expect(grams.has(g)).toBe(false);
            grams.add(g);
          }
        },
      ),
      params(25),
    );
  });

  it("num_beams = 1 is greedy search, and top_k = 1 sampling is greedy whatever the draws", () => {
    fc.assert(
      fc.property(fc.integer(), promptArb, fc.integer(), (seed, p, draws) => {
        const m = randomLM(seed);
        const greedy = generate(m, [p], { max_new_tokens: 6 }).tolist();
        expect(generate(m, [p], { max_new_tokens: 6, num_beams: 1 }).tolist()).toEqual(greedy);
        expect(generate(m, [p], { max_new_tokens: 6, do_sample: true, top_k: 1, seed: draws }).tolist()).toEqual(
          greedy,
        );
      }),
      params(25),
    );
  });

  it("beam search: sequences_scores are the returned ids' summed log-probs / length^lp, best first", () => {
    fc.assert(
      fc.property(fc.integer(), promptArb, fc.constantFrom(0.5, 1, 2), (seed, p, lp) => {
        const m = randomLM(seed, 3);
        const out = generate(m, [p], {
          max_new_tokens: 5,
          num_beams: 3,
          num_return_sequences: 3,
          length_penalty: lp,
          return_dict_in_generate: true,
          output_scores: true,
        }) as GenerateBeamDecoderOnlyOutput;
        const seqs = out.sequences.tolist() as number[][];
        const got = Array.from(out.sequences_scores!.toFloat32());
        for (let i = 1; i < got.length; i++) expect(got[i]).toBeLessThanOrEqual(got[i - 1] + 1e-6);
        seqs.forEach((row, r) => {
          // rescore: log softmax of the fake's logits at each generated position, up to and including eos
          let sum = 0;
          let len = 0;
          for (let t = p.length; t < row.length; t++) {
            const model = randomLM(seed, 3);
            const rowLogits = model
              .forward({ input_ids: [[row[t - 1]]], position_ids: [[t - 1]] })
              .logits.tolist()[0][0] as number[];
            const lse = Math.log(rowLogits.reduce((a, x) => a + Math.exp(x), 0));
            sum += rowLogits[row[t]] - lse;
            len++;
            if (row[t] === 3) break;
          }
          expect(got[r]).toBeCloseTo(sum / len ** lp, 3);
        });
      }),
      params(20),
    );
  });

  it("beam sampling: replayable from its seed; returned rows ordered by sequences_scores", () => {
    fc.assert(
      fc.property(fc.integer(), promptArb, fc.integer(), (seed, p, draw) => {
        const m = randomLM(seed, 3);
        const run = () =>
          generate(m, [p], {
            max_new_tokens: 5,
            num_beams: 3,
            num_return_sequences: 3,
            do_sample: true,
            top_k: 0,
            temperature: 0.7,
            seed: draw,
            return_dict_in_generate: true,
            output_scores: true,
          }) as GenerateBeamDecoderOnlyOutput;
        const a = run();
        expect(a.sequences.tolist()).toEqual(run().sequences.tolist());
        const sc = Array.from(a.sequences_scores!.toFloat32());
        for (let i = 1; i < sc.length; i++) expect(sc[i]).toBeLessThanOrEqual(sc[i - 1]);
        expect((a.sequences.tolist() as number[][]).flat().every((id) => id >= 0 && id < V)).toBe(true);
      }),
      params(20),
    );
  });

  it("bad_words_ids never appear; prefix_allowed_tokens_fn is obeyed; min_new_tokens holds eos back", () => {
    fc.assert(
      fc.property(fc.integer(), promptArb, fc.integer({ min: 0, max: V - 1 }), (seed, p, bad) => {
        const m = randomLM(seed, 3);
        const out = (generate(m, [p], { max_new_tokens: 8, bad_words_ids: [[bad]] }).tolist() as number[][])[0];
        if (bad !== 3) expect(out.slice(p.length)).not.toContain(bad);
        const pf = (
          generate(m, [p], {
            max_new_tokens: 6,
            prefix_allowed_tokens_fn: (_b, ids) => [ids.length % V, 3],
          }).tolist() as number[][]
        )[0];
        pf.slice(p.length).forEach((id, t) => expect([(p.length + t) % V, 3]).toContain(id));
        const mn = (generate(m, [p], { max_new_tokens: 8, min_new_tokens: 5 }).tolist() as number[][])[0];
        expect(mn.slice(p.length, p.length + 5)).not.toContain(3);
      }),
      params(25),
    );
  });
});
