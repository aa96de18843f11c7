/**
 * Root filesystems of the bootable fixture OS, built from Debian packages with mmdebstrap and kept
 * as tarballs in the fixture cache. Building needs the Debian mirror, so it happens in
 * tools/setup.sh (`pnpm fixtures`), never inside a test; tests only read the cached tarball.
 *
 * - `minimal`: kernel (linux-image-cloud-amd64), systemd, dracut initrd able to open a dm-verity
 *   root, systemd-boot and grub EFI binaries, the trident-test-marker unit.
 * - `full`: minimal plus what the agent and installed hosts need (mdadm, cryptsetup + initramfs
 *   support, tpm2-tools, efibootmgr, GPT tools, openssh-server, netplan, squashfs for sysexts).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { contentKey, fileKeyParts, fixtureCacheDir, withLock } from './vm-cache.ts';

export type FixtureFlavour = 'minimal' | 'full';

export const FIXTURES_DIR = resolve(import.meta.dirname, '../../../tools/fixtures');
const SUITE = 'bookworm';

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

function packageFiles(flavour: FixtureFlavour): string[] {
  const files = [join(FIXTURES_DIR, 'packages-minimal.txt')];
  if (flavour === 'full') files.push(join(FIXTURES_DIR, 'packages-full.txt'));
  return files;
}

export function fixturePackages(flavour: FixtureFlavour): string[] {
  return packageFiles(flavour).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => line.replace(/#.*/u, '').trim())
      .filter((line) => line !== ''),
  );
}

function mmdebstrapArgs(flavour: FixtureFlavour, output: string): string[] {
  const guest = join(FIXTURES_DIR, 'guest');
  return [
    '--mode=root',
    '--variant=apt',
    `--include=${fixturePackages(flavour).join(',')}`,
    // Documentation and translations are a third of a small system and never read in a test VM.
    '--dpkgopt=path-exclude=/usr/share/man/*',
    '--dpkgopt=path-exclude=/usr/share/doc/*',
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    '--dpkgopt=path-exclude=/usr/share/locale/*',
    // The overlay goes in before the kernel package, so its postinst builds the initrd with our
    // dracut configuration.
    `--essential-hook=sync-in ${guest} /`,
    `--customize-hook=${join(FIXTURES_DIR, 'customize-rootfs.sh')} "$1"`,
    SUITE,
    output,
  ];
}

/** Key of a flavour's root filesystem: package lists, guest overlay, hook, suite and arguments. */
export function rootfsKey(flavour: FixtureFlavour): string {
  const inputs = [
    ...packageFiles(flavour),
    join(FIXTURES_DIR, 'customize-rootfs.sh'),
    ...listFiles(join(FIXTURES_DIR, 'guest')),
  ];
  return contentKey([
    flavour,
    ...mmdebstrapArgs(flavour, 'OUT').map((arg) => arg.replaceAll(FIXTURES_DIR, '')),
    ...fileKeyParts(inputs).map((part) => (typeof part === 'string' ? relative(FIXTURES_DIR, part) : part)),
  ]);
}

export function rootfsPath(flavour: FixtureFlavour): string {
  return join(fixtureCacheDir(), `rootfs-${flavour}-${rootfsKey(flavour)}.tar`);
}

export type RootfsStatus = { available: true; path: string } | { available: false; reason: string };

/** Whether the cached root filesystem of `flavour` exists (tests skip or fail with `reason`). */
export function rootfsStatus(flavour: FixtureFlavour): RootfsStatus {
  if (process.getuid?.() !== 0)
    return { available: false, reason: 'building fixture OS disks needs root (chroot, file ownership)' };
  const path = rootfsPath(flavour);
  if (existsSync(path)) return { available: true, path };
  return {
    available: false,
    reason: `the ${flavour} fixture root filesystem is not built (${path}); run \`pnpm fixtures\` (tools/setup.sh does)`,
  };
}

/**
 * Builds the root filesystem tarball of `flavour` with mmdebstrap unless it is cached; returns its
 * path. Needs root and the Debian mirror. `log` receives mmdebstrap's output lines.
 */
export async function buildRootfs(
  flavour: FixtureFlavour,
  options: { log?: (line: string) => void } = {},
): Promise<string> {
  const path = rootfsPath(flavour);
  return withLock(`rootfs-${flavour}`, async () => {
    if (existsSync(path)) return path;
    const partial = `${path}.partial-${process.pid}.tar`;
    try {
      await new Promise<void>((resolveRun, reject) => {
        const child = spawn('mmdebstrap', mmdebstrapArgs(flavour, partial), {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let tail = '';
        const onData = (chunk: Buffer) => {
          const text = chunk.toString();
          tail = (tail + text).slice(-8192);
          for (const line of text.split('\n')) if (line.trim() !== '') options.log?.(line);
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('error', reject);
        child.once('exit', (code) =>
          code === 0
            ? resolveRun()
            : reject(new Error(`mmdebstrap (${flavour}) exited with ${code}:\n${tail}`)),
        );
      });
      renameSync(partial, path);
    } finally {
      rmSync(partial, { force: true });
    }
    pruneCache(fixtureCacheDir(), new RegExp(`^rootfs-${flavour}-[0-9a-f]{20}\\.tar$`, 'u'), path, 1, 365);
    return path;
  });
}

/**
 * Removes entries of `dir` whose names match `pattern`, except `current`: those beyond the `keep`
 * most recently used, and those unused for `maxAgeDays`. Entries in use are touched on every hit.
 */
export function pruneCache(
  dir: string,
  pattern: RegExp,
  current: string,
  keep: number,
  maxAgeDays = 3,
): void {
  const now = Date.now();
  const entries = readdirSync(dir)
    .filter((name) => pattern.test(name) && join(dir, name) !== current)
    .map((name) => ({ path: join(dir, name), mtime: statSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const [i, entry] of entries.entries()) {
    if (i >= keep || now - entry.mtime > maxAgeDays * 86_400_000)
      rmSync(entry.path, { recursive: true, force: true });
  }
}
