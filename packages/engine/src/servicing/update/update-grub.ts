/**
 * The boot side of an A/B update of a grub image (upstream `subsystems/esp.rs` deploy at stage,
 * `engine/boot/grub.rs` `update_configs`, `engine/bootentries.rs` at finalize):
 *
 * - stage: the update volume's own grub.cfg (in its /boot) gets the kernel command line for its
 *   partitions, as install does for volume A; the image's shim, grub and ESP grub.cfg go to the
 *   volume's ESP directory (`EFI/AZLB` for B of install index 0), the grub.cfg's `search` pointed
 *   at the filesystem holding the volume's /boot (found by its UUID, read with blkid);
 * - finalize: a UEFI boot entry for `/EFI/<dir>/bootx64.efi`, made BootNext (the firmware tries it
 *   once) and put last in BootOrder (left alone on virtdeploy VMs). Commit moves BootCurrent first.
 *
 * The running volume's files (`EFI/BOOT`, its own directory) are never touched: if the trial boot
 * fails, the firmware's BootOrder starts the old volume again.
 */
import {
  adoptFallbackAsVolumeDir,
  type BootTarget,
  configureGrub,
  createBootEntry,
  type EspVolume,
  espDirectoryName,
  hasGrubVolumeDir,
  isVirtdeploy,
  writeGrubVolumeDir,
} from '@trident/boot-config';
import type { CosiMetadata } from '@trident/cosi-format';
import type { AbVolume } from '@trident/datastore';
import { runTool } from '@trident/exec';
import { type HostConfiguration, normalizeMountPath } from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import { efivarsDirOf, efivarsUsable } from '../commit/efivars.ts';
import { espDevice } from '../rollback/esp-location.ts';

/** The volume's directory under /EFI on the ESP (`AZLA`, `AZLB`, `AZL2B`, …). */
export function grubVolumeDir(installIndex: number, volume: AbVolume): string {
  return espDirectoryName(installIndex, volume === 'volume-a' ? 'a' : 'b');
}

export interface MountedFilesystem {
  /** The Host Configuration id holding its data (a verity filesystem's data device). */
  id: string;
  mountPoint: string;
}

function filesystemAt(config: HostConfiguration, paths: readonly string[], what: string): MountedFilesystem {
  for (const path of paths) {
    const fs = config.storage.filesystems.find(
      (f) => f.mountPoint !== undefined && normalizeMountPath(f.mountPoint.path) === path,
    );
    if (fs === undefined) continue;
    const verity = config.storage.verity.find((v) => v.id === fs.deviceId);
    const id = verity?.dataDeviceId ?? fs.deviceId;
    if (id !== undefined) return { id, mountPoint: path };
  }
  throw new EngineError(
    'INVALID_INPUT_ERROR',
    'invalid-host-configuration',
    `the Host Configuration mounts nothing at ${paths.join(' or ')}: ${what}`,
    { code: 'ENGINE_UPDATE_NO_BOOT_FS' },
  );
}

/** The filesystem holding /boot: its own, else the root's; its id (a verity root's data device). */
export function bootFilesystem(config: HostConfiguration): MountedFilesystem {
  return filesystemAt(config, ['/boot', '/'], 'grub has no filesystem to search for');
}

/** The root filesystem (a UKI may name it by UUID). */
export function rootFilesystem(config: HostConfiguration): MountedFilesystem {
  return filesystemAt(config, ['/'], 'there is no root filesystem to boot');
}

/**
 * grub finds /boot by filesystem UUID (a UKI may find / so): an image whose filesystem there has
 * the UUID of the running volume's would make the update volume boot the running one (upstream
 * refuses the same, `duplicate-fs-uuid-ab-update`). Images carry their filesystem UUIDs (COSI
 * `fsUuid`). `filesystem` defaults to grub's, /boot.
 */
export async function checkDistinctBootFilesystem(
  config: HostConfiguration,
  metadata: CosiMetadata,
  activeDevice: (id: string) => string,
  signal?: AbortSignal,
  filesystem: MountedFilesystem = bootFilesystem(config),
): Promise<void> {
  const { id, mountPoint } = filesystem;
  const image = metadata.images.find((i) => normalizeMountPath(i.mountPoint) === mountPoint);
  if (image === undefined || image.fsUuid === '') return;
  const device = activeDevice(id);
  const running = (
    await runTool('blkid', ['-p', '-s', 'UUID', '-o', 'value', device], { okCodes: 'any', signal })
  ).stdout.trim();
  if (running !== '' && running.toLowerCase() === image.fsUuid.toLowerCase())
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'duplicate-fs-uuid-ab-update',
      `the image's ${mountPoint} filesystem has UUID ${image.fsUuid}, the same as the running volume's (${device}): the boot loader finds ${mountPoint} by that UUID and could not tell the volumes apart; build the image with a new filesystem UUID`,
      { code: 'ENGINE_UPDATE_DUPLICATE_FS_UUID' },
    );
}

