/**
 * The removable-media fallback path: firmware with no boot entry for a disk (a disk-image file
 * booted in a fresh VM, a disk moved to another machine, NVRAM reset) loads
 * `\EFI\BOOT\BOOTX64.EFI`. Upstream Trident (`os.uefiFallback`) copies the boot files of one ESP
 * directory (`EFI/AZLA`, …) there at install finalize (and at A/B finalize/commit by mode), file by
 * file: each new file is written as `<name>.new`, the existing one renamed `<name>.old`, then the
 * new one renamed into place, so that at every moment either the old or the new loader is there.
 * The copied directory's `bootx64.efi` becomes `BOOTX64.EFI` (FAT ignores case).
 */
import { BootConfigError } from '../errors.ts';
import { type EspVolume, joinEspPath, listFilesRecursive } from '../esp/esp-volume.ts';

export const FALLBACK_DIR = '/EFI/BOOT';

/** `AZLA`, `AZLB`, `AZL2A`, …: upstream's ESP directory of install index `index` and volume. */
export function espDirectoryName(installIndex: number, volume: 'a' | 'b'): string {
  if (!Number.isInteger(installIndex) || installIndex < 0)
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `install index ${installIndex} is not a whole number`,
    );
  return `AZL${installIndex === 0 ? '' : installIndex + 1}${volume.toUpperCase()}`;
}

/** Copies `/EFI/<source>` over `/EFI/BOOT`; returns the files written (relative to /EFI/BOOT). */
export async function copyToUefiFallback(esp: EspVolume, source: string): Promise<string[]> {
  if (!/^[A-Za-z0-9_-]+$/u.test(source) || source.toUpperCase() === 'BOOT')
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `fallback source ${JSON.stringify(source)} is not an ESP directory name`,
    );
  const from = joinEspPath('/EFI', source);
  const files = await listFilesRecursive(esp, from);
  if (files === undefined || files.length === 0)
    throw new BootConfigError(
      'BOOTCFG_NOT_FOUND',
      `${esp.location}:${from} has no boot files to copy to ${FALLBACK_DIR}`,
      {
        path: from,
      },
    );
  if (!files.some((f) => f.toLowerCase() === 'bootx64.efi'))
    throw new BootConfigError(
      'BOOTCFG_NOT_FOUND',
      `${esp.location}:${from} has no bootx64.efi: the fallback path would not boot (firmware loads ${FALLBACK_DIR}/BOOTX64.EFI)`,
      { path: from },
    );
  for (const file of files) {
    const bytes = await esp.read(joinEspPath(from, file));
    if (bytes === undefined)
      throw new BootConfigError('BOOTCFG_ESP_IO', `${esp.location}:${from}/${file} vanished while copying`);
    const target = joinEspPath(FALLBACK_DIR, file.toLowerCase() === 'bootx64.efi' ? 'BOOTX64.EFI' : file);
    await esp.write(`${target}.new`, bytes);
    if ((await esp.read(target)) !== undefined) await esp.rename(target, `${target}.old`);
    await esp.rename(`${target}.new`, target);
    await esp.remove(`${target}.old`);
  }
  return files;
}
