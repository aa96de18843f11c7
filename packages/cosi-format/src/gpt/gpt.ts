import { crc32 } from 'node:zlib';
import { CosiError } from '../errors.ts';
import { guidFromBytes, NIL_GUID } from './guid.ts';
import { partitionTypeInfo } from './partition-types.ts';

export type LbaSize = 512 | 4096;

export interface GptHeader {
  revision: number;
  headerSize: number;
  headerCrc32: number;
  currentLba: number;
  backupLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  partitionEntryLba: number;
  numberOfEntries: number;
  entrySize: number;
  entriesCrc32: number;
}

export interface GptPartition {
  /** 1-based index of the entry in the array: the partition number the kernel and COSI use. */
  number: number;
  typeGuid: string;
  partitionGuid: string;
  firstLba: number;
  lastLba: number;
  attributes: bigint;
  name: string;
  /** DPS name of the type (`esp`, `root-x86-64`, ...) when known. */
  typeName: string | undefined;
}

export interface Gpt {
  lbaSize: LbaSize;
  /** Protective MBR (LBA 0), verbatim. */
  protectiveMbr: Uint8Array;
  header: GptHeader;
  partitions: GptPartition[];
  /** Byte length of the primary-GPT region: from LBA 0 to the end of the entry array (COSI 1.2). */
  regionLength: number;
}

export interface ParseGptOptions {
  lbaSize: LbaSize;
  /** Size of the disk the table describes, in bytes, when known: partitions must fit inside it. */
  diskSize?: number;
}

const SIGNATURE = 'EFI PART';
/** The spec's minimum: entry arrays must reserve at least 16 KiB. Real tables use 128 x 128 bytes. */
const MAX_ENTRIES_BYTES = 64 * 1024 * 1024;

function invalid(message: string, offset?: number): CosiError {
  return new CosiError('COSI_GPT_INVALID', `GPT: ${message}`, offset === undefined ? {} : { offset });
}

