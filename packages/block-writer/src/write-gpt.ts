import type { Gpt, GptPartition } from '@trident/cosi-format';
import type { BlockTarget } from './block-target.ts';
import { publishStep } from './diagnostics.ts';
import { BlockWriterError } from './errors.ts';
import { decodeGptHeader, decodeGptRegion, type GptLayout, layoutGpt } from './gpt.ts';

export interface WriteGptOptions {
  /** The image's logical block size (COSI `disk.lbaSize`). */
  lbaSize: number;
  /** Same override as in `checkTargetSafety`; only meaningful for file targets. */
  allowFileSectorSizeMismatch?: boolean;
}

/** A partition as written: GPT entry plus its absolute byte range on the target. */
export interface WrittenPartition extends GptPartition {
  offset: number;
  size: number;
}

export interface WrittenGpt {
  device: string;
  lbaSize: number;
  totalLbas: number;
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  backupHeaderLba: number;
  partitions: WrittenPartition[];
}

export const DEFAULT_WIPE_BYTES = 1024 * 1024;

export interface WipeOptions {
  /** Bytes zeroed at each end of the disk (default 1 MiB). */
  bytes?: number;
  /**
   * Byte ranges `[start, end)` never written: partitions a disk keeps (install's adopted
   * partitions), which may reach into either end of the disk.
   */
  keep?: ReadonlyArray<readonly [number, number]>;
}

/** `ranges` without the parts inside any of `keep`. */
function withoutKept(
  ranges: Array<[number, number]>,
  keep: ReadonlyArray<readonly [number, number]>,
): Array<[number, number]> {
  let result = ranges;
  for (const [keepStart, keepEnd] of keep) {
    result = result.flatMap(([start, end]): Array<[number, number]> => {
      if (keepEnd <= start || keepStart >= end) return [[start, end]];
      const pieces: Array<[number, number]> = [];
      if (keepStart > start) pieces.push([start, keepStart]);
      if (keepEnd < end) pieces.push([keepEnd, end]);
      return pieces;
    });
  }
  return result;
}

/**
 * Zeroes the start and the end of the target and syncs: the protective MBR and primary GPT, the
 * backup GPT, and the filesystem / RAID / LVM signatures that live there (ext4 @1 KiB, btrfs
 * @64 KiB, md 1.0 / 0.90 near the end...). Done before any partition data is written, so a run that
 * stops half-way leaves a disk without a partition table instead of an old table over new data.
 * Ranges in `keep` are left alone. Returns the ranges zeroed.
 */
export async function wipeSignatures(
  target: BlockTarget,
  options: WipeOptions = {},
): Promise<Array<[number, number]>> {
  const want = options.bytes ?? DEFAULT_WIPE_BYTES;
  const length = Math.min(want, target.size);
  const aligned = (value: number): number => value - (value % target.sectorSize);
  const tailStart = Math.max(length, aligned(target.size - length));
  const ends: Array<[number, number]> = [[0, length]];
  if (tailStart < target.size) ends.push([tailStart, target.size]);
  const ranges = withoutKept(ends, options.keep ?? []);
  const zeros = new Uint8Array(Math.min(length, DEFAULT_WIPE_BYTES));
  for (const [start, end] of ranges) {
    for (let offset = start; offset < end; offset += zeros.byteLength) {
      await target.writeAt(zeros.subarray(0, Math.min(zeros.byteLength, end - offset)), offset);
    }
  }
  await target.sync();
  publishStep({ step: 'wipe', device: target.path, detail: { ranges } });
  return ranges;
}

function checkLbaSize(target: BlockTarget, options: WriteGptOptions): void {
  if (target.sectorSize === options.lbaSize) return;
  if (target.kind === 'file' && options.allowFileSectorSizeMismatch === true) return;
  throw new BlockWriterError(
    'BLOCK_SECTOR_SIZE_MISMATCH',
    `${target.path}: refusing to write a GPT for ${options.lbaSize}-byte sectors on a target with ${target.sectorSize}-byte sectors; ${
      target.kind === 'file'
        ? 'set allowFileSectorSizeMismatch to override for this file.'
        : 'use an image built for this disk sector size.'
    }`,
    { device: target.path },
  );
}

