/**
 * What the installed OS's kernel command line must say to find its root, from the Host
 * Configuration and the partitions this install laid out (volume A of an A/B pair): a partition
 * by PARTUUID, or a dm-verity root (and /usr) by its data and hash partitions.
 */
import type { BootTarget } from '@trident/boot-config';
import type { CosiMetadata } from '@trident/cosi-format';
import { type HostConfiguration, normalizeMountPath } from '@trident/host-config';
import type { DiskLayout } from '../layout.ts';
import { resolvePartition } from '../resolve-devices.ts';
import type { StackedBoot } from '../storage/boot-args.ts';
import { stackedDevice } from '../storage/stacked-devices.ts';

const OVERLAY_MOUNT = '/var/lib/trident-overlay';

export function bootTarget(
  config: HostConfiguration,
  layouts: readonly DiskLayout[],
  metadata: CosiMetadata | undefined,
  /** The root and initrd arguments for arrays and encrypted volumes (storage/boot-args.ts). */
  stacked: StackedBoot = { args: [] },
): BootTarget {
  // The COSI records each verity filesystem's root hash; the kernel command line must carry it.
  const roothashOf = (mountPoint: string): string | undefined =>
    metadata?.images.find((image) => normalizeMountPath(image.mountPoint) === mountPoint)?.verity?.roothash ??
    undefined;
  const uuidOf = (id: string): string => resolvePartition(config, layouts as DiskLayout[], id).partition.uuid;
  // A verity data or hash device on an array or volume is named by its node, not a PARTUUID.
  const kernelDevice = (id: string): string => stackedDevice(config, id)?.path ?? `PARTUUID=${uuidOf(id)}`;
  const mountedAt = (path: string) =>
    config.storage.filesystems.find(
      (fs) => fs.mountPoint !== undefined && normalizeMountPath(fs.mountPoint.path) === path,
    );
  const verityOf = (id: string | undefined) => config.storage.verity.find((v) => v.id === id);
  const root = mountedAt('/');
  const rootVerity = verityOf(root?.deviceId);
  const target: BootTarget = {
    root: rootVerity
      ? {
          kind: 'verity',
          dataDevice: kernelDevice(rootVerity.dataDeviceId),
          hashDevice: kernelDevice(rootVerity.hashDeviceId),
          ...withHash('roothash', roothashOf('/')),
        }
      : stacked.root !== undefined
        ? { kind: 'device', path: stacked.root }
        : { kind: 'partuuid', partUuid: uuidOf(root!.deviceId!) },
  };
  const usrVerity = verityOf(mountedAt('/usr')?.deviceId);
  if (usrVerity)
    target.usrVerity = {
      dataDevice: kernelDevice(usrVerity.dataDeviceId),
      hashDevice: kernelDevice(usrVerity.hashDeviceId),
      ...withHash('usrhash', roothashOf('/usr')),
    };
  const selinux = config.os.selinux.mode;
  if (selinux !== undefined) target.selinux = selinux;
  const overlay = mountedAt(OVERLAY_MOUNT);
  if (overlay?.deviceId)
    target.overlayDevice =
      stackedDevice(config, overlay.deviceId)?.path ?? `/dev/disk/by-partuuid/${uuidOf(overlay.deviceId)}`;
  const extra = [...stacked.args, ...(config.os.kernelCommandLine?.extraCommandLine ?? [])];
  if (extra.length > 0) target.extraCommandLine = extra;
  return target;
}

function withHash<Key extends string>(key: Key, hash: string | undefined): { [K in Key]?: string } {
  return (hash === undefined ? {} : { [key]: hash }) as { [K in Key]?: string };
}
