/**
 * The boot side of finalizing a manual A/B rollback (reference servicing.md §9; upstream
 * `manual_rollback/mod.rs` `finalize_rollback`, `bootentries.rs`, `boot/uki.rs`). Nothing on the
 * disks is rewritten: the other volume still holds the OS it ran before the update, and its boot
 * files are on the ESP. What changes is which of them boots:
 *
 * 1. UEFI: the other volume's ESP directory (`EFI/AZLA`, `AZLB`, …) gets its boot entry re-created
 *    (same-label entries replaced), made BootNext and put first in BootOrder (left alone on
 *    virtdeploy VMs), when the firmware's variables are there (efivarfs).
 * 2. systemd-boot, when the running OS was booted by it (`LoaderEntrySelected`): a UKI boot makes
 *    the previous UKI `LoaderEntryDefault` (upstream); a type #1 boot makes the entry naming the
 *    other volume's root partition the default (the same idea for images with type #1 entries).
 * 3. The removable-media fallback (`EFI/BOOT`) becomes a copy of the other volume's directory per
 *    `os.uefiFallback`, as upstream does at this moment.
 *
 * Every step can be repeated (the entry is replaced, the variable rewritten, the fallback copied in
 * phases), so a finalize interrupted half-way is finished by running it again. When none of the
 * three finds a way to the other volume the finalize fails: recording `manual-rollback-ab-finalized`
 * without anything pointing at the old OS would reboot into the same one.
 */
import {
  createBootEntry,
  type EspVolume,
  espDirectoryName,
  findLoaderEntriesForPartUuid,
  findPreviousUki,
  isVirtdeploy,
  readLoaderEntrySelected,
  setLoaderEntryDefault,
} from '@trident/boot-config';
import type { AbVolume, HostStatus } from '@trident/datastore';
import type { HostConfiguration } from '@trident/host-config';
import { EngineError, wrapStep } from '../../errors.ts';
import { expectedRoot } from '../commit/booted-root.ts';
import { efivarsDirOf, efivarsUsable } from '../commit/efivars.ts';
import { hasLoader, refreshUefiFallback, volumeLetter } from '../host/uefi-fallback.ts';
import { volumeToken } from '../update/update-boot.ts';
import { espDevice, findEsp, openEsp } from './esp-location.ts';