/**
 * Writes the GPT from the COSI primary-GPT region onto the whole target, regenerated for its real
 * size: protective MBR (size corrected), entries verbatim, primary and backup headers with fresh
 * CRCs, disk GUID kept. Call only after every partition image was written and verified: this is the
 * step that makes the disk look bootable. Entry arrays are written and synced before the headers,
 * and the primary header last, so an interruption here leaves at worst a valid backup GPT that points
 * at complete data.
 */
export async function writeGpt(
  target: BlockTarget,
  region: Uint8Array,
  options: WriteGptOptions,
): Promise<WrittenGpt> {
  checkLbaSize(target, options);
  const lbaSize = options.lbaSize;
  const decoded = decodeGptRegion(region, lbaSize);
  const layout = layoutGpt(decoded, Math.floor(target.size / lbaSize), target.path);
  // Whatever the image has between the header and the entries (normally nothing) is kept.
  const gap = region.subarray(2 * lbaSize, layout.primaryEntriesLba * lbaSize);
  await target.writeAt(layout.entries, layout.primaryEntriesLba * lbaSize);
  if (gap.byteLength > 0) await target.writeAt(gap, 2 * lbaSize);
  await target.writeAt(layout.entries, layout.backupEntriesLba * lbaSize);
  await target.sync();
  await target.writeAt(layout.backupHeader, layout.backupHeaderLba * lbaSize);
  await target.writeAt(layout.mbr, 0);
  await target.writeAt(layout.primaryHeader, lbaSize);
  await target.sync();
  const written = describeLayout(target.path, layout);
  publishStep({
    step: 'gpt-written',
    device: target.path,
    detail: { diskGuid: written.diskGuid, partitions: written.partitions.length },
  });
  return written;
}

/**
 * What `writeGpt` would write on a target of `size` bytes, decoded and laid out with the same
 * checks (`BLOCK_GPT_INVALID`, `BLOCK_GPT_DOES_NOT_FIT`), without writing anything: plans and
 * `--dry-run` refuse exactly what the write would, before any image is streamed.
 */
export function planGpt(
  region: Uint8Array,
  options: { lbaSize: number; size: number; device?: string },
): WrittenGpt {
  const device = options.device ?? 'target';
  const decoded = decodeGptRegion(region, options.lbaSize);
  return describeLayout(device, layoutGpt(decoded, Math.floor(options.size / options.lbaSize), device));
}

function describeLayout(device: string, layout: GptLayout): WrittenGpt {
  return {
    device,
    lbaSize: layout.lbaSize,
    totalLbas: layout.totalLbas,
    diskGuid: layout.diskGuid,
    firstUsableLba: layout.firstUsableLba,
    lastUsableLba: layout.lastUsableLba,
    backupHeaderLba: layout.backupHeaderLba,
    partitions: layout.partitions.map((p) => ({
      ...p,
      offset: p.firstLba * layout.lbaSize,
      size: (p.lastLba - p.firstLba + 1) * layout.lbaSize,
    })),
  };
}

/**
 * Reads and validates the primary GPT on a target, or returns undefined when LBA1 holds no GPT
 * signature. Throws `BLOCK_GPT_INVALID` for a damaged one.
 */
export async function readGpt(target: BlockTarget, lbaSize = target.sectorSize): Promise<Gpt | undefined> {
  const headerLba = await target.readAt(lbaSize, lbaSize);
  if (new TextDecoder('latin1').decode(headerLba.subarray(0, 8)) !== 'EFI PART') return undefined;
  const header = decodeGptHeader(headerLba);
  const end = header.partitionEntryLba * lbaSize + header.numberOfEntries * header.entrySize;
  if (end > target.size) {
    throw new BlockWriterError(
      'BLOCK_GPT_INVALID',
      `${target.path}: GPT entry array runs past the end of the disk.`,
      {
        device: target.path,
      },
    );
  }
  return decodeGptRegion(await target.readAt(end, 0), lbaSize);
}
