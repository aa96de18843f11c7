import { crc32 } from 'node:zlib';
import { guidToBytes } from '../gpt/guid.ts';

export interface MemoryPartition {
  typeGuid: string;
  partitionGuid: string;
  firstLba: number;
  lastLba: number;
  name: string;
  /** Entry index (1-based); defaults to the position in the list. */
  number?: number;
}

/**
 * Builds a primary-GPT region (protective MBR, header, 128 entries of 128 bytes) in memory, with
 * correct CRCs, for tests that need a table without running sgdisk.
 */
export function buildGptRegion(options: {
  lbaSize: 512 | 4096;
  diskSize: number;
  partitions: MemoryPartition[];
  diskGuid?: string;
  /** Header fields a test wants wrong; the CRCs are still computed over them. */
  entryCount?: number;
  firstUsableLba?: number;
  lastUsableLba?: number;
}): Uint8Array {
  const { lbaSize, diskSize } = options;
  const entriesLba = 2;
  const entryCount = options.entryCount ?? 128;
  const entrySize = 128;
  const entriesBytes = entryCount * entrySize;
  const totalLbas = diskSize / lbaSize;
  const entryLbas = Math.ceil(entriesBytes / lbaSize);
  const region = new Uint8Array(entriesLba * lbaSize + entriesBytes);
  const view = new DataView(region.buffer);

  // Protective MBR: one partition of type 0xEE covering the disk (capped at 32 bits).
  const mbr = 446;
  region[mbr + 4] = 0xee;
  view.setUint32(mbr + 8, 1, true);
  view.setUint32(mbr + 12, Math.min(totalLbas - 1, 0xffffffff), true);
  region[510] = 0x55;
  region[511] = 0xaa;

  const entries = region.subarray(entriesLba * lbaSize);
  const entryView = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  options.partitions.forEach((partition, i) => {
    if ((partition.number ?? i + 1) > entryCount) return;
    const base = ((partition.number ?? i + 1) - 1) * entrySize;
    entries.set(guidToBytes(partition.typeGuid), base);
    entries.set(guidToBytes(partition.partitionGuid), base + 16);
    entryView.setBigUint64(base + 32, BigInt(partition.firstLba), true);
    entryView.setBigUint64(base + 40, BigInt(partition.lastLba), true);
    const name = Buffer.from(partition.name, 'utf16le');
    entries.set(name.subarray(0, 72), base + 56);
  });

  const header = region.subarray(lbaSize, lbaSize + 92);
  const hv = new DataView(header.buffer, header.byteOffset, 92);
  header.set(new TextEncoder().encode('EFI PART'), 0);
  hv.setUint32(8, 0x00010000, true);
  hv.setUint32(12, 92, true);
  hv.setBigUint64(24, 1n, true);
  hv.setBigUint64(32, BigInt(totalLbas - 1), true);
  hv.setBigUint64(40, BigInt(options.firstUsableLba ?? entriesLba + entryLbas), true);
  hv.setBigUint64(48, BigInt(options.lastUsableLba ?? totalLbas - 1 - entryLbas - 1), true);
  header.set(guidToBytes(options.diskGuid ?? '11111111-2222-3333-4444-555555555555'), 56);
  hv.setBigUint64(72, BigInt(entriesLba), true);
  hv.setUint32(80, entryCount, true);
  hv.setUint32(84, entrySize, true);
  hv.setUint32(88, crc32(entries), true);
  hv.setUint32(16, crc32(header), true);
  return region;
}
