/**
 * The removable-media fallback path: firmware with no boot entry for a disk (a disk-image file
 * booted in a fresh VM, a disk moved to another machine, NVRAM reset) loads
 * `\EFI\BOOT\BOOTX64.EFI`. Upstream Trident (`os.uefiFallback`, `subsystems/esp.rs`) makes
 * `EFI/BOOT` a copy of one install directory (`EFI/AZLA`, …) in phases, so that at every moment a
 * complete loader is there: every source file is copied in as `<name>.new`; every file already
 * there is renamed `<name>.old`; the `.new` files are renamed to their names; the `.old` files are
 * removed. Files of the old set that the source lacks go too: `EFI/BOOT` ends up as the source.
 */
import { BootConfigError } from '../errors.ts';
import { type EspVolume, findEntry, joinEspPath } from '../esp/esp-volume.ts';

export const FALLBACK_DIR = '/EFI/BOOT';

export type AbVolume = 'a' | 'b';
export type UefiFallbackMode = 'conservative' | 'optimistic' | 'disabled';

/** `AZLA`, `AZLB`, `AZL2A`, …: upstream's ESP directory of install index `index` and volume. */
export function espDirectoryName(installIndex: number, volume: AbVolume): string {
  if (!Number.isInteger(installIndex) || installIndex < 0)
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `install index ${installIndex} is not a whole number`,
    );
  return `AZL${installIndex === 0 ? '' : installIndex + 1}${volume.toUpperCase()}`;
}

/**
 * The install index of a clean install: the first N whose `EFI/AZL[N+1]A` and `…B` are both
 * absent (another OS installed by Trident on a shared ESP keeps its directories). Upstream gives up
 * after 1000 (`no-available-install-index`).
 */
export async function nextInstallIndex(esp: EspVolume): Promise<number> {
  const names = (await esp.list('/EFI')) ?? [];
  for (let index = 0; index < 1000; index++) {
    const taken = (['a', 'b'] as const).some(
      (v) => findEntry(names, espDirectoryName(index, v)) !== undefined,
    );
    if (!taken) return index;
  }
  throw new BootConfigError(
    'BOOTCFG_CONFIG_INVALID',
    `${esp.location}: no free install index below 1000 in /EFI`,
  );
}

/** When the fallback copy happens (upstream's servicing states). */
export type FallbackMoment =
  | 'install-finalize'
  | 'ab-update-finalize'
  | 'ab-update-commit'
  | 'manual-rollback-finalize';

/**
 * Which ESP directory is copied to `EFI/BOOT`, or undefined for none. `activeVolume` is the volume
 * running now. At A/B commit that is the updated volume, which conservative copies as upstream's
 * docs say (its code passes the not-yet-flipped `abActiveVolume` and so re-copies the old volume).
 */
export function uefiFallbackSource(options: {
  mode: UefiFallbackMode;
  moment: FallbackMoment;
  installIndex: number;
  activeVolume?: AbVolume;
}): string | undefined {
  const { mode, moment, installIndex } = options;
  const active = options.activeVolume ?? 'a';
  const other: AbVolume = options.activeVolume === 'a' ? 'b' : 'a';
  if (mode === 'disabled') return undefined;
  switch (moment) {
    case 'install-finalize':
      return espDirectoryName(installIndex, 'a');
    case 'ab-update-finalize':
      return espDirectoryName(installIndex, mode === 'optimistic' ? other : active);
    case 'ab-update-commit':
      return mode === 'conservative' ? espDirectoryName(installIndex, active) : undefined;
    case 'manual-rollback-finalize':
      return espDirectoryName(installIndex, other);
  }
}

/**
 * Copies the files of `/EFI/<source>` over `/EFI/BOOT`; returns their names. Upstream skips an A/B
 * copy from a missing `AZL…A` when `AZL…B` exists (VMs initialised offline with volume B only):
 * `skipMissingVolumeA` does that.
 */
export async function copyToUefiFallback(
  esp: EspVolume,
  source: string,
  options: { skipMissingVolumeA?: boolean } = {},
): Promise<string[]> {
  if (!/^[A-Za-z0-9_-]+$/u.test(source) || source.toUpperCase() === 'BOOT')
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `fallback source ${JSON.stringify(source)} is not an ESP directory name`,
    );
  const from = joinEspPath('/EFI', source);
  const entries = await esp.list(from);
  if (entries === undefined && options.skipMissingVolumeA === true && /A$/u.test(source)) {
    const efi = (await esp.list('/EFI')) ?? [];
    if (findEntry(efi, source.replace(/A$/u, 'B')) !== undefined) return [];
  }
  const files = (entries ?? [])
    .filter((e) => e.kind === 'file')
    .map((e) => e.name)
    .sort();
  if (files.length === 0)
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
  const finalName = (file: string) => (file.toLowerCase() === 'bootx64.efi' ? 'BOOTX64.EFI' : file);
  // 1. Every new file beside the old ones.
  for (const file of files) {
    const bytes = await esp.read(joinEspPath(from, file));
    if (bytes === undefined)
      throw new BootConfigError('BOOTCFG_ESP_IO', `${esp.location}:${from}/${file} vanished while copying`);
    await esp.write(joinEspPath(FALLBACK_DIR, `${finalName(file)}.new`), bytes);
  }
  // 2. Every old file out of the way.
  const existing = ((await esp.list(FALLBACK_DIR)) ?? []).filter(
    (e) => e.kind === 'file' && !e.name.endsWith('.new'),
  );
  for (const old of existing)
    await esp.rename(joinEspPath(FALLBACK_DIR, old.name), joinEspPath(FALLBACK_DIR, `${old.name}.old`));
  // 3. The new files under their names, 4. the old ones gone.
  for (const file of files)
    await esp.rename(
      joinEspPath(FALLBACK_DIR, `${finalName(file)}.new`),
      joinEspPath(FALLBACK_DIR, finalName(file)),
    );
  for (const old of existing) await esp.remove(joinEspPath(FALLBACK_DIR, `${old.name}.old`));
  return files;
}
