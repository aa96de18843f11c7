#!/usr/bin/env bash
# Brings a fresh Debian machine to the point where the demo and every test can run:
# system packages, pnpm, Node 24 (an npm-registry devDependency), workspace packages, and the
# build (TypeScript and the Rust addon). Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
# Every Debian package the scripts, tests and benchmarks use: the one list, read by the check that
# proves it complete (tools/setup-check, run by tools/test-all.sh). To add a tool, add its package
# here (a line per group, comments allowed) and the tool to tools/setup-check/providers.ts.
APT_PACKAGES=(
  # Real components the tests start on loopback, and their helpers.
  nginx docker-registry skopeo curl ca-certificates openssl perl systemd
  # Building and checking disk images and filesystems.
  zstd gdisk fdisk e2fsprogs dosfstools mtools efibootmgr cryptsetup-bin bmap-tools util-linux mount
  squashfs-tools systemd-container
  # Install's RAID and LUKS2 steps (mdadm, udevadm, TPM2 probing).
  mdadm udev tpm2-tools
  # Code generation: protoc and the well-known protos it imports (google/protobuf/*.proto).
  protobuf-compiler libprotobuf-dev
  # The Python grpcio test client (tests/clients/python) in its own venv.
  python3 python3-venv
  # Benchmarks and the checkout itself.
  time git
  # The VM rig (tests/vm): QEMU with UEFI firmware and a TPM, the fixture OS builder, objcopy.
  qemu-system-x86 ovmf swtpm swtpm-tools mmdebstrap binutils
)

say() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root for: $*"; return 1
  fi
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  # Package postinstall scripts must not start services on this machine: tests start their own.
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  say "installing pnpm $PNPM_VERSION"
  as_root npm install -g --silent "pnpm@$PNPM_VERSION"
fi

if ! command -v cargo >/dev/null; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; else
    say "cargo not found: installing Debian's rust toolchain"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo >/dev/null
  fi
fi
# tools/test-all.sh checks the Rust crates with clippy and rustfmt: rustup's components with
# rustup's cargo, Debian's packages with Debian's.
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null; then
    say "adding clippy and rustfmt to the rust toolchain"
    rustup component add clippy rustfmt
  else
    say "installing Debian's clippy and rustfmt"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rust-clippy rustfmt >/dev/null
  fi
fi

say "installing workspace packages (Node 24 comes from the npm registry)"
if [ -n "${CI:-}" ]; then pnpm install --frozen-lockfile --reporter=silent; else pnpm install --reporter=silent; fi
say "node $(pnpm exec node --version), pnpm $(pnpm --version), $(cargo --version)"

say "building (TypeScript and the Rust addon)"
pnpm -s build

# The venv of the gRPC C-core test client (grpcio from PyPI); its test creates it too if missing.
say "preparing the Python grpcio test client"
bash tests/clients/python/make-venv.sh >/dev/null

# --- VM rig (tests/vm, pnpm demo:boot) --------------------------------------------------------
# The boot tests run the agent bundle inside QEMU guests and boot disks written by trident. Their
# OS is built here from Debian packages (mmdebstrap), once per content hash, into the fixture cache
# (/var/cache/trident-fixtures for root), because tests never reach the network.
say "building the agent bundle and .deb (pnpm package)"
pnpm -s package --no-build
if [ "$(id -u)" -eq 0 ]; then
  say "building the fixture OS root filesystems (pnpm fixtures; cached by content hash)"
  pnpm -s fixtures
else
  say "not root: skipping the fixture OS build (VM tests will be skipped); run pnpm fixtures as root"
fi
say "ready"
