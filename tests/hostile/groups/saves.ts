/** Family 6: saves that fail, are killed, race each other, or target the wrong kind of path. */
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CheckpointError, ValueError } from "../../../src/errors.ts";
import { loadCheckpointTensors, saveCheckpointTensors } from "../../../src/formats/checkpoint.ts";
import { LlamaConfig } from "../../../src/models/llama/configuration_llama.ts";
import { LlamaForCausalLM } from "../../../src/models/llama/modeling_llama.ts";
import { Tensor } from "../../../src/tensor/tensor.ts";
import type { Attack } from "../harness.ts";
import { TINY_CONFIG, tempDir } from "../fixtures.ts";

const CHILD = fileURLToPath(new URL("../save_child.ts", import.meta.url));

const tiny = (seed: number) => new LlamaForCausalLM(new LlamaConfig(TINY_CONFIG), { seed });

/** A folder holding a saved tiny model (seed 1) and a snapshot of its weights. */
async function oldCheckpoint(): Promise<{ dir: string; weights: Map<string, number[]> }> {
  const dir = tempDir();
  await tiny(1).save_pretrained(dir);
  return { dir, weights: await snapshot(dir) };
}

async function snapshot(dir: string): Promise<Map<string, number[]>> {
  const model = await LlamaForCausalLM.from_pretrained(dir);
  return new Map(model.named_parameters().map(([n, t]) => [n, Array.from(t.data as Float32Array)]));
}

/** The folder must load and hold exactly `weights`; a plain Error (failing the attack) otherwise. */
async function expectWeights(dir: string, weights: Map<string, number[]>, what: string): Promise<void> {
  const now = await snapshot(dir);
  for (const [n, v] of weights) {
    const w = now.get(n);
    if (!w || w.length !== v.length || w.some((x, i) => x !== v[i])) throw new Error(`${what}: ${n} changed`);
  }
}

/** Run `f`, which must throw `cls`; rethrow it after checking that the old checkpoint is intact. */
async function failsAndKeepsOld(f: (dir: string) => Promise<unknown>): Promise<never> {
  const { dir, weights } = await oldCheckpoint();
  let err: unknown = null;
  try {
    await f(dir);
  } catch (e) {
    err = e;
  }
  if (err === null) throw new Error("the save did not fail");
  await expectWeights(dir, weights, "after the failed save");
  throw err;
}

function run(args: string[]) {
  return spawn(process.execPath, ["--import", "tsx", CHILD, ...args], { stdio: "ignore" });
}

