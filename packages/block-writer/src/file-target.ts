import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { BlockTarget } from './block-target.ts';
import { BlockWriterError, describeCause } from './errors.ts';
import { type FileIdentity, loopDevicesBackedBy } from './file-identity.ts';
import { holdHandle, OpenTarget, validateSectorSize } from './open-target.ts';
import { fileProblems } from './safety.ts';
import { readSystemState, type SafetyRequirements } from './safety-rules.ts';
import { lockOpenFile, type TargetLock } from './target-lock.ts';

export interface OpenFileTargetOptions {
  /**
   * Size in bytes a new or replaced file is given (sparse). Required unless `existing` is `keep`;
   * a kept file keeps its size.
   */
  size?: number;
  /** Logical sector size the image uses (default 512). */
  sectorSize?: number;
  /**
   * What to do when the path already holds a file:
   * - `refuse` (default): `BLOCK_TARGET_EXISTS`;
   * - `replace`: discard its contents and resize it, but only after every check passed (the CLI's
   *   `--force`). It never skips a safety rule: a file that is in use is refused all the same;
   * - `keep`: open it as it is (resuming an interrupted run, or writing into an existing image).
   */
  existing?: 'refuse' | 'replace' | 'keep';
  /** Safety requirements checked before anything is written (size, sector size, protected files). */
  requirements?: SafetyRequirements;
}

/** What `--force` is called where users meet it; messages name it so a rerun knows what to pass. */
export const REPLACE_HINT = "rerun with --force (library: existing: 'replace') to replace it";

export function openError(path: string, cause: unknown): BlockWriterError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new BlockWriterError(
      'BLOCK_TARGET_NOT_FOUND',
      `${path}: does not exist (or its directory does not); check the path.`,
      { device: path, cause },
    );
  }
  if (code === 'ELOOP') {
    return new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${path}: is a symbolic link; a disk-image target is never reached through a link (it could point anywhere). Pass the real path.`,
      { device: path, cause },
    );
  }
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new BlockWriterError(
      'BLOCK_TARGET_READ_ONLY',
      `${path}: cannot be opened for writing (${code}); it is read-only or you lack permission; fix its permissions or pick another path.`,
      { device: path, cause },
    );
  }
  if (code === 'EISDIR') {
    return new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${path}: is a directory; pass a disk-image file path.`,
      { device: path, cause },
    );
  }
  return new BlockWriterError('BLOCK_IO', `${path}: cannot be opened (${describeCause(cause)}).`, {
    device: path,
    cause,
  });
}

/**
 * Opens (or creates) a disk-image file as a target with every check done **before the first
 * byte is written**, in this order:
 *
 * 1. open without following a symlink, without truncating, without blocking (O_NOFOLLOW, no
 *    O_TRUNC, O_NONBLOCK); a new file is created with O_EXCL;
 * 2. it must be a regular file;
 * 3. take an exclusive flock for as long as the target is open (`close({ keepLock: true })` keeps
 *    it longer): a second run fails at once with `BLOCK_TARGET_LOCKED` naming the holder;
 * 4. the safety rules, by device and inode: not a protected file (the source), not swap, not
 *    backing a loop device that is mounted, swap, held or the root disk; then an exclusive claim
 *    on each loop device backed by it, held as long as the lock, so nothing mounts them meanwhile;
 * 5. an existing file: `refuse` → `BLOCK_TARGET_EXISTS`;
 * 6. size and sector size;
 * 7. only then: a new or replaced file is truncated and sized (sparse).
 *
 * Any failure closes what was opened, releases the lock and removes a file this call created.
 */
