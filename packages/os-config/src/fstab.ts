/**
 * `/etc/fstab` of the new root, as upstream writes it (`subsystems/storage/fstab.rs`,
 * `osutils/src/tabfile.rs`): the file is replaced, not merged; one line per mounted filesystem in
 * Host Configuration order, then the `/etc` overlay of a verity root, then swap. Fields are
 * space-separated: device, mount point, type, options (`defaults` when none), dump 0, and fsck pass
 * 1 for `/`, 2 for other mount points, 0 for swap.
 */
import { devicePath } from './device-paths.ts';
import type { Config, StorageLayout } from './types.ts';

export const FSTAB_PATH = '/etc/fstab';

/** Upstream's comment above a filesystem the veritysetup generator mounts instead of fstab. */
const VERITY_REASON = 'Mounting is handled by veritysetup generator';

/** Where root verity keeps the writable layer of `/etc` (upstream `engine/etc_overlay.rs`). */
export const ETC_OVERLAY_UPPER = '/var/lib/trident-overlay/etc/upper';
export const ETC_OVERLAY_WORK = '/var/lib/trident-overlay/etc/work';

interface Entry {
  device: string;
  mountPoint: string;
  type: string;
  options: string[];
  disabledReason?: string | undefined;
}

export function renderFstab(config: Config, layout: StorageLayout): string {
  const entries: Entry[] = [];
  for (const fs of config.storage.filesystems) {
    if (fs.mountPoint === undefined) continue;
    const options = splitOptions(fs.mountPoint.options);
    const mountPoint = fs.mountPoint.path;
    if (fs.source === 'new' && (fs.type === 'tmpfs' || fs.type === 'overlay')) {
      entries.push({ device: fs.type, mountPoint, type: fs.type, options });
      continue;
    }
    const deviceId = fs.deviceId as string;
    const type =
      fs.source === 'image'
        ? (layout.imageFilesystemTypes?.[mountPoint] ?? 'auto')
        : fs.source === 'adopted' && (fs.type ?? 'auto') === 'auto'
          ? (layout.adoptedFilesystemTypes?.[mountPoint] ?? 'auto')
          : (fs.type ?? 'auto');
    const onVerity = config.storage.verity.some((v) => v.id === deviceId);
    entries.push({
      device: devicePath(config, layout, deviceId),
      mountPoint,
      type,
      options,
      disabledReason: onVerity ? VERITY_REASON : undefined,
    });
  }
  if (rootIsVerity(config)) {
    entries.push({
      device: 'overlay',
      mountPoint: '/etc',
      type: 'overlay',
      options: ['lowerdir=/etc', `upperdir=${ETC_OVERLAY_UPPER}`, `workdir=${ETC_OVERLAY_WORK}`, 'ro'],
    });
  }
  for (const swap of config.storage.swap)
    entries.push({
      device: devicePath(config, layout, swap.deviceId),
      mountPoint: 'none',
      type: 'swap',
      options: [],
    });
  return entries.map(renderEntry).join('');
}

/** Whether the filesystem mounted at `/` sits on a verity device. */
export function rootIsVerity(config: Config): boolean {
  const root = config.storage.filesystems.find((fs) => fs.mountPoint?.path === '/');
  return root?.deviceId !== undefined && config.storage.verity.some((v) => v.id === root.deviceId);
}

function splitOptions(options: string): string[] {
  return options.split(',').filter((o) => o !== '');
}

function renderEntry(entry: Entry): string {
  const pass = entry.mountPoint === 'none' ? 0 : entry.mountPoint === '/' ? 1 : 2;
  const options = entry.options.length === 0 ? 'defaults' : entry.options.join(',');
  const line = `${entry.device} ${entry.mountPoint} ${entry.type} ${options} 0 ${pass}\n`;
  if (entry.disabledReason === undefined) return line;
  return `# ${entry.disabledReason.replaceAll('\n', '\n# ')}\n# ${line}`;
}
