/**
 * Real boot files of the fixture OS (Debian bookworm, tools/fixtures): its kernel and initrd, and
 * systemd's EFI stub from which a real Unified Kernel Image is assembled with objcopy, the way
 * distributions built UKIs before ukify. Taken from the cached root filesystem tarball; tests that
 * need them skip without it (and fail in CI, where setup builds it).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { componentAvailable } from '@trident/test-support/component';
import { rootfsPath, rootfsStatus } from '@trident/test-support/vm-fixture-rootfs';
import { buildFixtureUki } from '@trident/test-support/vm-fixture-uki';

const run = promisify(execFile);

export function fixtureOsAvailable(): boolean {
  const status = rootfsStatus('minimal');
  return componentAvailable(
    status.available,
    'fixture OS boot files',
    'reason' in status ? status.reason : '',
  );
}

/** Extracts the fixture OS's /boot and systemd's EFI stubs into `dir`; returns the kernel version. */
export async function extractFixtureBoot(dir: string): Promise<{ rootDir: string; kernelVersion: string }> {
  const rootDir = join(dir, 'root');
  await mkdir(rootDir, { recursive: true });
  await run('tar', [
    ...['-xf', rootfsPath('minimal'), '-C', rootDir, '--wildcards', '--no-same-owner'],
    ...['./boot/vmlinuz-*', './boot/initrd.img-*', './usr/lib/systemd/boot/efi/*', './usr/lib/os-release'],
  ]);
  const kernel = (await readdir(join(rootDir, 'boot'))).find((n) => n.startsWith('vmlinuz-'));
  if (kernel === undefined) throw new Error('the fixture root filesystem has no kernel in /boot');
  return { rootDir, kernelVersion: kernel.slice('vmlinuz-'.length) };
}

/**
 * A UKI: systemd's linuxx64.efi.stub with .osrel, .cmdline and .linux sections added (the kernel
 * is tiny stand-in bytes: boot configuration reads the command line, it never boots the file).
 */
export async function buildUki(rootDir: string, out: string, cmdline: string): Promise<void> {
  const parts = `${out}.parts`;
  await mkdir(parts, { recursive: true });
  await writeFile(join(parts, 'linux'), 'not a kernel');
  await buildFixtureUki(
    {
      stub: join(rootDir, 'usr/lib/systemd/boot/efi/linuxx64.efi.stub'),
      osRelease: join(rootDir, 'usr/lib/os-release'),
      cmdline,
      kernel: join(parts, 'linux'),
    },
    out,
    parts,
    async (command, args) => (await run(command, args)).stdout,
  );
}
