import { crc32 } from 'node:zlib';
import { CosiError, isCosiError } from '../errors.ts';
import { GPT_HEADER_SIZE, GPT_SIGNATURE, gptHeaderCrc } from './encode.ts';
import { checkLayout } from './gpt-layout.ts';
import { guidFromBytes, NIL_GUID } from './guid.ts';
import { partitionTypeInfo } from './partition-types.ts';

export type LbaSize = 512 | 4096;

/** A GPT header, fields named as in UEFI 2.10 §5.3.2 (MyLBA, AlternateLBA, ...). */
export interface GptHeader {
  revision: number;
  headerSize: number;
  headerCrc32: number;
  /** Where this header lives: 1 for the primary, the last LBA for the backup. */
  myLba: number;
  /** Where the other header lives. */
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  /** Canonical lowercase text form. */
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
  /** The entry array verbatim (numberOfEntries x entrySize bytes), as a writer copies it. */
  entries: Uint8Array;
  partitions: GptPartition[];
  /** Byte length of the primary-GPT region: from LBA 0 to the end of the entry array (COSI 1.2). */
  regionLength: number;
}

export interface ParseGptOptions {
  lbaSize: LbaSize;
  /** Size of the disk the table describes, in bytes, when known: partitions must fit inside it. */
  diskSize?: number;
}

/** Real tables use 128 x 128 bytes (16 KiB, the UEFI minimum); anything near this is not a table. */
const MAX_ENTRIES_BYTES = 64 * 1024 * 1024;
/** UEFI allows any count; block-writer (and every tool we know) refuses more than this. */
const MAX_ENTRIES = 65536;
/** UEFI 2.10 §5.3.2: the entry array reserves at least 16,384 bytes. */
export const MIN_ENTRY_ARRAY_BYTES = 16 * 1024;

function invalid(message: string, offset?: number, problemCode?: GptProblemCode): CosiError {
  const error = new CosiError('COSI_GPT_INVALID', `GPT: ${message}`, offset === undefined ? {} : { offset });
  // decodeGpt turns a thrown structural failure into a problem with this code.
  if (problemCode !== undefined) Object.assign(error, { problemCode });
  return error;
}

function u64(view: DataView, offset: number, what: string, base = 0): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw invalid(`${what} ${value} is out of range`, base + offset);
  return Number(value);
}

/** Byte length of the primary-GPT region as COSI defines it, read from the header alone. */
export function gptRegionLength(
  header: Pick<GptHeader, 'partitionEntryLba' | 'numberOfEntries' | 'entrySize'>,
  lbaSize: number,
): number {
  return header.partitionEntryLba * lbaSize + header.numberOfEntries * header.entrySize;
}

/**
 * Decodes one header block (a primary's LBA 1 or a backup's last LBA): signature, HeaderSize and
 * header CRC32 checked, fields read. `base` is the block's byte offset, for error offsets.
 */
export function decodeGptHeader(block: Uint8Array, base = 0): GptHeader {
  if (block.length < GPT_HEADER_SIZE) {
    throw invalid(`a header block of ${block.length} bytes is shorter than ${GPT_HEADER_SIZE}`, base);
  }
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const signature = new TextDecoder('latin1').decode(block.subarray(0, 8));
  if (signature !== GPT_SIGNATURE) throw invalid(`no "EFI PART" signature at offset ${base}`, base);
  const headerSize = view.getUint32(12, true);
  if (headerSize < GPT_HEADER_SIZE || headerSize > block.length) {
    throw invalid(`header size ${headerSize} is outside ${GPT_HEADER_SIZE}..${block.length}`, base + 12);
  }
  const headerCrc32 = view.getUint32(16, true);
  const computed = gptHeaderCrc(block, headerSize);
  if (computed !== headerCrc32) {
    throw invalid(
      `header CRC32 is 0x${headerCrc32.toString(16)} but the header hashes to 0x${computed.toString(16)}`,
      base + 16,
    );
  }
  return {
    revision: view.getUint32(8, true),
    headerSize,
    headerCrc32,
    myLba: u64(view, 24, 'MyLBA', base),
    alternateLba: u64(view, 32, 'AlternateLBA', base),
    firstUsableLba: u64(view, 40, 'first usable LBA', base),
    lastUsableLba: u64(view, 48, 'last usable LBA', base),
    diskGuid: guidFromBytes(block.subarray(56, 72)),
    partitionEntryLba: u64(view, 72, 'partition entry LBA', base),
    numberOfEntries: view.getUint32(80, true),
    entrySize: view.getUint32(84, true),
    entriesCrc32: view.getUint32(88, true),
  };
}