export const attacks: Attack[] = [
  {
    name: "a save killed (SIGKILL) midway leaves the old checkpoint loadable and unchanged",
    run: async () => {
      const dir = tempDir();
      const old = new Map([["w0", new Tensor("float32", [1, 2, 3, 4], [2, 2])]]);
      await saveCheckpointTensors(dir, old);
      const child = run(["big", dir]);
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      let killedMidway = false;
      for (let i = 0; i < 2000 && child.exitCode === null; i++) {
        const temp = readdirSync(dir).find((n) => n.includes(".tmp-"));
        if (temp && statSync(join(dir, temp)).size > 1 << 20) {
          child.kill("SIGKILL");
          killedMidway = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await exited;
      if (!killedMidway) throw new Error("the child finished before it could be killed (inconclusive)");
      const { tensors } = await loadCheckpointTensors(dir);
      const w = tensors.get("w0");
      if (tensors.size !== 1 || !w || Array.from(w.data as Float32Array).join() !== "1,2,3,4")
        throw new Error("the old checkpoint changed");
      // The next save removes the dead save's temporaries.
      await saveCheckpointTensors(dir, old);
      if (readdirSync(dir).some((n) => n.includes(".tmp-"))) throw new Error("temporaries left after the next save");
    },
    error: null,
  },
  {
    name: "two processes saving to one folder at once: the result is one whole save",
    run: async () => {
      const dir = tempDir();
      const children = [run(["model", dir, "2", "100"]), run(["model", dir, "3", "1000000"])];
      await Promise.all(children.map((c) => new Promise((r) => c.on("exit", r))));
      if (children.some((c) => c.exitCode !== 0)) throw new Error("a save failed");
      const now = await snapshot(dir);
      const candidates = [tiny(2), tiny(3)].map(
        (m) => new Map(m.named_parameters().map(([n, t]) => [n, Array.from(t.data as Float32Array)])),
      );
      const same = (a: Map<string, number[]>) => [...a].every(([n, v]) => now.get(n)!.every((x, i) => x === v[i]));
      if (!candidates.some(same)) throw new Error("the folder mixes the two saves");
    },
    error: null,
  },
  {
    name: "four concurrent saves in one process (different shard counts)",
    run: async () => {
      const dir = tempDir();
      const models = [4, 5, 6, 7].map(tiny);
      await Promise.all(models.map((m, i) => m.save_pretrained(dir, { max_shard_size: [100, 1e6, 300, 1e6][i] })));
      // Saves to one folder run in call order: the last one wins, whole.
      await expectWeights(
        dir,
        new Map(models[3].named_parameters().map(([n, t]) => [n, Array.from(t.data as Float32Array)])),
        "after concurrent saves",
      );
      if (existsSync(join(dir, "model.safetensors.index.json"))) throw new Error("a stale index is left");
    },
    error: null,
  },
  {
    name: "max_shard_size '5XB'",
    run: () => failsAndKeepsOld((dir) => tiny(9).save_pretrained(dir, { max_shard_size: "5XB" })),
    error: ValueError,
    message: /Unit 'XB' not supported/,
  },
  {
    name: "max_shard_size null-ish object",
    run: () => failsAndKeepsOld((dir) => tiny(9).save_pretrained(dir, { max_shard_size: {} as never })),
    error: ValueError,
    message: /max_shard_size: expected a number of bytes or a size string/,
  },
  {
    name: "max_shard_size -1",
    run: () => failsAndKeepsOld((dir) => tiny(9).save_pretrained(dir, { max_shard_size: -1 })),
    error: ValueError,
    message: /max_shard_size/,
  },
  {
    name: "save onto a folder named config.json (old weights stay)",
    run: () =>
      failsAndKeepsOld(async (dir) => {
        // Keep a copy of the config, then turn config.json into a folder: the weights must still be the old ones.
        const { rmSync, readFileSync } = await import("node:fs");
        const text = readFileSync(join(dir, "config.json"));
        rmSync(join(dir, "config.json"));
        mkdirSync(join(dir, "config.json"));
        try {
          await tiny(9).save_pretrained(dir);
        } finally {
          rmSync(join(dir, "config.json"), { recursive: true });
          writeFileSync(join(dir, "config.json"), text);
        }
      }),
    error: CheckpointError,
    message: /config\.json: is a folder: cannot replace it with a file/,
  },
  {
    name: "save under a path whose parent is a file",
    run: async () => {
      const dir = tempDir();
      writeFileSync(join(dir, "file"), "x");
      await tiny(1).save_pretrained(join(dir, "file", "sub"));
    },
    error: CheckpointError,
    message: /file\/sub: cannot create the folder \(ENOTDIR\)/,
  },
  {
    name: "save onto a path that is a file",
    run: async () => {
      const dir = tempDir();
      writeFileSync(join(dir, "file"), "x");
      await tiny(1).save_pretrained(join(dir, "file"));
    },
    error: CheckpointError,
    message: /file: /,
  },
  {
    name: "LlamaConfig.save_pretrained onto a folder named config.json",
    run: async () => {
      const dir = tempDir();
      mkdirSync(join(dir, "config.json"));
      await new LlamaConfig(TINY_CONFIG).save_pretrained(dir);
    },
    error: CheckpointError,
    message: /config\.json: is a folder/,
  },
  {
    name: "a read-only weights file is replaced, or the save fails and keeps it",
    run: async () => {
      const { dir, weights } = await oldCheckpoint();
      chmodSync(join(dir, "model.safetensors"), 0o444);
      const next = tiny(9);
      try {
        await next.save_pretrained(dir);
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        return expectWeights(dir, weights, "after the refused save");
      }
      await expectWeights(
        dir,
        new Map(next.named_parameters().map(([n, t]) => [n, Array.from(t.data as Float32Array)])),
        "after the save",
      );
    },
    error: null,
  },
  {
    name: "save_pretrained(undefined)",
    run: () => tiny(1).save_pretrained(undefined as never),
    error: ValueError,
    message: /save_directory: expected a non-empty path string/,
  },
];
