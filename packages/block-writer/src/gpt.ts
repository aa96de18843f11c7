import { crc32 } from 'node:zlib';
import {
  decodeGpt,
  decodeGptHeader as decodeHeader,
  encodeGptHeader,
  type Gpt,
  type GptHeader,
  type GptPartition,
  isCosiError,
  sizeProtectiveMbr,
} from '@trident/cosi-format';
import { BlockWriterError } from './errors.ts';

/**
 * The writer's side of GPT (UEFI 2.10 §5.3). The table model, its decoding and its encoding are
 * cosi-format's (one GPT model for reader, validator and writer, so `cosi validate` refuses exactly
 * what a write would); this module turns their refusals into `BLOCK_GPT_INVALID` and lays a decoded
 * table out on a disk of another size. Entries are carried as raw bytes and written verbatim.
 */

export { encodeGptHeader };

function invalid(message: string): BlockWriterError {
  return new BlockWriterError(
    'BLOCK_GPT_INVALID',
    `COSI primary-GPT region: ${message}; the image is damaged or was not built for GPT streaming (COSI 1.2 §disk).`,
  );
}

function reason(error: unknown): string {
  return (error as Error).message.replace(/^GPT: /u, '');
}

/** Decodes one header block (signature, size and CRC checked); `BLOCK_GPT_INVALID` otherwise. */
export function decodeGptHeader(block: Uint8Array): GptHeader {
  try {
    return decodeHeader(block);
  } catch (error) {
    if (isCosiError(error, 'COSI_GPT_INVALID')) throw invalid(reason(error));
    throw error;
  }
}

/**
 * Decodes and validates the COSI primary-GPT region: bytes from LBA0 to the end of the partition
 * entry array (cosi-format §2.4). Stricter than Trident: also requires a protective MBR record,
 * entries inside the usable range and no overlapping partitions, because we are about to point a
 * disk at them.
 */
export function decodeGptRegion(region: Uint8Array, lbaSize: number): Gpt {
  const { table, problems } = decodeGpt(region, { lbaSize: lbaSize as Gpt['lbaSize'] });
  const first = problems[0];
  if (first !== undefined) throw invalid(first.message);
  if (table === undefined) throw invalid('the table cannot be decoded');
  return table;
}

export interface GptLayout {
  lbaSize: number;
  /** Whole LBAs on the target disk. */
  totalLbas: number;
  /** LBA0 with the protective record's size corrected for this disk. */
  mbr: Uint8Array;
  primaryHeader: Uint8Array;
  backupHeader: Uint8Array;
  /** Entry array padded to whole LBAs; written at `primaryEntriesLba` and `backupEntriesLba`. */
  entries: Uint8Array;
  primaryEntriesLba: number;
  backupEntriesLba: number;
  backupHeaderLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  partitions: GptPartition[];
}

/**
 * Lays the decoded GPT out on a disk of `totalLbas` LBAs: entries verbatim, disk GUID kept, backup
 * entries and header at the end of the disk (UEFI §5.3.1), LastUsableLBA just before the backup
 * entries, protective MBR size = disk size − 1 (capped at 0xFFFFFFFF, UEFI §5.2.3).
 */
export function layoutGpt(gpt: Gpt, totalLbas: number, device = 'target'): GptLayout {
  const { lbaSize, header } = gpt;
  const entryLbas = Math.ceil(gpt.entries.byteLength / lbaSize);
  const backupHeaderLba = totalLbas - 1;
  const backupEntriesLba = backupHeaderLba - entryLbas;
  const lastUsableLba = backupEntriesLba - 1;
  const highest = Math.max(header.firstUsableLba, ...gpt.partitions.map((p) => p.lastLba));
  if (lastUsableLba < highest) {
    throw new BlockWriterError(
      'BLOCK_GPT_DOES_NOT_FIT',
      `${device}: the GPT needs LBAs up to ${highest} plus ${entryLbas + 1} LBAs of backup GPT, but the disk has only ${totalLbas} ${lbaSize}-byte LBAs; pick a larger disk.`,
      { device },
    );
  }
  const entries = new Uint8Array(entryLbas * lbaSize);
  entries.set(gpt.entries);
  const common = {
    revision: header.revision,
    firstUsableLba: header.firstUsableLba,
    lastUsableLba,
    diskGuid: header.diskGuid,
    numberOfEntries: header.numberOfEntries,
    entrySize: header.entrySize,
    entriesCrc32: crc32(gpt.entries),
  };
  const primaryHeader = encodeGptHeader(
    { ...common, myLba: 1, alternateLba: backupHeaderLba, partitionEntryLba: header.partitionEntryLba },
    lbaSize,
  );
  const backupHeader = encodeGptHeader(
    { ...common, myLba: backupHeaderLba, alternateLba: 1, partitionEntryLba: backupEntriesLba },
    lbaSize,
  );
  return {
    lbaSize,
    totalLbas,
    mbr: sizeProtectiveMbr(new Uint8Array(gpt.protectiveMbr), totalLbas),
    primaryHeader,
    backupHeader,
    entries,
    primaryEntriesLba: header.partitionEntryLba,
    backupEntriesLba,
    backupHeaderLba,
    firstUsableLba: header.firstUsableLba,
    lastUsableLba,
    diskGuid: header.diskGuid,
    partitions: gpt.partitions,
  };
}