/** Decodes the primary header (LBA 1 of `bytes`) and checks what a primary must hold. */
export function parseGptHeader(bytes: Uint8Array, lbaSize: LbaSize): GptHeader {
  if (bytes.length < 2 * lbaSize) {
    throw invalid(`data is ${bytes.length} bytes, smaller than 2 LBAs of ${lbaSize} bytes (MBR and header)`);
  }
  const at = lbaSize;
  const block = bytes.subarray(at, at + lbaSize);
  if (new TextDecoder('latin1').decode(block.subarray(0, 8)) !== GPT_SIGNATURE) {
    throw invalid(`no "EFI PART" signature at LBA 1 (offset ${at})`, at);
  }
  const header = decodeGptHeader(block, at);
  if (header.myLba !== 1)
    throw invalid(`primary header says it lives at LBA ${header.myLba}, not 1`, at + 24);
  if (
    header.entrySize < 128 ||
    header.entrySize % 8 !== 0 ||
    (header.entrySize & (header.entrySize - 1)) !== 0
  ) {
    throw invalid(`partition entry size ${header.entrySize} is not 128 x 2^n`, at + 84);
  }
  if (header.numberOfEntries === 0) {
    throw invalid('the partition entry array has 0 entries', at + 80, 'COSI_GPT_ENTRY_COUNT');
  }
  if (header.numberOfEntries > MAX_ENTRIES || header.numberOfEntries * header.entrySize > MAX_ENTRIES_BYTES) {
    throw invalid(
      `the partition entry array of ${header.numberOfEntries} x ${header.entrySize} bytes is too large (at most ${MAX_ENTRIES} entries and ${MAX_ENTRIES_BYTES / 1024 / 1024} MiB)`,
      at + 80,
      'COSI_GPT_ENTRY_COUNT',
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

/** Why a GPT cannot be used; each code is also a validation finding code. */
export type GptProblemCode =
  /** The table cannot be decoded at all: signature, CRCs, MBR, header fields. */
  | 'COSI_GPT_INVALID'
  /** The entry array has no entries, more than 65,536, or more than 64 MiB. */
  | 'COSI_GPT_ENTRY_COUNT'
  /** FirstUsableLBA lies inside the primary entry array. */
  | 'COSI_GPT_FIRST_USABLE_IN_ENTRIES'
  /** A partition ends before it starts. */
  | 'COSI_GPT_PARTITION_RANGE'
  /** A partition lies outside the header's FirstUsableLBA..LastUsableLBA. */
  | 'COSI_GPT_PARTITION_OUTSIDE_USABLE'
  /** Two partitions share LBAs. */
  | 'COSI_GPT_PARTITION_OVERLAP'
  /** A partition reaches into the backup GPT (or past the end) of a disk of `diskSize`. */
  | 'COSI_GPT_PARTITION_OVER_BACKUP'
  /** A disk of `diskSize` cannot hold the primary GPT, the first usable LBA and the backup GPT. */
  | 'COSI_GPT_DISK_TOO_SMALL';

export interface GptProblem {
  code: GptProblemCode;
  message: string;
  /** Byte offset in the GPT data, when the problem sits at one place. */
  offset?: number;
  /** The partition (entry number) the problem is about. */
  partition?: number;
}

export interface DecodedGpt {
  /** The decoded table; undefined when its structure cannot be trusted at all. */
  table: Gpt | undefined;
  /** Everything a writer would refuse; empty when the table can be written as it is. */
  problems: GptProblem[];
}

/**
 * Parses a primary GPT and throws `COSI_GPT_INVALID` (message of the first problem) when anything
 * in `decodeGpt`'s list would stop a writer. For callers that need a table they can write.
 */
export function parseGpt(bytes: Uint8Array, options: ParseGptOptions): Gpt {
  const { table, problems } = decodeGpt(bytes, options);
  const first = problems[0];
  if (first !== undefined || table === undefined) {
    throw invalid(
      `${first?.message ?? 'the table cannot be decoded'}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : ''}`,
      first?.offset,
    );
  }
  return table;
}

/**
 * Decodes a primary GPT (protective MBR, header, entry array) from the start of a disk or from a
 * COSI primary-GPT region image, and lists every reason a writer would refuse it. The checks are
 * those of block-writer's `decodeGptRegion` and `layoutGpt` (which stream-disk runs only after every
 * image is written), so validation and planning refuse what the write would: signature, CRCs,
 * entry size and count, FirstUsableLBA after the entry array, partitions inside the usable range
 * and not overlapping, and (when the disk size is known) partitions clear of the backup GPT that a
 * disk of that size must hold at its end (UEFI 2.10 §5.3.1).
 */
export function decodeGpt(bytes: Uint8Array, options: ParseGptOptions): DecodedGpt {
  try {
    return decodeChecked(bytes, options);
  } catch (error) {
    if (!isCosiError(error, 'COSI_GPT_INVALID')) throw error;
    const code = (error as CosiError & { problemCode?: GptProblemCode }).problemCode ?? 'COSI_GPT_INVALID';
    return {
      table: undefined,
      problems: [
        {
          code,
          message: error.message.replace(/^GPT: /u, ''),
          ...(error.offset === undefined ? {} : { offset: error.offset }),
        },
      ],
    };
  }
}

function decodeChecked(bytes: Uint8Array, options: ParseGptOptions): DecodedGpt {
  const { lbaSize } = options;
  if (lbaSize !== 512 && lbaSize !== 4096) {
    throw invalid(`unsupported LBA size ${String(lbaSize)} (512 or 4096)`);
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

  const partitions = decodeEntries(entries, header, entriesStart);
  const problems = checkLayout(header, partitions, { lbaSize, entriesStart, diskSize: options.diskSize });
  return { table: { lbaSize, protectiveMbr: mbr, header, entries, partitions, regionLength }, problems };
}

function decodeEntries(entries: Uint8Array, header: GptHeader, entriesStart: number): GptPartition[] {
  const partitions: GptPartition[] = [];
  const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  for (let index = 0; index < header.numberOfEntries; index++) {
    const base = index * header.entrySize;
    const typeGuid = guidFromBytes(entries.subarray(base, base + 16));
    if (typeGuid === NIL_GUID) continue;
    const firstLba = u64(view, base + 32, `entry ${index + 1} first LBA`, entriesStart);
    const lastLba = u64(view, base + 40, `entry ${index + 1} last LBA`, entriesStart);
    const nameBytes = entries.subarray(base + 56, base + Math.min(header.entrySize, 128));
    let name = new TextDecoder('utf-16le').decode(nameBytes);
    const nul = name.indexOf('\0');
    if (nul !== -1) name = name.slice(0, nul);
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
  return partitions;
}

/** Finds which LBA size a raw disk image uses, by where the "EFI PART" signature sits. */
export function detectLbaSize(bytes: Uint8Array): LbaSize | undefined {
  const at = (offset: number): boolean =>
    bytes.length >= offset + 8 &&
    new TextDecoder('latin1').decode(bytes.subarray(offset, offset + 8)) === GPT_SIGNATURE;
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
