#!/usr/bin/env bash
# Builds the self-contained agent bundle and the Debian package made from it:
#   dist/trident-<version>-linux-x64.tar.gz   Node 24 runtime + CLI + daemon + addon + units
#   dist/trident-ts_<version>_amd64.deb       the bundle under /usr/lib/trident, /usr/bin links, units
# The bundle needs nothing on the host but libc/libstdc++ and the disk tools the agent calls.
# Output is reproducible (fixed mtimes, sorted archives), so fixture disks keyed by the .deb's hash
# are rebuilt only when the agent really changed. TRIDENT_PACKAGE_OUT overrides the output dir;
# --no-build packages the existing dist/ directories (tools/setup.sh has just built them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
say() { printf '[package] %s\n' "$*"; }

version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' apps/cli/package.json)
[ -n "$version" ] || { say "cannot read the version from apps/cli/package.json"; exit 1; }
out=${TRIDENT_PACKAGE_OUT:-$root/dist}
name=trident-$version-linux-x64
epoch=1700000000
export SOURCE_DATE_EPOCH=$epoch
stage=$(mktemp -d "${TMPDIR:-/tmp}/trident-package-XXXXXX")
trap 'rm -rf "$stage"' EXIT
bundle=$stage/$name

if [ "${1:-}" = --no-build ]; then
  say "using the existing build (dist/ of each package)"
else
  say "compiling TypeScript of the CLI, the daemon and their workspace dependencies"
  pnpm -s --filter '@trident/cli...' --filter '!@trident/test-support' --workspace-concurrency=1 \
    exec tsc -p tsconfig.build.json
  say "bundling the CLI (apps/cli/scripts/bundle.ts)"
  pnpm -s --filter @trident/cli exec node scripts/bundle.ts
fi
[ -f apps/cli/bundle/trident.js ] || { say "apps/cli/bundle is missing: run pnpm build"; exit 1; }
if ! ls packages/zstd-native/*.node >/dev/null 2>&1; then
  say "building the Rust addon"
  pnpm -s --filter @trident/zstd-native run build:native
fi

say "deploying @trident/cli with production dependencies only"
mkdir -p "$bundle/lib" "$bundle/bin" "$bundle/systemd"
# --legacy: the workspace links its packages instead of injecting them; legacy deploy copies each
# workspace dependency as its package files.
pnpm -s --filter @trident/cli deploy --legacy --prod "$bundle/lib/app" >/dev/null
# Sources, type declarations, maps and build configs are not needed at run time; neither is the
# CLI's unbundled dist/ (bin/trident.js runs bundle/, which holds all of it).
rm -rf "$bundle/lib/app/dist"
for dir in "$bundle/lib/app" "$bundle"/lib/app/node_modules/.pnpm/@trident+*/node_modules/@trident/*; do
  rm -rf "$dir/src" "$dir/scripts" "$dir/proto" "$dir"/tsconfig*.json
done
find "$bundle/lib/app" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' \) -delete

say "adding the Node runtime from the npm 'node' package"
node_bin=$(readlink -f node_modules/node)/bin/node
[ -x "$node_bin" ] || { say "node_modules/node/bin/node is missing: run pnpm install"; exit 1; }
mkdir -p "$bundle/lib/node"
cp "$node_bin" "$bundle/lib/node/node"
# Debug symbols are a sixth of the binary; strip when binutils is there.
if command -v strip >/dev/null; then strip --strip-all "$bundle/lib/node/node"; fi
node_version=$("$bundle/lib/node/node" --version)

cp packaging/bundle/trident packaging/bundle/tridentd "$bundle/bin/"
cp packaging/systemd/tridentd.service packaging/systemd/tridentd.socket packaging/systemd/trident.service "$bundle/systemd/"
printf 'name=trident-ts\nversion=%s\nnode=%s\narch=x86_64\n' "$version" "$node_version" > "$bundle/MANIFEST"

say "checking that the bundle runs with an empty environment"
env -i "$bundle/bin/trident" --version
env -i "$bundle/bin/tridentd" --help >/dev/null

mkdir -p "$out"
find "$bundle" -exec touch -h -d "@$epoch" {} +
tarball=$out/$name.tar.gz
say "writing $tarball"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$stage" -cf - "$name" \
  | gzip -n -6 > "$tarball.partial"
mv "$tarball.partial" "$tarball"

deb_root=$stage/deb
mkdir -p "$deb_root/usr/lib/trident" "$deb_root/usr/bin" "$deb_root/lib/systemd/system" "$deb_root/DEBIAN"
cp -a "$bundle/." "$deb_root/usr/lib/trident/"
ln -s ../lib/trident/bin/trident "$deb_root/usr/bin/trident"
ln -s ../lib/trident/bin/tridentd "$deb_root/usr/bin/tridentd"
cp packaging/systemd/tridentd.service packaging/systemd/tridentd.socket packaging/systemd/trident.service "$deb_root/lib/systemd/system/"
installed_size=$(du -sk --exclude=DEBIAN "$deb_root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$installed_size/" packaging/deb/control.in \
  > "$deb_root/DEBIAN/control"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$deb_root/DEBIAN/"
find "$deb_root" -exec touch -h -d "@$epoch" {} +
deb=$out/trident-ts_${version}_amd64.deb
say "writing $deb"
dpkg-deb --root-owner-group -Zgzip -z6 --build "$deb_root" "$deb.partial" >/dev/null
mv "$deb.partial" "$deb"
say "done: $(du -h "$tarball" | cut -f1) bundle, $(du -h "$deb" | cut -f1) .deb (node $node_version)"
