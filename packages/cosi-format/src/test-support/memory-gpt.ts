import { encodeGptRegion } from '../gpt/encode.ts';

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
  return encodeGptRegion({
    lbaSize: options.lbaSize,
    totalLbas: options.diskSize / options.lbaSize,
    diskGuid: options.diskGuid ?? '11111111-2222-3333-4444-555555555555',
    partitions: options.partitions.map((partition, i) => ({
      ...partition,
      number: partition.number ?? i + 1,
    })),
    ...(options.entryCount === undefined ? {} : { entryCount: options.entryCount }),
    ...(options.firstUsableLba === undefined ? {} : { firstUsableLba: options.firstUsableLba }),
    ...(options.lastUsableLba === undefined ? {} : { lastUsableLba: options.lastUsableLba }),
  });
}
