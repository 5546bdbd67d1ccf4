// Preloaded with NODE_OPTIONS="--import=<this file>": every module URL any node process resolves is appended to
// the file named by LLAMA_TS_IMPORT_LOG (one line each), so a test can see which packages a command loaded.
import { register } from "node:module";

register(
  "data:text/javascript," +
    encodeURIComponent(`
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (process.env.LLAMA_TS_IMPORT_LOG) appendFileSync(process.env.LLAMA_TS_IMPORT_LOG, r.url + "\\n");
  return r;
}`),
);
