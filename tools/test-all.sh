#!/usr/bin/env bash
# Every check CI runs: format and lint, type-check, Rust tests, then the whole vitest suite
# (unit, fuzz, and tests against real nginx, registry, loop devices).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
pnpm -s lint
pnpm -s typecheck
pnpm -s check:generate
if [ -f native/Cargo.toml ]; then (cd native && cargo test --release --quiet); fi
pnpm -s test