export async function openFileTarget(
  path: string,
  options: OpenFileTargetOptions = {},
): Promise<BlockTarget> {
  const sectorSize = validateSectorSize(options.sectorSize ?? 512, path);
  const existing = options.existing ?? 'refuse';
  const size = options.size;
  if (
    existing !== 'keep' &&
    (size === undefined || !Number.isSafeInteger(size) || size <= 0 || size % sectorSize !== 0)
  ) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${path}: requested size ${size} is not a positive multiple of the ${sectorSize}-byte sector size.`,
      { device: path },
    );
  }
  const base = constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let handle: FileHandle | undefined;
  let created = false;
  if (existing !== 'keep') {
    try {
      handle = await open(path, base | constants.O_CREAT | constants.O_EXCL, 0o644);
      created = true;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw openError(path, cause);
    }
  }
  if (handle === undefined) {
    try {
      handle = await open(path, base);
    } catch (cause) {
      throw openError(path, cause);
    }
  }
  const holds: TargetLock[] = [];
  let identity: FileIdentity | undefined;
  let locked = false;
  try {
    const info = await handle.stat({ bigint: true });
    if (!info.isFile()) {
      throw new BlockWriterError(
        'BLOCK_TARGET_NOT_SUPPORTED',
        `${path}: exists and is not a regular file; pass a whole disk with --disk, or another file path.`,
        { device: path },
      );
    }
    identity = { dev: info.dev, ino: info.ino };
    holds.push(await lockOpenFile(handle, path, identity));
    locked = true;
    const currentSize = Number(info.size);
    const finalSize = created || existing === 'replace' ? (size ?? currentSize) : currentSize;
    // An existing file we are told not to touch is refused for being there, not for its size.
    const requirements =
      !created && existing === 'refuse'
        ? { ...(options.requirements?.protect ? { protect: options.requirements.protect } : {}) }
        : (options.requirements ?? {});
    const problems = await fileProblems(
      path,
      identity,
      finalSize,
      sectorSize,
      await readSystemState(),
      requirements,
    );
    const first = problems[0];
    if (first !== undefined) throw first.toError();
    holds.push(...(await claimLoopDevices(path, identity)));
    if (!created && existing === 'refuse') {
      throw new BlockWriterError(
        'BLOCK_TARGET_EXISTS',
        `${path}: already exists; ${REPLACE_HINT}, or pick another path.`,
        {
          device: path,
        },
      );
    }
    if (created || existing === 'replace') {
      try {
        // Empty first, so a replaced file keeps no stale data, then extend sparsely.
        await handle.truncate(0);
        await handle.truncate(finalSize);
      } catch (cause) {
        throw new BlockWriterError(
          'BLOCK_IO',
          `${path}: cannot size the file to ${finalSize} bytes (${describeCause(cause)}); free space or pick a smaller --target-size.`,
          { device: path, cause },
        );
      }
    }
    return new OpenTarget(handle, {
      path,
      kind: 'file',
      kernelName: undefined,
      size: finalSize,
      sectorSize,
      created,
      identity,
      holds,
    });
  } catch (error) {
    // A file we created and locked is ours to remove; without the lock another run may own it.
    const failed = new OpenTarget(handle, {
      path,
      kind: 'file',
      kernelName: undefined,
      size: 0,
      sectorSize,
      created: created && locked,
      ...(identity === undefined ? {} : { identity }),
      holds,
    });
    await failed.discardCreated();
    throw error;
  }
}

/**
 * Claims every loop device backed by the file exclusively (O_EXCL, read-only: nothing is written
 * through it): the kernel then refuses to mount it or hand it to device-mapper while we write the
 * file, and refuses us if something already holds it (`BLOCK_TARGET_BUSY`).
 */
async function claimLoopDevices(path: string, identity: FileIdentity): Promise<TargetLock[]> {
  const claims: TargetLock[] = [];
  try {
    for (const loop of await loopDevicesBackedBy(identity)) {
      try {
        claims.push(holdHandle(await open(`/dev/${loop}`, constants.O_RDONLY | constants.O_EXCL)));
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') continue; // detached meanwhile
        throw new BlockWriterError(
          'BLOCK_TARGET_BUSY',
          `${path}: refusing to write: the file backs /dev/${loop}, which another program holds (${describeCause(cause)}); release /dev/${loop} (umount, losetup -d /dev/${loop}) and retry.`,
          { device: path, cause },
        );
      }
    }
    return claims;
  } catch (error) {
    for (const claim of claims) await claim.release();
    throw error;
  }
}
