import { randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { guidToBytes } from '@trident/cosi-format';
import { type Disk, partitionTypeGuid } from '@trident/host-config';
import { EngineError } from '../../errors.ts';

const MiB = 1024 * 1024;
const ENTRY_COUNT = 128;
const ENTRY_SIZE = 128;

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
}

export interface DiskLayout {
  diskId: string;
  sectorSize: number;
  /** Bytes the fixed-size partitions need, GPT included (what a target must hold at least). */
  minimumSize: number;
  partitions: LaidOutPartition[];
  /** Protective MBR + primary header + entries, ready for block-writer's writeGpt. */
  gptRegion: Uint8Array;
}

function entryLbas(sectorSize: number): number {
  return Math.ceil((ENTRY_COUNT * ENTRY_SIZE) / sectorSize);
}

/** Bytes the fixed partitions of a disk need, with 1 MiB alignment and the backup GPT. */
export function minimumDiskSize(disk: Disk, sectorSize: number): number {
  let end = MiB;
  for (const partition of disk.partitions)
    end += partition.size === 'grow' ? MiB : alignUp(partition.size, MiB);
  return end + (1 + entryLbas(sectorSize)) * sectorSize + MiB;
}

function alignUp(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/**
 * Lays a configured disk out as Trident does for a clean install: partitions in configuration
 * order from 1 MiB, each starting on a 1 MiB boundary, fixed sizes exact, one `grow` partition
 * taking the rest of the disk. Returns the GPT region to write once the data is in place.
 */
export function layoutDisk(
  disk: Disk,
  diskSize: number,
  sectorSize: number,
  arch: 'x64' | 'arm64',
): DiskLayout {
  const grows = disk.partitions.filter((p) => p.size === 'grow');
  if (grows.length > 1) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `disk '${disk.id}': only one partition can use size 'grow' (${grows.map((p) => p.id).join(', ')})`,
    );
  }
  if (disk.partitions.length > ENTRY_COUNT) {
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `disk '${disk.id}' has ${disk.partitions.length} partitions, but its GPT holds at most ${ENTRY_COUNT}; use fewer partitions`,
      { code: 'ENGINE_TOO_MANY_PARTITIONS' },
    );
  }
  const totalLbas = Math.floor(diskSize / sectorSize);
  const lastUsable = totalLbas - 1 - entryLbas(sectorSize) - 1;
  const minimum = minimumDiskSize(disk, sectorSize);
  if (diskSize < minimum) {
    throw new EngineError(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'no-suitable-disk',
      `disk '${disk.id}' needs at least ${minimum} bytes for its partitions but the target has ${diskSize}`,
      { code: 'ENGINE_DISK_TOO_SMALL' },
    );
  }
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
    const firstLba = offset / sectorSize;
    const lastLba = firstLba + Math.ceil(length / sectorSize) - 1;
    partitions.push({
      id: partition.id,
      number: index + 1,
      typeGuid: partitionTypeGuid(partition.type, arch),
      uuid: (partition.uuid ?? randomUUID()).toLowerCase(),
      label: partition.label ?? partition.id,
      firstLba,
      lastLba,
      offset,
      length: (lastLba - firstLba + 1) * sectorSize,
    });
    offset = alignUp(offset + length, MiB);
  });
  return {
    diskId: disk.id,
    sectorSize,
    minimumSize: minimum,
    partitions,
    gptRegion: encodeRegion(partitions, totalLbas, lastUsable, sectorSize),
  };
}

/** UEFI GPT: protective MBR, header at LBA 1, 128 entries of 128 bytes from LBA 2. */
function encodeRegion(
  partitions: LaidOutPartition[],
  totalLbas: number,
  lastUsable: number,
  sectorSize: number,
): Uint8Array {
  const region = new Uint8Array(2 * sectorSize + ENTRY_COUNT * ENTRY_SIZE);
  const view = new DataView(region.buffer);
  region[446 + 4] = 0xee;
  view.setUint32(446 + 8, 1, true);
  view.setUint32(446 + 12, Math.min(totalLbas - 1, 0xffffffff), true);
  region[510] = 0x55;
  region[511] = 0xaa;
  const entries = region.subarray(2 * sectorSize);
  const entriesView = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  for (const partition of partitions) {
    const base = (partition.number - 1) * ENTRY_SIZE;
    entries.set(guidToBytes(partition.typeGuid), base);
    entries.set(guidToBytes(partition.uuid), base + 16);
    entriesView.setBigUint64(base + 32, BigInt(partition.firstLba), true);
    entriesView.setBigUint64(base + 40, BigInt(partition.lastLba), true);
    entries.set(Buffer.from(partition.label, 'utf16le').subarray(0, 72), base + 56);
  }
  const header = region.subarray(sectorSize, sectorSize + 92);
  const hv = new DataView(header.buffer, header.byteOffset, 92);
  header.set(new TextEncoder().encode('EFI PART'), 0);
  hv.setUint32(8, 0x00010000, true);
  hv.setUint32(12, 92, true);
  hv.setBigUint64(24, 1n, true);
  hv.setBigUint64(32, BigInt(totalLbas - 1), true);
  hv.setBigUint64(40, BigInt(2 + entryLbas(sectorSize)), true);
  hv.setBigUint64(48, BigInt(lastUsable), true);
  header.set(guidToBytes(randomUUID()), 56);
  hv.setBigUint64(72, 2n, true);
  hv.setUint32(80, ENTRY_COUNT, true);
  hv.setUint32(84, ENTRY_SIZE, true);
  hv.setUint32(88, crc32(entries), true);
  hv.setUint32(16, crc32(header), true);
  return region;
}
