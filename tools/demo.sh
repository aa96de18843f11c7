#!/usr/bin/env bash
# The main job: serve a demo COSI from a local nginx and stream it into a disk-image file.
set -euo pipefail
cd "$(dirname "$0")/.."
exec pnpm -s exec node --conditions=@trident/source tools/demo.ts
