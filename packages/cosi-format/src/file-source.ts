import { type FileHandle, open, readFile } from 'node:fs/promises';
import type { ByteSource } from './byte-source.ts';
import { CosiError } from './errors.ts';

/**
 * The one local-file byte source of the project. cosi-format opens paths with it; remote-source
 * serves `file://` URLs and plain paths with it, handing in its own error codes.
 */

/** What went wrong, for a caller that raises its own errors (`FileSourceOptions.error`). */
export type FileSourceProblem =
  /** The path cannot be opened (missing, permission), or is not a file or block device. */
  | 'open'
  /** A read outside `0..size`. */
  | 'out-of-range'
  /** The file ended early: it shrank while being read. */
  | 'changed'
  /** A read after `close()`. */
  | 'closed'
  /** The caller's signal aborted a stream. */
  | 'aborted';

export type FileSourceErrorFactory = (
  problem: FileSourceProblem,
  message: string,
  details: { offset?: number; cause?: unknown },
) => unknown;

export interface FileSourceOptions {
  /** Builds the error for each problem; default: `COSI_IO` (an abort rethrows the signal's reason). */
  error?: FileSourceErrorFactory;
}

/** A file source: random access, a validator from mtime and size, streaming and close. */
export interface FileSource extends ByteSource {
  readonly etag: string;
  readonly mode: 'random';
  stream(
    offset: number,
    length: number,
    options?: { signal?: AbortSignal | undefined },
  ): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

const STREAM_CHUNK = 4 * 1024 * 1024;

const cosiError: FileSourceErrorFactory = (problem, message, details) =>
  problem === 'aborted' && details.cause !== undefined
    ? details.cause
    : new CosiError('COSI_IO', message, {
        ...(details.offset === undefined ? {} : { offset: details.offset }),
        ...(details.cause === undefined ? {} : { cause: details.cause }),
      });

/**
 * Opens a local regular file or block device (a COSI handed to a VM as a disk, `/dev/vdb`) for
 * positioned reads. fstat reports 0 bytes for a block device; its size comes from sysfs.
 */
export async function openFileSource(path: string, options: FileSourceOptions = {}): Promise<FileSource> {
  const fail = options.error ?? cosiError;
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
    throw fail('open', `${path} ${what}: check the path`, { cause });
  }
  const stat = await handle.stat();
  if (!stat.isFile() && !stat.isBlockDevice()) {
    await handle.close();
    throw fail('open', `${path} is not a regular file: give the path of a COSI file`, {});
  }
  const size = stat.isBlockDevice() ? await blockDeviceSize(path, stat.rdev, handle, fail) : stat.size;
  let closed = false;

  const checkBounds = (offset: number, length: number): void => {
    const inside = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0;
    if (!inside || offset + length > size) {
      throw fail(
        'out-of-range',
        `${path}: read of ${length} bytes at offset ${offset} is outside the file (${size} bytes)`,
        { offset },
      );
    }
  };
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
    if (closed) throw fail('closed', `${path} was closed; open it again`, {});
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw fail('changed', `${path} shrank while it was being read (at byte ${offset + done})`, {
          offset: offset + done,
        });
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
    async read(offset, length, readOptions = {}) {
      checkBounds(offset, length);
      readOptions.signal?.throwIfAborted();
      return readAt(offset, length);
    },
    async *stream(offset, length, streamOptions = {}) {
      checkBounds(offset, length);
      for (let position = offset; position < offset + length; ) {
        const signal = streamOptions.signal;
        if (signal?.aborted) {
          throw fail('aborted', `reading ${path} was aborted`, { offset: position, cause: signal.reason });
        }
        const chunk = await readAt(position, Math.min(STREAM_CHUNK, offset + length - position));
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

async function blockDeviceSize(
  path: string,
  rdev: number,
  handle: FileHandle,
  fail: FileSourceErrorFactory,
): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);
  try {
    // In 512-byte units whatever the sector size.
    return Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim()) * 512;
  } catch (cause) {
    await handle.close();
    throw fail(
      'open',
      `${path} is a block device whose size sysfs does not report (${major}:${minor}): is /sys mounted?`,
      { cause },
    );
  }
}
