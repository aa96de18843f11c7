import { readdir } from 'node:fs/promises';
import { BlockWriterError, type BlockWriterErrorCode } from './errors.ts';
import { blockMajMin } from './mounts.ts';
import { inspectBlockDevice, inspectTarget, type SafetyRequirements } from './safety.ts';
import { type BlockDeviceInfo, kernelNameOf, listBlockDeviceNames, readBlockDevice } from './sysfs.ts';

/** Trident's candidate name prefixes (stream.rs, SmallestThatWillFit). */
export const TRIDENT_DISK_PREFIXES: readonly string[] = ['sd', 'nvme', 'vd', 'hd', 'mmcblk'];

export interface DiscoverDisksOptions {
  /** Kernel-name prefixes of candidate disks (default `TRIDENT_DISK_PREFIXES`; add `loop` for tests). */
  prefixes?: readonly string[];
}

/** Whole disks from sysfs whose names match `prefixes`, partitions and empty devices excluded. */
export async function discoverDisks(options: DiscoverDisksOptions = {}): Promise<BlockDeviceInfo[]> {
  const prefixes = options.prefixes ?? TRIDENT_DISK_PREFIXES;
  const disks: BlockDeviceInfo[] = [];
  for (const name of await listBlockDeviceNames()) {
    if (!prefixes.some((prefix) => name.startsWith(prefix))) continue;
    let info: BlockDeviceInfo;
    try {
      info = await readBlockDevice(name);
    } catch {
      continue; // vanished while listing
    }
    if (info.isPartition || info.size === 0) continue;
    disks.push(info);
  }
  return disks;
}

/**
 * `major:minor` of every block device this process has open. Selection runs before the target is
 * opened, so these are what is being read: the image itself when it comes from a disk
 * (`file:///dev/vdb`). Opening it read-only claims nothing, so `O_EXCL` would not stop a write.
 */
async function blockDevicesOpenHere(): Promise<Set<string>> {
  const open = new Set<string>();
  let fds: string[];
  try {
    fds = await readdir('/proc/self/fd');
  } catch {
    return open;
  }
  for (const fd of fds) {
    const majMin = await blockMajMin(`/proc/self/fd/${fd}`);
    if (majMin !== undefined) open.add(majMin);
  }
  return open;
}

function sourceProblem(disk: BlockDeviceInfo, open: Set<string>): string | undefined {
  const members = [disk, ...disk.partitions];
  const member = members.find((m) => open.has(m.majMin));
  return member === undefined
    ? undefined
    : `${member.path} is open here for reading: the image is read from it`;
}

export interface DiskSelectionRequest extends SafetyRequirements {
  /** Bytes the image needs (COSI `disk.size`). */
  requiredSize: number;
  /** The image's logical block size (COSI `disk.lbaSize`). */
  lbaSize: number;
  /** Explicit target (`--disk`): always wins, but only after the safety checks pass. */
  disk?: string;
  /** Sector size assumed for an explicit regular-file `disk` (default 512). */
  fileSectorSize?: number;
  /** Candidates to choose from (default: `discoverDisks({ prefixes })`). */
  candidates?: readonly BlockDeviceInfo[];
  prefixes?: readonly string[];
}

export interface ConsideredDisk {
  path: string;
  size: number;
  sectorSize: number;
  selected: boolean;
  /** Why it was not chosen; empty for the selected disk. */
  reasons: Array<{ code: BlockWriterErrorCode | 'BLOCK_LARGER_THAN_SELECTED'; reason: string }>;
}

export interface DiskSelection {
  path: string;
  how: 'explicit' | 'smallest-that-fits';
  size: number;
  sectorSize: number;
  /** Every candidate looked at, smallest first, with skip reasons (what `--dry-run` shows). */
  considered: ConsideredDisk[];
}

/**
 * Picks the target disk. With `disk`, that path after the safety checks (throws the first problem).
 * Otherwise Trident's SmallestThatWillFit: the smallest candidate of at least `requiredSize` bytes
 * (ties: discovery order), but skipping unsafe candidates (mounted, swap, held, root, read-only,
 * wrong sector size) with a reason each. Throws `BLOCK_NO_SUITABLE_DISK` listing every skipped disk.
 */
