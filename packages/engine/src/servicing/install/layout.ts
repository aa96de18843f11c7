import { randomUUID } from 'node:crypto';
import { DEFAULT_ENTRY_COUNT, DEFAULT_ENTRY_SIZE, encodeGptRegion } from '@trident/cosi-format';
import { type Disk, partitionTypeGuid } from '@trident/host-config';
import { EngineError } from '../../errors.ts';

const MiB = 1024 * 1024;
const ENTRY_COUNT = DEFAULT_ENTRY_COUNT;
const ENTRY_SIZE = DEFAULT_ENTRY_SIZE;

export interface LaidOutPartition {
  id: string;
  /** 1-based GPT entry number, in configuration order. */
  number: number;
  typeGuid: string;
  uuid: string;
  label: string;
  firstLba: number;
  lastLba: number;
  offset: number;
  length: number;
  /**
   * An existing partition kept as it is (`adoptedPartitions`): its entry (number, GUIDs, name,
   * range, attributes) is copied into the new table and nothing is ever written into its bytes.
   */
  adopted?: { attributes: bigint };
}

export interface DiskLayout {
  diskId: string;
  /** The disk GUID written into the GPT header (Host Status `diskUuids`). */
  diskUuid: string;
  sectorSize: number;
  /** Bytes the fixed-size partitions need, GPT included (what a target must hold at least). */
  minimumSize: number;
  partitions: LaidOutPartition[];
  /** Protective MBR + primary header + entries, ready for block-writer's writeGpt. */
  gptRegion: Uint8Array;
  /**
   * Set when the disk keeps adopted partitions: their byte ranges (never wiped or written) and a
   * table holding only them, written in place of the old one when the run opens the disk, so an
   * interrupted run leaves the adopted partitions reachable and nothing pointing at half-written data.
   */
  kept?: {
    ranges: Array<[number, number]>;
    gptRegion: Uint8Array;
    /** The existing partitions the new table drops (not adopted). */
    removed: Array<{ number: number; name: string; uuid: string }>;
  };
}

export function entryLbas(sectorSize: number): number {
  return Math.ceil((ENTRY_COUNT * ENTRY_SIZE) / sectorSize);
}

/** Bytes the fixed partitions of a disk need, with 1 MiB alignment and the backup GPT. */
export function minimumDiskSize(disk: Disk, sectorSize: number): number {
  let end = MiB;
  for (const partition of disk.partitions)
    end += partition.size === 'grow' ? MiB : alignUp(partition.size, MiB);
  return end + (1 + entryLbas(sectorSize)) * sectorSize + MiB;
}

export function alignUp(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/**
 * What every layout checks first, fresh or around adopted partitions: one `grow` partition at most,
 * no more partitions than the table holds, and a target that holds the fixed sizes. Returns the
 * minimum size.
 */
export function checkDiskFits(disk: Disk, diskSize: number, sectorSize: number): number {
  const grows = disk.partitions.filter((p) => p.size === 'grow');
  if (grows.length > 1) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `disk '${disk.id}': only one partition can use size 'grow' (${grows.map((p) => p.id).join(', ')})`,
    );
  }
  const count = disk.partitions.length + disk.adoptedPartitions.length;
  if (count > ENTRY_COUNT) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `disk '${disk.id}' has ${count} partitions (adopted ones included), but its GPT holds at most ${ENTRY_COUNT}; use fewer partitions`,
      { code: 'ENGINE_TOO_MANY_PARTITIONS' },
    );
  }
  const minimum = minimumDiskSize(disk, sectorSize);
  if (diskSize < minimum) {
    throw new EngineError(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'no-suitable-disk',
      `disk '${disk.id}' needs at least ${minimum} bytes for its partitions but the target has ${diskSize}`,
      { code: 'ENGINE_DISK_TOO_SMALL' },
    );
  }
  return minimum;
}

/**
 * Lays a configured disk out as Trident does for a clean install: partitions in configuration
 * order from 1 MiB, each starting on a 1 MiB boundary, fixed sizes exact, one `grow` partition
 * taking the rest of the disk. Returns the GPT region to write once the data is in place. (A disk
 * that keeps adopted partitions is laid out by adopted-layout.ts instead.)
 */
/**
 * A configured partition at `offset`, `length` bytes rounded up to whole sectors, under entry
 * `number`: its type GUID for the architecture, its configured or a random partition GUID, its
 * label (the id when none). One home for fresh layouts and layouts around adopted partitions.
 */
export function newPartitionEntry(
  partition: Disk['partitions'][number],
  number: number,
  offset: number,
  length: number,
  sectorSize: number,
  arch: 'x64' | 'arm64',
): LaidOutPartition {
  const firstLba = offset / sectorSize;
  const lastLba = firstLba + Math.ceil(length / sectorSize) - 1;
  return {
    id: partition.id,
    number,
    typeGuid: partitionTypeGuid(partition.type, arch),
    uuid: (partition.uuid ?? randomUUID()).toLowerCase(),
    label: partition.label ?? partition.id,
    firstLba,
    lastLba,
    offset,
    length: (lastLba - firstLba + 1) * sectorSize,
  };
}

export function layoutDisk(
  disk: Disk,
  diskSize: number,
  sectorSize: number,
  arch: 'x64' | 'arm64',
): DiskLayout {
  const minimum = checkDiskFits(disk, diskSize, sectorSize);
  const totalLbas = Math.floor(diskSize / sectorSize);
  const lastUsable = totalLbas - 1 - entryLbas(sectorSize) - 1;
  const fixedAfter = (index: number): number =>
    disk.partitions
      .slice(index + 1)
      .reduce((sum, p) => sum + (p.size === 'grow' ? 0 : alignUp(p.size, MiB)), 0);
  const partitions: LaidOutPartition[] = [];
  let offset = MiB;
  disk.partitions.forEach((partition, index) => {
    let length: number;
    if (partition.size === 'grow') {
      const end = Math.floor(((lastUsable + 1) * sectorSize - fixedAfter(index)) / MiB) * MiB;
      length = end - offset;
    } else {
      length = partition.size;
    }
    partitions.push(newPartitionEntry(partition, index + 1, offset, length, sectorSize, arch));
    offset = alignUp(offset + length, MiB);
  });
  const diskUuid = randomUUID();
  return {
    diskId: disk.id,
    diskUuid,
    sectorSize,
    minimumSize: minimum,
    partitions,
    // Protective MBR, header at LBA 1, 128 entries of 128 bytes from LBA 2 (cosi-format's encoder).
    gptRegion: encodeGptRegion({
      lbaSize: sectorSize,
      totalLbas,
      diskGuid: diskUuid,
      lastUsableLba: lastUsable,
      partitions: partitions.map((p) => ({ ...p, partitionGuid: p.uuid, name: p.label })),
    }),
  };
}
