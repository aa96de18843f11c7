#!/usr/bin/env bash
# Fails when the committed src/gen differs from what the protos generate (changed or new files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/generate.sh
git diff --exit-code -- src/gen
untracked="$(git ls-files --others --exclude-standard -- src/gen)"
if [ -n "$untracked" ]; then
  echo "untracked generated files (commit them):" >&2
  echo "$untracked" >&2
  exit 1
fi
