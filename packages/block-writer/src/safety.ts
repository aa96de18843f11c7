import { type BigIntStats, constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { BlockTarget } from './block-target.ts';
import { BlockWriterError, describeCause } from './errors.ts';
import { type FileIdentity, identityOf, loopDevicesBackedBy, sameFile } from './file-identity.ts';
import {
  blockProblems,
  problem,
  readSystemState,
  resolveProtected,
  type SafetyProblem,
  type SafetyReport,
  type SafetyRequirements,
  type SystemState,
  sizeProblems,
  sourceProblem,
} from './safety-rules.ts';
import { type BlockDeviceInfo, kernelNameOf, readBlockDevice } from './sysfs.ts';

export type { SafetyProblem, SafetyReport, SafetyRequirements } from './safety-rules.ts';

/** The rules a loop device's state imposes on the file behind it (its size and flags do not matter). */
const LOOP_RULES = new Set([
  'BLOCK_TARGET_MOUNTED',
  'BLOCK_TARGET_SWAP',
  'BLOCK_TARGET_HELD',
  'BLOCK_TARGET_ROOT',
]);

/**
 * Problems of a regular-file target, by identity (device and inode), so a hard link, a bind mount
 * or a renamed or deleted-and-still-attached file is recognised: the file is one the run reads
 * (`protect`), active swap, or backs a loop device that is mounted, swap, held or the root disk —
 * writing the file would write under that device.
 */
export async function fileProblems(
  device: string,
  identity: FileIdentity,
  size: number,
  sectorSize: number,
  state: SystemState,
  requirements: SafetyRequirements,
): Promise<SafetyProblem[]> {
  const problems: SafetyProblem[] = [];
  for (const file of await resolveProtected(requirements.protect)) {
    if (sameFile(file.identity, identity))
      problems.push(sourceProblem(device, 'it is the same file as', file));
  }
  for (const swap of state.swaps) {
    if (swap.majMin !== undefined) continue;
    const swapIdentity = await identityOf(swap.path);
    if (swapIdentity !== undefined && sameFile(swapIdentity, identity)) {
      problems.push(
        problem('BLOCK_TARGET_SWAP', device, 'the file is in use as swap', 'disable it (swapoff) and retry.'),
      );
    }
  }
  // Writing under a mounted loop device corrupts the filesystem mounted from it.
  for (const loop of await loopDevicesBackedBy(identity)) {
    const info = await readBlockDevice(loop);
    for (const loopProblem of await blockProblems(`/dev/${loop}`, info, state, {})) {
      if (!LOOP_RULES.has(loopProblem.code)) continue;
      problems.push(
        problem(
          loopProblem.code,
          device,
          `the file backs /dev/${loop}, and ${loopProblem.reason}`,
          `release /dev/${loop} (umount, then losetup -d /dev/${loop}) and retry.`,
        ),
      );
    }
  }
  try {
    await access(device, constants.W_OK);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      problems.push(
        problem(
          'BLOCK_TARGET_READ_ONLY',
          device,
          `the file is not writable (${describeCause(cause)})`,
          'fix its permissions or pick another path.',
        ),
      );
    }
  }
  problems.push(...sizeProblems(device, size, sectorSize, 'file', requirements));
  return problems;
}

/**
 * Examines a target by path without opening it, and lists every reason not to write to it. Used by
 * disk selection (each skipped disk gets its reasons) and by `checkTargetSafety`.
 */
export async function inspectTarget(
  path: string,
  requirements: SafetyRequirements,
  options: { fileSectorSize?: number } = {},
): Promise<SafetyReport> {
  let info: BigIntStats;
  try {
    info = await stat(path, { bigint: true });
  } catch (cause) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_FOUND',
      `${path}: cannot be examined (${describeCause(cause)}); check the path.`,
      {
        device: path,
        cause,
      },
    );
  }
  const state = await readSystemState();
  if (info.isFile()) {
    const sectorSize = options.fileSectorSize ?? 512;
    return {
      device: path,
      kind: 'file',
      size: Number(info.size),
      sectorSize,
      problems: await fileProblems(
        path,
        { dev: info.dev, ino: info.ino },
        Number(info.size),
        sectorSize,
        state,
        requirements,
      ),
    };
  }
  const device = await readBlockDevice(await kernelNameOf(path));
  return {
    device: path,
    kind: 'block-device',
    size: device.size,
    sectorSize: device.logicalSectorSize,
    problems: await blockProblems(path, device, state, requirements),
  };
}

/** Same as `inspectTarget` for an already inspected device (disk discovery). */
export async function inspectBlockDevice(
  info: BlockDeviceInfo,
  requirements: SafetyRequirements,
): Promise<SafetyProblem[]> {
  return blockProblems(info.path, info, await readSystemState(), requirements);
}

/**
 * Runs every safety check on an open target and throws the first problem as a `BlockWriterError`
 * (codes BLOCK_TARGET_*, BLOCK_SECTOR_SIZE_MISMATCH). Nothing has been written when it throws.
 * Returns the (empty-problem) report when the target is safe.
 */
export async function checkTargetSafety(
  target: BlockTarget,
  requirements: SafetyRequirements,
): Promise<SafetyReport> {
  if (target.closed) {
    throw new BlockWriterError(
      'BLOCK_TARGET_CLOSED',
      `${target.path}: the target is closed; open it before checking.`,
      {
        device: target.path,
      },
    );
  }
  const report =
    target.kind === 'file'
      ? {
          device: target.path,
          kind: 'file' as const,
          size: target.size,
          sectorSize: target.sectorSize,
          problems: await fileProblems(
            target.path,
            await target.identity(),
            target.size,
            target.sectorSize,
            await readSystemState(),
            requirements,
          ),
        }
      : await inspectTarget(target.path, requirements);
  const first = report.problems[0];
  if (first !== undefined) throw first.toError();
  return report;
}
