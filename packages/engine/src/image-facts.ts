import { type CosiMetadata, ESP_TYPE_GUID } from '@trident/cosi-format';
import type { ImageFacts } from '@trident/host-config';

/** Adapts COSI metadata to what host-config's cross-checks need to know about an image. */
export function imageFactsFromCosi(metadata: CosiMetadata): ImageFacts {
  return {
    filesystems: metadata.images.map((fs) => ({
      mountPoint: fs.mountPoint,
      fsType: fs.fsType,
      fsUuid: fs.fsUuid,
      partType: fs.partType,
      isEsp: fs.partType.toLowerCase() === ESP_TYPE_GUID || fs.partType === 'esp',
      uncompressedSize: fs.image.uncompressedSize,
      ...(fs.verity ? { verity: { hashUncompressedSize: fs.verity.image.uncompressedSize } } : {}),
    })),
  };
}
