/**
 * Hub ids through the Hugging Face cache, against a local stand-in for the Hub (tests/hub/hub_server.ts): download
 * into huggingface_hub's cache layout, redirects, gated repos, 404s, dropped connections (resumed), checksums,
 * offline mode, and a cache filled by hand (as huggingface_hub leaves it) loading with no server at all.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AutoModelForCausalLM,
  EntryNotFoundError,
  GatedRepoError,
  HubDownloadError,
  hf_hub_download,
  LlamaConfig,
  LlamaForCausalLM,
  LocalEntryNotFoundError,
  RepositoryNotFoundError,
} from "../../src/index.ts";
import { FakeHub, gitSha1, sha256 } from "./hub_server.ts";

const MODELS = join(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping Hub tests: ${MODELS} is absent (they serve its checkpoints)`);

const COMMIT = "a".repeat(40);
const COMMIT_V1 = "b".repeat(40);
const files = (name: string): Record<string, Uint8Array> =>
  present
    ? {
        "config.json": new Uint8Array(readFileSync(join(MODELS, name, "config.json"))),
        "model.safetensors": new Uint8Array(readFileSync(join(MODELS, name, "model.safetensors"))),
      }
    : {};

const ENV = ["HF_ENDPOINT", "HF_HUB_CACHE", "HF_HOME", "HF_TOKEN", "HF_HUB_OFFLINE"] as const;
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
let hub: FakeHub;
let cache: string;
const root = mkdtempSync(join(tmpdir(), "llama-ts-hub-"));
let n = 0;

/** Logits of a fixed input: two loads of the same checkpoint must agree exactly. */
function logits(m: LlamaForCausalLM): number[] {
  return Array.from(m.forward({ input_ids: [[1, 5, 9, 3]] }).logits.toFloat32());
}

