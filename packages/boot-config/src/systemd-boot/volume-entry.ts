/**
 * A/B update with systemd-boot type #1 entries: the host's one ESP must offer a boot entry for each
 * volume, so the updated volume gets an entry of its own beside the running one. Upstream's A/B
 * mechanics are per volume (`EFI/AZL<i><A|B>` directories, UKIs named `…-azl<a|b><i>.efi`,
 * reference servicing.md §4); for type #1 entries the same idea is an entry token per volume
 * (`azla`, `azlb`, `azl2a`, …, the ESP directory name lowercased): the new image's entry (from its
 * own ESP image) is copied with its kernel and initrd under `/<token>/`, its `options` composed for
 * the updated volume's devices, and written as `/loader/entries/<token>-<name>.conf`. The running
 * volume's entry is never touched; the trial boot goes through `LoaderEntryOneShot`.
 */
import { type BootTarget, composeCmdline } from '../cmdline/compose.ts';
import { formatCmdline, parseCmdline } from '../cmdline/kernel-cmdline.ts';
import { BootConfigError } from '../errors.ts';
import type { EspVolume } from '../esp/esp-volume.ts';
import { replaceFile } from '../esp/replace-file.ts';
import { blsValue, parseBlsFile, serializeBlsFile, setBlsValue } from './bls-file.ts';

export interface VolumeEntryOptions {
  /** The new image's ESP (read only): its loader.conf default entry, or its only entry, is copied. */
  image: EspVolume;
  /** The host's ESP, where systemd-boot reads entries. */
  esp: EspVolume;
  /** The volume's entry token (`azlb`): names the entry file and the directory of its kernel. */
  token: string;
  /** The updated volume's devices and the Host Configuration's command-line settings. */
  target: BootTarget;
}

export interface VolumeEntry {
  /** The entry id for LoaderEntryOneShot/LoaderEntryDefault (`azlb-trident-fixture.conf`). */
  id: string;
  entryPath: string;
  files: string[];
  cmdline: string;
}

const ENTRIES = '/loader/entries';

function checkToken(token: string): void {
  if (!/^[a-z0-9][a-z0-9._-]*$/u.test(token))
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `entry token ${JSON.stringify(token)} must be [a-z0-9._-]`,
    );
}

async function entryNames(volume: EspVolume): Promise<string[]> {
  return ((await volume.list(ENTRIES)) ?? [])
    .filter((e) => e.kind === 'file' && e.name.toLowerCase().endsWith('.conf'))
    .map((e) => e.name)
    .sort();
}

/** The image's entry to copy: loader.conf's `default` when it names one, else the only one. */
async function imageEntry(image: EspVolume): Promise<string> {
  const names = await entryNames(image);
  const loaderConf = await image.read('/loader/loader.conf');
  const wanted =
    loaderConf === undefined
      ? undefined
      : blsValue(parseBlsFile(loaderConf.toString('utf8'), '/loader/loader.conf'), 'default');
  const byDefault =
    wanted === undefined ? undefined : names.find((n) => n === wanted || n === `${wanted}.conf`);
  if (byDefault !== undefined) return byDefault;
  if (names.length === 1) return names[0]!;
  throw new BootConfigError(
    'BOOTCFG_NOT_FOUND',
    `${image.location}: the image's ESP has ${names.length === 0 ? 'no type #1 entry' : `${names.length} entries and no loader.conf default naming one`} in ${ENTRIES}: there is no entry to boot the updated volume with`,
    { path: ENTRIES },
  );
}

function baseName(path: string): string {
  return (
    path
      .split('/')
      .filter((p) => p !== '')
      .at(-1) ?? path
  );
}

/** Removes the token's entries and their kernel directory (a previous update of that volume). */
export async function removeVolumeEntries(esp: EspVolume, token: string): Promise<string[]> {
  checkToken(token);
  const removed: string[] = [];
  for (const name of await entryNames(esp)) {
    if (!name.startsWith(`${token}-`)) continue;
    await esp.remove(`${ENTRIES}/${name}`);
    removed.push(`${ENTRIES}/${name}`);
  }
  for (const file of (await esp.list(`/${token}`)) ?? []) {
    if (file.kind !== 'file') continue;
    await esp.remove(`/${token}/${file.name}`);
    removed.push(`/${token}/${file.name}`);
  }
  return removed;
}

/** The token's entry id, or undefined when there is none (finalize-only runs find it here). */
export async function findVolumeEntry(esp: EspVolume, token: string): Promise<string | undefined> {
  checkToken(token);
  const names = (await entryNames(esp)).filter((n) => n.startsWith(`${token}-`));
  if (names.length > 1)
    throw new BootConfigError(
      'BOOTCFG_CONFIG_INVALID',
      `${esp.location}: ${names.length} entries for one volume (${names.join(', ')}); expected one`,
      { path: ENTRIES },
    );
  return names[0];
}

/**
 * Writes the updated volume's entry. Kernel and initrd go first and the entry last, so an
 * interrupted run leaves no entry naming missing files; the token's old files are removed first.
 */
export async function writeVolumeEntry(options: VolumeEntryOptions): Promise<VolumeEntry> {
  checkToken(options.token);
  const name = await imageEntry(options.image);
  const source = `${ENTRIES}/${name}`;
  const text = (await options.image.read(source))!.toString('utf8');
  let entry = parseBlsFile(text, `${options.image.location}:${source}`);
  const files: string[] = [];
  await removeVolumeEntries(options.esp, options.token);
  for (const key of ['linux', 'initrd'] as const) {
    const path = blsValue(entry, key);
    if (path === undefined) {
      if (key === 'linux')
        throw new BootConfigError(
          'BOOTCFG_CONFIG_INVALID',
          `${options.image.location}:${source} has no linux line (a UKI entry? those are not copied per volume)`,
          { path: source },
        );
      continue;
    }
    const bytes = await options.image.read(path);
    if (bytes === undefined)
      throw new BootConfigError(
        'BOOTCFG_NOT_FOUND',
        `${options.image.location}:${path}, the ${key} of ${source}, does not exist`,
        { path },
      );
    const copy = `/${options.token}/${baseName(path)}`;
    await options.esp.write(copy, bytes);
    files.push(copy);
    entry = setBlsValue(entry, key, copy);
  }
  const cmdline = formatCmdline(
    composeCmdline(parseCmdline(blsValue(entry, 'options') ?? '', `${source} options`), options.target),
  );
  entry = setBlsValue(entry, 'options', cmdline);
  const id = `${options.token}-${name}`;
  const entryPath = `${ENTRIES}/${id}`;
  await replaceFile(options.esp, entryPath, serializeBlsFile({ ...entry, path: entryPath }));
  files.push(entryPath);
  return { id, entryPath, files, cmdline };
}
