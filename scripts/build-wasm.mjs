#!/usr/bin/env node
/**
 * `npm run build:wasm`: compile src/backends/wasm/kernels.ts (AssemblyScript) into src/backends/wasm/kernels.wasm.
 * The .wasm is committed (nothing compiles at install time); tests/backends/wasm_build.test.ts rebuilds it with the
 * pinned compiler and these exact flags and checks the bytes match. `--check` compares instead of writing.
 */
import asc from "assemblyscript/asc";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../src/backends/wasm/", import.meta.url));
export const ASC_FLAGS = [
  "kernels.ts",
  "--outFile",
  "kernels.wasm",
  "--optimizeLevel",
  "3",
  "--shrinkLevel",
  "0",
  "--noAssert",
  "--runtime",
  "stub",
  "--enable",
  "simd",
  "--enable",
  "threads",
  "--importMemory",
  "--sharedMemory",
  "--initialMemory",
  "1",
  "--maximumMemory",
  "65536",
  "--noExportMemory",
  "--use",
  "abort=",
];

/** Compile and return the .wasm bytes (nothing written). */
export async function buildKernels() {
  let wasm = null;
  const errors = [];
  const { error, stderr } = await asc.main(ASC_FLAGS, {
    readFile: (name, baseDir) => {
      try {
        return readFileSync(path.resolve(dir, baseDir, name), "utf8");
      } catch {
        return null;
      }
    },
    writeFile: (name, contents) => {
      if (name.endsWith(".wasm")) wasm = contents;
    },
    listFiles: () => [],
  });
  if (error) throw new Error(`asc failed: ${error.message}\n${stderr.toString()}`);
  if (!wasm) throw new Error("asc produced no .wasm");
  return Buffer.from(wasm);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bytes = await buildKernels();
  const target = dir + "kernels.wasm";
  if (process.argv.includes("--check")) {
    const same = Buffer.compare(bytes, readFileSync(target)) === 0;
    console.log(
      same ? "kernels.wasm is up to date" : "kernels.wasm differs from a fresh build: run npm run build:wasm",
    );
    process.exit(same ? 0 : 1);
  }
  writeFileSync(target, bytes);
  console.log(`wrote ${target} (${bytes.length} bytes)`);
}
