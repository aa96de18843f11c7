import { crc32 } from 'node:zlib';
import { BlockWriterError } from './errors.ts';

/**
 * Minimal GPT model for writing (UEFI 2.10 §5.3). Only what replication needs: decode the COSI
 * primary-GPT region (protective MBR + header + entry array), then lay out primary and backup
 * headers for a disk of another size. Entries are carried as raw bytes and written verbatim.
 */

export const GPT_SIGNATURE = 'EFI PART';
const HEADER_SIZE = 92;
const MBR_SIGNATURE_OFFSET = 510;
const MBR_RECORDS_OFFSET = 446;
const PROTECTIVE_TYPE = 0xee;

export interface GptHeader {
  revision: number;
  headerSize: number;
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  /** 16 raw bytes, on-disk (mixed-endian) order. */
  diskGuid: Uint8Array;
  partitionEntryLba: number;
  numberOfEntries: number;
  entrySize: number;
  entriesCrc32: number;
}

export interface GptPartition {
  /** 1-based index in the entry array: the partition number (`sda<number>`). */
  number: number;
  typeGuid: string;
  partitionGuid: string;
  firstLba: number;
  lastLba: number;
  attributes: bigint;
  name: string;
}

export interface DecodedGpt {
  lbaSize: number;
  /** LBA0, the protective MBR, as found. */
  mbr: Uint8Array;
  header: GptHeader;
  /** The entry array exactly as in the image (numberOfEntries × entrySize bytes). */
  entries: Uint8Array;
  /** Non-empty entries, by number. */
  partitions: GptPartition[];
}

function invalid(message: string): BlockWriterError {
  return new BlockWriterError(
    'BLOCK_GPT_INVALID',
    `COSI primary-GPT region: ${message}; the image is damaged or was not built for GPT streaming (COSI 1.2 §disk).`,
  );
}

