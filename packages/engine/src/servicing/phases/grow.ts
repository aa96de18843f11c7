import { growShrunkFilesystems } from '@trident/block-writer';
import { wrapStep } from '../../errors.ts';
import type { PlannedImage } from '../../types.ts';
import type { Log } from './run-session.ts';

/** Filesystems block-writer can grow in place (e2fsck + resize2fs). */
const GROWABLE = new Set(['ext2', 'ext3', 'ext4']);

/**
 * Whether an image's filesystem is grown after writing: resize enabled, a growable type, the image
 * smaller than its partition, and writable (verity data and read-only mounts keep their bytes).
 */
export function shouldGrow(options: {
  resize: boolean;
  fsType: string | undefined;
  imageSize: number;
  partitionSize: number;
  writable: boolean;
}): boolean {
  return (
    options.resize &&
    options.writable &&
    options.fsType !== undefined &&
    GROWABLE.has(options.fsType) &&
    options.imageSize < options.partitionSize
  );
}

/**
 * Grows the shrunk ext filesystems of one disk (target closed first: our exclusive open would make
 * e2fsck refuse the partitions) and logs each outcome.
 */
export async function growImages(
  path: string,
  images: PlannedImage[],
  signal: AbortSignal,
  log: Log,
): Promise<void> {
  const growable = images.filter((image) => image.grow);
  if (growable.length === 0) return;
  try {
    const results = await growShrunkFilesystems(
      path,
      growable.map((i) => ({
        number: i.partitionNumber,
        offset: i.offset,
        size: i.length,
        imageSize: i.uncompressedSize,
        fsType: i.fsType,
      })),
      { signal },
    );
    for (const result of results)
      log('info', `Partition ${result.number} of ${path}: filesystem ${result.action} (${result.reason})`);
  } catch (error) {
    throw wrapStep('SERVICING_ERROR', 'resize-filesystems', 'Failed to grow a shrunk filesystem', error);
  }
}
