/**
 * The installed OS as a directory tree: every target's partitions made visible as block devices (a
 * disk-image file through a loop device with partition scanning), then the Host Configuration's
 * filesystems mounted under a private directory in path order, as upstream mounts `/mnt/newroot`.
 *
 * What is not mounted, and why:
 * - vfat (the ESP): boot configuration edits it through mtools at its byte offset, which works on
 *   hosts without the vfat module and never races a mounted FAT;
 * - swap, tmpfs and overlay entries: nothing of the OS lives there at install time;
 * - a verity-protected filesystem is mounted read-only without journal replay (`ro,noload`), so its
 *   bytes stay exactly what the hash tree covers; a verity root's /etc gets the overlay it has at
 *   boot, so OS configuration still writes there.
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { partitionDevicePath, rereadPartitionTable } from '@trident/block-writer';
import { runTool } from '@trident/exec';
import { type HostConfiguration, normalizeMountPath } from '@trident/host-config';
import { EngineError, wrapStep } from '../../../errors.ts';
import type { PlannedTarget } from '../../../types.ts';
import type { Log } from '../../phases/run-session.ts';
import type { DiskLayout } from '../layout.ts';
import { resolvePartition } from '../resolve-devices.ts';
import type { StackedStorage } from '../storage/stacked-storage.ts';

export interface AttachedDisk {
  /** The target as planned: a disk device or a disk-image file. */
  target: PlannedTarget;
  /** The block device whose partitions the kernel shows (`/dev/sdb`, `/dev/loop3`). */
  device: string;
  /** Set when this run attached a loop device for an image file, to detach it afterwards. */
  loop: boolean;
}

export interface MountedFilesystem {
  mountPoint: string;
  device: string;
  /** Where it is mounted on this machine (under `NewRoot.path`). */
  path: string;
}

export interface NewRoot {
  /** The directory the installed OS's `/` is mounted on. */
  path: string;
  disks: AttachedDisk[];
  mounted: MountedFilesystem[];
  /** Arrays and encrypted volumes built on the partitions, when the configuration has any. */
  stacked: StackedStorage | undefined;
  /** Node of a Host Configuration block-device id on this machine: a partition, array or volume. */
  deviceOf(id: string): string;
  /**
   * Unmounts everything, takes the stacked devices down and detaches the loop devices this run
   * attached; safe to call twice.
   */
  release(): Promise<void>;
}

const NOT_MOUNTED = new Set(['vfat', 'swap', 'tmpfs', 'overlay', 'ntfs']);
/** Where a verity root's writable /etc lives (upstream's fixed path). */
const OVERLAY_DIR = '/var/lib/trident-overlay';

async function attach(target: PlannedTarget, signal: AbortSignal): Promise<AttachedDisk> {
  if (target.kind === 'disk') return { target, device: target.path, loop: false };
  const { stdout } = await runTool('losetup', ['--find', '--show', '--partscan', target.path]);
  const disk: AttachedDisk = { target, device: stdout.trim(), loop: true };
  // Kernels without GPT support find no partitions on their own; the re-read adds them from user space.
  await rereadPartitionTable(disk.device, { signal });
  return disk;
}

