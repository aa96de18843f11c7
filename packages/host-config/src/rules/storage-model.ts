/**
 * The storage graph of reference §3.1: block devices (nodes) and the referrers that use them, with
 * the paths of every field so findings point at the right line.
 */

import { normalizeMountPath } from '../mount-paths.ts';
import type { Path } from '../path.ts';
import type { FileSystem, HostConfiguration, Partition } from '../schema/root.ts';

export type DeviceKind =
  | 'disk'
  | 'partition'
  | 'adopted-partition'
  | 'raid-array'
  | 'ab-volume'
  | 'encrypted-volume'
  | 'verity-device';
export type ReferrerKind =
  | 'raid-array'
  | 'ab-volume'
  | 'encrypted-volume'
  | 'verity-device'
  | 'swap-device'
  | 'filesystem-new'
  | 'filesystem-image'
  | 'filesystem-esp'
  | 'filesystem-adopted';

export interface Device {
  readonly id: string;
  readonly kind: DeviceKind;
  /** Path of the device entry; `idPath` of its `id` field. */
  readonly path: Path;
  readonly idPath: Path;
  readonly partition?: Partition;
  readonly raidLevel?: string;
}

export interface Target {
  readonly id: string;
  readonly path: Path;
  readonly role?: 'data' | 'hash';
}

export interface Referrer {
  readonly kind: ReferrerKind;
  /** How messages name it: `'id'`, `filesystem [src:new, dev:x, mnt:/p]` or `swap on 'id'`. */
  readonly name: string;
  readonly path: Path;
  readonly targets: readonly Target[];
  /** Index into `storage.filesystems` for filesystem referrers. */
  readonly filesystemIndex?: number;
}

export interface StorageGraph {
  readonly devices: readonly Device[];
  /** First device per id (duplicates are reported separately). */
  readonly byId: ReadonlyMap<string, Device>;
  readonly referrers: readonly Referrer[];
  /** Per filesystem: whether it is the ESP (reference §1.2 `overrideEspMount`). */
  readonly isEsp: readonly boolean[];
}

export function isEspFilesystem(fs: FileSystem): boolean {
  if (fs.overrideEspMount === 'override') return true;
  if (fs.overrideEspMount === 'block') return false;
  return fs.mountPoint !== undefined && normalizeMountPath(fs.mountPoint.path) === '/boot/efi';
}

export function describeFilesystem(fs: FileSystem, isEsp: boolean): string {
  const parts = [`src:${fs.source}`];
  if (fs.type !== undefined) parts.push(`type:${fs.type}`);
  if (fs.deviceId !== undefined) parts.push(`dev:${fs.deviceId}`);
  if (fs.mountPoint !== undefined) parts.push(`mnt:${fs.mountPoint.path}`);
  if (isEsp) parts.push('is_esp:true');
  return `filesystem [${parts.join(', ')}]`;
}

/** Filesystems of kind tmpfs/overlay use no block device and are not referrers. */
export function isVirtualFilesystem(fs: FileSystem): boolean {
  return fs.source === 'new' && (fs.type === 'tmpfs' || fs.type === 'overlay');
}

export function filesystemReferrerKind(fs: FileSystem, isEsp: boolean): ReferrerKind | undefined {
  if (isVirtualFilesystem(fs)) return undefined;
  if (fs.source === 'new') return 'filesystem-new';
  if (fs.source === 'adopted') return 'filesystem-adopted';
  return isEsp ? 'filesystem-esp' : 'filesystem-image';
}