export async function selectDisk(request: DiskSelectionRequest): Promise<DiskSelection> {
  const requirements: SafetyRequirements = {
    requiredSize: request.requiredSize,
    lbaSize: request.lbaSize,
    ...(request.allowFileSectorSizeMismatch === undefined
      ? {}
      : { allowFileSectorSizeMismatch: request.allowFileSectorSizeMismatch }),
    ...(request.protect === undefined ? {} : { protect: request.protect }),
  };
  if (request.disk !== undefined) {
    const report = await inspectTarget(
      request.disk,
      requirements,
      request.fileSectorSize === undefined ? {} : { fileSectorSize: request.fileSectorSize },
    );
    const first = report.problems[0];
    if (first !== undefined) throw first.toError();
    if (report.kind === 'block-device') {
      const reason = sourceProblem(
        await readBlockDevice(await kernelNameOf(request.disk)),
        await blockDevicesOpenHere(),
      );
      if (reason !== undefined) {
        throw new BlockWriterError(
          'BLOCK_TARGET_IS_SOURCE',
          `${request.disk}: refusing to write: ${reason}; write the image to another disk.`,
          { device: request.disk },
        );
      }
    }
    return {
      path: request.disk,
      how: 'explicit',
      size: report.size,
      sectorSize: report.sectorSize,
      considered: [
        { path: request.disk, size: report.size, sectorSize: report.sectorSize, selected: true, reasons: [] },
      ],
    };
  }
  const candidates =
    request.candidates ??
    (await discoverDisks(request.prefixes === undefined ? {} : { prefixes: request.prefixes }));
  // Array.prototype.sort is stable: equal sizes keep discovery order, as Trident's lsblk order.
  const bySize = [...candidates].sort((a, b) => a.size - b.size);
  const considered: ConsideredDisk[] = [];
  const openHere = await blockDevicesOpenHere();
  let chosen: ConsideredDisk | undefined;
  for (const disk of bySize) {
    const entry: ConsideredDisk = {
      path: disk.path,
      size: disk.size,
      sectorSize: disk.logicalSectorSize,
      selected: false,
      reasons: [],
    };
    if (chosen !== undefined) {
      entry.reasons.push({
        code: 'BLOCK_LARGER_THAN_SELECTED',
        reason: `a smaller suitable disk (${chosen.path}) was selected`,
      });
    } else {
      const problems = await inspectBlockDevice(disk, requirements);
      entry.reasons.push(...problems.map((p) => ({ code: p.code, reason: p.reason })));
      const source = sourceProblem(disk, openHere);
      if (source !== undefined) entry.reasons.push({ code: 'BLOCK_TARGET_IS_SOURCE', reason: source });
      if (entry.reasons.length === 0) {
        entry.selected = true;
        chosen = entry;
      }
    }
    considered.push(entry);
  }
  if (chosen === undefined) {
    const detail =
      considered.length === 0
        ? 'no candidate disks were found'
        : considered
            .map((d) => `${d.path} (${d.size} bytes): ${d.reasons.map((r) => r.reason).join('; ')}`)
            .join(' | ');
    throw new BlockWriterError(
      'BLOCK_NO_SUITABLE_DISK',
      `No block device found with required size of at least ${request.requiredSize} bytes that is safe to write: ${detail}. Attach a suitable disk or pass one explicitly with --disk.`,
    );
  }
  return {
    path: chosen.path,
    how: 'smallest-that-fits',
    size: chosen.size,
    sectorSize: chosen.sectorSize,
    considered,
  };
}

/** Plain-text lines describing a selection, for `--dry-run` output (printing is the caller's job). */
export function describeDiskSelection(selection: DiskSelection): string[] {
  const lines = [
    `target disk: ${selection.path} (${selection.size} bytes, ${selection.sectorSize}-byte sectors; ${selection.how})`,
  ];
  for (const disk of selection.considered) {
    if (disk.selected) continue;
    lines.push(`skipped ${disk.path} (${disk.size} bytes): ${disk.reasons.map((r) => r.reason).join('; ')}`);
  }
  return lines;
}
