import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CosiError } from '../errors.ts';
import { writeNonZero } from './sparse-copy.ts';

/** A file being written under a private temporary name, to appear under its real name only when done. */
export interface OutputFile {
  readonly target: string;
  readonly temporary: string;
  /** Writes `data` at `position`, leaving holes for zero blocks when `sparse`. */
  write(data: Uint8Array, position: number, sparse: boolean): Promise<void>;
  /** Sets the final length (over trailing holes) and syncs the data to disk. */
  finish(length: number): Promise<void>;
  /**
   * Gives the file its real name. Without `replace`, fails if anything exists there (hard link,
   * atomic); with it, renames over it (never writing through it, whatever it is).
   */
  commit(replace: boolean): Promise<void>;
  /** Closes and removes the temporary file (after a failure or an interruption). */
  discard(): Promise<void>;
}

/**
 * Creates `.<name>.<random>.trident-tmp` beside `target` with O_CREAT|O_EXCL|O_NOFOLLOW and mode
 * 0600: a name nobody else can have planted (O_EXCL) and that cannot be a link (O_NOFOLLOW).
 */
export async function createOutputFile(target: string, member: string): Promise<OutputFile> {
  const temporary = join(
    dirname(target),
    `.${basename(target)}.${randomBytes(6).toString('hex')}.trident-tmp`,
  );
  let handle: FileHandle;
  try {
    handle = await open(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (error) {
    throw extractIoError(error, temporary, member);
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  const io = async <T>(what: () => Promise<T>, path = temporary): Promise<T> => {
    try {
      return await what();
    } catch (error) {
      throw extractIoError(error, path, member);
    }
  };
  return {
    target,
    temporary,
    async write(data, position, sparse) {
      await io(async () => {
        if (sparse) return writeNonZero(handle, data, position);
        for (let done = 0; done < data.length; )
          done += (await handle.write(data, done, data.length - done, position + done)).bytesWritten;
      });
    },
    async finish(length) {
      await io(async () => {
        await handle.truncate(length);
        await handle.sync();
        await close();
      });
    },
    async commit(replace) {
      await io(async () => {
        if (replace) {
          await rename(temporary, target);
          return;
        }
        // link() refuses an existing name of any kind (file, link, dangling symlink) atomically.
        await link(temporary, target);
        await unlink(temporary);
      }, target);
    },
    async discard() {
      await close().catch(() => undefined);
      await unlink(temporary).catch(() => undefined);
    },
  };
}

/** The signal's reason as the error to throw: callers set a coded one (the CLI: interrupted). */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/**
 * A file-system failure while extracting, as a coded error naming the path and what to do,
 * instead of a raw EEXIST/ELOOP/ENOSPC.
 */
export function extractIoError(error: unknown, path: string, member: string | undefined): CosiError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const details = { cause: error, ...(member === undefined ? {} : { member }) };
  switch (code) {
    case 'EEXIST':
      return new CosiError(
        'COSI_EXTRACT_EXISTS',
        `${path} already exists; refusing to replace it: remove it, extract into an empty directory, or pass the overwrite option`,
        details,
      );
    case 'ELOOP':
    case 'ENOTDIR':
      return new CosiError(
        'COSI_EXTRACT_UNSAFE_PATH',
        `${path}: a symlink or a non-directory is in the way (${code}); refusing to write through it`,
        details,
      );
    case 'EISDIR':
    case 'ENOTEMPTY':
      return new CosiError('COSI_EXTRACT_EXISTS', `${path} is a directory; refusing to replace it`, details);
    case 'ENOSPC':
    case 'EDQUOT':
      return new CosiError(
        'COSI_EXTRACT_NO_SPACE',
        `no space left writing ${path} (${code}); free space or extract elsewhere (the partial file was removed)`,
        details,
      );
    default:
      return new CosiError(
        'COSI_EXTRACT_IO',
        `cannot write ${path}: ${(error as Error | null)?.message ?? String(error)}`,
        details,
      );
  }
}
