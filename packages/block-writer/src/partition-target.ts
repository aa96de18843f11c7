/**
 * One partition of a disk that is in use, opened to rewrite its contents: what an A/B update
 * writes (the inactive volume's partitions, while the active volume's root is mounted from the
 * same disk, so the whole disk cannot be opened exclusively). The partition itself is opened
 * `O_RDWR|O_EXCL`: the kernel refuses it (EBUSY) while it is mounted, swapped on or held by
 * device-mapper/md, which is exactly the running volume's state, so a mix-up of volumes can never
 * write under the running OS.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import type { BlockTarget } from './block-target.ts';
import { BlockWriterError, describeCause } from './errors.ts';
import { OpenTarget } from './open-target.ts';
import { inspectTarget } from './safety.ts';
import { kernelNameOf, readBlockDevice } from './sysfs.ts';

export interface PartitionTarget {
  /** Offsets are from the start of the partition. */
  target: BlockTarget;
  /** Where it lies on its disk (for growing its filesystem through the disk's partition node). */
  disk: string;
  number: number;
  /** Byte offset on the disk. */
  start: number;
  size: number;
}

/** Facts about a partition node without opening it: its disk, number, offset and size. */
export async function describePartition(
  path: string,
): Promise<{ name: string; disk: string; number: number; start: number; size: number; sectorSize: number }> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (cause) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_FOUND',
      `${path}: does not exist (${describeCause(cause)}).`,
      {
        device: path,
        cause,
      },
    );
  }
  if (!info.isBlockDevice())
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${path}: is not a block device; a partition is expected.`,
      {
        device: path,
      },
    );
  const name = await kernelNameOf(path);
  const device = await readBlockDevice(name);
  if (!device.isPartition || device.parent === undefined)
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${path}: /dev/${name} is not a partition of a disk.`,
      {
        device: path,
      },
    );
  const disk = await readBlockDevice(device.parent);
  const partition = disk.partitions.find((p) => p.name === name);
  if (partition === undefined)
    throw new BlockWriterError(
      'BLOCK_IO',
      `${path}: /dev/${name} is not listed among the partitions of /dev/${disk.name}.`,
      {
        device: path,
      },
    );
  return {
    name,
    disk: disk.path,
    number: partition.number,
    start: partition.start,
    size: partition.size,
    sectorSize: disk.logicalSectorSize,
  };
}

/** Opens a partition exclusively for rewriting; a mounted or held partition is refused, naming why. */
export async function openPartitionTarget(path: string): Promise<PartitionTarget> {
  const facts = await describePartition(path);
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDWR | constants.O_EXCL);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EBUSY') {
      const problem = (await inspectTarget(path, {}).catch(() => undefined))?.problems[0];
      if (problem !== undefined) throw problem.toError();
      throw new BlockWriterError(
        'BLOCK_TARGET_BUSY',
        `${path}: is in use (mounted, swapped on or held by another device; the kernel refused an exclusive open); it is not an inactive volume.`,
        { device: path, cause },
      );
    }
    throw new BlockWriterError(
      'BLOCK_IO',
      `${path}: cannot be opened for writing (${describeCause(cause)}).`,
      {
        device: path,
        cause,
      },
    );
  }
  return {
    target: new OpenTarget(handle, {
      path,
      kind: 'block-device',
      kernelName: facts.name,
      size: facts.size,
      sectorSize: facts.sectorSize,
    }),
    disk: facts.disk,
    number: facts.number,
    start: facts.start,
    size: facts.size,
  };
}
