import { readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BlockWriterError, describeCause } from './errors.ts';
import { formatMajMin } from './mounts.ts';

/** sysfs reports `size` and partition `start` in 512-byte units whatever the logical sector size. */
const SYSFS_SECTOR = 512;

export interface PartitionInfo {
  /** Kernel name, e.g. `sda1`, `nvme0n1p2`, `loop3p1`. */
  name: string;
  path: string;
  majMin: string;
  number: number;
  /** Byte offset of the partition on its disk. */
  start: number;
  size: number;
  holders: string[];
}

export interface BlockDeviceInfo {
  /** Kernel name, e.g. `sda`, `loop3`. */
  name: string;
  /** Device node, `/dev/<name>`. */
  path: string;
  majMin: string;
  /** True when the node is a partition rather than a whole disk. */
  isPartition: boolean;
  /** Whole-disk name when `isPartition`. */
  parent: string | undefined;
  size: number;
  logicalSectorSize: number;
  readOnly: boolean;
  removable: boolean;
  /** Device type from sysfs `uevent` DEVTYPE plus a `loop`/`dm`/`md` hint. */
  kind: 'disk' | 'partition' | 'loop' | 'dm' | 'md' | 'other';
  /** Devices stacked on this one (device-mapper, md RAID, bcache), by kernel name. */
  holders: string[];
  partitions: PartitionInfo[];
}

const SYS_BLOCK = '/sys/class/block';

async function readAttr(dir: string, name: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dir, name), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function readNumber(dir: string, name: string): Promise<number | undefined> {
  const text = await readAttr(dir, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

async function listHolders(dir: string): Promise<string[]> {
  try {
    return (await readdir(join(dir, 'holders'))).sort();
  } catch {
    return [];
  }
}

/** Human name of a holder: `dm-0 (vg-root)`, `md127`. */
export async function describeHolder(name: string): Promise<string> {
  const dmName = await readAttr(join(SYS_BLOCK, name), 'dm/name');
  return dmName === undefined || dmName === '' ? name : `${name} (${dmName})`;
}

/** Kernel name of the block device behind a device node (follows /dev/disk/by-* links). */
export async function kernelNameOf(devicePath: string): Promise<string> {
  let info: Awaited<ReturnType<typeof stat>> & { rdev: bigint };
  try {
    info = (await stat(devicePath, { bigint: true })) as typeof info;
  } catch (cause) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_FOUND',
      `${devicePath}: cannot be examined (${describeCause(cause)}); check the device path.`,
      { device: devicePath, cause },
    );
  }
  if (!info.isBlockDevice()) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${devicePath}: is not a block device; pass a whole-disk device such as /dev/sdb or a disk-image file.`,
      { device: devicePath },
    );
  }
  const majMin = formatMajMin(info.rdev);
  try {
    return basename(await readlink(`/sys/dev/block/${majMin}`));
  } catch (cause) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_FOUND',
      `${devicePath}: device ${majMin} is not known to sysfs (${describeCause(cause)}); is /sys mounted and the device present?`,
      { device: devicePath, cause },
    );
  }
}

async function readPartitions(name: string, dir: string): Promise<PartitionInfo[]> {
  const partitions: PartitionInfo[] = [];
  let children: string[];
  try {
    children = await readdir(dir);
  } catch {
    return partitions;
  }
  for (const child of children) {
    if (!child.startsWith(name)) continue;
    const childDir = join(dir, child);
    const number = await readNumber(childDir, 'partition');
    if (number === undefined) continue;
    partitions.push({
      name: child,
      path: `/dev/${child}`,
      majMin: (await readAttr(childDir, 'dev')) ?? '',
      number,
      start: ((await readNumber(childDir, 'start')) ?? 0) * SYSFS_SECTOR,
      size: ((await readNumber(childDir, 'size')) ?? 0) * SYSFS_SECTOR,
      holders: await listHolders(childDir),
    });
  }
  return partitions.sort((a, b) => a.number - b.number);
}

/** Everything sysfs says about one block device, by kernel name. */
export async function readBlockDevice(name: string): Promise<BlockDeviceInfo> {
  const dir = await realpath(join(SYS_BLOCK, name));
  const partitionNumber = await readNumber(dir, 'partition');
  const isPartition = partitionNumber !== undefined;
  // A partition's queue attributes live on its parent disk.
  const diskDir = isPartition ? join(dir, '..') : dir;
  const parent = isPartition ? basename(diskDir) : undefined;
  const kind: BlockDeviceInfo['kind'] = isPartition
    ? 'partition'
    : name.startsWith('loop')
      ? 'loop'
      : name.startsWith('dm-')
        ? 'dm'
        : name.startsWith('md')
          ? 'md'
          : (await readAttr(dir, 'uevent'))?.includes('DEVTYPE=disk')
            ? 'disk'
            : 'other';
  return {
    name,
    path: `/dev/${name}`,
    majMin: (await readAttr(dir, 'dev')) ?? '',
    isPartition,
    parent,
    size: ((await readNumber(dir, 'size')) ?? 0) * SYSFS_SECTOR,
    logicalSectorSize: (await readNumber(diskDir, 'queue/logical_block_size')) ?? 512,
    readOnly: (await readAttr(dir, 'ro')) === '1',
    removable: (await readAttr(diskDir, 'removable')) === '1',
    kind,
    holders: await listHolders(dir),
    partitions: isPartition ? [] : await readPartitions(name, dir),
  };
}

/** Kernel names of every block device (`/sys/class/block`), partitions included. */
export async function listBlockDeviceNames(): Promise<string[]> {
  try {
    return (await readdir(SYS_BLOCK)).sort();
  } catch {
    return [];
  }
}

/**
 * Whole disks under a device: itself if it is a disk, its parent if a partition, and for stacked
 * devices (dm, md) the disks under their `slaves`, recursively. Used to find the disks that hold the
 * running root filesystem.
 */
export async function underlyingDisks(majMin: string, seen = new Set<string>()): Promise<Set<string>> {
  const disks = new Set<string>();
  let name: string;
  try {
    name = basename(await readlink(`/sys/dev/block/${majMin}`));
  } catch {
    return disks;
  }
  if (seen.has(name)) return disks;
  seen.add(name);
  const dir = await realpath(join(SYS_BLOCK, name));
  const isPartition = (await readNumber(dir, 'partition')) !== undefined;
  const wholeName = isPartition ? basename(join(dir, '..')) : name;
  const wholeDir = isPartition ? join(dir, '..') : dir;
  let slaves: string[] = [];
  try {
    slaves = await readdir(join(dir, 'slaves'));
  } catch {
    slaves = [];
  }
  if (slaves.length === 0 && isPartition) {
    try {
      slaves = await readdir(join(wholeDir, 'slaves'));
    } catch {
      slaves = [];
    }
  }
  if (slaves.length === 0) {
    disks.add(wholeName);
    return disks;
  }
  for (const slave of slaves) {
    const slaveMajMin = await readAttr(join(SYS_BLOCK, slave), 'dev');
    if (slaveMajMin === undefined) continue;
    for (const disk of await underlyingDisks(slaveMajMin, seen)) disks.add(disk);
  }
  return disks;
}

/** Device node of partition `number` on `diskPath`: `sda` + 1, `nvme0n1` + p1, `loop3` + p1. */
export function partitionDevicePath(diskPath: string, number: number): string {
  return /\d$/.test(diskPath) ? `${diskPath}p${number}` : `${diskPath}${number}`;
}
