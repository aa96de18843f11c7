/**
 * A/B update of standalone Unified Kernel Images (upstream `engine/boot/uki.rs`; reference
 * servicing.md §4 "UKI / systemd-boot"). systemd-boot lists every `/EFI/Linux/*.efi` as an entry
 * whose id is the file name, so each volume's kernel is one UKI file there and switching volumes
 * is choosing a file name (`LoaderEntryOneShot`, `LoaderEntryDefault`). Names are upstream's, so a
 * host serviced by either agent is understood by the other:
 *
 * - `vmlinuz-<N>-<slot>.efi`, slot `azl<a|b><install index>` (`azla0`, `azlb0`, `azlb1`, …): a UKI
 *   Trident placed for a volume, N from 100 and one more than the highest N of the other managed
 *   UKIs, so the newest sorts last;
 * - `vmlinuz-0.efi.staged`: the update's UKI between stage and finalize (not `*.efi`, so
 *   systemd-boot does not offer it yet);
 * - anything else `vmlinuz-*.efi`: the image's own UKI as install left it (install index 0's
 *   volume A until Trident has updated both volumes).
 *
 * Addons (`<uki>.extra.d/*.addon.efi`, pre-signed command-line additions systemd-stub loads) move
 * with their UKI. The running OS's UKI (`LoaderEntrySelected`) is never removed.
 */
import type { BootTarget } from '../cmdline/compose.ts';
import { BootConfigError } from '../errors.ts';
import { type EspVolume, joinEspPath } from '../esp/esp-volume.ts';
import { espDirectoryName } from '../uefi/fallback.ts';
import { checkUkiCmdline, ukiCmdline } from './uki-cmdline.ts';

export const UKI_DIR = '/EFI/Linux';
export const STAGED_UKI = 'vmlinuz-0.efi.staged';
const ADDON_DIR_SUFFIX = '.extra.d';
const ADDON_SUFFIX = '.addon.efi';
const MANAGED_UKI = /^vmlinuz-(\d+)-(azl[ab]\d+)\.efi$/iu;
const FIRST_MANAGED_N = 100;

/**
 * The slot a volume's UKIs are named after: `azla0`, `azlb0`, `azlb1` (upstream's `uki_slot` and
 * install index; unlike the ESP directories, `AZLA`, `AZL2B`, the index is always written).
 */
export function ukiSlot(installIndex: number, volume: 'a' | 'b'): string {
  espDirectoryName(installIndex, volume); // validates the index, with the same error
  return `azl${volume}${installIndex}`;
}

export interface ManagedUki {
  name: string;
  n: number;
  slot: string;
}

async function ukiNames(esp: EspVolume): Promise<string[]> {
  return ((await esp.list(UKI_DIR)) ?? []).filter((e) => e.kind === 'file').map((e) => e.name);
}

/** The UKI names Trident manages (`vmlinuz-<N>-<slot>.efi`), oldest (lowest N) first. */
export function managedUkis(names: readonly string[]): ManagedUki[] {
  return names
    .map((name) => ({ name, m: MANAGED_UKI.exec(name) }))
    .filter((x) => x.m !== null)
    .map(({ name, m }) => ({ name, n: Number(m![1]), slot: m![2]!.toLowerCase() }))
    .sort((a, b) => a.n - b.n);
}

/** An image-provided UKI (`vmlinuz-<version>.efi`, not a managed name). */
export function isOriginalUki(name: string): boolean {
  return /^vmlinuz-.+\.efi$/iu.test(name) && !MANAGED_UKI.test(name);
}

const same = (a: string, b: string | undefined) => b !== undefined && a.toLowerCase() === b.toLowerCase();

async function addonFiles(volume: EspVolume, uki: string): Promise<string[]> {
  return ((await volume.list(`${uki}${ADDON_DIR_SUFFIX}`)) ?? [])
    .filter((e) => e.kind === 'file' && e.name.toLowerCase().endsWith(ADDON_SUFFIX))
    .map((e) => e.name)
    .sort();
}