function u64(view: DataView, offset: number, what: string): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} ${value} is out of range`, offset);
  return Number(value);
}

/** Byte length of the primary-GPT region as COSI defines it, read from the header alone. */
export function gptRegionLength(
  header: Pick<GptHeader, 'partitionEntryLba' | 'numberOfEntries' | 'entrySize'>,
  lbaSize: number,
): number {
  return header.partitionEntryLba * lbaSize + header.numberOfEntries * header.entrySize;
}

export function parseGptHeader(bytes: Uint8Array, lbaSize: LbaSize): GptHeader {
  if (bytes.length < 2 * lbaSize) {
    throw invalid(`data is ${bytes.length} bytes, smaller than 2 LBAs of ${lbaSize} bytes (MBR and header)`);
  }
  const at = lbaSize;
  const block = bytes.subarray(at, at + lbaSize);
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const signature = new TextDecoder('latin1').decode(block.subarray(0, 8));
  if (signature !== SIGNATURE) throw invalid(`no "EFI PART" signature at LBA 1 (offset ${at})`, at);
  const headerSize = view.getUint32(12, true);
  if (headerSize < 92 || headerSize > lbaSize) {
    throw invalid(`header size ${headerSize} is outside 92..${lbaSize}`, at + 12);
  }
  const headerCrc32 = view.getUint32(16, true);
  const copy = Uint8Array.from(block.subarray(0, headerSize));
  copy.fill(0, 16, 20);
  const computed = crc32(copy);
  if (computed !== headerCrc32) {
    throw invalid(
      `header CRC32 is 0x${headerCrc32.toString(16)} but the header hashes to 0x${computed.toString(16)}`,
      at + 16,
    );
  }
  const header: GptHeader = {
    revision: view.getUint32(8, true),
    headerSize,
    headerCrc32,
    currentLba: u64(view, 24, 'current LBA'),
    backupLba: u64(view, 32, 'backup LBA'),
    firstUsableLba: u64(view, 40, 'first usable LBA'),
    lastUsableLba: u64(view, 48, 'last usable LBA'),
    diskGuid: guidFromBytes(block.subarray(56, 72)),
    partitionEntryLba: u64(view, 72, 'partition entry LBA'),
    numberOfEntries: view.getUint32(80, true),
    entrySize: view.getUint32(84, true),
    entriesCrc32: view.getUint32(88, true),
  };
  if (header.currentLba !== 1)
    throw invalid(`primary header says it lives at LBA ${header.currentLba}, not 1`, at + 24);
  if (
    header.entrySize < 128 ||
    header.entrySize % 8 !== 0 ||
    (header.entrySize & (header.entrySize - 1)) !== 0
  ) {
    throw invalid(`partition entry size ${header.entrySize} is not 128 x 2^n`, at + 84);
  }
  if (header.numberOfEntries * header.entrySize > MAX_ENTRIES_BYTES) {
    throw invalid(
      `entry array of ${header.numberOfEntries} x ${header.entrySize} bytes is implausibly large`,
      at + 80,
    );
  }
  if (header.partitionEntryLba < 2) {
    throw invalid(`partition entries at LBA ${header.partitionEntryLba} overlap the header`, at + 72);
  }
  if (header.firstUsableLba > header.lastUsableLba + 1) {
    throw invalid(
      `first usable LBA ${header.firstUsableLba} is after last usable LBA ${header.lastUsableLba}`,
      at + 40,
    );
  }
  return header;
}

/**
 * Parses a primary GPT (protective MBR, header, entry array) from the start of a disk or from a
 * COSI primary-GPT region image. Checks what a reader must be able to trust: signature, header and
 * entry CRCs, entry size, entries inside the usable range, no overlaps, and (when the disk size is
 * known) partitions inside the disk.
 */
export function parseGpt(bytes: Uint8Array, options: ParseGptOptions): Gpt {
  const { lbaSize } = options;
  if (lbaSize !== 512 && lbaSize !== 4096) {
    throw new CosiError('COSI_GPT_INVALID', `GPT: unsupported LBA size ${String(lbaSize)} (512 or 4096)`);
  }
  const header = parseGptHeader(bytes, lbaSize);
  const mbr = bytes.subarray(0, lbaSize);
  if (mbr[510] !== 0x55 || mbr[511] !== 0xaa) throw invalid('LBA 0 has no MBR boot signature 0x55AA', 510);
  const hasProtective = [0, 1, 2, 3].some((i) => mbr[446 + i * 16 + 4] === 0xee);
  if (!hasProtective) throw invalid('LBA 0 has no protective MBR partition of type 0xEE', 446);

  const regionLength = gptRegionLength(header, lbaSize);
  const entriesStart = header.partitionEntryLba * lbaSize;
  if (regionLength > bytes.length) {
    throw invalid(
      `the entry array ends at byte ${regionLength} but only ${bytes.length} bytes are available`,
      entriesStart,
    );
  }
  const entries = bytes.subarray(entriesStart, regionLength);
  const entriesCrc = crc32(entries);
  if (entriesCrc !== header.entriesCrc32) {
    throw invalid(
      `partition entry array CRC32 is 0x${header.entriesCrc32.toString(16)} but the entries hash to 0x${entriesCrc.toString(16)}`,
      entriesStart,
    );
  }

  const partitions: GptPartition[] = [];
  const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  for (let index = 0; index < header.numberOfEntries; index++) {
    const base = index * header.entrySize;
    const typeGuid = guidFromBytes(entries.subarray(base, base + 16));
    if (typeGuid === NIL_GUID) continue;
    const at = entriesStart + base;
    const firstLba = u64(view, base + 32, `entry ${index + 1} first LBA`);
    const lastLba = u64(view, base + 40, `entry ${index + 1} last LBA`);
    const nameBytes = entries.subarray(base + 56, base + Math.min(header.entrySize, 128));
    let name = new TextDecoder('utf-16le').decode(nameBytes);
    const nul = name.indexOf('\0');
    if (nul !== -1) name = name.slice(0, nul);
    if (lastLba < firstLba)
      throw invalid(`partition ${index + 1} ends (LBA ${lastLba}) before it starts (LBA ${firstLba})`, at);
    if (firstLba < header.firstUsableLba || lastLba > header.lastUsableLba) {
      throw invalid(
        `partition ${index + 1} (LBA ${firstLba}..${lastLba}) is outside the usable range ${header.firstUsableLba}..${header.lastUsableLba}`,
        at,
      );
    }
    if (options.diskSize !== undefined && (lastLba + 1) * lbaSize > options.diskSize) {
      throw invalid(
        `partition ${index + 1} ends at byte ${(lastLba + 1) * lbaSize}, past the disk size ${options.diskSize}`,
        at,
      );
    }
    partitions.push({
      number: index + 1,
      typeGuid,
      partitionGuid: guidFromBytes(entries.subarray(base + 16, base + 32)),
      firstLba,
      lastLba,
      attributes: view.getBigUint64(base + 48, true),
      name,
      typeName: partitionTypeInfo(typeGuid)?.name,
    });
  }
  const byStart = [...partitions].sort((a, b) => a.firstLba - b.firstLba);
  for (let i = 1; i < byStart.length; i++) {
    const previous = byStart[i - 1]!;
    const current = byStart[i]!;
    if (current.firstLba <= previous.lastLba) {
      throw invalid(
        `partitions ${previous.number} (LBA ${previous.firstLba}..${previous.lastLba}) and ${current.number} (LBA ${current.firstLba}..${current.lastLba}) overlap`,
      );
    }
  }
  return { lbaSize, protectiveMbr: mbr, header, partitions, regionLength };
}

/** Finds which LBA size a raw disk image uses, by where the "EFI PART" signature sits. */
export function detectLbaSize(bytes: Uint8Array): LbaSize | undefined {
  const at = (offset: number): boolean =>
    bytes.length >= offset + 8 &&
    new TextDecoder('latin1').decode(bytes.subarray(offset, offset + 8)) === SIGNATURE;
  if (at(512)) return 512;
  if (at(4096)) return 4096;
  return undefined;
}

/** Size in bytes of a partition. */
export function partitionSize(
  partition: Pick<GptPartition, 'firstLba' | 'lastLba'>,
  lbaSize: number,
): number {
  return (partition.lastLba - partition.firstLba + 1) * lbaSize;
}
