/**
 * systemd-boot on an installed disk: the Boot Loader Specification type #1 entries on the ESP and
 * the XBOOTLDR partition get the command line of the installed layout; `loader.conf` gets the
 * default entry and timeout; Unified Kernel Images are checked, never rewritten.
 *
 * UKIs (`EFI/Linux/*.efi`, or entries with an `uki`/`efi` key) carry their command line in a
 * signed `.cmdline` section. Upstream Trident copies the image's UKI unchanged and changes only
 * which one boots (`LoaderEntryDefault`/`LoaderEntryOneShot`); the only command line change it
 * makes is root verity on Azure Container Linux, through pre-built, pre-signed addons
 * (`verity-a/b.addon.efi`) that the image carries. It never re-signs. We do the same: a UKI whose
 * command line is already right (it finds its root by partition type, or names the installed
 * one) is accepted; one that would need a change is refused with `BOOTCFG_UKI_CMDLINE_EMBEDDED`,
 * naming the file.
 */
import { type BootTarget, composeCmdline } from '../cmdline/compose.ts';
import { formatCmdline, parseCmdline } from '../cmdline/kernel-cmdline.ts';
import { BootConfigError } from '../errors.ts';
import { type EspVolume, joinEspPath } from '../esp/esp-volume.ts';
import { replaceFile } from '../esp/replace-file.ts';
import { blsValue, parseBlsFile, serializeBlsFile, setBlsValue } from './bls-file.ts';
import { checkUkiCmdline } from './uki-cmdline.ts';

export interface SystemdBootOptions {
  esp: EspVolume;
  /** The XBOOTLDR partition (`/boot` of the Boot Loader Specification), when the OS has one. */
  xbootldr?: EspVolume;
  target: BootTarget;
  /** `default` of loader.conf: an entry id (`name.conf`) or glob; unchanged when not given. */
  defaultEntry?: string;
  /** `timeout` of loader.conf in seconds; unchanged when not given. */
  timeoutSeconds?: number;
}

export interface ChangedFile {
  volume: string;
  path: string;
  before: string | undefined;
  after: string;
}

export interface SystemdBootResult {
  /** Type #1 entries found, as `volume:path`. */
  entries: string[];
  /** UKIs found whose command line needed no change. */
  ukis: string[];
  changed: ChangedFile[];
}

const ENTRIES_DIR = '/loader/entries';
const UKI_DIR = '/EFI/Linux';

async function filesIn(volume: EspVolume, dir: string, suffix: string): Promise<string[]> {
  return ((await volume.list(dir)) ?? [])
    .filter((e) => e.kind === 'file' && e.name.toLowerCase().endsWith(suffix))
    .map((e) => joinEspPath(dir, e.name))
    .sort();
}

export async function configureSystemdBoot(options: SystemdBootOptions): Promise<SystemdBootResult> {
  const volumes = [options.esp, ...(options.xbootldr === undefined ? [] : [options.xbootldr])];
  const result: SystemdBootResult = { entries: [], ukis: [], changed: [] };
  const pending: Array<{ volume: EspVolume; path: string; before: string; after: string }> = [];

  // Check everything before the first write: a refused UKI must leave every file as it was.
  for (const volume of volumes) {
    for (const path of await filesIn(volume, UKI_DIR, '.efi')) {
      const bytes = await volume.read(path);
      if (bytes === undefined) continue;
      if (checkUkiCmdline(volume, path, bytes, options.target))
        result.ukis.push(`${volume.location}:${path}`);
    }
    for (const path of await filesIn(volume, ENTRIES_DIR, '.conf')) {
      const text = (await volume.read(path))?.toString('utf8');
      if (text === undefined) continue;
      const entry = parseBlsFile(text, `${volume.location}:${path}`);
      const uki = blsValue(entry, 'uki') ?? blsValue(entry, 'efi');
      if (uki !== undefined) {
        // Type #1 entry pointing at an EFI binary (uki-config): the binary holds the command line.
        const bytes = await volume.read(uki.startsWith('/') ? uki : `/${uki}`);
        if (bytes === undefined)
          throw new BootConfigError(
            'BOOTCFG_NOT_FOUND',
            `${entry.path}: its EFI image ${uki} is not on that volume`,
            {
              path,
            },
          );
        const id = `${volume.location}:${uki.startsWith('/') ? uki : `/${uki}`}`;
        if (checkUkiCmdline(volume, uki, bytes, options.target) && !result.ukis.includes(id))
          result.ukis.push(id);
        continue;
      }
      if (blsValue(entry, 'linux') === undefined)
        throw new BootConfigError(
          'BOOTCFG_CONFIG_INVALID',
          `${entry.path}: a type #1 entry needs a "linux" line`,
          {
            path,
          },
        );
      result.entries.push(`${volume.location}:${path}`);
      const current = parseCmdline(
        entry.lines
          .filter((l) => l.key === 'options')
          .map((l) => l.value)
          .join(' '),
        `${entry.path} options`,
      );
      const after = serializeBlsFile(
        setBlsValue(entry, 'options', formatCmdline(composeCmdline(current, options.target))),
      );
      if (after !== text) pending.push({ volume, path, before: text, after });
    }
  }
  if (result.entries.length === 0 && result.ukis.length === 0)
    throw new BootConfigError(
      'BOOTCFG_NOT_FOUND',
      `no systemd-boot entry on ${volumes.map((v) => v.location).join(' or ')}: neither ${ENTRIES_DIR}/*.conf nor ${UKI_DIR}/*.efi ` +
        '(createLoaderEntry makes one from the kernel and initrd in the new root)',
    );
  for (const change of pending) {
    await replaceFile(change.volume, change.path, change.after);
    result.changed.push({
      volume: change.volume.location,
      path: change.path,
      before: change.before,
      after: change.after,
    });
  }
  const loaderConf = await updateLoaderConf(options);
  if (loaderConf !== undefined) result.changed.push(loaderConf);
  return result;
}

/** loader.conf `default` and `timeout`, on the ESP (where systemd-boot reads it). */
async function updateLoaderConf(options: SystemdBootOptions): Promise<ChangedFile | undefined> {
  if (options.defaultEntry === undefined && options.timeoutSeconds === undefined) return undefined;
  const path = '/loader/loader.conf';
  const before = (await options.esp.read(path))?.toString('utf8');
  let file = parseBlsFile(before ?? '', `${options.esp.location}:${path}`);
  if (options.defaultEntry !== undefined) {
    if (!/^[^\s/]+$/u.test(options.defaultEntry))
      throw new BootConfigError(
        'BOOTCFG_CONFIG_INVALID',
        `default entry ${JSON.stringify(options.defaultEntry)} is not an entry id`,
      );
    file = setBlsValue(file, 'default', options.defaultEntry);
  }
  if (options.timeoutSeconds !== undefined) {
    if (!Number.isInteger(options.timeoutSeconds) || options.timeoutSeconds < 0)
      throw new BootConfigError(
        'BOOTCFG_CONFIG_INVALID',
        `loader timeout ${options.timeoutSeconds} is not a whole number of seconds`,
      );
    file = setBlsValue(file, 'timeout', String(options.timeoutSeconds));
  }
  const after = serializeBlsFile(file);
  if (after === before) return undefined;
  await replaceFile(options.esp, path, after);
  return { volume: options.esp.location, path, before, after };
}