async function filesystemUuid(device: string, signal: AbortSignal): Promise<string> {
  const { stdout } = await runTool('blkid', ['-p', '-s', 'UUID', '-o', 'value', device], { signal });
  const uuid = stdout.trim();
  if (uuid === '')
    throw new EngineError(
      'SERVICING_ERROR',
      'update-grub-configs',
      `blkid finds no filesystem UUID on ${device}: grub cannot search for the updated /boot`,
      { code: 'ENGINE_UPDATE_NO_BOOT_FS' },
    );
  return uuid;
}

export interface GrubStageInputs {
  /** The mounted new root of the update volume. */
  newRoot: string;
  target: BootTarget;
  /** The image's ESP and the host's. */
  image: EspVolume;
  esp: EspVolume;
  dir: string;
  /** The running volume's directory when the running volume is install's volume A (see below). */
  installVolumeDir: string | undefined;
  /** The update volume's device holding /boot (written by this update). */
  bootDevice: string;
  signal: AbortSignal;
  log: (message: string) => void;
}

/** Stage: the update volume's grub.cfg and its ESP directory. */
export async function stageGrubVolume(inputs: GrubStageInputs): Promise<void> {
  // Install boots volume A through EFI/BOOT (the image's ESP as written); it gets its own directory
  // now, before anything changes, so a rollback finds A's loader under its name (EFI/AZLA).
  if (inputs.installVolumeDir !== undefined) {
    const adopted = await adoptFallbackAsVolumeDir(inputs.esp, inputs.installVolumeDir);
    if (adopted.length > 0)
      inputs.log(
        `ESP /EFI/${inputs.installVolumeDir}: ${adopted.join(', ')} copied from /EFI/BOOT (the running volume's loader, as install left it)`,
      );
  }
  const grub = await configureGrub({ rootDir: inputs.newRoot, target: inputs.target });
  inputs.log(`grub: ${grub.linuxLines} linux line(s) of ${grub.grubCfg} point at the update volume`);
  const bootFsUuid = await filesystemUuid(inputs.bootDevice, inputs.signal);
  const written = await writeGrubVolumeDir({
    image: inputs.image,
    esp: inputs.esp,
    dir: inputs.dir,
    bootFsUuid,
  });
  inputs.log(
    written.searchUpdated
      ? `ESP /EFI/${inputs.dir}: ${written.files.join(', ')}; grub.cfg searches /boot by UUID ${bootFsUuid} (${inputs.bootDevice})`
      : `ESP /EFI/${inputs.dir}: ${written.files.join(', ')}; the image's ESP has no grub.cfg, so its grub's built-in search finds /boot (the update volume's is ${bootFsUuid} on ${inputs.bootDevice})`,
  );
}

export interface GrubFinalizeInputs {
  esp: EspVolume;
  /** The ESP partition as recorded (`/dev/disk/by-partuuid/…` or its node) and its id. */
  espId: string;
  espPath: string;
  dir: string;
  sysDir: string;
  /** `internalParams.virtdeployBootOrderWorkaround`. */
  virtdeployWorkaround: boolean;
  signal: AbortSignal;
}

/** Finalize, before the state is recorded: the staged directory must be there and efivars usable. */
export async function checkGrubFinalize(inputs: Pick<GrubFinalizeInputs, 'esp' | 'dir' | 'sysDir'>) {
  if (!(await hasGrubVolumeDir(inputs.esp, inputs.dir)))
    throw new EngineError(
      'SERVICING_ERROR',
      'create-boot-entry',
      `no /EFI/${inputs.dir}/bootx64.efi on the ESP (${inputs.esp.location}): stage the update again`,
      { code: 'ENGINE_UPDATE_NO_ENTRY' },
    );
  const efivars = efivarsDirOf(inputs.sysDir);
  if (!(await efivarsUsable(efivars)))
    throw new EngineError(
      'SERVICING_ERROR',
      'set-boot-entries',
      `${efivars} is not efivarfs: a grub host's next boot is switched with a UEFI boot entry (BootNext), and there are no firmware variables to write`,
      { code: 'ENGINE_UPDATE_NO_EFIVARS' },
    );
}

/** Finalize: the volume's UEFI entry, BootNext. Returns the entry numbers created. */
export async function finalizeGrubVolume(inputs: GrubFinalizeInputs): Promise<string[]> {
  const device = await espDevice(
    { id: inputs.espId, device: inputs.espPath, mountPath: undefined },
    inputs.sysDir,
  );
  const virtdeploy = inputs.virtdeployWorkaround || (await isVirtdeploy(inputs.sysDir));
  return createBootEntry({
    label: inputs.dir,
    esp: [device],
    loader: `/EFI/${inputs.dir}/bootx64.efi`,
    // Upstream: an A/B update's entry goes last (firmware that drops entries outside BootOrder
    // keeps it); BootNext makes the next boot a trial, and commit moves it first.
    bootOrder: virtdeploy ? 'unchanged' : 'last',
    bootNext: true,
    signal: inputs.signal,
  });
}
