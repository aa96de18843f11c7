/**
 * The kernel filesystems a chroot into the new root needs (upstream `osutils/src/chroot.rs` and
 * `engine/newroot.rs`): a fresh devtmpfs on /dev (so `mdadm --examine --scan` and the like see the
 * disks), proc, sysfs, and empty tmpfs on /run and /tmp so nothing the tools leave there lands in
 * the installed OS.
 */
import { mkdir } from 'node:fs/promises';
import { runTool } from '@trident/exec';
import { OsConfigError, reason } from './errors.ts';
import { resolveInRoot } from './root-files.ts';

const MOUNTS: ReadonlyArray<{ path: string; type: string; options?: string }> = [
  { path: '/dev', type: 'devtmpfs' },
  { path: '/proc', type: 'proc' },
  { path: '/sys', type: 'sysfs' },
  { path: '/run', type: 'tmpfs', options: 'mode=0755' },
  { path: '/tmp', type: 'tmpfs', options: 'mode=1777' },
];

export interface ChrootMounts {
  /** Unmounts everything mounted, in reverse order; safe to call twice. */
  unmount(): Promise<void>;
}

export async function mountChrootFilesystems(root: string): Promise<ChrootMounts> {
  const mounted: string[] = [];
  const unmount = async (): Promise<void> => {
    const errors: string[] = [];
    while (mounted.length > 0) {
      const target = mounted.pop() as string;
      try {
        await runTool('umount', [target]);
      } catch (error) {
        errors.push(reason(error));
      }
    }
    if (errors.length > 0)
      throw new OsConfigError(
        'OS_CONFIG_CHROOT',
        `cannot unmount the chroot filesystems of ${root}: ${errors.join('; ')}`,
      );
  };
  try {
    for (const mount of MOUNTS) {
      const target = await resolveInRoot(root, mount.path);
      await mkdir(target, { recursive: true });
      await runTool('mount', [
        '-t',
        mount.type,
        ...(mount.options ? ['-o', mount.options] : []),
        mount.type,
        target,
      ]);
      mounted.push(target);
    }
  } catch (error) {
    await unmount().catch(() => undefined);
    throw new OsConfigError('OS_CONFIG_CHROOT', `cannot prepare the chroot into ${root}: ${reason(error)}`, {
      cause: error,
    });
  }
  return { unmount };
}