/** `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` from the on-disk layout (first three fields little-endian). */
export function formatGuid(bytes: Uint8Array): string {
  const hex = (from: number, to: number, reverse: boolean): string => {
    const part = Array.from(bytes.subarray(from, to));
    if (reverse) part.reverse();
    return part.map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readLba(dv: DataView, offset: number, field: string): number {
  const value = dv.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${field} ${value} is out of range`);
  return Number(value);
}

/** CRC32 of a header: over `headerSize` bytes with the CRC field (offset 16) taken as zero. */
function headerCrc(headerBytes: Uint8Array, headerSize: number): number {
  const copy = new Uint8Array(headerBytes.subarray(0, headerSize));
  view(copy).setUint32(16, 0, true);
  return crc32(copy);
}

export function decodeGptHeader(lba: Uint8Array): GptHeader {
  const signature = new TextDecoder('latin1').decode(lba.subarray(0, 8));
  if (signature !== GPT_SIGNATURE) throw invalid(`LBA1 has no '${GPT_SIGNATURE}' signature`);
  const dv = view(lba);
  const headerSize = dv.getUint32(12, true);
  if (headerSize < HEADER_SIZE || headerSize > lba.byteLength) {
    throw invalid(`header size ${headerSize} is outside ${HEADER_SIZE}..${lba.byteLength}`);
  }
  const stored = dv.getUint32(16, true);
  const computed = headerCrc(lba, headerSize);
  if (stored !== computed) {
    throw invalid(
      `header CRC32 is 0x${stored.toString(16)} but the header computes to 0x${computed.toString(16)}`,
    );
  }
  return {
    revision: dv.getUint32(8, true),
    headerSize,
    myLba: readLba(dv, 24, 'MyLBA'),
    alternateLba: readLba(dv, 32, 'AlternateLBA'),
    firstUsableLba: readLba(dv, 40, 'FirstUsableLBA'),
    lastUsableLba: readLba(dv, 48, 'LastUsableLBA'),
    diskGuid: new Uint8Array(lba.subarray(56, 72)),
    partitionEntryLba: readLba(dv, 72, 'PartitionEntryLBA'),
    numberOfEntries: dv.getUint32(80, true),
    entrySize: dv.getUint32(84, true),
    entriesCrc32: dv.getUint32(88, true),
  };
}

/** One LBA holding `header`, with HeaderSize 92, zeroed reserved space and a fresh CRC32. */
export function encodeGptHeader(header: GptHeader, lbaSize: number): Uint8Array {
  const lba = new Uint8Array(lbaSize);
  lba.set(new TextEncoder().encode(GPT_SIGNATURE), 0);
  const dv = view(lba);
  dv.setUint32(8, header.revision, true);
  dv.setUint32(12, HEADER_SIZE, true);
  dv.setBigUint64(24, BigInt(header.myLba), true);
  dv.setBigUint64(32, BigInt(header.alternateLba), true);
  dv.setBigUint64(40, BigInt(header.firstUsableLba), true);
  dv.setBigUint64(48, BigInt(header.lastUsableLba), true);
  lba.set(header.diskGuid, 56);
  dv.setBigUint64(72, BigInt(header.partitionEntryLba), true);
  dv.setUint32(80, header.numberOfEntries, true);
  dv.setUint32(84, header.entrySize, true);
  dv.setUint32(88, header.entriesCrc32, true);
  dv.setUint32(16, headerCrc(lba, HEADER_SIZE), true);
  return lba;
}

function decodePartitions(entries: Uint8Array, header: GptHeader): GptPartition[] {
  const partitions: GptPartition[] = [];
  for (let index = 0; index < header.numberOfEntries; index++) {
    const entry = entries.subarray(index * header.entrySize, (index + 1) * header.entrySize);
    const type = entry.subarray(0, 16);
    if (type.every((b) => b === 0)) continue;
    const dv = view(entry);
    const nameBytes = entry.subarray(56, 128);
    let name = new TextDecoder('utf-16le').decode(nameBytes);
    const nul = name.indexOf('\u0000');
    if (nul >= 0) name = name.slice(0, nul);
    partitions.push({
      number: index + 1,
      typeGuid: formatGuid(type),
      partitionGuid: formatGuid(entry.subarray(16, 32)),
      firstLba: readLba(dv, 32, `entry ${index + 1} StartingLBA`),
      lastLba: readLba(dv, 40, `entry ${index + 1} EndingLBA`),
      attributes: dv.getBigUint64(48, true),
      name,
    });
  }
  return partitions;
}

/**
 * Decodes and validates the COSI primary-GPT region: bytes from LBA0 to the end of the partition
 * entry array (cosi-format §2.4). Stricter than Trident: also requires a protective MBR record,
 * entries inside the usable range and no overlapping partitions, because we are about to point a
 * disk at them.
 */
export function decodeGptRegion(region: Uint8Array, lbaSize: number): DecodedGpt {
  if (lbaSize !== 512 && lbaSize !== 4096) throw invalid(`unsupported LBA size ${lbaSize} (512 or 4096)`);
  if (region.byteLength < 2 * lbaSize) {
    throw invalid(`${region.byteLength} bytes is smaller than two ${lbaSize}-byte LBAs`);
  }
  const mbr = new Uint8Array(region.subarray(0, lbaSize));
  if (mbr[MBR_SIGNATURE_OFFSET] !== 0x55 || mbr[MBR_SIGNATURE_OFFSET + 1] !== 0xaa) {
    throw invalid('LBA0 has no MBR signature 0x55AA');
  }
  if (protectiveRecordIndex(mbr) < 0) throw invalid('LBA0 has no protective (0xEE) partition record');
  const header = decodeGptHeader(region.subarray(lbaSize, 2 * lbaSize));
  if (header.myLba !== 1) throw invalid(`primary header says MyLBA ${header.myLba}, expected 1`);
  if (header.entrySize < 128 || (header.entrySize & (header.entrySize - 1)) !== 0) {
    throw invalid(`partition entry size ${header.entrySize} is not 128 × 2^n`);
  }
  if (header.numberOfEntries === 0 || header.numberOfEntries > 65536) {
    throw invalid(`number of partition entries ${header.numberOfEntries} is out of range`);
  }
  if (header.partitionEntryLba < 2)
    throw invalid(`partition entries at LBA ${header.partitionEntryLba} overlap the header`);
  const entriesStart = header.partitionEntryLba * lbaSize;
  const entriesLength = header.numberOfEntries * header.entrySize;
  if (entriesStart + entriesLength > region.byteLength) {
    throw invalid(
      `the partition entry array (${entriesLength} bytes at byte ${entriesStart}) runs past the region's ${region.byteLength} bytes`,
    );
  }
  const entries = new Uint8Array(region.subarray(entriesStart, entriesStart + entriesLength));
  const computed = crc32(entries);
  if (computed !== header.entriesCrc32) {
    throw invalid(
      `partition entry array CRC32 is 0x${header.entriesCrc32.toString(16)} in the header but computes to 0x${computed.toString(16)}`,
    );
  }
  const entryLbas = Math.ceil(entriesLength / lbaSize);
  if (header.firstUsableLba < header.partitionEntryLba + entryLbas) {
    throw invalid(`FirstUsableLBA ${header.firstUsableLba} lies inside the partition entry array`);
  }
  const partitions = decodePartitions(entries, header);
  for (const p of partitions) {
    if (p.firstLba > p.lastLba || p.firstLba < header.firstUsableLba || p.lastLba > header.lastUsableLba) {
      throw invalid(
        `partition ${p.number} spans LBA ${p.firstLba}..${p.lastLba}, outside the usable range ${header.firstUsableLba}..${header.lastUsableLba}`,
      );
    }
  }
  const sorted = [...partitions].sort((a, b) => a.firstLba - b.firstLba);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1];
    const current = sorted[i];
    if (previous !== undefined && current !== undefined && current.firstLba <= previous.lastLba) {
      throw invalid(`partitions ${previous.number} and ${current.number} overlap`);
    }
  }
  return { lbaSize, mbr, header, entries, partitions };
}

function protectiveRecordIndex(mbr: Uint8Array): number {
  for (let i = 0; i < 4; i++) {
    if (mbr[MBR_RECORDS_OFFSET + i * 16 + 4] === PROTECTIVE_TYPE) return i;
  }
  return -1;
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
export function layoutGpt(gpt: DecodedGpt, totalLbas: number, device = 'target'): GptLayout {
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
    headerSize: HEADER_SIZE,
    firstUsableLba: header.firstUsableLba,
    lastUsableLba,
    diskGuid: gpt.header.diskGuid,
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
  const mbr = new Uint8Array(gpt.mbr);
  const record = MBR_RECORDS_OFFSET + protectiveRecordIndex(mbr) * 16;
  view(mbr).setUint32(record + 12, Math.min(totalLbas - 1, 0xffffffff), true);
  return {
    lbaSize,
    totalLbas,
    mbr,
    primaryHeader,
    backupHeader,
    entries,
    primaryEntriesLba: header.partitionEntryLba,
    backupEntriesLba,
    backupHeaderLba,
    firstUsableLba: header.firstUsableLba,
    lastUsableLba,
    diskGuid: formatGuid(gpt.header.diskGuid),
    partitions: gpt.partitions,
  };
}
