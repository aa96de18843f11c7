#!/usr/bin/env bash
# Brings a fresh Debian machine to the point where the demo and every test can run:
# system packages, pnpm, Node 24 (an npm-registry devDependency), workspace packages, and the
# build (TypeScript and the Rust addon). Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
# Real components the tests start on loopback, and the tools that build and check disk images.
APT_PACKAGES=(
  nginx docker-registry skopeo zstd gdisk fdisk e2fsprogs dosfstools mtools
  cryptsetup-bin bmap-tools protobuf-compiler util-linux curl ca-certificates
  systemd time openssl perl
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

say "installing workspace packages (Node 24 comes from the npm registry)"
if [ -n "${CI:-}" ]; then pnpm install --frozen-lockfile --reporter=silent; else pnpm install --reporter=silent; fi
say "node $(pnpm exec node --version), pnpm $(pnpm --version), $(cargo --version)"

say "building (TypeScript and the Rust addon)"
pnpm -s build
say "ready"

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
say "VM rig ready"
