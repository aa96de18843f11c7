/**
 * What the new OS's kernel command line must say to find its root, from the Host Configuration and
 * the partition UUIDs of the volume being written (install: the partitions it laid out, volume A
 * of an A/B pair; A/B update: the recorded partitions of the update volume): a partition by
 * PARTUUID, or a dm-verity root (and /usr) by its data and hash partitions.
 */
import type { BootTarget } from '@trident/boot-config';
import type { CosiMetadata } from '@trident/cosi-format';
import { type HostConfiguration, normalizeMountPath } from '@trident/host-config';

const OVERLAY_MOUNT = '/var/lib/trident-overlay';

/** What a root on a RAID array or an encrypted volume needs (install/storage/boot-args.ts). */
export interface StackedBoot {
  /** The `root=` value, when the root filesystem is on an array or an encrypted volume. */
  root?: string;
  /** Arguments the initrd needs to assemble or unlock it. */
  args: string[];
}

/** The node of an array or encrypted volume in the installed OS, or undefined for anything else. */
function stackedNode(config: HostConfiguration, id: string): string | undefined {
  const array = config.storage.raid.software.find((r) => r.id === id);
  if (array) return `/dev/md/${array.name}`;
  const volume = config.storage.encryption?.volumes.find((v) => v.id === id);
  return volume ? `/dev/mapper/${volume.deviceName}` : undefined;
}

export function bootTarget(
  config: HostConfiguration,
  /** PARTUUID of the partition holding a Host Configuration id's data (an A/B pair: the volume written). */
  uuidOf: (id: string) => string,
  metadata: CosiMetadata | undefined,
  /** The root and initrd arguments for arrays and encrypted volumes (install only). */
  stacked: StackedBoot = { args: [] },
): BootTarget {
  // A verity data or hash device on an array or volume is named by its node, not a PARTUUID.
  const kernelDevice = (id: string): string => stackedNode(config, id) ?? `PARTUUID=${uuidOf(id)}`;
  // The COSI records each verity filesystem's root hash; the kernel command line must carry it.
  const imageAt = (mountPoint: string) =>
    metadata?.images.find((image) => normalizeMountPath(image.mountPoint) === mountPoint);
  const roothashOf = (mountPoint: string): string | undefined =>
    imageAt(mountPoint)?.verity?.roothash ?? undefined;
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
      stackedNode(config, overlay.deviceId) ?? `/dev/disk/by-partuuid/${uuidOf(overlay.deviceId)}`;
  const extra = [...stacked.args, ...(config.os.kernelCommandLine?.extraCommandLine ?? [])];
  if (extra.length > 0) target.extraCommandLine = extra;
  // The root image is streamed unchanged, so the written root keeps its filesystem UUID: a UKI
  // naming `root=UUID=<it>` boots the target (boot-config's UKI check).
  const rootFsUuid = imageAt('/')?.fsUuid;
  if (rootFsUuid) target.rootFsUuid = rootFsUuid;
  return target;
}

function withHash<Key extends string>(key: Key, hash: string | undefined): { [K in Key]?: string } {
  return (hash === undefined ? {} : { [key]: hash }) as { [K in Key]?: string };
}