export function buildStorageGraph(config: HostConfiguration): StorageGraph {
  const storage = config.storage;
  const devices: Device[] = [];
  storage.disks.forEach((disk, d) => {
    const base: Path = ['storage', 'disks', d];
    devices.push({ id: disk.id, kind: 'disk', path: base, idPath: [...base, 'id'] });
    disk.partitions.forEach((partition, p) => {
      const path: Path = [...base, 'partitions', p];
      devices.push({ id: partition.id, kind: 'partition', path, idPath: [...path, 'id'], partition });
    });
    disk.adoptedPartitions.forEach((adopted, p) => {
      const path: Path = [...base, 'adoptedPartitions', p];
      devices.push({ id: adopted.id, kind: 'adopted-partition', path, idPath: [...path, 'id'] });
    });
  });
  storage.raid.software.forEach((raid, i) => {
    const path: Path = ['storage', 'raid', 'software', i];
    devices.push({ id: raid.id, kind: 'raid-array', path, idPath: [...path, 'id'], raidLevel: raid.level });
  });
  storage.abUpdate?.volumePairs.forEach((pair, i) => {
    const path: Path = ['storage', 'abUpdate', 'volumePairs', i];
    devices.push({ id: pair.id, kind: 'ab-volume', path, idPath: [...path, 'id'] });
  });
  storage.encryption?.volumes.forEach((volume, i) => {
    const path: Path = ['storage', 'encryption', 'volumes', i];
    devices.push({ id: volume.id, kind: 'encrypted-volume', path, idPath: [...path, 'id'] });
  });
  storage.verity.forEach((verity, i) => {
    const path: Path = ['storage', 'verity', i];
    devices.push({ id: verity.id, kind: 'verity-device', path, idPath: [...path, 'id'] });
  });
  const byId = new Map<string, Device>();
  for (const device of devices) if (!byId.has(device.id)) byId.set(device.id, device);

  const referrers: Referrer[] = [];
  storage.raid.software.forEach((raid, i) => {
    const path: Path = ['storage', 'raid', 'software', i];
    referrers.push({
      kind: 'raid-array',
      name: `'${raid.id}'`,
      path,
      targets: raid.devices.map((id, j) => ({ id, path: [...path, 'devices', j] })),
    });
  });
  storage.abUpdate?.volumePairs.forEach((pair, i) => {
    const path: Path = ['storage', 'abUpdate', 'volumePairs', i];
    referrers.push({
      kind: 'ab-volume',
      name: `'${pair.id}'`,
      path,
      targets: [
        { id: pair.volumeAId, path: [...path, 'volumeAId'] },
        { id: pair.volumeBId, path: [...path, 'volumeBId'] },
      ],
    });
  });
  storage.encryption?.volumes.forEach((volume, i) => {
    const path: Path = ['storage', 'encryption', 'volumes', i];
    referrers.push({
      kind: 'encrypted-volume',
      name: `'${volume.id}'`,
      path,
      targets: [{ id: volume.deviceId, path: [...path, 'deviceId'] }],
    });
  });
  storage.verity.forEach((verity, i) => {
    const path: Path = ['storage', 'verity', i];
    referrers.push({
      kind: 'verity-device',
      name: `'${verity.id}'`,
      path,
      targets: [
        { id: verity.dataDeviceId, path: [...path, 'dataDeviceId'], role: 'data' },
        { id: verity.hashDeviceId, path: [...path, 'hashDeviceId'], role: 'hash' },
      ],
    });
  });
  storage.swap.forEach((swap, i) => {
    const path: Path = ['storage', 'swap', i];
    referrers.push({
      kind: 'swap-device',
      name: `swap on '${swap.deviceId}'`,
      path,
      targets: [{ id: swap.deviceId, path: [...path, 'deviceId'] }],
    });
  });
  const isEsp = storage.filesystems.map(isEspFilesystem);
  storage.filesystems.forEach((fs, i) => {
    const kind = filesystemReferrerKind(fs, isEsp[i] ?? false);
    if (kind === undefined) return;
    const path: Path = ['storage', 'filesystems', i];
    referrers.push({
      kind,
      name: describeFilesystem(fs, isEsp[i] ?? false),
      path,
      filesystemIndex: i,
      targets: fs.deviceId === undefined ? [] : [{ id: fs.deviceId, path: [...path, 'deviceId'] }],
    });
  });
  return { devices, byId, referrers, isEsp };
}

export type Leaf =
  | { kind: 'partition'; device: Device; partition: Partition }
  | { kind: 'adopted'; device: Device };

/** Partitions under a device, following RAID, A/B, encryption and verity references. */
export function leafPartitions(
  graph: StorageGraph,
  config: HostConfiguration,
  id: string,
  seen = new Set<string>(),
): Leaf[] {
  if (seen.has(id)) return [];
  seen.add(id);
  const device = graph.byId.get(id);
  if (device === undefined) return [];
  const storage = config.storage;
  const down = (ids: readonly string[]): Leaf[] =>
    ids.flatMap((child) => leafPartitions(graph, config, child, seen));
  switch (device.kind) {
    case 'partition':
      return device.partition === undefined
        ? []
        : [{ kind: 'partition', device, partition: device.partition }];
    case 'adopted-partition':
      return [{ kind: 'adopted', device }];
    case 'raid-array':
      return down(storage.raid.software.find((r) => r.id === id)?.devices ?? []);
    case 'ab-volume': {
      const pair = storage.abUpdate?.volumePairs.find((p) => p.id === id);
      return pair === undefined ? [] : down([pair.volumeAId, pair.volumeBId]);
    }
    case 'encrypted-volume': {
      const volume = storage.encryption?.volumes.find((v) => v.id === id);
      return volume === undefined ? [] : down([volume.deviceId]);
    }
    case 'verity-device': {
      const verity = storage.verity.find((v) => v.id === id);
      // The hash device is a special reference checked on its own (step I/J); users see the data.
      return verity === undefined ? [] : down([verity.dataDeviceId]);
    }
    default:
      return [];
  }
}
