/** Storage graph steps A-D (reference §3.1): IDs, per-device checks, unique values, filesystems. */
import { normalizeMountPath } from '../mount-paths.ts';
import { formatPath, type Path } from '../path.ts';
import type { RuleContext } from './context.ts';
import type { StorageGraph } from './storage-model.ts';
import { describeFilesystem, isVirtualFilesystem } from './storage-model.ts';

export function checkDeviceIds(ctx: RuleContext, graph: StorageGraph): void {
  const first = new Map<string, Path>();
  for (const device of graph.devices) {
    const previous = first.get(device.id);
    if (previous === undefined) {
      first.set(device.id, device.idPath);
      continue;
    }
    ctx.report(
      'HC_DUPLICATE_ID',
      device.idPath,
      `Block device '${device.id}' is defined more than once (also at \`${formatPath(previous)}\`). IDs must be unique across disks, partitions, RAID arrays, A/B pairs, encrypted volumes and verity devices: rename one of them.`,
    );
  }
}

/** Entries of the GPT a clean install writes (UEFI's minimum array: 128 entries of 128 bytes). */
export const GPT_ENTRIES = 128;

export function checkDevices(ctx: RuleContext): void {
  const storage = ctx.config.storage;
  storage.disks.forEach((disk, d) => {
    if (!disk.device.startsWith('/')) {
      ctx.report(
        'HC_DISK_PATH_NOT_ABSOLUTE',
        ['storage', 'disks', d, 'device'],
        `Block device '${disk.id}' of kind 'disk' is invalid: path '${disk.device}' must be absolute, e.g. \`/dev/sda\` or \`/dev/disk/by-path/...\`.`,
      );
    }
    disk.partitions.forEach((partition, p) => {
      if (partition.size !== 'grow' && (partition.size === 0 || partition.size % 4096 !== 0)) {
        const up = Math.max(4096, Math.ceil(partition.size / 4096) * 4096);
        ctx.report(
          'HC_PARTITION_SIZE_NOT_ALIGNED',
          ['storage', 'disks', d, 'partitions', p, 'size'],
          `Block device '${partition.id}' of kind 'partition' is invalid: partition size must be a non-zero multiple of 4096 bytes, got ${partition.size}. Use a K/M/G unit (e.g. \`512M\`) or ${up} bytes.`,
        );
      }
    });
    // The GPT written at install has 128 entries (as systemd-repart and sgdisk write it), and
    // adopted partitions keep theirs: more cannot be created.
    const entries = disk.partitions.length + disk.adoptedPartitions.length;
    if (entries > GPT_ENTRIES) {
      const overflow =
        disk.partitions.length > GPT_ENTRIES
          ? GPT_ENTRIES
          : Math.max(0, GPT_ENTRIES - disk.adoptedPartitions.length);
      ctx.report(
        'HC_TOO_MANY_PARTITIONS',
        ['storage', 'disks', d, 'partitions', overflow],
        `Disk '${disk.id}' has ${disk.partitions.length} partitions${disk.adoptedPartitions.length > 0 ? ` and ${disk.adoptedPartitions.length} adopted ones` : ''}, but its GPT holds at most ${GPT_ENTRIES} entries: this is the first that does not fit. Merge partitions or spread them over more disks.`,
      );
    }
    disk.adoptedPartitions.forEach((adopted, p) => {
      const path: Path = ['storage', 'disks', d, 'adoptedPartitions', p];
      if (adopted.matchLabel !== undefined && adopted.matchUuid !== undefined) {
        ctx.report(
          'HC_ADOPTED_MATCH_CONFLICT',
          path,
          `Block device '${adopted.id}' of kind 'adopted-partition' is invalid: adopted partitions cannot have both matchLabel and matchUuid. Keep one of them.`,
        );
      } else if (adopted.matchLabel === undefined && adopted.matchUuid === undefined) {
        ctx.report(
          'HC_ADOPTED_MATCH_MISSING',
          path,
          `Block device '${adopted.id}' of kind 'adopted-partition' is invalid: adopted partitions must have either matchLabel or matchUuid to find the existing partition.`,
        );
      }
    });
  });
}

interface Valued {
  id: string;
  value: string | undefined;
  path: Path;
}

function unique(ctx: RuleContext, kind: string, field: string, items: readonly Valued[]): void {
  const seen = new Map<string, Valued>();
  for (const item of items) {
    if (item.value === undefined) continue;
    const key = field === 'uuid' || field === 'matchUuid' ? item.value.toLowerCase() : item.value;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, item);
      continue;
    }
    ctx.report(
      'HC_DUPLICATE_FIELD_VALUE',
      item.path,
      `Block device '${first.id}' and '${item.id}' of kind '${kind}' have a duplicate value for field '${field}' ('${item.value}'). Each ${kind} needs its own ${field}.`,
    );
  }
}