export interface BootSwitchOptions {
  /** Default /sys: `firmware/efi/efivars`, `class/block`, `firmware/dmi`. */
  sysDir?: string | undefined;
  /** Default /proc: `self/mountinfo` (is the ESP mounted?). */
  procDir?: string | undefined;
  /** The firmware variables (default `<sysDir>/firmware/efi/efivars`). */
  efivarsDir?: string | undefined;
  /** The ESP as a directory, instead of finding it (a caller that mounted it; tests). */
  espDir?: string | undefined;
  log?: ((level: 'debug' | 'info' | 'warn' | 'error', message: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** What was changed so that the other volume boots next. */
export interface BootSwitch {
  volume: AbVolume;
  /** UEFI entries created (numbers), when the firmware's variables were there. */
  uefiEntries: string[];
  /** The systemd-boot entry made LoaderEntryDefault. */
  loaderEntryDefault: string | undefined;
  /** The ESP directory copied to EFI/BOOT. */
  fallbackFrom: string | undefined;
}

async function step<T>(subkind: string, what: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw wrapStep('SERVICING_ERROR', subkind, `${what} failed`, error);
  }
}

async function systemdBootDefault(
  esp: EspVolume,
  config: HostConfiguration,
  status: HostStatus,
  volume: AbVolume,
  efivarsDir: string,
  options: BootSwitchOptions,
): Promise<string | undefined> {
  const selected = await readLoaderEntrySelected({ efivarsDir });
  if (selected === undefined) return undefined;
  let entry: string;
  if (selected.toLowerCase().endsWith('.efi')) {
    entry = await step('update-uki', 'Finding the previous UKI', () => findPreviousUki(esp));
  } else {
    const root = expectedRoot(config, status, volume);
    const partUuid = /\/by-partuuid\/([0-9a-f-]+)$/iu.exec(root.path)?.[1];
    const entries =
      partUuid === undefined
        ? []
        : await step('list-and-parse-boot-entries', 'Reading the systemd-boot entries', () =>
            findLoaderEntriesForPartUuid(esp, partUuid),
          );
    if (entries.length === 0) {
      options.log?.(
        'warn',
        `systemd-boot booted ${selected}, but no entry in ${esp.location}/loader/entries boots ${root.path} (${volume}): LoaderEntryDefault left as it is`,
      );
      return undefined;
    }
    // A/B update writes the volume's own entry (`<token>-<name>.conf`, update-boot.ts's token):
    // it boots what the volume holds now; an entry without the token is the install's.
    const token = `${volumeToken(status.installIndex ?? 0, volume)}-`;
    entry = entries.findLast((name) => name.toLowerCase().startsWith(token)) ?? entries.at(-1)!;
  }
  options.log?.('info', `Making ${entry} systemd-boot's default entry (LoaderEntryDefault)`);
  await step('set-efi-variable', `Setting LoaderEntryDefault to ${entry}`, () =>
    setLoaderEntryDefault(entry, { efivarsDir }),
  );
  return entry;
}

/** Makes the other volume (`other(status.abActiveVolume)`) the one that boots next. */
export async function switchBootToOtherVolume(
  config: HostConfiguration,
  status: HostStatus,
  options: BootSwitchOptions = {},
): Promise<BootSwitch> {
  const volume: AbVolume = status.abActiveVolume === 'volume-b' ? 'volume-a' : 'volume-b';
  const installIndex = status.installIndex ?? 0;
  const label = espDirectoryName(installIndex, volumeLetter(volume));
  const sysDir = options.sysDir ?? '/sys';
  const efivarsDir = options.efivarsDir ?? efivarsDirOf(sysDir);
  const location = findEsp(config, status);
  const esp = await openEsp(location, options);
  const result: BootSwitch = {
    volume,
    uefiEntries: [],
    loaderEntryDefault: undefined,
    fallbackFrom: undefined,
  };
  options.log?.('info', `Switching the next boot to ${volume} (ESP ${esp.location}, directory EFI/${label})`);

  // 1. UEFI boot entry for the other volume's ESP directory.
  const labelled = await step('get-label-and-path', `Reading ${esp.location}/EFI/${label}`, () =>
    hasLoader(esp, label),
  );
  if (!labelled) {
    options.log?.('info', `${esp.location} has no EFI/${label}/bootx64.efi: no UEFI entry for ${volume}`);
  } else if (!(await efivarsUsable(efivarsDir))) {
    options.log?.(
      'warn',
      `${efivarsDir} is not efivarfs (no firmware variables): no UEFI entry for ${label}`,
    );
  } else {
    const device = await espDevice(location, sysDir);
    const virtdeploy =
      (await isVirtdeploy(sysDir)) || config.internalParams.virtdeployBootOrderWorkaround === true;
    result.uefiEntries = await step('create-boot-entry', `Creating the UEFI boot entry ${label}`, () =>
      createBootEntry({
        label,
        esp: [device],
        loader: `/EFI/${label}/bootx64.efi`,
        bootOrder: virtdeploy ? 'unchanged' : 'first',
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    );
    options.log?.(
      'info',
      `UEFI entry ${label} is Boot${result.uefiEntries.join(', Boot')}: BootNext${virtdeploy ? '' : ', first in BootOrder'}`,
    );
  }

  // 2. systemd-boot's default entry.
  result.loaderEntryDefault = await systemdBootDefault(esp, config, status, volume, efivarsDir, options);

  // 3. The removable-media fallback.
  result.fallbackFrom = await refreshUefiFallback(esp, {
    config,
    moment: 'manual-rollback-finalize',
    installIndex,
    runningVolume: status.abActiveVolume ?? 'volume-a',
    log: options.log,
  });

  if (
    result.uefiEntries.length === 0 &&
    result.loaderEntryDefault === undefined &&
    result.fallbackFrom === undefined
  )
    throw new EngineError(
      'SERVICING_ERROR',
      'manual-rollback',
      `nothing on ${esp.location} boots ${volume}: no EFI/${label}/bootx64.efi (UEFI entry, fallback copy) and no systemd-boot entry for its root; the next boot would start the same OS, so the rollback is not finalized`,
      { code: 'ENGINE_ROLLBACK_NO_BOOT_PATH' },
    );
  return result;
}
