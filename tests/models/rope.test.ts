/**
 * RoPE inverse frequencies of every rope_type against the formulas of HF's modeling_rope_utils.py,
 * re-derived here in float64 (the implementation rounds each step to float32, as torch does).
 */
import { describe, expect, it } from "vitest";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";
import { LlamaRotaryEmbedding } from "../../src/models/llama/modeling_llama.ts";
import { ROPE_INIT_FUNCTIONS } from "../../src/modeling_rope_utils.ts";

const base = { hidden_size: 64, num_attention_heads: 4, max_position_embeddings: 128, rope_theta: 10000 }; // head_dim 16
const defaultInv = (theta: number, d: number) =>
  Array.from({ length: d / 2 }, (_, i) => 1 / Math.pow(theta, (2 * i) / d));

function expectRel(got: ArrayLike<number>, want: number[], rel = 1e-6) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(rel * Math.abs(want[i]) + 1e-12);
}

describe("ROPE_INIT_FUNCTIONS", () => {
  it("default: 1 / theta^(2i/d)", () => {
    const [inv, att] = ROPE_INIT_FUNCTIONS.default(new LlamaConfig(base));
    expectRel(inv, defaultInv(10000, 16));
    expect(att).toBe(1);
  });

  it("linear: default / factor", () => {
    const [inv] = ROPE_INIT_FUNCTIONS.linear(
      new LlamaConfig({ ...base, rope_scaling: { rope_type: "linear", factor: 4.0 } }),
    );
    expectRel(
      inv,
      defaultInv(10000, 16).map((x) => x / 4),
    );
  });

  it("dynamic: theta unchanged up to max_position_embeddings, NTK-scaled base beyond", () => {
    const cfg = new LlamaConfig({ ...base, rope_scaling: { rope_type: "dynamic", factor: 2.0 } });
    expectRel(ROPE_INIT_FUNCTIONS.dynamic(cfg)[0], defaultInv(10000, 16));
    expectRel(ROPE_INIT_FUNCTIONS.dynamic(cfg, 100)[0], defaultInv(10000, 16));
    const seq = 300;
    const theta = 10000 * Math.pow((2 * seq) / 128 - 1, 16 / 14);
    expectRel(ROPE_INIT_FUNCTIONS.dynamic(cfg, seq)[0], defaultInv(theta, 16), 1e-5);
  });

  it("llama3: long wavelengths / factor, short ones kept, the band between blended", () => {
    const rs = {
      rope_type: "llama3" as const,
      factor: 8.0,
      low_freq_factor: 1.0,
      high_freq_factor: 4.0,
      original_max_position_embeddings: 64,
    };
    const [inv] = ROPE_INIT_FUNCTIONS.llama3(new LlamaConfig({ ...base, rope_scaling: rs }));
    const want = defaultInv(10000, 16).map((f) => {
      const wl = (2 * Math.PI) / f;
      if (wl < 64 / 4) return f;
      if (wl > 64 / 1) return f / 8;
      const s = (64 / wl - 1) / (4 - 1);
      return ((1 - s) * f) / 8 + s * f;
    });
    // The test covers all three regimes.
    const d = defaultInv(10000, 16).map((f) => (2 * Math.PI) / f);
    expect(d.some((w) => w < 16) && d.some((w) => w > 64) && d.some((w) => w >= 16 && w <= 64)).toBe(true);
    expectRel(inv, want, 1e-5);
  });

  it("yarn: ramp blend of interpolation and extrapolation, attention factor 0.1 ln(factor) + 1", () => {
    const cfg = new LlamaConfig({ ...base, rope_scaling: { rope_type: "yarn", factor: 4.0 } });
    const [inv, att] = ROPE_INIT_FUNCTIONS.yarn(cfg);
    expect(att).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
    const dim = 16;
    const corr = (rot: number) => (dim * Math.log(128 / (rot * 2 * Math.PI))) / (2 * Math.log(10000));
    const low = Math.max(Math.floor(corr(32)), 0);
    const high = Math.min(Math.ceil(corr(1)), dim - 1);
    const want = Array.from({ length: dim / 2 }, (_, i) => {
      const p = Math.pow(10000, (2 * i) / dim);
      const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
      const e = 1 - ramp;
      return (1 / (4 * p)) * (1 - e) + (1 / p) * e;
    });
    expectRel(inv, want, 1e-5);
  });

  it("longrope: divides by long_factor when the expanded context exceeds the original, sqrt attention factor", () => {
    const short_factor = [1, 1, 1, 1, 2, 2, 2, 2];
    const long_factor = [1, 2, 3, 4, 5, 6, 7, 8];
    const cfg = new LlamaConfig({
      ...base,
      rope_scaling: { rope_type: "longrope", factor: 4.0, short_factor, long_factor },
    });
    const [inv, att] = ROPE_INIT_FUNCTIONS.longrope(cfg);
    expectRel(
      inv,
      defaultInv(10000, 16).map((f, i) => f / long_factor[i]),
      1e-5,
    );
    expect(att).toBeCloseTo(Math.sqrt(1 + Math.log(4) / Math.log(128)), 12);
    const [invShort] = ROPE_INIT_FUNCTIONS.longrope(
      new LlamaConfig({ ...base, rope_scaling: { rope_type: "longrope", factor: 1.0, short_factor, long_factor } }),
    );
    expectRel(
      invShort,
      defaultInv(10000, 16).map((f, i) => f / short_factor[i]),
      1e-5,
    );
  });
});

describe("LlamaRotaryEmbedding", () => {
  it("cos/sin = cos/sin(pos * inv_freq) duplicated over both halves, scaled by attention_scaling", () => {
    const cfg = new LlamaConfig({ ...base, rope_scaling: { rope_type: "yarn", factor: 4.0 } });
    const rot = new LlamaRotaryEmbedding(cfg);
    const [cos, sin] = rot.forward([[0, 5, 77]]);
    expect(cos.shape).toEqual([1, 3, 16]);
    const c = cos.toFloat32();
    const s = sin.toFloat32();
    for (let t = 0; t < 3; t++) {
      const pos = [0, 5, 77][t];
      for (let i = 0; i < 8; i++) {
        const a = pos * rot.inv_freq[i];
        for (const j of [i, i + 8]) {
          expect(c[t * 16 + j]).toBeCloseTo(Math.cos(a) * rot.attention_scaling, 4);
          expect(s[t * 16 + j]).toBeCloseTo(Math.sin(a) * rot.attention_scaling, 4);
        }
      }
    }
  });

  it("dynamic: grows past max_position_embeddings, keeps it, and resets on a short call (HF 4.44 state)", () => {
    const cfg = new LlamaConfig({ ...base, rope_scaling: { rope_type: "dynamic", factor: 2.0 } });
    const rot = new LlamaRotaryEmbedding(cfg);
    const original = Array.from(rot.inv_freq);
    rot.forward([[199]]); // seq_len 200 > 128: grow
    expect(rot.max_seq_len_cached).toBe(200);
    const grown = Array.from(rot.inv_freq);
    expect(grown[1]).toBeLessThan(original[1]);
    rot.forward([[150]]); // 151: still above the original, below the cached length: keep
    expect(Array.from(rot.inv_freq)).toEqual(grown);
    rot.forward([[9]]); // 10 < 128: reset
    expect(Array.from(rot.inv_freq)).toEqual(original);
    expect(rot.max_seq_len_cached).toBe(128);
  });
});