export function checkUniqueValues(ctx: RuleContext): void {
  const s = ctx.config.storage;
  unique(
    ctx,
    'disk',
    'device',
    s.disks.map((d, i) => ({ id: d.id, value: d.device, path: ['storage', 'disks', i, 'device'] })),
  );
  const parts = s.disks.flatMap((d, i) =>
    d.partitions.map((p, j) => ({ p, path: ['storage', 'disks', i, 'partitions', j] as Path })),
  );
  unique(
    ctx,
    'partition',
    'uuid',
    parts.map(({ p, path }) => ({ id: p.id, value: p.uuid, path: [...path, 'uuid'] })),
  );
  const adopted = s.disks.flatMap((d, i) =>
    d.adoptedPartitions.map((p, j) => ({ p, path: ['storage', 'disks', i, 'adoptedPartitions', j] as Path })),
  );
  unique(
    ctx,
    'adopted-partition',
    'matchLabel',
    adopted.map(({ p, path }) => ({ id: p.id, value: p.matchLabel, path: [...path, 'matchLabel'] })),
  );
  unique(
    ctx,
    'adopted-partition',
    'matchUuid',
    adopted.map(({ p, path }) => ({ id: p.id, value: p.matchUuid, path: [...path, 'matchUuid'] })),
  );
  unique(
    ctx,
    'raid-array',
    'name',
    s.raid.software.map((r, i) => ({
      id: r.id,
      value: r.name,
      path: ['storage', 'raid', 'software', i, 'name'],
    })),
  );
  unique(
    ctx,
    'encrypted-volume',
    'deviceName',
    (s.encryption?.volumes ?? []).map((v, i) => ({
      id: v.id,
      value: v.deviceName,
      path: ['storage', 'encryption', 'volumes', i, 'deviceName'],
    })),
  );
  unique(
    ctx,
    'verity-device',
    'name',
    s.verity.map((v, i) => ({ id: v.id, value: v.name, path: ['storage', 'verity', i, 'name'] })),
  );
}

export function checkFilesystems(ctx: RuleContext, graph: StorageGraph): void {
  const mounts = new Map<string, number>();
  let esp: number | undefined;
  ctx.config.storage.filesystems.forEach((fs, i) => {
    const path: Path = ['storage', 'filesystems', i];
    const isEsp = graph.isEsp[i] ?? false;
    const name = describeFilesystem(fs, isEsp);
    const virtual = isVirtualFilesystem(fs);
    if (virtual && fs.deviceId !== undefined) {
      ctx.report(
        'HC_FS_DEVICE_FORBIDDEN',
        [...path, 'deviceId'],
        `Filesystem ${name} should not reference a block device: a ${fs.type} filesystem lives in memory. Remove \`deviceId\`.`,
      );
    }
    if (!virtual && fs.deviceId === undefined) {
      ctx.report(
        'HC_FS_DEVICE_REQUIRED',
        path,
        `Filesystem ${name} requires a reference to a block device: add \`deviceId\` naming a partition, RAID array, A/B pair, encrypted volume or verity device.`,
      );
    }
    if (virtual && fs.mountPoint === undefined) {
      ctx.report(
        'HC_FS_MOUNT_REQUIRED',
        path,
        `Filesystem ${name} requires a mount point: add \`mountPoint\`.`,
      );
    }
    if (isEsp && fs.mountPoint === undefined) {
      ctx.report(
        'HC_ESP_WITHOUT_MOUNT',
        path,
        `Filesystem ${name} is marked as ESP, but does not have a mount point: add \`mountPoint: /boot/efi\`.`,
      );
    }
    if (fs.mountPoint !== undefined) {
      const mp = fs.mountPoint.path;
      const mpPath: Path = [...path, 'mountPoint'];
      if (!mp.startsWith('/')) {
        ctx.report(
          'HC_MOUNT_NOT_ABSOLUTE',
          mpPath,
          `Mount point location '${mp}' is not an absolute path: write it from the root, e.g. '/${mp.replace(/^\.?\/*/, '')}'.`,
        );
      } else {
        const key = normalizeMountPath(mp);
        const first = mounts.get(key);
        if (first === undefined) mounts.set(key, i);
        else
          ctx.report(
            'HC_DUPLICATE_MOUNT_POINT',
            mpPath,
            `Mount point '${mp}' is defined more than once (also by \`storage.filesystems[${first}]\`): each path may be mounted by one filesystem.`,
          );
      }
    }
    if (isEsp) {
      if (esp === undefined) esp = i;
      else {
        const other = ctx.config.storage.filesystems[esp];
        ctx.report(
          'HC_MULTIPLE_ESP',
          path,
          `Multiple filesystems are marked as ESP: [${other === undefined ? '' : describeFilesystem(other, true)}] and [${name}]. Only one filesystem can be the ESP: set \`overrideEspMount: block\` on the other one or change its mount point.`,
        );
      }
    }
  });
}
