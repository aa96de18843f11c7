#!/usr/bin/env bash
# Streams the bootable fixture OS from a local nginx into a disk image and boots it under QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."
exec pnpm -s exec node --conditions=@trident/source tools/demo-boot.ts "$@"
