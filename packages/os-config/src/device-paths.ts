/**
 * Where the installed OS finds each Host Configuration block device (upstream
 * `EngineContext::get_block_device_path`): partitions by PARTUUID, RAID arrays by their
 * `/dev/md/<name>` link, encrypted volumes and verity devices by their `/dev/mapper/<name>`, and
 * an A/B volume pair by the member being written. Stable names only: kernel names (`/dev/sda2`)
 * change between boots and machines.
 */
import { OsConfigError } from './errors.ts';
import type { Config, StorageLayout } from './types.ts';

export type DeviceKind = 'disk' | 'partition' | 'raid' | 'encrypted' | 'verity' | 'ab-pair';

export function deviceKind(config: Config, id: string): DeviceKind | undefined {
  const { storage } = config;
  for (const disk of storage.disks) {
    if (disk.id === id) return 'disk';
    if (disk.partitions.some((p) => p.id === id)) return 'partition';
    if (disk.adoptedPartitions.some((p) => p.id === id)) return 'partition';
  }
  if (storage.raid.software.some((r) => r.id === id)) return 'raid';
  if (storage.encryption?.volumes.some((v) => v.id === id)) return 'encrypted';
  if (storage.verity.some((v) => v.id === id)) return 'verity';
  if (storage.abUpdate?.volumePairs.some((p) => p.id === id)) return 'ab-pair';
  return undefined;
}

export function devicePath(
  config: Config,
  layout: StorageLayout,
  id: string,
  seen = new Set<string>(),
): string {
  if (seen.has(id)) throw unknown(id, 'it refers to itself through A/B volume pairs');
  seen.add(id);
  const { storage } = config;
  switch (deviceKind(config, id)) {
    case 'disk':
      return storage.disks.find((d) => d.id === id)?.device as string;
    case 'partition': {
      const uuid = layout.partitionUuids[id];
      if (uuid === undefined) throw unknown(id, 'the storage layout has no PARTUUID for this partition');
      return `/dev/disk/by-partuuid/${uuid.toLowerCase()}`;
    }
    case 'raid':
      return `/dev/md/${storage.raid.software.find((r) => r.id === id)?.name}`;
    case 'encrypted':
      return `/dev/mapper/${storage.encryption?.volumes.find((v) => v.id === id)?.deviceName}`;
    case 'verity':
      return `/dev/mapper/${storage.verity.find((v) => v.id === id)?.name}`;
    case 'ab-pair': {
      const pair = storage.abUpdate?.volumePairs.find((p) => p.id === id);
      const member = layout.targetVolume === 'volume-b' ? pair?.volumeBId : pair?.volumeAId;
      return devicePath(config, layout, member as string, seen);
    }
    default:
      throw unknown(
        id,
        'no disk, partition, RAID array, encrypted volume, verity device or A/B pair has this id',
      );
  }
}

/**
 * The partition under a device (upstream `get_first_backing_partition`): a partition is itself, a
 * RAID array its first member's, an A/B pair its target member's.
 */
export function firstBackingPartition(
  config: Config,
  layout: StorageLayout,
  id: string,
  seen = new Set<string>(),
): Config['storage']['disks'][number]['partitions'][number] | undefined {
  if (seen.has(id)) return undefined;
  seen.add(id);
  const { storage } = config;
  for (const disk of storage.disks) {
    const partition = disk.partitions.find((p) => p.id === id);
    if (partition) return partition;
  }
  const raid = storage.raid.software.find((r) => r.id === id);
  if (raid?.devices[0] !== undefined) return firstBackingPartition(config, layout, raid.devices[0], seen);
  const pair = storage.abUpdate?.volumePairs.find((p) => p.id === id);
  if (pair) {
    const member = layout.targetVolume === 'volume-b' ? pair.volumeBId : pair.volumeAId;
    return firstBackingPartition(config, layout, member, seen);
  }
  return undefined;
}

function unknown(id: string, why: string): OsConfigError {
  return new OsConfigError(
    'OS_CONFIG_UNKNOWN_DEVICE',
    `cannot name block device '${id}' for the new OS: ${why}`,
  );
}
