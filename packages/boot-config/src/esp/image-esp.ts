/**
 * A FAT volume edited in place with mtools, never mounted: a filesystem image file, a partition
 * device, or a partition inside a whole-disk image or device at a byte offset (`image@@offset`).
 * This is how disk-image targets are configured, and how any target is on hosts without a vfat
 * driver. Each operation is one mtools command; mtools writes through to the file or device.
 */
import { isExecError, runTool } from '@trident/exec';
import { BootConfigError } from '../errors.ts';
import { type EspEntry, type EspVolume, espPathParts, findEntry } from './esp-volume.ts';

export interface ImageEspOptions {
  /** A FAT image file, a partition device, or a whole disk (image or device) with `offset`. */
  image: string;
  /** Byte offset of the FAT volume inside `image` (default 0). */
  offset?: number;
  signal?: AbortSignal;
}

/** mtools refuses odd geometries without this, and must never ask a question (no terminal here). */
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1' };
const TIMEOUT_MS = 120_000;
/** A file read comes back whole, however large (FAT files are at most 4 GiB). */
const WHOLE_FILE = Number.POSITIVE_INFINITY;

/** Whether a name fits a FAT short name (8.3), where mren would drop its long name. */
function fitsShortName(name: string): boolean {
  return /^[^.]{1,8}(\.[^.]{1,3})?$/u.test(name);
}

export function createImageEsp(options: ImageEspOptions): EspVolume {
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % 512 !== 0)
    throw new BootConfigError(
      'BOOTCFG_ESP_PATH_INVALID',
      `ESP offset ${offset} in ${options.image} must be a non-negative multiple of 512`,
      { path: options.image },
    );
  const drive = offset === 0 ? options.image : `${options.image}@@${offset}`;
  const location = drive;
  const target = (path: string) => `::/${espPathParts(path).join('/')}`;

  const mtools = async (
    tool: string,
    args: string[],
    input?: Uint8Array | string,
    maxOutputBytes?: number,
  ) => {
    try {
      return await runTool(tool, ['-i', drive, ...args], {
        env: MTOOLS_ENV,
        timeoutMs: TIMEOUT_MS,
        maxOutputBytes,
        ...(input === undefined ? {} : { input }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      const detail = isExecError(error) ? error.stderr.trim() || error.message : String(error);
      throw new BootConfigError('BOOTCFG_ESP_IO', `${tool} ${args.join(' ')} on ${location}: ${detail}`, {
        path: location,
        cause: error,
      });
    }
  };
  /** mtools exits 1 with "not found" for a missing name: that is an answer, not a failure. */
  const isNotFound = (error: unknown) =>
    error instanceof BootConfigError && /not found|No such file/iu.test(error.message);

  const list = async (path: string): Promise<EspEntry[] | undefined> => {
    const dir = target(path);
    let stdout: string;
    try {
      ({ stdout } = await mtools('mdir', ['-b', '-a', `${dir}/`.replace(/\/+$/u, '/')]));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    // `mdir -b` prints one full path per entry, directories with a trailing slash. Asked about a
    // file, it prints that file's own path: then this is not a directory.
    const prefix = dir === '::/' ? '::/' : `${dir}/`;
    const entries: EspEntry[] = [];
    for (const line of stdout.split('\n')) {
      if (line === '') continue;
      if (!line.toLowerCase().startsWith(prefix.toLowerCase())) return undefined;
      const rest = line.slice(prefix.length);
      const isDir = rest.endsWith('/');
      const name = isDir ? rest.slice(0, -1) : rest;
      if (name === '' || name === '.' || name === '..' || name.includes('/')) continue;
      entries.push({ name, kind: isDir ? 'directory' : 'file' });
    }
    return entries;
  };

  const makeDirectory = async (path: string) => {
    const parts = espPathParts(path);
    for (let i = 1; i <= parts.length; i++) {
      const parent = `/${parts.slice(0, i - 1).join('/')}`;
      const existing = findEntry((await list(parent)) ?? [], parts[i - 1]!);
      if (existing?.kind === 'directory') continue;
      if (existing !== undefined)
        throw new BootConfigError(
          'BOOTCFG_ESP_IO',
          `cannot create directory /${parts.slice(0, i).join('/')} on ${location}: a file has that name`,
          { path: location },
        );
      await mtools('mmd', [target(`/${parts.slice(0, i).join('/')}`)]);
    }
  };

  const read = async (path: string): Promise<Buffer | undefined> => {
    const parts = espPathParts(path);
    const entry = findEntry((await list(`/${parts.slice(0, -1).join('/')}`)) ?? [], parts.at(-1) ?? '');
    if (entry?.kind !== 'file') return undefined;
    // `-` as the destination: the bytes on stdout, untranslated (no -t), and all of them: a kernel
    // or an initrd is often larger than the runner's default output bound, which keeps the tail.
    return (await mtools('mcopy', ['-n', target(path), '-'], undefined, WHOLE_FILE)).stdoutBytes;
  };
  const write = async (path: string, data: string | Uint8Array): Promise<void> => {
    const parts = espPathParts(path);
    if (parts.length > 1) await makeDirectory(`/${parts.slice(0, -1).join('/')}`);
    // `-` as the source: stdin. `-D o` replaces an existing file instead of asking.
    await mtools('mcopy', ['-n', '-D', 'o', '-', target(path)], data);
  };
  const remove = async (path: string): Promise<void> => {
    try {
      await mtools('mdel', [target(path)]);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  };

  return {
    location,
    read,
    write,
    list,
    makeDirectory,
    remove,
    async removeDirectory(path) {
      try {
        await mtools('mrd', [target(path)]);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },
    async rename(from, to) {
      // mren keeps a long name only for names that do not fit 8.3: `loader.conf` would turn into
      // `LOADER.CONF` (ids systemd-boot shows and matches). Such names, and moves to another
      // directory, are copied under the new name, then deleted: an unmounted image has no reader
      // in between, and a crash leaves `from` whole. Long names in place are renamed, one
      // directory-entry update and no room for a second copy (a UKI is tens of MiB).
      const [fromParts, toParts] = [espPathParts(from), espPathParts(to)];
      const sameDirectory =
        fromParts.slice(0, -1).join('/').toLowerCase() === toParts.slice(0, -1).join('/').toLowerCase();
      if (sameDirectory && !fitsShortName(toParts.at(-1) ?? '')) {
        await mtools('mren', ['-D', 'o', target(from), target(to)]);
        return;
      }
      const bytes = await read(from);
      if (bytes === undefined)
        throw new BootConfigError('BOOTCFG_ESP_IO', `cannot rename ${location}:${from}: no such file`, {
          path: from,
        });
      await write(to, bytes);
      await remove(from);
    },
  };
}