/** Removes a UKI (when `present`) and its addon directory; returns the paths removed. */
async function removeUki(esp: EspVolume, name: string, present = true): Promise<string[]> {
  const path = joinEspPath(UKI_DIR, name);
  const dir = `${path}${ADDON_DIR_SUFFIX}`;
  const removed: string[] = [];
  for (const entry of (await esp.list(dir)) ?? []) {
    if (entry.kind !== 'file') continue;
    await esp.remove(joinEspPath(dir, entry.name));
    removed.push(joinEspPath(dir, entry.name));
  }
  await esp.removeDirectory(dir);
  if (present) {
    await esp.remove(path);
    removed.push(path);
  }
  return removed;
}

export interface VolumeUkiSlot {
  /** The host's ESP. */
  esp: EspVolume;
  /** The install index (`status.installIndex`, 0 for the first OS on the disk). */
  installIndex: number;
  /** The volume being updated. */
  volume: 'a' | 'b';
  /** `LoaderEntrySelected`: the UKI the running OS booted, never removed. */
  booted?: string;
}

export interface StageUkiOptions extends VolumeUkiSlot {
  /** The new image's ESP (read only): its one `/EFI/Linux/*.efi` is staged. */
  image: EspVolume;
  /** The updated volume's devices and command-line settings: the UKI's own must suit them. */
  target: BootTarget;
}

export interface StagedUki {
  /** The image's UKI (`image:/EFI/Linux/vmlinuz-6.6.efi`). */
  source: string;
  /** Its embedded command line. */
  cmdline: string;
  /** What was written on the ESP (the staged UKI last) and what was removed first. */
  written: string[];
  removed: string[];
}

/** The image's single UKI: its path and bytes, and its addons' names and bytes. */
async function imageUki(
  image: EspVolume,
): Promise<{ path: string; bytes: Buffer; addons: Map<string, Buffer> }> {
  const names = (await ukiNames(image)).filter((n) => n.toLowerCase().endsWith('.efi')).sort();
  if (names.length !== 1)
    throw new BootConfigError(
      names.length === 0 ? 'BOOTCFG_NOT_FOUND' : 'BOOTCFG_CONFIG_INVALID',
      `${image.location}:${UKI_DIR} holds ${names.length === 0 ? 'no UKI' : `${names.length} UKIs (${names.join(', ')})`}: an update stages exactly one`,
      { path: UKI_DIR },
    );
  const path = joinEspPath(UKI_DIR, names[0]!);
  const bytes = (await image.read(path))!;
  const addons = new Map<string, Buffer>();
  for (const name of await addonFiles(image, path)) {
    const addon = await image.read(joinEspPath(`${path}${ADDON_DIR_SUFFIX}`, name));
    if (addon !== undefined) addons.set(name, addon);
  }
  return { path, bytes, addons };
}

/**
 * Frees the target slot before staging (upstream `cleanup_ukis_before_staging`): a leftover staged
 * UKI; the managed UKIs of the target slot (the volume being overwritten); and, for install index
 * 0 once Trident manages a UKI of the active slot, the image-provided originals (they boot the
 * volume being overwritten; the ESP rarely holds three UKIs).
 */
async function removeTargetUkis(options: VolumeUkiSlot): Promise<string[]> {
  const names = await ukiNames(options.esp);
  const managed = managedUkis(names);
  const slot = ukiSlot(options.installIndex, options.volume);
  const active = ukiSlot(options.installIndex, options.volume === 'a' ? 'b' : 'a');
  const doomed = [
    ...managed.filter((m) => m.slot === slot).map((m) => m.name),
    ...(options.installIndex === 0 && managed.some((m) => m.slot === active)
      ? names.filter(isOriginalUki)
      : []),
  ];
  // A leftover staged UKI, or only its addons (a stage interrupted while copying them).
  const removed = await removeUki(
    options.esp,
    STAGED_UKI,
    names.some((n) => same(n, STAGED_UKI)),
  );
  for (const name of doomed)
    if (!same(name, options.booted)) removed.push(...(await removeUki(options.esp, name)));
  return removed;
}

/**
 * Stage: checks the image's UKI against the target layout (refused before anything on the ESP
 * changes), frees the target slot, then copies the UKI as `vmlinuz-0.efi.staged` (its addons to
 * `vmlinuz-0.efi.staged.extra.d/` first, the UKI last: a staged UKI is a complete one).
 */
