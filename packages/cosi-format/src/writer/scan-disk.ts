import type { FileHandle } from 'node:fs/promises';
import { CosiError } from '../errors.ts';
import {
  detectLbaSize,
  type Gpt,
  type GptPartition,
  parseGpt,
  parseGptHeader,
  partitionSize,
} from '../gpt/gpt.ts';
import { type FsProbe, isVerityHashBytes, probeFilesystemBytes, readProbeBytes } from './probe-fs.ts';

export interface ScannedPartition {
  gpt: GptPartition;
  offset: number;
  size: number;
  fs: FsProbe | undefined;
  /** Starts with a dm-verity hash superblock. */
  verityHash: boolean;
}

export interface ScannedDisk {
  size: number;
  gpt: Gpt;
  /** Partitions in LBA order (COSI 1.2 §2.6: regions ordered by increasing start LBA). */
  partitions: ScannedPartition[];
}

function notGpt(path: string, message: string, cause?: unknown): CosiError {
  return new CosiError(
    'COSI_BUILD_INPUT',
    `${path} is not a usable GPT disk image: ${message}. buildCosi needs a raw disk image with a valid primary GPT`,
    cause === undefined ? {} : { cause },
  );
}

async function readAt(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  return buffer.subarray(0, bytesRead);
}

/** Reads the primary GPT (LBA size detected: 512 or 4096) and probes every partition's content. */
export async function scanDisk(handle: FileHandle, path: string): Promise<ScannedDisk> {
  const { size } = await handle.stat();
  const head = await readAt(handle, 0, 8192);
  const lbaSize = detectLbaSize(head);
  if (lbaSize === undefined) throw notGpt(path, 'no "EFI PART" header at byte 512 or 4096');
  if (size % lbaSize !== 0)
    throw notGpt(path, `its size ${size} is not a multiple of the ${lbaSize}-byte LBA`);
  let gpt: Gpt;
  try {
    const header = parseGptHeader(head.subarray(0, 2 * lbaSize), lbaSize);
    const regionLength = header.partitionEntryLba * lbaSize + header.numberOfEntries * header.entrySize;
    gpt = parseGpt(await readAt(handle, 0, Math.min(size, regionLength)), { lbaSize, diskSize: size });
  } catch (cause) {
    throw notGpt(path, (cause as Error).message, cause);
  }
  const partitions: ScannedPartition[] = [];
  for (const part of [...gpt.partitions].sort((a, b) => a.firstLba - b.firstLba)) {
    const offset = part.firstLba * lbaSize;
    const length = partitionSize(part, lbaSize);
    const bytes = await readProbeBytes(handle, offset, length);
    partitions.push({
      gpt: part,
      offset,
      size: length,
      fs: probeFilesystemBytes(bytes),
      verityHash: isVerityHashBytes(bytes),
    });
  }
  return { size, gpt, partitions };
}
