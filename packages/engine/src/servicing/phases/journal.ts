import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BlockTarget } from '@trident/block-writer';
import type { PlannedImage } from '../../types.ts';

/**
 * A small record of which images a run has written and verified, so `--resume` can skip them.
 * Kept beside a disk-image file, or under /var/lib/trident for block devices. Written atomically
 * after each verified image: a private temporary file created with O_EXCL|O_NOFOLLOW under a random
 * name (so nothing planted beside the target, as root, is ever followed or reused), fsynced, then
 * renamed over the journal (rename replaces a planted symlink itself, never what it points to).
 * Removed once the GPT is written.
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
    // O_NOFOLLOW: a symlink planted at the journal path is not read through.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!(await handle.stat()).isFile()) return undefined;
      const value = JSON.parse(await handle.readFile('utf8')) as Journal;
      return value.version === 1 && Array.isArray(value.images) ? value : undefined;
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** Whether `entry` is one of our temporary names for `path`: `.<journal name>.<16 hex>.tmp`. */
function isTempOf(path: string, entry: string): boolean {
  const prefix = `.${basename(path)}.`;
  if (!entry.startsWith(prefix) || !entry.endsWith('.tmp')) return false;
  return /^[0-9a-f]{16}$/u.test(entry.slice(prefix.length, -'.tmp'.length));
}

export async function saveJournal(path: string, journal: Journal): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await handle.writeFile(JSON.stringify(journal, null, 2));
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Removes the journal and any temporary file a killed run left beside it (unlink never follows links). */
export async function removeJournal(path: string): Promise<void> {
  await rm(path, { force: true });
  const entries = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const entry of entries) {
    if (isTempOf(path, entry)) await rm(join(dirname(path), entry), { force: true });
  }
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

/** A journal an interrupted run left for this target and image, or undefined. */
export async function usableJournal(
  path: string,
  kind: 'disk' | 'image-file',
  metadataSha384: string,
): Promise<Journal | undefined> {
  const previous = await readJournal(journalPath(path, kind));
  return previous && previous.metadataSha384 === metadataSha384 && previous.target.path === path
    ? previous
    : undefined;
}

export function imageMatches(entry: JournalImage, image: PlannedImage): boolean {
  return (
    entry.partitionNumber === image.partitionNumber &&
    entry.offset === image.offset &&
    entry.uncompressedSize === image.uncompressedSize &&
    entry.sha384 === image.sha384
  );
}
