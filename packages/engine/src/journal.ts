import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BlockTarget } from '@trident/block-writer';
import type { PlannedImage } from './types.ts';

/**
 * A small record of which images a run has written and verified, so `--resume` can skip them.
 * Kept beside a disk-image file, or under /var/lib/trident for block devices. Written atomically
 * (temp file + rename) after each verified image; removed once the GPT is written.
 */
export interface Journal {
  version: 1;
  metadataSha384: string;
  target: { path: string; size: number };
  images: JournalImage[];
}

export interface JournalImage {
  partitionNumber: number;
  offset: number;
  uncompressedSize: number;
  /** SHA-384 of the compressed image, verified while writing. */
  sha384: string;
  /** SHA-256 over sampled blocks of what landed on the target, to re-verify on resume. */
  sample: string;
}

export function journalPath(targetPath: string, kind: 'disk' | 'image-file'): string {
  if (kind === 'image-file') return `${targetPath}.trident-journal.json`;
  return `/var/lib/trident/stream-journal-${targetPath.replaceAll('/', '_')}.json`;
}

export async function readJournal(path: string): Promise<Journal | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Journal;
    return value.version === 1 && Array.isArray(value.images) ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function saveJournal(path: string, journal: Journal): Promise<void> {
  const temp = `${path}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(temp, JSON.stringify(journal, null, 2));
  await rename(temp, path);
}

export async function removeJournal(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(`${path}.tmp`, { force: true });
}

const SAMPLES = 64;
const SAMPLE_BYTES = 64 * 1024;

/**
 * Digest of 64 blocks of 64 KiB spread evenly over the written range (first and last included):
 * 4 MiB read per image, so resuming never costs a second pass over the disk, yet a replaced disk, a
 * partition overwritten since, or a write that never reached the device shows up.
 */
export async function sampleDigest(
  target: BlockTarget,
  image: Pick<PlannedImage, 'offset' | 'uncompressedSize'>,
): Promise<string> {
  const hash = createHash('sha256');
  const span = image.uncompressedSize;
  const count = Math.max(1, Math.min(SAMPLES, Math.ceil(span / SAMPLE_BYTES)));
  for (let i = 0; i < count; i++) {
    const start = count === 1 ? 0 : Math.floor(((span - Math.min(SAMPLE_BYTES, span)) * i) / (count - 1));
    const length = Math.min(SAMPLE_BYTES, span - start);
    hash.update(await target.readAt(length, image.offset + start));
  }
  return hash.digest('hex');
}

export function imageMatches(entry: JournalImage, image: PlannedImage): boolean {
  return (
    entry.partitionNumber === image.partitionNumber &&
    entry.offset === image.offset &&
    entry.uncompressedSize === image.uncompressedSize &&
    entry.sha384 === image.sha384
  );
}
