import { constants } from 'node:fs';
import { access, readdir, readFile, realpath, stat } from 'node:fs/promises';
import type { BlockTarget } from './block-target.ts';
import { BlockWriterError, type BlockWriterErrorCode, describeCause } from './errors.ts';
import { type MountEntry, readMounts, readSwaps, rootDeviceMajMin, type SwapEntry } from './mounts.ts';
import {
  type BlockDeviceInfo,
  describeHolder,
  kernelNameOf,
  readBlockDevice,
  underlyingDisks,
} from './sysfs.ts';

export interface SafetyRequirements {
  /** Bytes the image needs on the target (COSI `disk.size`). */
  requiredSize?: number;
  /** The image's logical block size (COSI `disk.lbaSize`, 512 or 4096). */
  lbaSize?: number;
  /**
   * THE ONLY OVERRIDE. For regular-file targets only: accept a file whose declared sector size
   * differs from `lbaSize` (the GPT is then laid out with `lbaSize`). Has no effect on block
   * devices, whose sector size is a property of the hardware.
   */
  allowFileSectorSizeMismatch?: boolean;
}

export interface SafetyProblem {
  code: BlockWriterErrorCode;
  device: string;
  /** Short reason, e.g. `partition /dev/sdb1 is mounted at /boot`; shown per skipped disk. */
  reason: string;
  /** Full message: device, reason and what to do. */
  message: string;
  toError(): BlockWriterError;
}

export interface SafetyReport {
  device: string;
  kind: 'block-device' | 'file';
  size: number;
  sectorSize: number;
  /** Problems in the order they are checked; the first is what `checkTargetSafety` throws. */
  problems: SafetyProblem[];
}

function problem(code: BlockWriterErrorCode, device: string, reason: string, remedy: string): SafetyProblem {
  const message = `${device}: refusing to write: ${reason}; ${remedy}`;
  return {
    code,
    device,
    reason,
    message,
    toError: () => new BlockWriterError(code, message, { device }),
  };
}

interface SystemState {
  mounts: MountEntry[];
  swaps: SwapEntry[];
  rootDisks: Set<string>;
}

async function readSystemState(): Promise<SystemState> {
  const mounts = await readMounts();
  const swaps = await readSwaps();
  const rootMajMin = await rootDeviceMajMin(mounts);
  const rootDisks = rootMajMin === undefined ? new Set<string>() : await underlyingDisks(rootMajMin);
  return { mounts, swaps, rootDisks };
}

async function resolvedSource(source: string): Promise<string | undefined> {
  if (!source.startsWith('/dev/')) return undefined;
  try {
    return await realpath(source);
  } catch {
    return undefined;
  }
}

/** Safety problems of a whole disk (and its partitions) from sysfs and /proc. */
async function blockProblems(
  device: string,
  info: BlockDeviceInfo,
  state: SystemState,
  requirements: SafetyRequirements,
): Promise<SafetyProblem[]> {
  const problems: SafetyProblem[] = [];
  if (info.isPartition) {
    problems.push(
      problem(
        'BLOCK_TARGET_PARTITION',
        device,
        `it is partition ${info.name} of /dev/${info.parent ?? '?'}, not a whole disk`,
        `pass the whole disk (/dev/${info.parent ?? '?'}).`,
      ),
    );
  }
  if (state.rootDisks.has(info.name)) {
    problems.push(
      problem(
        'BLOCK_TARGET_ROOT',
        device,
        'it holds the running root filesystem (/)',
        'pick another disk; the running OS can never be the target.',
      ),
    );
  }
  // The device itself and each partition, by major:minor and by node path.
  const members = [
    { label: `disk ${info.path}`, majMin: info.majMin, path: info.path, holders: info.holders },
    ...info.partitions.map((p) => ({
      label: `partition ${p.path}`,
      majMin: p.majMin,
      path: p.path,
      holders: p.holders,
    })),
  ];
  const mounted: string[] = [];
  for (const mount of state.mounts) {
    const source = await resolvedSource(mount.source);
    const member = members.find(
      (m) => m.majMin === mount.majMin || (source !== undefined && source === m.path),
    );
    if (member !== undefined) mounted.push(`${member.label} is mounted at ${mount.mountPoint}`);
  }
  if (mounted.length > 0) {
    problems.push(
      problem('BLOCK_TARGET_MOUNTED', device, mounted.join(', '), 'unmount it (umount) and retry.'),
    );
  }
  const swapping = state.swaps
    .map((swap) => ({ swap, member: members.find((m) => m.majMin === swap.majMin) }))
    .filter((x) => x.member !== undefined)
    .map((x) => `${x.member?.label ?? '?'} is in use as swap`);
  if (swapping.length > 0) {
    problems.push(
      problem('BLOCK_TARGET_SWAP', device, swapping.join(', '), 'disable it (swapoff) and retry.'),
    );
  }
  const held: string[] = [];
  for (const member of members) {
    for (const holder of member.holders)
      held.push(`${member.label} is held by ${await describeHolder(holder)}`);
  }
  if (held.length > 0) {
    problems.push(
      problem(
        'BLOCK_TARGET_HELD',
        device,
        held.join(', '),
        'stop the device-mapper, LVM or RAID device on it (dmsetup remove, vgchange -an, mdadm --stop) and retry.',
      ),
    );
  }
  if (info.readOnly) {
    problems.push(
      problem(
        'BLOCK_TARGET_READ_ONLY',
        device,
        'the kernel marks it read-only',
        "clear the flag ('blockdev --setrw') if that is intended, or pick another disk.",
      ),
    );
  }
  problems.push(...sizeProblems(device, info.size, info.logicalSectorSize, 'block-device', requirements));
  return problems;
}

