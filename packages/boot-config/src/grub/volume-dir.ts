/**
 * The ESP directory of one A/B volume of a grub host (`EFI/AZLA`, `EFI/AZLB`, …), filled from the
 * image's ESP as upstream's ESP subsystem does at stage: the shim (or, without shim, the loader)
 * `bootx64.efi`, the grub binary (`grubx64-noprefix.efi` stored as `grubx64.efi`, else
 * `grubx64.efi`) and the `grub.cfg` beside it, whose `search` is pointed at the filesystem that
 * holds the volume's /boot. A UEFI entry for `/EFI/<dir>/bootx64.efi` then boots that volume.
 *
 * Images whose grub carries its configuration inside the EFI binary (grub-mkimage `-c`, as the
 * test fixtures build it) have no `grub.cfg` on their ESP: the binary is copied as it is and its
 * own search finds its /boot, which the caller reports.
 */
import { BootConfigError } from '../errors.ts';
import { type EspVolume, findEntry, joinEspPath } from '../esp/esp-volume.ts';
import { updateGrubSearch } from './grub-cfg.ts';

const IMAGE_BOOT_DIR = '/EFI/BOOT';

export interface GrubVolumeDirOptions {
  /** The image's ESP (extracted from the COSI). */
  image: EspVolume;
  /** The host's ESP. */
  esp: EspVolume;
  /** The volume's directory name under /EFI (`AZLB`). */
  dir: string;
  /** Filesystem UUID of the volume's /boot (the root filesystem when /boot is a directory of it). */
  bootFsUuid: string;
}

export interface GrubVolumeDir {
  /** `/EFI/<dir>/bootx64.efi`: what the UEFI entry starts. */
  loader: string;
  /** Files written under /EFI/<dir>, by name. */
  files: string[];
  /** False when the image has no grub.cfg on its ESP (the binary's embedded search is used). */
  searchUpdated: boolean;
}

async function readFrom(image: EspVolume, dir: string, name: string): Promise<Buffer | undefined> {
  const entries = await image.list(dir);
  const entry = entries === undefined ? undefined : findEntry(entries, name);
  return entry?.kind === 'file' ? image.read(joinEspPath(dir, entry.name)) : undefined;
}

/** Replaces /EFI/<dir> on the host's ESP with the grub boot files of the image for this volume. */
export async function writeGrubVolumeDir(options: GrubVolumeDirOptions): Promise<GrubVolumeDir> {
  const { image, esp, dir } = options;
  const loader = await readFrom(image, IMAGE_BOOT_DIR, 'bootx64.efi');
  if (loader === undefined)
    throw new BootConfigError(
      'BOOTCFG_NOT_FOUND',
      `the image's ESP (${image.location}) has no ${IMAGE_BOOT_DIR}/bootx64.efi to boot the volume with`,
      { path: `${IMAGE_BOOT_DIR}/bootx64.efi` },
    );
  // Upstream prefers the no-prefix grub build (it reads grub.cfg from its own directory).
  const grub =
    (await readFrom(image, IMAGE_BOOT_DIR, 'grubx64-noprefix.efi')) ??
    (await readFrom(image, IMAGE_BOOT_DIR, 'grubx64.efi'));
  const grubCfg =
    (await readFrom(image, IMAGE_BOOT_DIR, 'grub.cfg')) ?? (await readFrom(image, '/boot/grub2', 'grub.cfg'));
  const target = joinEspPath('/EFI', dir);
  const cfgPath = joinEspPath(target, 'grub.cfg');
  const files: Record<string, Buffer | string> = { 'bootx64.efi': loader };
  if (grub !== undefined) files['grubx64.efi'] = grub;
  if (grubCfg !== undefined)
    files['grub.cfg'] = updateGrubSearch(
      grubCfg.toString('utf8'),
      `${image.location}:${cfgPath}`,
      options.bootFsUuid,
    );

  // The directory belongs to the volume being written, which nothing boots now: replaced whole,
  // so files of an earlier build (a grub.cfg the new image no longer has) do not linger.
  for (const entry of (await esp.list(target)) ?? [])
    if (entry.kind === 'file') await esp.remove(joinEspPath(target, entry.name));
  await esp.makeDirectory(target);
  // The loader last: finalize takes a directory with bootx64.efi as complete.
  const order = Object.keys(files).sort((a, b) => Number(a === 'bootx64.efi') - Number(b === 'bootx64.efi'));
  for (const name of order) await esp.write(joinEspPath(target, name), files[name]!);
  return {
    loader: joinEspPath(target, 'bootx64.efi'),
    files: Object.keys(files),
    searchUpdated: grubCfg !== undefined,
  };
}

/** Whether the host's ESP has /EFI/<dir>/bootx64.efi (a staged grub volume directory). */
export async function hasGrubVolumeDir(esp: EspVolume, dir: string): Promise<boolean> {
  const entries = await esp.list(joinEspPath('/EFI', dir));
  return entries !== undefined && findEntry(entries, 'bootx64.efi')?.kind === 'file';
}

/**
 * Gives the running volume its own directory when it has none: a host installed by this agent
 * boots volume A through the removable-media path `/EFI/BOOT` (the image's ESP as install wrote
 * it), where upstream's install made `EFI/AZLA`. Before an update rewrites anything, the files of
 * `/EFI/BOOT` are copied to `/EFI/<dir>`, so that a later rollback finds the old volume's loader
 * under its own name even after `/EFI/BOOT` is replaced (`os.uefiFallback`). Returns the files
 * copied; none when the directory already has a bootx64.efi.
 */
export async function adoptFallbackAsVolumeDir(esp: EspVolume, dir: string): Promise<string[]> {
  if (await hasGrubVolumeDir(esp, dir)) return [];
  const entries = ((await esp.list(IMAGE_BOOT_DIR)) ?? []).filter((e) => e.kind === 'file');
  if (findEntry(entries, 'bootx64.efi') === undefined)
    throw new BootConfigError(
      'BOOTCFG_NOT_FOUND',
      `${esp.location} has neither /EFI/${dir}/bootx64.efi nor ${IMAGE_BOOT_DIR}/bootx64.efi: nothing boots the running volume`,
      { path: `${IMAGE_BOOT_DIR}/bootx64.efi` },
    );
  const target = joinEspPath('/EFI', dir);
  await esp.makeDirectory(target);
  const copied: string[] = [];
  for (const entry of entries) {
    // The loader last: the directory counts as the volume's only once everything is there.
    if (entry.name.toLowerCase() === 'bootx64.efi') continue;
    const bytes = await esp.read(joinEspPath(IMAGE_BOOT_DIR, entry.name));
    if (bytes === undefined) continue;
    await esp.write(joinEspPath(target, entry.name.toLowerCase()), bytes);
    copied.push(entry.name.toLowerCase());
  }
  const loader = findEntry(entries, 'bootx64.efi')!;
  const bytes = await esp.read(joinEspPath(IMAGE_BOOT_DIR, loader.name));
  if (bytes === undefined)
    throw new BootConfigError('BOOTCFG_ESP_IO', `${esp.location}:${IMAGE_BOOT_DIR}/${loader.name} vanished`);
  await esp.write(joinEspPath(target, 'bootx64.efi'), bytes);
  return [...copied, 'bootx64.efi'];
}
