import { crc32 } from 'node:zlib';
import type { GptHeader } from './gpt.ts';
import { guidToBytes } from './guid.ts';

/**
 * The writing half of the GPT model (UEFI 2.10 §5.2.3, §5.3): protective MBR, header and entry
 * array as bytes. `gpt.ts` reads the same layout back; everything that lays a table on a disk
 * (block-writer relocating an image's table, the install planner building one, test fixtures)
 * encodes through here.
 */

export const GPT_SIGNATURE = 'EFI PART';
/** UEFI 2.x revision 1.0, the only one in use. */
export const GPT_REVISION = 0x0001_0000;
/** Size of the header fields UEFI defines; the rest of LBA 1 is reserved and zero. */
export const GPT_HEADER_SIZE = 92;
export const DEFAULT_ENTRY_COUNT = 128;
export const DEFAULT_ENTRY_SIZE = 128;

const MBR_RECORDS_OFFSET = 446;
const PROTECTIVE_TYPE = 0xee;

/** The header fields an encoder needs; size and CRC are always computed. */
export type GptHeaderFields = Omit<GptHeader, 'headerSize' | 'headerCrc32'>;

/** One partition entry to encode; `number` is its 1-based slot in the entry array. */
export interface GptEntry {
  number: number;
  typeGuid: string;
  partitionGuid: string;
  firstLba: number;
  lastLba: number;
  attributes?: bigint;
  name: string;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** CRC32 of a header: over `headerSize` bytes with the CRC field (offset 16) taken as zero. */
export function gptHeaderCrc(block: Uint8Array, headerSize: number): number {
  const copy = Uint8Array.from(block.subarray(0, headerSize));
  copy.fill(0, 16, 20);
  return crc32(copy);
}

/** One LBA holding `header`: HeaderSize 92, reserved space zeroed, a fresh header CRC32. */
export function encodeGptHeader(header: GptHeaderFields, lbaSize: number): Uint8Array {
  const block = new Uint8Array(lbaSize);
  const view = viewOf(block);
  block.set(new TextEncoder().encode(GPT_SIGNATURE), 0);
  view.setUint32(8, header.revision, true);
  view.setUint32(12, GPT_HEADER_SIZE, true);
  view.setBigUint64(24, BigInt(header.myLba), true);
  view.setBigUint64(32, BigInt(header.alternateLba), true);
  view.setBigUint64(40, BigInt(header.firstUsableLba), true);
  view.setBigUint64(48, BigInt(header.lastUsableLba), true);
  block.set(guidToBytes(header.diskGuid), 56);
  view.setBigUint64(72, BigInt(header.partitionEntryLba), true);
  view.setUint32(80, header.numberOfEntries, true);
  view.setUint32(84, header.entrySize, true);
  view.setUint32(88, header.entriesCrc32, true);
  view.setUint32(16, gptHeaderCrc(block, GPT_HEADER_SIZE), true);
  return block;
}

/** The entry array: `numberOfEntries` slots of `entrySize` bytes, unused slots zero. */
export function encodeGptEntries(
  entries: readonly GptEntry[],
  numberOfEntries = DEFAULT_ENTRY_COUNT,
  entrySize = DEFAULT_ENTRY_SIZE,
): Uint8Array {
  const array = new Uint8Array(numberOfEntries * entrySize);
  const view = viewOf(array);
  for (const entry of entries) {
    if (entry.number < 1 || entry.number > numberOfEntries) continue;
    const base = (entry.number - 1) * entrySize;
    array.set(guidToBytes(entry.typeGuid), base);
    array.set(guidToBytes(entry.partitionGuid), base + 16);
    view.setBigUint64(base + 32, BigInt(entry.firstLba), true);
    view.setBigUint64(base + 40, BigInt(entry.lastLba), true);
    view.setBigUint64(base + 48, entry.attributes ?? 0n, true);
    // UTF-16LE, at most 36 code units, NUL-padded.
    array.set(Buffer.from(entry.name, 'utf16le').subarray(0, 72), base + 56);
  }
  return array;
}

/** Index (0..3) of the protective (type 0xEE) record in an MBR, or -1. */
export function protectiveRecordIndex(mbr: Uint8Array): number {
  for (let i = 0; i < 4; i++) {
    if (mbr[MBR_RECORDS_OFFSET + i * 16 + 4] === PROTECTIVE_TYPE) return i;
  }
  return -1;
}

/**
 * Sets the protective record's size for a disk of `totalLbas` LBAs: everything after LBA 0,
 * capped at 0xFFFFFFFF on disks past 2 TiB (UEFI 2.10 §5.2.3). Edits `mbr` in place.
 */
export function sizeProtectiveMbr(mbr: Uint8Array, totalLbas: number): Uint8Array {
  const index = protectiveRecordIndex(mbr);
  if (index < 0) throw new RangeError('the MBR has no protective (0xEE) partition record');
  viewOf(mbr).setUint32(MBR_RECORDS_OFFSET + index * 16 + 12, Math.min(totalLbas - 1, 0xffffffff), true);
  return mbr;
}

/** LBA 0 of a GPT disk: one protective record from LBA 1 over the whole disk, boot signature. */
export function encodeProtectiveMbr(lbaSize: number, totalLbas: number): Uint8Array {
  const mbr = new Uint8Array(lbaSize);
  mbr[MBR_RECORDS_OFFSET + 4] = PROTECTIVE_TYPE;
  viewOf(mbr).setUint32(MBR_RECORDS_OFFSET + 8, 1, true);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  return sizeProtectiveMbr(mbr, totalLbas);
}

export interface GptRegionSpec {
  lbaSize: number;
  /** Whole LBAs of the disk the table is for (places the backup header and LastUsableLBA). */
  totalLbas: number;
  diskGuid: string;
  partitions: readonly GptEntry[];
  /** Defaults: 128 entries of 128 bytes from LBA 2, usable space between them and the backup. */
  entryCount?: number;
  firstUsableLba?: number;
  lastUsableLba?: number;
}

/**
 * A primary-GPT region (COSI 1.2: LBA 0 to the end of the entry array) for a fresh table: protective
 * MBR, header at LBA 1 naming its backup in the last LBA, entries from LBA 2.
 */
export function encodeGptRegion(spec: GptRegionSpec): Uint8Array {
  const { lbaSize, totalLbas } = spec;
  const entryCount = spec.entryCount ?? DEFAULT_ENTRY_COUNT;
  const entries = encodeGptEntries(spec.partitions, entryCount, DEFAULT_ENTRY_SIZE);
  const entriesLba = 2;
  const entryLbas = Math.ceil(entries.byteLength / lbaSize);
  const header = encodeGptHeader(
    {
      revision: GPT_REVISION,
      myLba: 1,
      alternateLba: totalLbas - 1,
      firstUsableLba: spec.firstUsableLba ?? entriesLba + entryLbas,
      lastUsableLba: spec.lastUsableLba ?? totalLbas - 1 - entryLbas - 1,
      diskGuid: spec.diskGuid,
      partitionEntryLba: entriesLba,
      numberOfEntries: entryCount,
      entrySize: DEFAULT_ENTRY_SIZE,
      entriesCrc32: crc32(entries),
    },
    lbaSize,
  );
  const region = new Uint8Array(entriesLba * lbaSize + entries.byteLength);
  region.set(encodeProtectiveMbr(lbaSize, totalLbas), 0);
  region.set(header, lbaSize);
  region.set(entries, entriesLba * lbaSize);
  return region;
}