export async function stageVolumeUki(options: StageUkiOptions): Promise<StagedUki> {
  const uki = await imageUki(options.image);
  if (!checkUkiCmdline(options.image, uki.path, uki.bytes, options.target))
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `${options.image.location}:${uki.path} is not a Unified Kernel Image (no .linux section)`,
      { path: uki.path },
    );
  const removed = await removeTargetUkis(options);
  const staged = joinEspPath(UKI_DIR, STAGED_UKI);
  const written: string[] = [];
  for (const [name, bytes] of uki.addons) {
    const path = joinEspPath(`${staged}${ADDON_DIR_SUFFIX}`, name);
    await options.esp.write(path, bytes);
    written.push(path);
  }
  await options.esp.write(staged, uki.bytes);
  written.push(staged);
  return {
    source: `${options.image.location}:${uki.path}`,
    cmdline: ukiCmdline(uki.bytes) ?? '',
    written,
    removed,
  };
}

export interface FinalizedUki {
  /** The UKI's file name: systemd-boot's entry id (`vmlinuz-101-azlb0.efi`). */
  id: string;
  /** False when an earlier finalize had renamed it already. */
  renamed: boolean;
}

/**
 * Finalize: the staged UKI (and its addons) renamed to the slot's next name; the entry id is
 * returned. A rerun after the rename (no staged UKI) returns the slot's newest managed UKI, so
 * finalize can be repeated until its variable is set.
 */
export async function finalizeVolumeUki(options: VolumeUkiSlot): Promise<FinalizedUki> {
  const names = await ukiNames(options.esp);
  const slot = ukiSlot(options.installIndex, options.volume);
  const staged = names.find((n) => same(n, STAGED_UKI));
  if (staged === undefined) {
    const found = await findVolumeUki(options);
    if (found?.kind === 'managed') return { id: found.id, renamed: false };
    throw new BootConfigError(
      'BOOTCFG_NOT_FOUND',
      `${options.esp.location}:${UKI_DIR} has neither a staged UKI (${STAGED_UKI}) nor one for ${slot} (vmlinuz-<N>-${slot}.efi): stage the update again`,
      { path: UKI_DIR },
    );
  }
  let highest = FIRST_MANAGED_N - 1;
  for (const managed of managedUkis(names)) {
    // The slot's own are leftovers stage should have removed (upstream removes them here too).
    if (managed.slot === slot && !same(managed.name, options.booted))
      await removeUki(options.esp, managed.name);
    else highest = Math.max(highest, managed.n);
  }
  const id = `vmlinuz-${highest + 1}-${slot}.efi`;
  const from = joinEspPath(UKI_DIR, staged);
  const to = joinEspPath(UKI_DIR, id);
  const addons = await addonFiles(options.esp, from);
  if (addons.length > 0) await options.esp.makeDirectory(`${to}${ADDON_DIR_SUFFIX}`);
  for (const name of addons)
    await options.esp.rename(
      joinEspPath(`${from}${ADDON_DIR_SUFFIX}`, name),
      joinEspPath(`${to}${ADDON_DIR_SUFFIX}`, name),
    );
  await options.esp.removeDirectory(`${from}${ADDON_DIR_SUFFIX}`);
  // The UKI last: until it has its final name systemd-boot does not list it, addons or not.
  await options.esp.rename(from, to);
  return { id, renamed: true };
}

/**
 * What stage left for the slot, for a finalize-only run (no image at hand): a staged UKI, else
 * the slot's newest managed UKI, else undefined (not a UKI update, or nothing staged).
 */
export async function findVolumeUki(
  options: Pick<VolumeUkiSlot, 'esp' | 'installIndex' | 'volume'>,
): Promise<{ kind: 'staged' } | { kind: 'managed'; id: string } | undefined> {
  const names = await ukiNames(options.esp);
  if (names.some((n) => same(n, STAGED_UKI))) return { kind: 'staged' };
  const slot = ukiSlot(options.installIndex, options.volume);
  const newest = managedUkis(names)
    .filter((m) => m.slot === slot)
    .at(-1);
  return newest === undefined ? undefined : { kind: 'managed', id: newest.name };
}
