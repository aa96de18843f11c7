import { DEFAULT_ENTRY_COUNT, encodeGptRegion, type GptEntry, type GptPartition } from '@trident/cosi-format';
import type { Disk } from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import type { AdoptedMatch } from './adopt-partitions.ts';
import {
  alignUp,
  checkDiskFits,
  type DiskLayout,
  entryLbas,
  type LaidOutPartition,
  newPartitionEntry,
} from './layout.ts';

const MiB = 1024 * 1024;

/** What a disk with adopted partitions keeps of its existing table. */
export interface ExistingDisk {
  /** The old table's disk GUID: kept, as upstream's repartitioning keeps the table it edits. */
  diskGuid: string;
  adopted: readonly AdoptedMatch[];
  /** The existing partitions not adopted: dropped from the table (for the plan's steps). */
  removed: readonly GptPartition[];
}

interface Gap {
  start: number;
  end: number;
}

function noSpace(disk: Disk, what: string, gaps: readonly Gap[]): EngineError {
  const free = gaps.map((g) => `${((g.end - g.start) / MiB).toFixed(0)} MiB at byte ${g.start}`);
  return new EngineError(
    'UNSUPPORTED_CONFIGURATION_ERROR',
    'no-suitable-disk',
    `disk '${disk.id}': ${what} does not fit in the space around the adopted partitions (free: ${free.length > 0 ? free.join(', ') : 'none'}); make it smaller, or adopt fewer partitions`,
    { code: 'ENGINE_ADOPTED_NO_SPACE' },
  );
}

/**
 * Lays out a disk that keeps adopted partitions: they stay where they are, with their entry
 * numbers, GUIDs, names and attributes; every other existing partition is dropped (upstream
 * deletes the unmatched ones). New partitions go into the free space around the kept ones on 1 MiB
 * boundaries: fixed sizes first, in configuration order, each into the lowest gap that holds it;
 * then the `grow` partition takes the largest gap left. New partitions take the lowest free entry
 * numbers, in configuration order. Refused before any write when something does not fit.
 */
export function layoutAroundAdopted(
  disk: Disk,
  diskSize: number,
  sectorSize: number,
  arch: 'x64' | 'arm64',
  existing: ExistingDisk,
): DiskLayout {
  const minimumSize = checkDiskFits(disk, diskSize, sectorSize);
  const totalLbas = Math.floor(diskSize / sectorSize);
  const firstUsable = 2 + entryLbas(sectorSize);
  const lastUsable = totalLbas - 1 - entryLbas(sectorSize) - 1;
  const kept = [...existing.adopted].sort((a, b) => a.entry.firstLba - b.entry.firstLba);
  for (const { id, entry } of kept) {
    if (entry.firstLba < firstUsable || entry.lastLba > lastUsable || entry.number > DEFAULT_ENTRY_COUNT)
      throw new EngineError(
        'UNSUPPORTED_CONFIGURATION_ERROR',
        'no-suitable-disk',
        `disk '${disk.id}': adopted partition '${id}' (entry ${entry.number}, LBAs ${entry.firstLba}-${entry.lastLba}) lies outside what a ${DEFAULT_ENTRY_COUNT}-entry table on this ${diskSize}-byte disk can describe (usable LBAs ${firstUsable}-${lastUsable}, entries 1-${DEFAULT_ENTRY_COUNT}); it cannot be kept`,
        { code: 'ENGINE_ADOPTED_OUTSIDE_TABLE' },
      );
  }
  const gaps: Gap[] = [];
  let cursor = MiB;
  const addGap = (limit: number) => {
    const end = Math.floor(limit / MiB) * MiB;
    if (end > cursor) gaps.push({ start: cursor, end });
  };
  for (const { entry } of kept) {
    addGap(entry.firstLba * sectorSize);
    cursor = Math.max(cursor, alignUp((entry.lastLba + 1) * sectorSize, MiB));
  }
  addGap((lastUsable + 1) * sectorSize);

  const placed = new Map<string, { offset: number; length: number }>();
  for (const partition of disk.partitions) {
    if (partition.size === 'grow') continue;
    const size = partition.size;
    const gap = gaps.find((g) => g.end - g.start >= size);
    if (gap === undefined) throw noSpace(disk, `partition '${partition.id}' (${size} bytes)`, gaps);
    placed.set(partition.id, { offset: gap.start, length: size });
    gap.start = Math.min(gap.end, alignUp(gap.start + size, MiB));
  }
  const grow = disk.partitions.find((p) => p.size === 'grow');
  if (grow !== undefined) {
    const largest = gaps.reduce<Gap | undefined>(
      (best, g) => (best === undefined || g.end - g.start > best.end - best.start ? g : best),
      undefined,
    );
    if (largest === undefined || largest.end - largest.start < MiB)
      throw noSpace(disk, `the grow partition '${grow.id}' (at least 1 MiB)`, gaps);
    placed.set(grow.id, { offset: largest.start, length: largest.end - largest.start });
  }

  const usedNumbers = new Set(kept.map((k) => k.entry.number));
  let nextNumber = 1;
  const partitions: LaidOutPartition[] = kept.map(({ id, entry }) => ({
    id,
    number: entry.number,
    typeGuid: entry.typeGuid.toLowerCase(),
    uuid: entry.partitionGuid.toLowerCase(),
    label: entry.name,
    firstLba: entry.firstLba,
    lastLba: entry.lastLba,
    offset: entry.firstLba * sectorSize,
    length: (entry.lastLba - entry.firstLba + 1) * sectorSize,
    adopted: { attributes: entry.attributes },
  }));
  for (const partition of disk.partitions) {
    while (usedNumbers.has(nextNumber)) nextNumber++;
    usedNumbers.add(nextNumber);
    const { offset, length } = placed.get(partition.id)!;
    partitions.push(newPartitionEntry(partition, nextNumber, offset, length, sectorSize, arch));
  }
  partitions.sort((a, b) => a.number - b.number);
  const entryOf = (p: LaidOutPartition): GptEntry => ({
    ...p,
    partitionGuid: p.uuid,
    name: p.label,
    ...(p.adopted ? { attributes: p.adopted.attributes } : {}),
  });
  const region = (entries: readonly LaidOutPartition[]) =>
    encodeGptRegion({
      lbaSize: sectorSize,
      totalLbas,
      diskGuid: existing.diskGuid,
      lastUsableLba: lastUsable,
      partitions: entries.map(entryOf),
    });
  const adoptedPartitions = partitions.filter((p) => p.adopted);
  return {
    diskId: disk.id,
    diskUuid: existing.diskGuid.toLowerCase(),
    sectorSize,
    minimumSize,
    partitions,
    gptRegion: region(partitions),
    kept: {
      removed: existing.removed.map((p) => ({
        number: p.number,
        name: p.name,
        uuid: p.partitionGuid.toLowerCase(),
      })),
      ranges: adoptedPartitions.map((p) => [p.offset, p.offset + p.length]),
      gptRegion: region(adoptedPartitions),
    },
  };
}