async function waitForDevice(path: string, signal: AbortSignal): Promise<void> {
  // The kernel creates partition nodes of a new loop device asynchronously.
  for (let attempt = 0; attempt < 50; attempt++) {
    signal.throwIfAborted();
    if ((await stat(path).catch(() => undefined))?.isBlockDevice()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new EngineError('SERVICING_ERROR', 'mount-new-root', `partition device ${path} did not appear`, {
    code: 'ENGINE_PARTITION_DEVICE_MISSING',
  });
}

/**
 * Attaches the targets and mounts the new root. On failure everything done so far is undone
 * before the error is thrown.
 */
export async function mountNewRoot(
  config: HostConfiguration,
  targets: readonly PlannedTarget[],
  layouts: readonly DiskLayout[],
  /** Filesystem type of every image filesystem by mount point (the COSI's `fsType`). */
  imageFsTypes: Readonly<Record<string, string>>,
  signal: AbortSignal,
  log: Log,
  /**
   * Builds RAID arrays and encrypted volumes once the disks' partitions are visible, before
   * anything is mounted (a filesystem may live on them); given the partition node of an id.
   */
  stack?: (partitionPath: (id: string) => string) => Promise<StackedStorage>,
): Promise<NewRoot> {
  const disks: AttachedDisk[] = [];
  const mounted: MountedFilesystem[] = [];
  let stacked: StackedStorage | undefined;
  const path = await mkdtemp(join(tmpdir(), 'trident-newroot-'));
  const partitionPath = (id: string): string => {
    const { targetIndex, partition } = resolvePartition(config, layouts as DiskLayout[], id);
    return partitionDevicePath(disks[targetIndex]!.device, partition.number);
  };
  const deviceOf = (id: string): string => stacked?.paths.get(id) ?? partitionPath(id);
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    const problems: string[] = [];
    for (const fs of [...mounted].reverse()) {
      const result = await runTool('umount', [fs.path], { okCodes: 'any' });
      if (result.exitCode !== 0) problems.push(`umount ${fs.path}: ${result.stderr.trim()}`);
    }
    if (stacked !== undefined && problems.length === 0)
      await stacked.release().catch((error: unknown) => problems.push((error as Error).message));
    for (const disk of disks.filter((d) => d.loop)) {
      const result = await runTool('losetup', ['--detach', disk.device], { okCodes: 'any' });
      if (result.exitCode !== 0) problems.push(`losetup --detach ${disk.device}: ${result.stderr.trim()}`);
    }
    if (problems.length === 0) await rm(path, { recursive: true, force: true });
    else
      throw new EngineError(
        'SERVICING_ERROR',
        'unmount-new-root',
        `could not release the new root at ${path}: ${problems.join('; ')}`,
        { code: 'ENGINE_NEW_ROOT_RELEASE' },
      );
  };
  try {
    for (const target of targets) {
      const disk = await attach(target, signal);
      disks.push(disk);
      if (disk.loop) log('debug', `Attached ${target.path} as ${disk.device}`);
    }
    if (stack !== undefined) stacked = await stack(partitionPath);
    const verityIds = new Set(config.storage.verity.map((v) => v.id));
    const filesystems = config.storage.filesystems
      .filter((fs) => fs.mountPoint !== undefined && fs.deviceId !== undefined)
      .map((fs) => {
        const mountPoint = normalizeMountPath(fs.mountPoint!.path);
        return { fs, mountPoint, type: fs.type ?? imageFsTypes[mountPoint] ?? 'ext4' };
      })
      .filter(({ type }) => !NOT_MOUNTED.has(type))
      // Parents before children: `/`, then `/var`, then `/var/lib/trident`.
      .sort((a, b) => depth(a.mountPoint) - depth(b.mountPoint) || a.mountPoint.localeCompare(b.mountPoint));
    if (!filesystems.some(({ mountPoint }) => mountPoint === '/'))
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'invalid-host-configuration',
        'the Host Configuration mounts no filesystem at /: there is no OS to configure',
        { code: 'ENGINE_NO_ROOT_FILESYSTEM' },
      );
    for (const { fs, mountPoint } of filesystems) {
      signal.throwIfAborted();
      const verity = config.storage.verity.find((v) => v.id === fs.deviceId);
      const device = deviceOf(verity ? verity.dataDeviceId : fs.deviceId!);
      await waitForDevice(device, signal);
      const where = join(path, mountPoint);
      await mkdir(where, { recursive: true });
      const options = verityIds.has(fs.deviceId!) ? 'ro,noload' : 'rw';
      try {
        await runTool('mount', ['-o', options, device, where]);
      } catch (error) {
        throw wrapStep('SERVICING_ERROR', 'mount-new-root', `cannot mount ${device} at ${mountPoint}`, error);
      }
      mounted.push({ mountPoint, device, path: where });
      log('debug', `Mounted ${device} at ${mountPoint} (${options})`);
    }
    const root = filesystems.find(({ mountPoint }) => mountPoint === '/')!;
    if (verityIds.has(root.fs.deviceId!)) mounted.push(await mountEtcOverlay(path, log));
    return { path, disks, mounted, stacked, deviceOf, release };
  } catch (error) {
    await release().catch((releaseError: unknown) =>
      log('warn', releaseError instanceof Error ? releaseError.message : String(releaseError)),
    );
    throw error;
  }
}

/**
 * A verity root is read-only: as upstream does (`engine/etc_overlay.rs`), its /etc gets an overlay
 * whose upper and work directories live in /var/lib/trident-overlay, where the installed OS's fstab
 * mounts the same overlay at boot. Everything OS configuration writes to /etc lands there.
 */
async function mountEtcOverlay(root: string, log: Log): Promise<MountedFilesystem> {
  const base = join(root, OVERLAY_DIR, 'etc');
  await mkdir(join(base, 'upper'), { recursive: true });
  await mkdir(join(base, 'work'), { recursive: true });
  const etc = join(root, 'etc');
  const options = `lowerdir=${etc},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`;
  try {
    await runTool('mount', ['-t', 'overlay', 'overlay', '-o', options, etc]);
  } catch (error) {
    throw wrapStep(
      'SERVICING_ERROR',
      'mount-new-root',
      `cannot mount the /etc overlay of the verity root`,
      error,
    );
  }
  log('debug', `Mounted an overlay on /etc (upper in ${OVERLAY_DIR}/etc/upper)`);
  return { mountPoint: '/etc', device: 'overlay', path: etc };
}

function depth(mountPoint: string): number {
  return mountPoint === '/' ? 0 : mountPoint.split('/').length - 1;
}
