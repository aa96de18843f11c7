#!/usr/bin/env bash
# Regenerates src/gen from proto/ with protoc + protoc-gen-es (TypeScript, `.ts` import
# extensions so the output fits verbatimModuleSyntax/allowImportingTsExtensions).
# PROTOC overrides the compiler (default: protoc on PATH, Debian protobuf-compiler; the
# well-known google/protobuf/*.proto come from libprotobuf-dev, which tools/setup.sh installs).
# OUT_DIR is the output directory (default src/gen). The output is written to a temporary
# directory first and replaces OUT_DIR only when protoc succeeded, so a failing generator never
# leaves the checkout without its generated code.
set -euo pipefail
cd "$(dirname "$0")/.."
protoc="${PROTOC:-protoc}"
out="${OUT_DIR:-src/gen}"
plugin="$PWD/node_modules/.bin/protoc-gen-es"
mkdir -p "$(dirname "$out")"
staging="$(mktemp -d "$(dirname "$out")/.gen-XXXXXX")"
trap 'rm -rf "$staging"' EXIT
mapfile -t protos < <(cd proto && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
if ! "$protoc" \
  --plugin=protoc-gen-es="$plugin" \
  --es_out="$staging" \
  --es_opt=target=ts,import_extension=ts,erasable_syntax=true \
  -I proto \
  "${protos[@]}"; then
  echo "generate.sh: $protoc failed; $out is unchanged." >&2
  echo "  protoc comes from Debian's protobuf-compiler and the well-known protos" >&2
  echo "  (google/protobuf/timestamp.proto) from libprotobuf-dev: run tools/setup.sh." >&2
  exit 1
fi
# Swap in: the old tree goes only once the new one is complete.
rm -rf "$out.old"
if [ -e "$out" ]; then mv "$out" "$out.old"; fi
mv "$staging" "$out"
rm -rf "$out.old"
