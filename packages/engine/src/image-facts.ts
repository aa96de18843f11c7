import type { CosiMetadata } from '@trident/cosi-format';
import type { ImageFacts } from '@trident/host-config';

const ESP = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';

/** Adapts COSI metadata to what host-config's cross-checks need to know about an image. */
export function imageFactsFromCosi(metadata: CosiMetadata): ImageFacts {
  return {
    filesystems: metadata.images.map((fs) => ({
      mountPoint: fs.mountPoint,
      fsType: fs.fsType,
      fsUuid: fs.fsUuid,
      partType: fs.partType,
      isEsp: fs.partType.toLowerCase() === ESP || fs.partType === 'esp',
      uncompressedSize: fs.image.uncompressedSize,
      ...(fs.verity ? { verity: { hashUncompressedSize: fs.verity.image.uncompressedSize } } : {}),
    })),
  };
}
