#!/usr/bin/env node
// The llama-ts command: runs the compiled CLI (dist/, built by `npm run build`, which `npm pack` and an install
// from a git checkout run through the `prepare` script). Development runs the TypeScript directly: `npm start`.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