describe.skipIf(!present)("Hub resolver", () => {
  beforeAll(async () => {
    hub = new FakeHub();
    await hub.start();
    hub.repos.set("org/gqa", { refs: { main: COMMIT }, commits: { [COMMIT]: files("llama-gqa") } });
    hub.repos.set("org/renamed", { refs: {}, commits: {}, moved_to: "org/gqa" });
    hub.repos.set("meta/gated", {
      refs: { main: COMMIT },
      commits: { [COMMIT]: files("llama-mha") },
      gated_token: "hf_secret",
    });
  });
  afterAll(async () => {
    await hub.stop();
    rmSync(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    cache = join(root, `cache${n++}`);
    for (const k of ENV) delete process.env[k];
    process.env.HF_ENDPOINT = hub.endpoint;
    process.env.HF_HUB_CACHE = cache;
    hub.log = [];
    hub.dropNext = 0;
    hub.corrupt = false;
    hub.etagOverride = null;
  });
  afterEach(() => {
    for (const k of ENV)
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
  });

  it("downloads into huggingface_hub's cache layout and loads the same model as the folder", async () => {
    const progress: { status: string; file?: string; loaded?: number; total?: number }[] = [];
    const m = await LlamaForCausalLM.from_pretrained("org/gqa", { progress_callback: (p) => progress.push(p) });
    const local = await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-gqa"));
    expect(logits(m)).toEqual(logits(local));

    const repo = join(cache, "models--org--gqa");
    expect(readFileSync(join(repo, "refs", "main"), "utf8")).toBe(COMMIT);
    const cfg = files("llama-gqa")["config.json"];
    const st = files("llama-gqa")["model.safetensors"];
    const snap = join(repo, "snapshots", COMMIT);
    expect(lstatSync(join(snap, "config.json")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(snap, "config.json"))).toBe(join("..", "..", "blobs", gitSha1(cfg)));
    expect(readlinkSync(join(snap, "model.safetensors"))).toBe(join("..", "..", "blobs", sha256(st)));
    // The optional generation_config.json was a 404: remembered as huggingface_hub does.
    expect(existsSync(join(repo, ".no_exist", COMMIT, "generation_config.json"))).toBe(true);
    const done = progress.filter((p) => p.status === "progress" && p.file === "model.safetensors").at(-1);
    expect(done).toMatchObject({ loaded: st.length, total: st.length });
    // The CDN (another origin) never receives the token; the safetensors bytes came from the CDN.
    expect(hub.log.filter((r) => r.server === "cdn").map((r) => r.url.split("?")[0])).toEqual([`/cdn/${sha256(st)}`]);

    // Second load: HEAD requests only, no download.
    hub.log = [];
    await LlamaForCausalLM.from_pretrained("org/gqa");
    expect(hub.log.every((r) => r.method === "HEAD")).toBe(true);
  });

  it("offline (HF_HUB_OFFLINE=1, local_files_only) uses the cache and never the network", async () => {
    await LlamaConfig.from_pretrained("org/gqa"); // caches config.json only
    hub.log = [];
    process.env.HF_HUB_OFFLINE = "1";
    expect((await LlamaConfig.from_pretrained("org/gqa")).hidden_size).toBe(
      JSON.parse(readFileSync(join(MODELS, "llama-gqa", "config.json"), "utf8")).hidden_size,
    );
    const e = await LlamaForCausalLM.from_pretrained("org/gqa").catch((x) => x);
    expect(e).toBeInstanceOf(LocalEntryNotFoundError);
    expect(e.message).toMatch(/^org\/gqa: no model\.safetensors, .* in the local cache .* and HF_HUB_OFFLINE is set/);
    delete process.env.HF_HUB_OFFLINE;
    const f = await AutoModelForCausalLM.from_pretrained("org/gqa", { local_files_only: true }).catch((x) => x);
    expect(f).toBeInstanceOf(LocalEntryNotFoundError);
    expect(f.message).toMatch(/local_files_only is set/);
    expect(hub.log).toEqual([]);
  });

  it("a relative redirect (renamed repo) is followed", async () => {
    const m = await LlamaForCausalLM.from_pretrained("org/renamed");
    expect(logits(m)).toEqual(logits(await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-gqa"))));
    expect(hub.log.some((r) => r.url.startsWith("/org/renamed/resolve/main/config.json"))).toBe(true);
    expect(hub.log.some((r) => r.url.startsWith("/org/gqa/resolve/main/config.json"))).toBe(true);
  });

  it("a gated repo needs HF_TOKEN: typed error without, download with it (token sent to the Hub only)", async () => {
    const e = await LlamaForCausalLM.from_pretrained("meta/gated").catch((x) => x);
    expect(e).toBeInstanceOf(GatedRepoError);
    expect(e.message).toMatch(/meta\/gated\/config\.json: the repository is gated \(HTTP 401\).*set HF_TOKEN/);
    process.env.HF_TOKEN = "hf_secret";
    hub.log = [];
    const m = await LlamaForCausalLM.from_pretrained("meta/gated");
    expect(logits(m)).toEqual(logits(await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-mha"))));
    expect(hub.log.filter((r) => r.server === "hub").every((r) => r.authorization === "Bearer hf_secret")).toBe(true);
    expect(hub.log.filter((r) => r.server === "cdn").every((r) => r.authorization === null)).toBe(true);
  });

  it("404s: a missing file, a missing repo, a missing revision", async () => {
    const e = await hf_hub_download("org/gqa", "nope.json").catch((x) => x);
    expect(e).toBeInstanceOf(EntryNotFoundError);
    expect(await hf_hub_download("org/gqa", "nope.json", { optional: true })).toBeNull();
    const r = await LlamaForCausalLM.from_pretrained("org/missing").catch((x) => x);
    expect(r).toBeInstanceOf(RepositoryNotFoundError);
    expect(r.message).toMatch(/^org\/missing: repository not found/);
    const v = await LlamaConfig.from_pretrained("org/gqa", { revision: "v9" }).catch((x) => x);
    expect(v.name).toBe("RevisionNotFoundError");
  });

  it("a connection dropped mid-file is resumed with a Range request", async () => {
    hub.dropNext = 1;
    const m = await LlamaForCausalLM.from_pretrained("org/gqa");
    expect(logits(m)).toEqual(logits(await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-gqa"))));
    const gets = hub.log.filter((r) => r.server === "cdn" && r.method === "GET");
    expect(gets).toHaveLength(2);
    expect(gets[0].range).toBeNull();
    const half = Math.floor(files("llama-gqa")["model.safetensors"].length / 2);
    expect(gets[1].range).toBe(`bytes=${half}-`);
  });

  it("a download that keeps dropping fails typed, keeps the partial file, and the next run resumes it", async () => {
    const st = files("llama-gqa")["model.safetensors"];
    hub.dropNext = 1000;
    const e = await LlamaForCausalLM.from_pretrained("org/gqa").catch((x) => x);
    expect(e).toBeInstanceOf(HubDownloadError);
    expect(e.message).toMatch(/download interrupted at \d+ of \d+ bytes after 5 attempts .*run again to resume/);
    const partial = join(cache, "models--org--gqa", "blobs", sha256(st) + ".incomplete");
    const have = statSync(partial).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThan(st.length);
    hub.dropNext = 0;
    hub.log = [];
    await LlamaForCausalLM.from_pretrained("org/gqa");
    expect(hub.log.filter((r) => r.server === "cdn")[0].range).toBe(`bytes=${have}-`);
    expect(sha256(readFileSync(join(cache, "models--org--gqa", "blobs", sha256(st))))).toBe(sha256(st));
  });

  it("a server cannot name cache files outside the cache through its ETag", async () => {
    hub.etagOverride = "../../../escaped";
    const e = await LlamaConfig.from_pretrained("org/gqa").catch((x) => x);
    expect(e).toBeInstanceOf(HubDownloadError);
    expect(e.message).toMatch(/ETag "\.\.\/\.\.\/\.\.\/escaped" is not a checksum/);
    expect(existsSync(join(cache, "escaped"))).toBe(false);
    expect(existsSync(join(root, "escaped"))).toBe(false);
  });

  it("bytes that do not match the ETag's sha256 are refused and not kept", async () => {
    hub.corrupt = true;
    const e = await LlamaForCausalLM.from_pretrained("org/gqa").catch((x) => x);
    expect(e).toBeInstanceOf(HubDownloadError);
    expect(e.message).toMatch(/checksum mismatch: the bytes hash to sha256 [0-9a-f]{64}, the server's ETag says/);
    const st = files("llama-gqa")["model.safetensors"];
    expect(existsSync(join(cache, "models--org--gqa", "blobs", sha256(st)))).toBe(false);
  });
});

describe.skipIf(!present)("a cache filled by hand, no server", () => {
  afterEach(() => {
    for (const k of ENV)
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
  });

  it("loads main, a named revision and a commit hash, through HF_HOME, with nothing listening", async () => {
    // The layout huggingface_hub leaves: blobs named by ETag, snapshots/<commit> of symlinks, refs/<name>.
    const home = join(root, "hf_home");
    const repo = join(home, "hub", "models--someone--tiny");
    const put = (commit: string, name: string, model: string) => {
      const bytes = readFileSync(join(MODELS, model, name));
      const blob = join(repo, "blobs", name.endsWith(".safetensors") ? sha256(bytes) : gitSha1(bytes));
      mkdirSync(join(repo, "blobs"), { recursive: true });
      writeFileSync(blob, bytes);
      mkdirSync(join(repo, "snapshots", commit), { recursive: true });
      symlinkSync(join("..", "..", "blobs", blob.split("/").at(-1)!), join(repo, "snapshots", commit, name));
    };
    for (const f of ["config.json", "model.safetensors"]) {
      put(COMMIT, f, "llama-gqa");
      put(COMMIT_V1, f, "llama-mha");
    }
    mkdirSync(join(repo, "refs"), { recursive: true });
    writeFileSync(join(repo, "refs", "main"), COMMIT);
    writeFileSync(join(repo, "refs", "v1"), COMMIT_V1);
    for (const k of ENV) delete process.env[k];
    process.env.HF_HOME = home;
    process.env.HF_ENDPOINT = "http://127.0.0.1:9"; // nothing listens there
    const gqa = logits(await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-gqa")));
    const mha = logits(await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-mha")));
    process.env.HF_HUB_OFFLINE = "1";
    expect(logits(await LlamaForCausalLM.from_pretrained("someone/tiny"))).toEqual(gqa);
    expect(logits(await LlamaForCausalLM.from_pretrained("someone/tiny", { revision: "v1" }))).toEqual(mha);
    expect(logits(await LlamaForCausalLM.from_pretrained("someone/tiny", { revision: COMMIT_V1 }))).toEqual(mha);
    delete process.env.HF_HUB_OFFLINE;
    // Online mode with the Hub unreachable: the cached files of the revision are used (huggingface_hub's fallback).
    expect(logits(await LlamaForCausalLM.from_pretrained("someone/tiny", { local_files_only: true }))).toEqual(gqa);
    expect(logits(await LlamaForCausalLM.from_pretrained("someone/tiny"))).toEqual(gqa);
  });
});
