#!/usr/bin/env bash
# Consumer test: "people can depend on it". Packs llama-ts (npm pack, which builds dist/), installs the tarball
# into a fresh project in a temporary folder, and uses it as a dependent project would:
#   1. a plain .mjs (no TypeScript, fast-check not installed) loads a reference checkpoint and the reference
#      tokenizer and checks the logits against HF's;
#   2. a .ts file type-checks against the published declarations;
#   3. a vitest file imports llama-ts/testing and runs two fast-check properties;
#   4. `npx llama-ts --help` runs the installed command.
# Offline-safe: packages come from the npm cache when it has them (--prefer-offline). The reference data is
# ../shared/reference; without it step 1 is skipped with a reason, unless LLAMA_TS_REQUIRE_REFERENCE=1.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ref="$(cd "$repo/.." && pwd)/shared/reference"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm_flags=(--prefer-offline --no-audit --no-fund --loglevel=error)
version() { node -p "require('$repo/node_modules/$1/package.json').version"; }

echo "consumer: npm pack"
tarball="$(cd "$repo" && npm pack --pack-destination "$work" --silent | tail -n 1)"
mkdir "$work/app"
cp "$repo/.ci/consumer/"* "$work/app/"
cd "$work/app"
printf '{ "name": "llama-ts-consumer", "private": true, "type": "module" }\n' > package.json
npm install "${npm_flags[@]}" "$work/$tarball"

echo "consumer: 1. plain .mjs against the reference"
if [ -d "$ref/models/llama-vocab32000" ] && [ -d "$ref/tokenizer" ]; then
  node load_reference.mjs "$ref"
elif [ "${LLAMA_TS_REQUIRE_REFERENCE:-}" = "1" ]; then
  echo "consumer: $ref is absent and LLAMA_TS_REQUIRE_REFERENCE=1" >&2
  exit 1
else
  echo "consumer: skipping step 1: $ref is absent"
fi

echo "consumer: dev tools for steps 2 and 3 (typescript, @types/node, vitest, fast-check at the repository's versions)"
npm install "${npm_flags[@]}" --save-dev "typescript@$(version typescript)" "@types/node@$(version @types/node)" \
  "vitest@$(version vitest)" "fast-check@$(version fast-check)"

echo "consumer: 2. type-check against the published types"
npx tsc -p tsconfig.json

echo "consumer: 3. vitest + llama-ts/testing"
npx vitest run --root . properties.test.mjs

echo "consumer: 4. npx llama-ts --help"
help="$(npx llama-ts --help)"
grep -q "Usage: llama-ts" <<<"$help" || { echo "consumer: unexpected --help output: $help" >&2; exit 1; }
echo "consumer: all four checks passed"
