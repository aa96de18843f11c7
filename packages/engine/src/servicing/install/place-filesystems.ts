import type { CosiReader } from '@trident/cosi-format';
import { type HostConfiguration, normalizeMountPath } from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import type { PlannedImage, PlannedNewFilesystem } from '../../types.ts';
import { shouldGrow } from '../phases/grow.ts';
import type { DiskLayout } from './layout.ts';
import { writablePartition } from './resolve-devices.ts';
import {
  expectedStackedSize,
  type StackedFilesystem,
  type StackedImage,
  stackedDevice,
} from './storage/stacked-devices.ts';

/**
 * Image filesystems to the bytes that will hold them: matched by mount point, placed on the
 * partition their device resolves to (an A/B pair's volume A), verity data and hash trees on their
 * own devices; sorted by disk, then offset. Filesystems on a RAID array or an encrypted volume go
 * to `stacked`: they are streamed onto the device once it exists.
 */
export function planImages(
  config: HostConfiguration,
  layouts: DiskLayout[],
  reader: CosiReader,
  resize: boolean,
): { images: PlannedImage[]; stacked: StackedImage[] } {
  const images: PlannedImage[] = [];
  const stacked: StackedImage[] = [];
  for (const fs of config.storage.filesystems) {
    if ((fs.source ?? 'image') !== 'image' || !fs.deviceId || !fs.mountPoint) continue;
    const mountPoint = normalizeMountPath(fs.mountPoint.path);
    const cosi = reader.metadata.images.find((image) => normalizeMountPath(image.mountPoint) === mountPoint);
    if (!cosi) continue; // checkImageCompatibility already refused a missing filesystem
    const verity = config.storage.verity.find((v) => v.id === fs.deviceId);
    const readOnly = fs.mountPoint.options.split(',').includes('ro');
    const place = (deviceId: string, file: typeof cosi.image, role: string, writable: boolean): void => {
      const device = stackedDevice(config, deviceId);
      if (device) {
        const size = expectedStackedSize(config, deviceId);
        if (size !== undefined && file.uncompressedSize > size)
          throw new EngineError(
            'INVALID_INPUT_ERROR',
            'filesystem-size-exceeds-block-device',
            `the image for ${mountPoint}${role} is ${file.uncompressedSize} bytes but '${deviceId}' will hold about ${size}`,
            { code: 'ENGINE_IMAGE_TOO_LARGE' },
          );
        stacked.push({
          id: deviceId,
          device,
          imagePath: file.path,
          compressedSize: file.compressedSize,
          uncompressedSize: file.uncompressedSize,
          sha384: (file.sha384 ?? '').toLowerCase(),
          mountPoint: role === '' ? mountPoint : undefined,
          fsType: role === '' ? cosi.fsType : undefined,
          grow: shouldGrow({
            resize,
            fsType: cosi.fsType,
            imageSize: file.uncompressedSize,
            partitionSize: size ?? Number.MAX_SAFE_INTEGER,
            writable,
          }),
        });
        return;
      }
      const { targetIndex, partition } = writablePartition(
        config,
        layouts,
        deviceId,
        `the image for ${mountPoint}${role}`,
      );
      if (file.uncompressedSize > partition.length) {
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'filesystem-size-exceeds-block-device',
          `the image for ${mountPoint}${role} is ${file.uncompressedSize} bytes but '${deviceId}' has ${partition.length}`,
          { code: 'ENGINE_IMAGE_TOO_LARGE' },
        );
      }
      images.push({
        id: deviceId,
        targetIndex,
        partitionNumber: partition.number,
        imagePath: file.path,
        offset: partition.offset,
        length: partition.length,
        compressedSize: file.compressedSize,
        uncompressedSize: file.uncompressedSize,
        sha384: (file.sha384 ?? '').toLowerCase(),
        mountPoint: role === '' ? mountPoint : undefined,
        fsType: role === '' ? cosi.fsType : undefined,
        grow: shouldGrow({
          resize,
          fsType: cosi.fsType,
          imageSize: file.uncompressedSize,
          partitionSize: partition.length,
          writable,
        }),
      });
    };
    if (verity) {
      if (!cosi.verity) {
        throw new EngineError(
          'INVALID_INPUT_ERROR',
          'host-configuration-image-mismatch',
          `'${fs.deviceId}' is a verity device but the image has no verity data for ${mountPoint}`,
        );
      }
      place(verity.dataDeviceId, cosi.image, '', false);
      place(verity.hashDeviceId, cosi.verity.image, ' (verity hash tree)', false);
    } else {
      place(fs.deviceId, cosi.image, '', !readOnly);
    }
  }
  images.sort((a, b) => a.targetIndex - b.targetIndex || a.offset - b.offset);
  return { images, stacked };
}

/**
 * Filesystems and swap areas the configuration creates (`source: new`), with their byte ranges;
 * those on a RAID array or an encrypted volume go to `stacked`, made once the device exists.
 */
export function planNewFilesystems(
  config: HostConfiguration,
  layouts: DiskLayout[],
): { planned: PlannedNewFilesystem[]; stacked: StackedFilesystem[] } {
  const planned: PlannedNewFilesystem[] = [];
  const stacked: StackedFilesystem[] = [];
  for (const fs of config.storage.filesystems) {
    const source = fs.source ?? 'image';
    // Adopted filesystems are kept as they are; tmpfs/overlay have no device: nothing to write.
    if (source !== 'new' || !fs.deviceId) continue;
    const type = fs.type ?? 'ext4';
    if (type !== 'ext4' && type !== 'xfs' && type !== 'vfat' && type !== 'ntfs') continue;
    const device = stackedDevice(config, fs.deviceId);
    if (device) {
      stacked.push({ id: fs.deviceId, device, fsType: type, mountPoint: fs.mountPoint?.path });
      continue;
    }
    const { targetIndex, partition } = writablePartition(config, layouts, fs.deviceId, `a new ${type}`);
    planned.push({
      id: fs.deviceId,
      targetIndex,
      fsType: type,
      offset: partition.offset,
      length: partition.length,
      mountPoint: fs.mountPoint?.path,
    });
  }
  for (const swap of config.storage.swap) {
    const device = stackedDevice(config, swap.deviceId);
    if (device) {
      stacked.push({ id: swap.deviceId, device, fsType: 'swap', mountPoint: undefined });
      continue;
    }
    const { targetIndex, partition } = writablePartition(config, layouts, swap.deviceId, 'a swap area');
    planned.push({
      id: swap.deviceId,
      targetIndex,
      fsType: 'swap',
      offset: partition.offset,
      length: partition.length,
      mountPoint: undefined,
    });
  }
  return { planned, stacked };
}
