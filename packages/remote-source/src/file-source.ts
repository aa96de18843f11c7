import { type FileHandle, open, readFile } from 'node:fs/promises';
import { RemoteSourceError } from './errors.ts';
import { checkBounds } from './read-helpers.ts';
import type { RandomAccessSource, ReadOptions } from './types.ts';

const CHUNK = 4 * 1024 * 1024;

async function blockDeviceSize(path: string, rdev: number, handle: FileHandle): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);
  try {
    return Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim()) * 512;
  } catch (cause) {
    await handle.close();
    throw new RemoteSourceError(
      'REMOTE_FILE',
      `${path} is a block device whose size sysfs does not report (${major}:${minor}): is /sys mounted?`,
      { url: path, cause },
    );
  }
}

/** A local regular file read with positioned reads. `file://` URLs are percent-decoded by the caller. */
export async function openFileSource(path: string): Promise<RandomAccessSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable (permission denied)'
          : `cannot be opened (${code})`;
    throw new RemoteSourceError('REMOTE_FILE', `${path} ${what}: check the path`, { url: path, cause });
  }
  const stat = await handle.stat();
  if (!stat.isFile() && !stat.isBlockDevice()) {
    await handle.close();
    throw new RemoteSourceError(
      'REMOTE_FILE',
      `${path} is not a regular file: give the path of a COSI file`,
      { url: path },
    );
  }
  // fstat reports 0 bytes for a block device (a COSI handed to a VM as a disk, `file:///dev/vdb`);
  // its size is in sysfs, in 512-byte units whatever the sector size.
  const size = stat.isBlockDevice() ? await blockDeviceSize(path, stat.rdev, handle) : stat.size;
  let closed = false;
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
    if (closed)
      throw new RemoteSourceError('REMOTE_CLOSED', `${path} was closed; open it again`, { url: path });
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new RemoteSourceError(
          'REMOTE_CHANGED',
          `${path} shrank while it was being read (at byte ${offset + done})`,
          {
            url: path,
            offset: offset + done,
          },
        );
      }
      done += bytesRead;
    }
    return buffer;
  };
  return {
    url: path,
    size,
    etag: `${stat.mtimeMs}-${size}`,
    mode: 'random',
    async read(offset: number, length: number, options: ReadOptions = {}) {
      checkBounds(path, size, offset, length);
      options.signal?.throwIfAborted();
      return readAt(offset, length);
    },
    async *stream(offset: number, length: number, options: ReadOptions = {}) {
      checkBounds(path, size, offset, length);
      for (let position = offset; position < offset + length; ) {
        if (options.signal?.aborted) {
          throw new RemoteSourceError('REMOTE_ABORTED', `reading ${path} was aborted`, {
            url: path,
            offset: position,
            cause: options.signal.reason,
          });
        }
        const chunk = await readAt(position, Math.min(CHUNK, offset + length - position));
        position += chunk.length;
        yield chunk;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
