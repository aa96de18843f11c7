/**
 * A real Debian root filesystem for tests: the fixture OS tarball (tools/fixtures, built by
 * `pnpm fixtures` in setup) unpacked into a fresh temporary directory, so `useradd`, `systemctl`,
 * `netplan` and `mdadm` are the new OS's own, run chrooted as install runs them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '@trident/exec';
import { parseHostConfigOrThrow } from '@trident/host-config';
import { type FixtureFlavour, rootfsStatus } from '@trident/test-support/vm-fixture-rootfs';
import type { Config } from '../types.ts';

export interface UnpackedRootfs {
  root: string;
  remove(): Promise<void>;
}

/** Why the flavour cannot be used here (tests skip with it), or undefined when it can. */
export function rootfsUnavailable(flavour: FixtureFlavour): string | undefined {
  const status = rootfsStatus(flavour);
  return status.available ? undefined : status.reason;
}

export async function unpackRootfs(flavour: FixtureFlavour): Promise<UnpackedRootfs> {
  const status = rootfsStatus(flavour);
  if (!status.available) throw new Error(status.reason);
  const dir = await mkdtemp(join(tmpdir(), `os-config-${flavour}-`));
  const root = join(dir, 'root');
  await runTool('mkdir', [root]);
  await runTool('tar', ['-xf', status.path, '-C', root, '--numeric-owner'], { timeoutMs: 300_000 });
  return { root, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A Host Configuration from YAML, validated as `trident validate` would. */
export function hostConfig(yaml: string): Config {
  return parseHostConfigOrThrow(yaml).config;
}

/** The smallest valid storage (an ESP and an image root on one disk), to put other sections under. */
export const SIMPLE_STORAGE = `
image:
  url: file:///srv/images/os.cosi
  sha384: ignored
storage:
  disks:
  - id: os
    device: /dev/vda
    partitionTableType: gpt
    partitions:
    - { id: esp, type: esp, size: 100M }
    - { id: rootfs, type: root, size: 2G }
  filesystems:
  - deviceId: esp
    mountPoint: { path: /boot/efi, options: umask=0077 }
  - deviceId: rootfs
    mountPoint: /
`;
