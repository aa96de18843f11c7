/**
 * Devices install builds on top of partitions once the partition tables exist: software RAID
 * arrays (`/dev/md/<name>`) and LUKS2 volumes (`/dev/mapper/<deviceName>`), an encrypted volume
 * possibly on an array. Data for them cannot be written at a byte offset of a disk before the
 * tables, as partition images are: it is streamed onto the array or the opened volume after they
 * are created (upstream `engine/storage/mod.rs`: repart, RAID, encryption, then images).
 */
import { blockDeviceSize, type HostConfiguration } from '@trident/host-config';
import { EngineError } from '../../../errors.ts';

export type StackedKind = 'raid' | 'encrypted';

export interface StackedDevice {
  kind: StackedKind;
  /** Host Configuration id of the array or the volume. */
  id: string;
  /** Its node on the servicing OS once created or opened, and in the installed OS. */
  path: string;
}

/** Data streamed onto a stacked device after it is created (the image, offset 0 of the device). */
export interface StackedImage {
  id: string;
  device: StackedDevice;
  imagePath: string;
  compressedSize: number;
  uncompressedSize: number;
  sha384: string;
  mountPoint: string | undefined;
  fsType: string | undefined;
  /** Grow the filesystem to fill the device (shrunk, writable ext image, resize on). */
  grow: boolean;
}

/** A filesystem or swap area made on a stacked device. */
export interface StackedFilesystem {
  id: string;
  device: StackedDevice;
  fsType: 'ext4' | 'xfs' | 'vfat' | 'ntfs' | 'swap';
  mountPoint: string | undefined;
}

/** The array or encrypted volume with this id, or undefined when it is neither. */
export function stackedDevice(config: HostConfiguration, id: string): StackedDevice | undefined {
  const array = config.storage.raid.software.find((r) => r.id === id);
  if (array) return { kind: 'raid', id, path: `/dev/md/${array.name}` };
  const volume = config.storage.encryption?.volumes.find((v) => v.id === id);
  if (volume) return { kind: 'encrypted', id, path: `/dev/mapper/${volume.deviceName}` };
  return undefined;
}

/**
 * The size a stacked device will have as far as the configuration says (RAID level over its
 * members, LUKS minus its header), for the plan's early "image too large" check; the run checks
 * the real device size again before writing.
 */
export function expectedStackedSize(config: HostConfiguration, id: string): number | undefined {
  return blockDeviceSize(config, id);
}

/**
 * What install can build: arrays from partitions, encrypted volumes on a partition or an array.
 * An A/B pair member or a verity device underneath is refused with why (install would need volume
 * B and a hash tree of the stacked device, neither of which it lays out).
 */
export function checkStackedLayout(config: HostConfiguration, partitionIds: ReadonlySet<string>): void {
  for (const array of config.storage.raid.software) {
    const odd = array.devices.filter((d) => !partitionIds.has(d));
    if (odd.length > 0)
      throw new EngineError(
        'UNSUPPORTED_CONFIGURATION_ERROR',
        'unsupported-feature',
        `RAID array '${array.id}' is built from ${odd.map((d) => `'${d}'`).join(', ')}, which ${odd.length === 1 ? 'is not a partition' : 'are not partitions'}; install builds arrays from partitions only`,
        { code: 'ENGINE_UNSUPPORTED_DEVICE' },
      );
  }
  const arrays = new Set(config.storage.raid.software.map((r) => r.id));
  for (const volume of config.storage.encryption?.volumes ?? []) {
    if (!partitionIds.has(volume.deviceId) && !arrays.has(volume.deviceId))
      throw new EngineError(
        'UNSUPPORTED_CONFIGURATION_ERROR',
        'unsupported-feature',
        `encrypted volume '${volume.id}' is on '${volume.deviceId}', which is neither a partition nor a RAID array; install encrypts partitions and arrays only`,
        { code: 'ENGINE_UNSUPPORTED_DEVICE' },
      );
  }
}

/** mdadm's `--level` value for a Host Configuration level (`raid1` → `1`). */
export function mdadmLevel(level: string): string {
  return level.replace(/^raid/u, '');
}
