/**
 * The one entry point an installer calls after writing an OS: make what boots the disk point at
 * the installed layout, for the bootloader the COSI declares (`bootloader.type`). Firmware-side
 * steps (efibootmgr entries, loader variables) are separate calls, because they belong to
 * finalize on a real host and do not apply to disk-image files.
 */
import type { BootTarget } from './cmdline/compose.ts';
import { BootConfigError } from './errors.ts';
import { openDiskBootVolumes } from './esp/disk-partitions.ts';
import type { EspVolume } from './esp/esp-volume.ts';
import { configureGrub, type GrubOptions } from './grub/configure-grub.ts';
import { type ChangedFile, configureSystemdBoot } from './systemd-boot/configure-systemd-boot.ts';
import { type CreateEntryOptions, createLoaderEntry } from './systemd-boot/create-entry.ts';
import { copyToUefiFallback } from './uefi/fallback.ts';

export interface ConfigureBootOptions {
  /** `bootloader.type` of the COSI metadata. */
  bootloader: 'systemd-boot' | 'grub';
  esp: EspVolume;
  /** The XBOOTLDR partition, when the OS has one (systemd-boot reads entries from both). */
  xbootldr?: EspVolume;
  target: BootTarget;
  systemdBoot?: {
    defaultEntry?: string;
    timeoutSeconds?: number;
    /** Make an entry from the new root's kernel first (images without entries on their boot volumes). */
    createEntry?: Omit<CreateEntryOptions, 'volume' | 'target'>;
  };
  /** Where the new root is, for grub (its /boot/grub*.cfg and /etc/default/grub). */
  grub?: Omit<GrubOptions, 'target'>;
  /** Copy this ESP directory (`AZLA`) to the removable-media path /EFI/BOOT afterwards. */
  uefiFallbackFrom?: string;
}

export interface ConfigureBootResult {
  bootloader: 'systemd-boot' | 'grub';
  /** Type #1 entries rewritten or created, UKIs accepted, or the grub.cfg edited. */
  configured: string[];
  changed: ChangedFile[];
  fallbackFiles: string[];
}

export async function configureBoot(options: ConfigureBootOptions): Promise<ConfigureBootResult> {
  const result: ConfigureBootResult = {
    bootloader: options.bootloader,
    configured: [],
    changed: [],
    fallbackFiles: [],
  };
  if (options.bootloader === 'systemd-boot') {
    if (options.systemdBoot?.createEntry !== undefined) {
      const created = await createLoaderEntry({
        ...options.systemdBoot.createEntry,
        volume: options.xbootldr ?? options.esp,
        target: options.target,
      });
      result.configured.push(`${(options.xbootldr ?? options.esp).location}:${created.entryPath}`);
    }
    const sd = await configureSystemdBoot({
      esp: options.esp,
      ...(options.xbootldr === undefined ? {} : { xbootldr: options.xbootldr }),
      target: options.target,
      ...(options.systemdBoot?.defaultEntry === undefined
        ? {}
        : { defaultEntry: options.systemdBoot.defaultEntry }),
      ...(options.systemdBoot?.timeoutSeconds === undefined
        ? {}
        : { timeoutSeconds: options.systemdBoot.timeoutSeconds }),
    });
    result.configured.push(...sd.entries.filter((e) => !result.configured.includes(e)), ...sd.ukis);
    result.changed.push(...sd.changed);
  } else if (options.bootloader === 'grub') {
    if (options.grub === undefined)
      throw new BootConfigError(
        'BOOTCFG_NOT_FOUND',
        'grub configuration needs the new root (grub.rootDir): grub.cfg lives in /boot',
      );
    const grub = await configureGrub({ ...options.grub, target: options.target });
    result.configured.push(grub.grubCfg);
    result.changed.push(...grub.changed);
  } else {
    throw new BootConfigError(
      'BOOTCFG_UNSUPPORTED',
      `bootloader ${JSON.stringify(options.bootloader)} is not one COSI defines (systemd-boot, grub)`,
    );
  }
  if (options.uefiFallbackFrom !== undefined)
    result.fallbackFiles = await copyToUefiFallback(options.esp, options.uefiFallbackFrom);
  return result;
}

/**
 * `configureBoot` on a whole-disk image file (or disk device): the ESP and XBOOTLDR are found in
 * its GPT and edited with mtools at their offsets, nothing is mounted.
 */
export async function configureDiskBoot(
  disk: string,
  options: Omit<ConfigureBootOptions, 'esp' | 'xbootldr'>,
): Promise<ConfigureBootResult> {
  const volumes = await openDiskBootVolumes(disk);
  return configureBoot({
    ...options,
    esp: volumes.esp.volume,
    ...(volumes.xbootldr === undefined ? {} : { xbootldr: volumes.xbootldr.volume }),
  });
}
