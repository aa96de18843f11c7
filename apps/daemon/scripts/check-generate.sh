#!/usr/bin/env bash
# Fails when src/gen is not exactly what the protos generate (a changed, missing or extra file),
# or when the committed src/gen differs from the working tree's. Generates into a temporary
# directory: src/gen is never written, whatever happens (a missing protoc, missing well-known
# protos, a broken plugin).
set -euo pipefail
cd "$(dirname "$0")/.."
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
OUT_DIR="$fresh/gen" bash scripts/generate.sh
if ! diff -r -u src/gen "$fresh/gen" >"$fresh/diff"; then
  echo "src/gen is not what the protos generate (run: pnpm --filter @trident/daemon generate):" >&2
  cat "$fresh/diff" >&2
  exit 1
fi
# In a git checkout, what is committed must be what is in the working tree.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git diff --exit-code -- src/gen
  untracked="$(git ls-files --others --exclude-standard -- src/gen)"
  if [ -n "$untracked" ]; then
    echo "untracked generated files (commit them):" >&2
    echo "$untracked" >&2
    exit 1
  fi
fi