function sizeProblems(
  device: string,
  size: number,
  sectorSize: number,
  kind: 'block-device' | 'file',
  requirements: SafetyRequirements,
): SafetyProblem[] {
  const problems: SafetyProblem[] = [];
  if (requirements.requiredSize !== undefined && size < requirements.requiredSize) {
    problems.push(
      problem(
        'BLOCK_TARGET_TOO_SMALL',
        device,
        `it holds ${size} bytes but the image needs at least ${requirements.requiredSize} bytes`,
        'pick a larger disk.',
      ),
    );
  }
  const lbaSize = requirements.lbaSize;
  if (lbaSize !== undefined && sectorSize !== lbaSize) {
    const overridden = kind === 'file' && requirements.allowFileSectorSizeMismatch === true;
    if (!overridden) {
      problems.push(
        problem(
          'BLOCK_SECTOR_SIZE_MISMATCH',
          device,
          `its logical sector size is ${sectorSize} bytes but the image was built for ${lbaSize}-byte sectors`,
          kind === 'file'
            ? `create the file with sectorSize ${lbaSize}, or set allowFileSectorSizeMismatch (CLI: --allow-file-sector-size-mismatch) to lay the GPT out with ${lbaSize}-byte sectors anyway.`
            : `use an image built for ${sectorSize}-byte sectors or a disk with ${lbaSize}-byte sectors; this check cannot be overridden for block devices.`,
        ),
      );
    }
  }
  return problems;
}

/** Loop devices whose backing file is `file`, by kernel name. */
async function loopDevicesBackedBy(file: string): Promise<string[]> {
  const names: string[] = [];
  let entries: string[];
  try {
    entries = await readdir('/sys/block');
  } catch {
    return names;
  }
  for (const name of entries) {
    if (!name.startsWith('loop')) continue;
    try {
      const backing = (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).trim();
      if (backing === file) names.push(name);
    } catch {
      // not attached
    }
  }
  return names;
}

async function fileProblems(
  device: string,
  size: number,
  sectorSize: number,
  state: SystemState,
  requirements: SafetyRequirements,
): Promise<SafetyProblem[]> {
  const problems: SafetyProblem[] = [];
  const real = await realpath(device);
  if (state.swaps.some((swap) => swap.majMin === undefined && swap.path === real)) {
    problems.push(
      problem('BLOCK_TARGET_SWAP', device, 'the file is in use as swap', 'disable it (swapoff) and retry.'),
    );
  }
  // Writing under a mounted loop device corrupts the filesystem mounted from it.
  for (const loop of await loopDevicesBackedBy(real)) {
    const info = await readBlockDevice(loop);
    for (const loopProblem of await blockProblems(`/dev/${loop}`, info, state, {})) {
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
    problems.push(
      problem(
        'BLOCK_TARGET_READ_ONLY',
        device,
        `the file is not writable (${describeCause(cause)})`,
        'fix its permissions or pick another path.',
      ),
    );
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
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
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
      size: info.size,
      sectorSize,
      problems: await fileProblems(path, info.size, sectorSize, state, requirements),
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
