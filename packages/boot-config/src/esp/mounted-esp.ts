/** An ESP (or XBOOTLDR volume) mounted as a directory: what a real host has at /boot/efi. */
import { mkdir, open, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BootConfigError } from '../errors.ts';
import { type EspEntry, type EspVolume, espPathParts } from './esp-volume.ts';

function ioError(what: string, path: string, cause: unknown): BootConfigError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new BootConfigError('BOOTCFG_ESP_IO', `${what} ${path} failed: ${reason}`, { path, cause });
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function createMountedEsp(directory: string): EspVolume {
  const local = (path: string) => join(directory, ...espPathParts(path));
  return {
    location: directory,
    async read(path) {
      try {
        return await readFile(local(path));
      } catch (error) {
        if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
        throw ioError('reading', local(path), error);
      }
    },
    async write(path, data) {
      const file = local(path);
      try {
        await mkdir(join(file, '..'), { recursive: true });
        // Written and flushed before returning: the next step may be a reboot.
        const handle = await open(file, 'w');
        try {
          await handle.writeFile(data);
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (error) {
        throw ioError('writing', file, error);
      }
    },
    async list(path) {
      try {
        const entries = await readdir(local(path), { withFileTypes: true });
        return entries.map((e): EspEntry => ({ name: e.name, kind: e.isDirectory() ? 'directory' : 'file' }));
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw ioError('listing', local(path), error);
      }
    },
    async makeDirectory(path) {
      try {
        await mkdir(local(path), { recursive: true });
      } catch (error) {
        throw ioError('creating directory', local(path), error);
      }
    },
    async remove(path) {
      try {
        await rm(local(path), { force: true });
      } catch (error) {
        throw ioError('removing', local(path), error);
      }
    },
    async removeDirectory(path) {
      try {
        await rmdir(local(path));
      } catch (error) {
        if (isMissing(error)) return;
        throw ioError('removing directory', local(path), error);
      }
    },
    async rename(from, to) {
      try {
        await rename(local(from), local(to));
      } catch (error) {
        throw ioError(`renaming ${local(from)} to`, local(to), error);
      }
    },
  };
}
