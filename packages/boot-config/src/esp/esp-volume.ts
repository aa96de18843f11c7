/**
 * One interface to a FAT boot volume (the ESP, or an XBOOTLDR /boot), with two implementations:
 * a mounted directory (`createMountedEsp`, what a real host has at /boot/efi) and a filesystem
 * image or partition edited in place with mtools (`createImageEsp`, for disk-image files and for
 * hosts without a vfat driver). Boot configuration code only ever sees this interface.
 *
 * Paths are absolute inside the volume (`/loader/entries/a.conf`). FAT compares names without
 * case, so callers must not rely on case to tell files apart.
 */
import { BootConfigError } from '../errors.ts';

export interface EspEntry {
  name: string;
  kind: 'file' | 'directory';
}

export interface EspVolume {
  /** Where the volume is, for messages: a directory, or `image@@offset`. */
  readonly location: string;
  /** The file's bytes, or undefined when there is no such file. */
  read(path: string): Promise<Buffer | undefined>;
  /** Creates or replaces the file; missing parent directories are created. */
  write(path: string, data: string | Uint8Array): Promise<void>;
  /** Entries of a directory (without `.` and `..`), or undefined when there is no such directory. */
  list(path: string): Promise<EspEntry[] | undefined>;
  /** Creates the directory and its missing parents. */
  makeDirectory(path: string): Promise<void>;
  /** Removes a file; nothing happens when it does not exist. */
  remove(path: string): Promise<void>;
  /** Removes an empty directory; nothing happens when it does not exist. */
  removeDirectory(path: string): Promise<void>;
  /** Renames a file, replacing `to` when it exists. */
  rename(from: string, to: string): Promise<void>;
}

/**
 * Checks an ESP path and returns its components. Refuses what could leave the volume or that FAT
 * cannot store, so a bad name from a configuration fails here, not inside mtools.
 */
export function espPathParts(path: string): string[] {
  const bad = (why: string) =>
    new BootConfigError('BOOTCFG_ESP_PATH_INVALID', `ESP path ${JSON.stringify(path)} ${why}`, { path });
  if (!path.startsWith('/')) throw bad('must be absolute (start with /)');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\\\u0000-\u001f:*?"<>|]/u.test(path)) throw bad('contains a character FAT cannot store');
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) throw bad('must not contain . or .. components');
  return parts;
}

/** `path` normalised: `/a/b` (the root is `/`). */
function normalizeEspPath(path: string): string {
  return `/${espPathParts(path).join('/')}`;
}

export function joinEspPath(...parts: string[]): string {
  return normalizeEspPath(
    parts
      .join('/')
      .replace(/\/+/gu, '/')
      .replace(/^(?!\/)/u, '/'),
  );
}

/** Case-insensitive lookup of a directory entry, as FAT resolves names. */
export function findEntry(entries: readonly EspEntry[], name: string): EspEntry | undefined {
  const lower = name.toLowerCase();
  return entries.find((e) => e.name.toLowerCase() === lower);
}

/** Every file below `dir`, as paths relative to it, depth first in name order. */
export async function listFilesRecursive(esp: EspVolume, dir: string): Promise<string[] | undefined> {
  const entries = await esp.list(dir);
  if (entries === undefined) return undefined;
  const files: string[] = [];
  for (const entry of [...entries].sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.kind === 'file') files.push(entry.name);
    else
      for (const inner of (await listFilesRecursive(esp, joinEspPath(dir, entry.name))) ?? [])
        files.push(`${entry.name}/${inner}`);
  }
  return files;
}
