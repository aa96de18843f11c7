#!/usr/bin/env bash
# Regenerates src/gen from proto/ with protoc + protoc-gen-es (TypeScript, `.ts` import
# extensions so the output fits verbatimModuleSyntax/allowImportingTsExtensions).
# PROTOC overrides the compiler (default: protoc on PATH, e.g. Debian protobuf-compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
protoc="${PROTOC:-protoc}"
rm -rf src/gen
mkdir -p src/gen
mapfile -t protos < <(cd proto && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
"$protoc" \
  --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es \
  --es_out=src/gen \
  --es_opt=target=ts,import_extension=ts,erasable_syntax=true \
  -I proto \
  "${protos[@]}"
