/**
 * The removable-media fallback (`EFI/BOOT`) at the moments upstream refreshes it (reference
 * servicing.md §4 "UEFI fallback"): A/B finalize, A/B commit and manual-rollback finalize copy one
 * volume's ESP directory (`EFI/AZLA`, `EFI/AZLB`, …) over it, chosen by `os.uefiFallback`. Firmware
 * that has lost its boot entries (NVRAM reset, disk moved) boots what `EFI/BOOT` holds, so it should
 * hold a volume known to boot: conservative keeps the running volume until the new one has passed
 * its commit, optimistic points it at the new volume as soon as it is finalized.
 *
 * A volume without a directory of its own (systemd-boot images: one shared systemd-boot in
 * `EFI/BOOT` boots every volume's entry) leaves the fallback as it is.
 */
import {
  type AbVolume as BootVolume,
  copyToUefiFallback,
  type EspVolume,
  type FallbackMoment,
  uefiFallbackSource,
} from '@trident/boot-config';
import type { AbVolume } from '@trident/datastore';
import type { HostConfiguration } from '@trident/host-config';
import { wrapStep } from '../../errors.ts';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export const volumeLetter = (volume: AbVolume): BootVolume => (volume === 'volume-a' ? 'a' : 'b');

/** Whether `/EFI/<dir>` holds a loader the firmware can start (`bootx64.efi`). */
export async function hasLoader(esp: EspVolume, dir: string): Promise<boolean> {
  const files = await esp.list(`/EFI/${dir}`);
  return files?.some((f) => f.kind === 'file' && f.name.toLowerCase() === 'bootx64.efi') === true;
}

export interface FallbackRefresh {
  config: HostConfiguration;
  moment: FallbackMoment;
  installIndex: number;
  /**
   * The volume running now. At A/B commit that is the updated volume, which has just passed its
   * checks: conservative copies it (upstream's docs; its code passes the not-yet-flipped
   * `abActiveVolume` and re-copies the old one, which would send a fallback boot to the OS the
   * datastore no longer calls active).
   */
  runningVolume: AbVolume;
  log?: Log | undefined;
}

/** Copies the chosen volume's directory to `EFI/BOOT`; returns it, or undefined when nothing was copied. */
export async function refreshUefiFallback(
  esp: EspVolume,
  refresh: FallbackRefresh,
): Promise<string | undefined> {
  const mode = refresh.config.os.uefiFallback;
  const source = uefiFallbackSource({
    mode,
    moment: refresh.moment,
    installIndex: refresh.installIndex,
    activeVolume: volumeLetter(refresh.runningVolume),
  });
  if (source === undefined) return undefined;
  if (!(await hasLoader(esp, source))) {
    refresh.log?.(
      'info',
      `${esp.location} has no EFI/${source}/bootx64.efi: the fallback path EFI/BOOT is left as it is`,
    );
    return undefined;
  }
  try {
    await copyToUefiFallback(esp, source);
  } catch (error) {
    throw wrapStep(
      'SERVICING_ERROR',
      'set-up-uefi-fallback',
      `Copying EFI/${source} to EFI/BOOT failed`,
      error,
    );
  }
  refresh.log?.(
    'info',
    `EFI/BOOT is now a copy of EFI/${source} (os.uefiFallback ${mode}, ${refresh.moment})`,
  );
  return source;
}
