import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { BlockWriterError, describeCause } from './errors.ts';
import type { FileIdentity } from './file-identity.ts';
import { openFileTarget } from './file-target.ts';
import { OpenTarget } from './open-target.ts';
import { inspectTarget } from './safety.ts';
import { blockProblems, readSystemState, type SafetyRequirements } from './safety-rules.ts';
import { kernelNameOf, readBlockDevice } from './sysfs.ts';

/**
 * A disk to write: a whole block device or a regular file holding a disk image. Offsets are
 * absolute bytes from the start of the disk. The engine hands `fd` (or `path`) to the Rust image
 * writer for positioned writes; small writes (wipe, GPT) go through `writeAt`.
 */
export interface BlockTarget {
  readonly path: string;
  readonly kind: 'block-device' | 'file';
  /** Kernel name for block devices (`sdb`, `loop3`); undefined for files. */
  readonly kernelName: string | undefined;
  /** Open file descriptor (O_RDWR, plus O_EXCL for block devices). Invalid after `close()`. */
  readonly fd: number;
  /** Size in bytes. */
  readonly size: number;
  /** Logical sector size in bytes: the device's, or the one declared for a file. */
  readonly sectorSize: number;
  readonly closed: boolean;
  /** True when this open created the file (file targets). */
  readonly created: boolean;
  /** True while a file target's lock (flock, loop-device claims) is held. */
  readonly locked: boolean;
  /** Device and inode of the open file or device node. */
  identity(): Promise<FileIdentity>;
  /** Writes all of `data` at `offset`; refuses to write past the end of the target. */
  writeAt(data: Uint8Array, offset: number): Promise<void>;
  readAt(length: number, offset: number): Promise<Uint8Array>;
  /** fsync: data reaches the device before this resolves. */
  sync(): Promise<void>;
  /**
   * Closes the descriptor. File targets also drop their lock unless `keepLock` (then call
   * `unlock()` when the run is over: re-reading and growing need the file closed, not unlocked).
   */
  close(options?: CloseOptions): Promise<void>;
  /** Drops a file target's lock (after `close({ keepLock: true })`). Idempotent. */
  unlock(): Promise<void>;
  /**
   * Closes and removes the file if this open created it and the path still names that file; then
   * unlocks. For a run that failed before anything worth keeping was written. Resolves to whether
   * a file was removed.
   */
  discardCreated(): Promise<boolean>;
}

export interface CloseOptions {
  /** Keep a file target's lock after closing its descriptor. */
  keepLock?: boolean;
}

export interface OpenBlockTargetOptions {
  /**
   * Logical sector size to assume for a regular-file target (default 512). Ignored for block
   * devices, whose sector size comes from the kernel.
   */
  fileSectorSize?: number;
  /**
   * Checked at open, before anything can be written. Block devices: only `protect` (a loop device
   * backed by a protected file is refused); the other rules are `checkTargetSafety`'s. Regular
   * files: every rule (see `openFileTarget`).
   */
  requirements?: SafetyRequirements;
}

export interface CreateFileTargetOptions {
  /** Size of the new (sparse) disk-image file in bytes. */
  size: number;
  /** Logical sector size the image will use (default 512). */
  sectorSize?: number;
  /**
   * Replace an existing regular file instead of failing with `BLOCK_TARGET_EXISTS` (the CLI's
   * `--force`). Only after every safety check passed: a file in use is refused all the same.
   */
  overwrite?: boolean;
  requirements?: SafetyRequirements;
}

function openError(path: string, cause: unknown): BlockWriterError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new BlockWriterError('BLOCK_TARGET_NOT_FOUND', `${path}: does not exist; check the device path.`, {
      device: path,
      cause,
    });
  }
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new BlockWriterError(
      'BLOCK_TARGET_READ_ONLY',
      `${path}: cannot be opened for writing (${code}); it is read-only or you lack permission (run as root, or clear the read-only flag with 'blockdev --setrw').`,
      { device: path, cause },
    );
  }
  return new BlockWriterError('BLOCK_IO', `${path}: cannot be opened (${describeCause(cause)}).`, {
    device: path,
    cause,
  });
}

/**
 * Opens an existing block device (exclusively: O_EXCL makes the kernel refuse a device that is
 * mounted, or whose partitions are, or that another program holds) or an existing disk-image file.
 * Opening does not run the safety checks; call `checkTargetSafety` before writing.
 */
export async function openBlockTarget(
  path: string,
  options: OpenBlockTargetOptions = {},
): Promise<BlockTarget> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (cause) {
    throw openError(path, cause);
  }
  if (info.isFile()) {
    return openFileTarget(path, {
      existing: 'keep',
      sectorSize: options.fileSectorSize ?? 512,
      ...(options.requirements === undefined ? {} : { requirements: options.requirements }),
    });
  }
  if (!info.isBlockDevice()) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${path}: is neither a block device nor a regular file; pass a whole disk (/dev/sdb) or a disk-image file.`,
      { device: path },
    );
  }
  const name = await kernelNameOf(path);
  const device = await readBlockDevice(name);
  if (device.isPartition) {
    throw new BlockWriterError(
      'BLOCK_TARGET_PARTITION',
      `${path}: is partition ${name} of /dev/${device.parent ?? '?'}, not a whole disk; pass the whole disk (/dev/${device.parent ?? '?'}).`,
      { device: path },
    );
  }
  const protect = options.requirements?.protect;
  if (protect !== undefined && protect.length > 0) {
    const refused = (await blockProblems(path, device, await readSystemState(), { protect })).find(
      (p) => p.code === 'BLOCK_TARGET_IS_SOURCE',
    );
    if (refused !== undefined) throw refused.toError();
  }
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDWR | constants.O_EXCL);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EBUSY') {
      // Find out why the kernel refused, so the error names the mount, swap or holder.
      const report = await inspectTarget(path, {});
      const problem = report.problems[0];
      if (problem !== undefined) throw problem.toError();
      throw new BlockWriterError(
        'BLOCK_TARGET_BUSY',
        `${path}: is in use by another program (the kernel refused an exclusive open with EBUSY); stop whatever uses it and retry.`,
        { device: path, cause },
      );
    }
    throw openError(path, cause);
  }
  return new OpenTarget(handle, {
    path,
    kind: 'block-device',
    kernelName: name,
    size: device.size,
    sectorSize: device.logicalSectorSize,
  });
}

/**
 * Creates a sparse disk-image file of `size` bytes and opens it as a target (`openFileTarget`
 * with `existing: overwrite ? 'replace' : 'refuse'`). Fails with `BLOCK_TARGET_EXISTS` when the
 * file exists, unless `overwrite` is set; every check runs before the file is touched.
 */
export async function createFileTarget(path: string, options: CreateFileTargetOptions): Promise<BlockTarget> {
  return openFileTarget(path, {
    size: options.size,
    ...(options.sectorSize === undefined ? {} : { sectorSize: options.sectorSize }),
    existing: options.overwrite === true ? 'replace' : 'refuse',
    ...(options.requirements === undefined ? {} : { requirements: options.requirements }),
  });
}
