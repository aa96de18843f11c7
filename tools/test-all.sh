#!/usr/bin/env bash
# Every check CI runs: setup is complete (every tool and package the scripts and tests use is
# installed by tools/setup.sh), format and lint, type-check, generated code up to date, Rust
# tests, then the whole vitest suite (unit, fuzz, and tests against real nginx, registry, loop
# devices, and the Python grpcio client).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
pnpm -s exec node tools/setup-check/main.ts --quiet
pnpm -s exec node --test --test-reporter=dot 'tools/setup-check/*.test.ts'
pnpm -s lint
pnpm -s typecheck
pnpm -s check:generate
if [ -f native/Cargo.toml ]; then
  (cd native && cargo fmt --check && cargo clippy --release --all-targets --quiet -- -D warnings &&
    cargo test --release --quiet)
fi

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
status=0
pnpm -s test --reporter=default --reporter=json --outputFile="$results" || status=$?
# One plain closing line for whoever reads the log: "vitest: N passed, N failed, N skipped".
pnpm -s exec node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || true
exit "$status"
