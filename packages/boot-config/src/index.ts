export {
  type BootTarget,
  composeCmdline,
  type RootSelection,
  type UsrVerity,
  type VerityCorruption,
} from './cmdline/compose.ts';
export { argName, argValue, formatCmdline, parseCmdline, replaceArgs } from './cmdline/kernel-cmdline.ts';
export {
  type ConfigureBootOptions,
  type ConfigureBootResult,
  configureBoot,
  configureDiskBoot,
} from './configure-boot.ts';
export * from './errors.ts';
export {
  type DiskBootVolumes,
  type DiskPartitionInfo,
  openDiskBootVolumes,
  readDiskPartitions,
  XBOOTLDR_TYPE_GUID,
} from './esp/disk-partitions.ts';
export { type EspEntry, type EspVolume, listFilesRecursive } from './esp/esp-volume.ts';
export { createImageEsp, type ImageEspOptions } from './esp/image-esp.ts';
export { createMountedEsp } from './esp/mounted-esp.ts';
export { replaceFile } from './esp/replace-file.ts';
export { configureGrub, type GrubOptions, type GrubResult } from './grub/configure-grub.ts';
export { updateDefaultGrub } from './grub/default-grub.ts';
export { replaceFsUuids, rewriteGrubLinuxLines, updateGrubSearch } from './grub/grub-cfg.ts';
export {
  adoptFallbackAsVolumeDir,
  type GrubVolumeDir,
  type GrubVolumeDirOptions,
  hasGrubVolumeDir,
  writeGrubVolumeDir,
} from './grub/volume-dir.ts';
export {
  type ChangedFile,
  configureSystemdBoot,
  type SystemdBootOptions,
  type SystemdBootResult,
} from './systemd-boot/configure-systemd-boot.ts';
export {
  type CreatedEntry,
  type CreateEntryOptions,
  createLoaderEntry,
} from './systemd-boot/create-entry.ts';
export { findLoaderEntriesForPartUuid, findPreviousUki } from './systemd-boot/rollback-entries.ts';
export { checkUkiCmdline, ukiCmdline } from './systemd-boot/uki-cmdline.ts';
export {
  findVolumeEntry,
  removeVolumeEntries,
  type VolumeEntry,
  type VolumeEntryOptions,
  writeVolumeEntry,
} from './systemd-boot/volume-entry.ts';
export {
  type FinalizedUki,
  finalizeVolumeUki,
  findVolumeUki,
  STAGED_UKI,
  type StagedUki,
  type StageUkiOptions,
  stageVolumeUki,
  UKI_DIR,
  ukiSlot,
  type VolumeUkiSlot,
} from './systemd-boot/volume-uki.ts';
export {
  type BootOrderPosition,
  type CreateBootEntryOptions,
  createBootEntry,
  type EfiBootEntry,
  type EfiBootState,
  type EspDevice,
  isVirtdeploy,
  parseEfibootmgr,
  persistCurrentBootOrder,
  planBootOrder,
  readEfiBootState,
} from './uefi/efibootmgr.ts';
export {
  type AbVolume,
  copyToUefiFallback,
  espDirectoryName,
  FALLBACK_DIR,
  type FallbackMoment,
  nextInstallIndex,
  type UefiFallbackMode,
  uefiFallbackSource,
} from './uefi/fallback.ts';
export {
  EFIVARS_DIR,
  type EfiVariableOptions,
  LOADER_VENDOR_GUID,
  readLoaderEntryDefault,
  readLoaderEntrySelected,
  setLoaderEntryDefault,
  setLoaderEntryOneShot,
} from './uefi/loader-variables.ts';
