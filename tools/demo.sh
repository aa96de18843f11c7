#!/usr/bin/env bash
# The main job on the embedded default: build a demo COSI from a generated disk image, then
# inspect and validate it. Everything lands in ./demo (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p demo
echo "== generating a 2 GiB GPT disk image (ESP + ext4 root)"
pnpm -s exec node --conditions=@trident/source tools/make-demo-disk.ts demo/source-disk.img 2048
echo "== trident cosi build"
pnpm -s trident cosi build demo/source-disk.img -o demo/demo.cosi
echo "== trident cosi inspect"
pnpm -s trident cosi inspect demo/demo.cosi
echo "== trident cosi validate --profile spec"
pnpm -s trident cosi validate demo/demo.cosi --profile spec
