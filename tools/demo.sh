#!/usr/bin/env bash
# The main job: serve a demo COSI from a local nginx and stream it into a disk-image file.
set -euo pipefail
cd "$(dirname "$0")/.."
# The real Node binary, not node_modules/.bin/node (a shell wrapper that would not pass signals on).
node="$(pnpm -s exec node -p process.execPath)"
exec "$node" --conditions=@trident/source tools/demo.ts
