import { stat } from 'node:fs/promises';
import { runDeviceTool, runDeviceToolChecked } from './device-tool.ts';
import { publishStep, publishWarning } from './diagnostics.ts';
import { BlockWriterError } from './errors.ts';
import { kernelNameOf, partitionDevicePath, readBlockDevice } from './sysfs.ts';

const GROWABLE = new Set(['ext2', 'ext3', 'ext4']);

export interface PartitionRange {
  /** GPT partition number. */
  number: number;
  /** Absolute byte offset of the partition on the disk. */
  offset: number;
  /** Partition size in bytes. */
  size: number;
}

export interface GrowFilesystemRequest {
  /** Whole disk: block device or disk-image file. The `BlockTarget` must be closed first (the
   * exclusive open would make e2fsck refuse the partition). */
  disk: string;
  partition: PartitionRange;
  /** Filesystem type of the image (COSI `images[].fsType`). */
  fsType: string | undefined;
  /** Partition node for block devices; default `partitionDevicePath(disk, number)`. */
  partitionDevice?: string;
  signal?: AbortSignal;
}

export interface GrowResult {
  number: number;
  action: 'grown' | 'unchanged';
  /** Why: `grown`, `keep-as-imaged`, `fills-partition`, `read-only`, `unsupported-fs-type`. */
  reason: string;
}

function optionalSignal(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

/** Checks that `device` is exactly the partition we mean, so we never resize the wrong thing. */
async function checkPartitionDevice(disk: string, device: string, partition: PartitionRange): Promise<void> {
  const diskName = await kernelNameOf(disk);
  const info = await readBlockDevice(await kernelNameOf(device));
  if (info.parent !== diskName) {
    throw new BlockWriterError(
      'BLOCK_PARTITION_MISMATCH',
      `${device}: is not a partition of ${disk}; re-read the partition table (rereadPartitionTable) first.`,
      { device },
    );
  }
  const found = (await readBlockDevice(diskName)).partitions.find((p) => p.name === info.name);
  if (found === undefined || found.start !== partition.offset || found.size !== partition.size) {
    throw new BlockWriterError(
      'BLOCK_PARTITION_MISMATCH',
      `${device}: the kernel places it at byte ${found?.start} with ${found?.size} bytes, but GPT partition ${partition.number} is at ${partition.offset} with ${partition.size} bytes; re-read the partition table first.`,
      { device },
    );
  }
}

async function growExt(device: string, signal: AbortSignal | undefined): Promise<void> {
  // e2fsck must pass before resize2fs will touch the filesystem; 0 = clean, 1 = fixed.
  const check = await runDeviceTool('e2fsck', ['-f', '-y', device], device, optionalSignal(signal));
  if (check.exitCode > 1) {
    throw new BlockWriterError(
      'BLOCK_RESIZE_FAILED',
      `${device}: e2fsck found errors it could not fix (exit ${check.exitCode}): ${check.stdout.trim().split('\n').slice(-3).join(' ')}; the image may be corrupt, or use keepPartitionsAsImaged to skip growth.`,
      { device },
    );
  }
  if (check.exitCode === 1) {
    publishWarning({
      kind: 'filesystem-repaired',
      device,
      message: `${device}: e2fsck corrected errors before growing.`,
    });
  }
  await runDeviceToolChecked('resize2fs', [device], device, {
    ...optionalSignal(signal),
    errorCode: 'BLOCK_RESIZE_FAILED',
    what: 'resize2fs (growing the filesystem to fill its partition)',
  });
}

/**
 * Grows an ext2/3/4 filesystem to fill its partition: e2fsck then resize2fs, on the partition node of
 * a block device, or on a loop device with offset/sizelimit over a disk-image file (needs root). Any
 * other type is left as it is with a `filesystem-not-grown` warning.
 */
export async function growFilesystem(request: GrowFilesystemRequest): Promise<GrowResult> {
  const { disk, partition } = request;
  if (request.fsType === undefined || !GROWABLE.has(request.fsType)) {
    publishWarning({
      kind: 'filesystem-not-grown',
      device: disk,
      message: `${disk}: partition ${partition.number} holds ${request.fsType ?? 'an unknown filesystem'}, which cannot be grown; it keeps the size it was imaged with.`,
    });
    return { number: partition.number, action: 'unchanged', reason: 'unsupported-fs-type' };
  }
  if ((await stat(disk)).isFile()) {
    const attach = await runDeviceToolChecked(
      'losetup',
      ['--find', '--show', '--offset', String(partition.offset), '--sizelimit', String(partition.size), disk],
      disk,
      {
        ...optionalSignal(request.signal),
        errorCode: 'BLOCK_RESIZE_FAILED',
        what: 'attaching a loop device to grow the filesystem (needs root)',
      },
    );
    const loop = attach.stdout.trim();
    try {
      await growExt(loop, request.signal);
    } finally {
      await runDeviceTool('losetup', ['--detach', loop], loop);
    }
  } else {
    const device = request.partitionDevice ?? partitionDevicePath(disk, partition.number);
    await checkPartitionDevice(disk, device, partition);
    await growExt(device, request.signal);
  }
  publishStep({
    step: 'grow',
    device: disk,
    detail: { partition: partition.number, fsType: request.fsType },
  });
  return { number: partition.number, action: 'grown', reason: 'grown' };
}

export interface WrittenImage extends PartitionRange {
  /** Uncompressed image size (COSI `images[].uncompressedSize`). */
  imageSize: number;
  fsType: string | undefined;
  /** Verity data/hash and read-only images are never resized. */
  readOnly?: boolean;
}

export interface GrowFilesystemsOptions {
  /** Keep every partition exactly as imaged, as Trident's stream-disk does (no e2fsck/resize2fs). */
  keepPartitionsAsImaged?: boolean;
  signal?: AbortSignal;
}

/**
 * Grows every image that was shrunk (uncompressed size smaller than its partition, COSI 1.2
 * §images), unless `keepPartitionsAsImaged`. Returns one result per image, in order.
 */
export async function growShrunkFilesystems(
  disk: string,
  images: readonly WrittenImage[],
  options: GrowFilesystemsOptions = {},
): Promise<GrowResult[]> {
  const results: GrowResult[] = [];
  for (const image of images) {
    if (options.keepPartitionsAsImaged === true) {
      results.push({ number: image.number, action: 'unchanged', reason: 'keep-as-imaged' });
    } else if (image.imageSize >= image.size) {
      results.push({ number: image.number, action: 'unchanged', reason: 'fills-partition' });
    } else if (image.readOnly === true) {
      results.push({ number: image.number, action: 'unchanged', reason: 'read-only' });
    } else {
      results.push(
        await growFilesystem({
          disk,
          partition: { number: image.number, offset: image.offset, size: image.size },
          fsType: image.fsType,
          ...optionalSignal(options.signal),
        }),
      );
    }
  }
  return results;
}
