import { realpath, stat } from 'node:fs/promises';
import { BlockWriterError, type BlockWriterErrorCode } from './errors.ts';
import { type FileIdentity, loopBackingIdentity, sameFile } from './file-identity.ts';
import {
  formatMajMin,
  type MountEntry,
  readMounts,
  readSwaps,
  rootDeviceMajMin,
  type SwapEntry,
} from './mounts.ts';
import { type BlockDeviceInfo, describeHolder, underlyingDisks } from './sysfs.ts';

/** The rules themselves: what makes a disk unsafe to write. Used by safety.ts and discovery.ts. */
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
  /**
   * Files the target must never be or be backed by (the image being read, a configuration): a
   * file target that is one of them (same device and inode, however it is named), or a loop
   * device backed by one, is refused with `BLOCK_TARGET_IS_SOURCE`.
   */
  protect?: readonly string[];
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

export function problem(
  code: BlockWriterErrorCode,
  device: string,
  reason: string,
  remedy: string,
): SafetyProblem {
  const message = `${device}: refusing to write: ${reason}; ${remedy}`;
  return {
    code,
    device,
    reason,
    message,
    toError: () => new BlockWriterError(code, message, { device }),
  };
}

export interface SystemState {
  mounts: MountEntry[];
  swaps: SwapEntry[];
  rootDisks: Set<string>;
}

export async function readSystemState(): Promise<SystemState> {
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

/** A protected file (`SafetyRequirements.protect`) as the checks compare it. */
export interface ProtectedFile {
  path: string;
  identity: FileIdentity;
  /** `major:minor` when the protected path is itself a block device. */
  majMin: string | undefined;
}

export async function resolveProtected(paths: readonly string[] | undefined): Promise<ProtectedFile[]> {
  const resolved: ProtectedFile[] = [];
  for (const path of paths ?? []) {
    try {
      const info = await stat(path, { bigint: true });
      resolved.push({
        path,
        identity: { dev: info.dev, ino: info.ino },
        majMin: info.isBlockDevice() ? formatMajMin(info.rdev) : undefined,
      });
    } catch {
      // a path that does not exist cannot be overwritten by writing the target
    }
  }
  return resolved;
}

export function sourceProblem(device: string, what: string, file: ProtectedFile): SafetyProblem {
  return problem(
    'BLOCK_TARGET_IS_SOURCE',
    device,
    `${what} ${file.path}, which this run reads from`,
    'write to another file or disk; a run never overwrites its own input.',
  );
}

/** Safety problems of a whole disk (and its partitions) from sysfs and /proc. */
export async function blockProblems(
  device: string,
  info: BlockDeviceInfo,
  state: SystemState,
  requirements: SafetyRequirements,
): Promise<SafetyProblem[]> {
  const problems: SafetyProblem[] = [];
  const protect = await resolveProtected(requirements.protect);
  if (protect.length > 0) {
    const backing = info.kind === 'loop' ? await loopBackingIdentity(info.name) : [];
    const nodes = new Set([info.majMin, ...info.partitions.map((p) => p.majMin)]);
    for (const file of protect) {
      if (file.majMin !== undefined && nodes.has(file.majMin)) {
        problems.push(sourceProblem(device, 'it is (or holds)', file));
      } else if (backing.some((identity) => sameFile(identity, file.identity))) {
        problems.push(sourceProblem(device, 'it is a loop device backed by', file));
      }
    }
  }
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

export function sizeProblems(
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
            ? `create the file with sectorSize ${lbaSize}, or set allowFileSectorSizeMismatch to lay the GPT out with ${lbaSize}-byte sectors anyway (the trident CLI creates disk-image files with the image's sector size, so it never needs this).`
            : `use an image built for ${sectorSize}-byte sectors or a disk with ${lbaSize}-byte sectors; this check cannot be overridden for block devices.`,
        ),
      );
    }
  }
  return problems;
}
