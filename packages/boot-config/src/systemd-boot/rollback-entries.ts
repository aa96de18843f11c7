/**
 * Which systemd-boot entry boots the other volume, for a manual A/B rollback (reference
 * servicing.md §9; upstream `engine/boot/uki.rs` `find_previous_uki`). Nothing on the ESP is
 * rewritten: the entry that already boots the other volume becomes `LoaderEntryDefault`.
 *
 * - UKIs (`/EFI/Linux`): A/B update names the ones it manages `vmlinuz-<N>-<slot>.efi` as upstream
 *   does (volume-uki.ts: `azlb0`, `azla1`, …; N grows with each update);
 *   the rollback boots the second-newest, or, when it manages only one, the newest image-provided
 *   `vmlinuz-<version>.efi`.
 * - Type #1 entries (`/loader/entries/*.conf`, images such as the Debian fixture): upstream has
 *   none; the entry is the one whose command line names the other volume's root partition
 *   (`root=PARTUUID=…`, or verity's data device), by PARTUUID.
 */
import { argValue, parseCmdline } from '../cmdline/kernel-cmdline.ts';
import { BootConfigError } from '../errors.ts';
import { type EspVolume, joinEspPath } from '../esp/esp-volume.ts';
import { blsValue, blsValues, parseBlsFile } from './bls-file.ts';
import { isOriginalUki, managedUkis } from './volume-uki.ts';

const UKI_DIR = '/EFI/Linux';
const ENTRIES_DIR = '/loader/entries';

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/u);
  const pb = b.split(/[.-]/u);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = /^\d+$/u.test(x) ? Number(x) : Number.NaN;
    const ny = /^\d+$/u.test(y) ? Number(y) : Number.NaN;
    const order = Number.isNaN(nx) || Number.isNaN(ny) ? x.localeCompare(y) : nx - ny;
    if (order !== 0) return order;
  }
  return 0;
}

/** The UKI file name (as systemd-boot's entry id) a manual rollback boots by default. */
export async function findPreviousUki(esp: EspVolume): Promise<string> {
  const files = ((await esp.list(UKI_DIR)) ?? []).filter((e) => e.kind === 'file').map((e) => e.name);
  const managed = managedUkis(files);
  const preexisting = files
    .filter(isOriginalUki)
    .map((name) => ({ name, version: name.slice('vmlinuz-'.length, -'.efi'.length) }))
    .sort((a, b) => compareVersions(a.version, b.version));
  if (managed.length >= 2) return managed[managed.length - 2]!.name;
  if (managed.length === 1 && preexisting.length > 0) return preexisting[preexisting.length - 1]!.name;
  throw new BootConfigError(
    'BOOTCFG_NOT_FOUND',
    `${esp.location}:${UKI_DIR} has no earlier UKI to roll back to (Trident-managed: ${managed.map((x) => x.name).join(', ') || 'none'}; image-provided: ${preexisting.map((x) => x.name).join(', ') || 'none'})`,
    { path: UKI_DIR },
  );
}

const ROOT_ARGS = ['root', 'systemd.verity_root_data', 'systemd.verity_usr_data', 'mount.usr'];

function namesPartUuid(value: string | undefined, partUuid: string): boolean {
  if (value === undefined) return false;
  const lower = value.toLowerCase();
  const uuid = partUuid.toLowerCase();
  return lower === `partuuid=${uuid}` || lower === `/dev/disk/by-partuuid/${uuid}`;
}

/**
 * Type #1 entries (file names, e.g. `debian-6.1.0.conf`) whose command line puts the root (or
 * verity's data device) on the partition `partUuid`, in name order.
 */
export async function findLoaderEntriesForPartUuid(esp: EspVolume, partUuid: string): Promise<string[]> {
  const names = ((await esp.list(ENTRIES_DIR)) ?? [])
    .filter((e) => e.kind === 'file' && e.name.toLowerCase().endsWith('.conf'))
    .map((e) => e.name)
    .sort();
  const found: string[] = [];
  for (const name of names) {
    const path = joinEspPath(ENTRIES_DIR, name);
    const text = (await esp.read(path))?.toString('utf8');
    if (text === undefined) continue;
    const entry = parseBlsFile(text, `${esp.location}:${path}`);
    if (blsValue(entry, 'linux') === undefined) continue;
    const args = parseCmdline(blsValues(entry, 'options').join(' '), `${esp.location}:${path} options`);
    if (ROOT_ARGS.some((arg) => namesPartUuid(argValue(args, arg), partUuid))) found.push(name);
  }
  return found;
}
