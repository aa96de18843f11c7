/**
 * What the installed OS's initrd must be told to bring up a root on stacked storage. The fixture
 * and upstream's images use dracut, whose generic (not host-only) initrd assembles no array and
 * unlocks no volume unless named on the kernel command line:
 *
 * - every array: `rd.md.uuid=<MD_UUID>` (dracut `90mdraid`), so the root's array is assembled in
 *   the initrd and the others are ready as early; the installed OS's udev and mdadm.conf name them;
 * - a root on an encrypted volume: `rd.luks.name=<LUKS UUID>=<name>` and
 *   `rd.luks.options=<LUKS UUID>=tpm2-device=auto` (systemd-cryptsetup-generator), unlocked with
 *   the TPM as crypttab does for the others;
 * - `root=`: a root on an array by its filesystem UUID (`root=UUID=…`): an array created on another
 *   host may be assembled under a `<homehost>:<name>` link before mdadm.conf is read, never under a
 *   different filesystem UUID; a root on a volume as `/dev/mapper/<name>`.
 *
 * Upstream gets the same from regenerating a host-only initrd in the new root (`regenerate-initrd`,
 * dracut's host-only command line); here the image's initrd is kept and told on the command line.
 */
import type { HostConfiguration } from '@trident/host-config';
import type { StackedBoot } from '../../host/boot-target.ts';

export interface StackedFacts {
  arrays: ReadonlyArray<{ id: string; uuid: string }>;
  volumes: ReadonlyArray<{ id: string; deviceName: string; luksUuid: string }>;
}

export function stackedBootArgs(
  config: HostConfiguration,
  facts: StackedFacts,
  rootDeviceId: string | undefined,
  rootFilesystemUuid: string | undefined,
): StackedBoot {
  const args = facts.arrays.map((array) => `rd.md.uuid=${array.uuid}`);
  const boot: StackedBoot = { args };
  const volume = facts.volumes.find((v) => v.id === rootDeviceId);
  if (volume) {
    boot.root = `/dev/mapper/${volume.deviceName}`;
    args.push(`rd.luks.name=${volume.luksUuid}=${volume.deviceName}`);
    args.push(`rd.luks.options=${volume.luksUuid}=tpm2-device=auto`);
  } else if (rootDeviceId !== undefined && config.storage.raid.software.some((r) => r.id === rootDeviceId)) {
    if (rootFilesystemUuid === undefined || rootFilesystemUuid === '')
      throw new Error(`the root filesystem on RAID array '${rootDeviceId}' has no filesystem UUID`);
    boot.root = `UUID=${rootFilesystemUuid}`;
  }
  return boot;
}
