import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { BlockWriterError, describeCause } from './errors.ts';
import { OpenTarget, validateSectorSize } from './open-target.ts';
import { inspectTarget } from './safety.ts';
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
  /** Writes all of `data` at `offset`; refuses to write past the end of the target. */
  writeAt(data: Uint8Array, offset: number): Promise<void>;
  readAt(length: number, offset: number): Promise<Uint8Array>;
  /** fsync: data reaches the device before this resolves. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenBlockTargetOptions {
  /**
   * Logical sector size to assume for a regular-file target (default 512). Ignored for block
   * devices, whose sector size comes from the kernel.
   */
  fileSectorSize?: number;
}

export interface CreateFileTargetOptions {
  /** Size of the new (sparse) disk-image file in bytes. */
  size: number;
  /** Logical sector size the image will use (default 512). */
  sectorSize?: number;
  /** Replace an existing file instead of failing with `BLOCK_TARGET_EXISTS`. */
  overwrite?: boolean;
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
    const sectorSize = validateSectorSize(options.fileSectorSize ?? 512, path);
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDWR);
    } catch (cause) {
      throw openError(path, cause);
    }
    const size = (await handle.stat()).size;
    return new OpenTarget(handle, { path, kind: 'file', kernelName: undefined, size, sectorSize });
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
 * Creates a sparse disk-image file of `size` bytes and opens it as a target. Fails with
 * `BLOCK_TARGET_EXISTS` when the file exists, unless `overwrite` is set.
 */
export async function createFileTarget(path: string, options: CreateFileTargetOptions): Promise<BlockTarget> {
  const sectorSize = validateSectorSize(options.sectorSize ?? 512, path);
  if (!Number.isSafeInteger(options.size) || options.size <= 0 || options.size % sectorSize !== 0) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${path}: requested size ${options.size} is not a positive multiple of the ${sectorSize}-byte sector size.`,
      { device: path },
    );
  }
  const flags = constants.O_RDWR | constants.O_CREAT | (options.overwrite === true ? 0 : constants.O_EXCL);
  let handle: FileHandle;
  try {
    handle = await open(path, flags, 0o644);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BlockWriterError(
        'BLOCK_TARGET_EXISTS',
        `${path}: already exists; remove it, pick another path, or pass overwrite: true.`,
        { device: path, cause },
      );
    }
    throw openError(path, cause);
  }
  try {
    const existing = await handle.stat();
    if (!existing.isFile()) {
      throw new BlockWriterError('BLOCK_TARGET_NOT_SUPPORTED', `${path}: exists and is not a regular file.`, {
        device: path,
      });
    }
    // truncate to 0 first so an overwritten file holds no stale data, then extend sparsely.
    await handle.truncate(0);
    await handle.truncate(options.size);
  } catch (cause) {
    await handle.close();
    if (cause instanceof BlockWriterError) throw cause;
    throw new BlockWriterError(
      'BLOCK_IO',
      `${path}: cannot size the file to ${options.size} bytes (${describeCause(cause)}).`,
      {
        device: path,
        cause,
      },
    );
  }
  return new OpenTarget(handle, {
    path,
    kind: 'file',
    kernelName: undefined,
    size: options.size,
    sectorSize,
  });
}
