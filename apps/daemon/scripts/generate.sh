#!/usr/bin/env bash
# Regenerates src/gen from proto/ with protoc + protoc-gen-es (TypeScript, `.ts` import
# extensions so the output fits verbatimModuleSyntax/allowImportingTsExtensions).
# PROTOC overrides the compiler (default: protoc on PATH, e.g. Debian protobuf-compiler);
# OUT_DIR the output directory (default src/gen; the freshness test writes to a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
protoc="${PROTOC:-protoc}"
out="${OUT_DIR:-src/gen}"
rm -rf "$out"
mkdir -p "$out"
mapfile -t protos < <(cd proto && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
"$protoc" \
  --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es \
  --es_out="$out" \
  --es_opt=target=ts,import_extension=ts,erasable_syntax=true \
  -I proto \
  "${protos[@]}"
