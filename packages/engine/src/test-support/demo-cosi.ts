import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { buildCosi, extractCosi, type Gpt, openCosi, parseGpt } from '@trident/cosi-format';
import {
  createDemoDiskImage,
  type DemoDiskImage,
  type DemoDiskOptions,
} from '@trident/test-support/disk-image';

/**
 * A real COSI for engine tests, built without root: test-support's demo disk (vfat ESP through
 * mtools, ext4 root through `mkfs.ext4 -d`) packed by cosi-format's own writer. Small, so planning
 * and phase tests stay fast; the root is shrunk by the writer, as a real image's would be.
 */
export interface DemoCosi {
  source: DemoDiskImage;
  path: string;
  metadataSha384: string;
}

export async function createDemoCosi(
  dir: string,
  options: Partial<Omit<DemoDiskOptions, 'path'>> & {
    /** Keep the root at its partition's size (free space for OS configuration without growing). */
    shrink?: boolean;
  } = {},
): Promise<DemoCosi> {
  const { shrink, ...diskOptions } = options;
  const source = await createDemoDiskImage({
    path: join(dir, 'source.img'),
    sizeMiB: 96,
    espMiB: 16,
    rootMiB: 48,
    payloadBytes: 512 * 1024,
    ...diskOptions,
  });
  const path = join(dir, 'demo.cosi');
  const built = await buildCosi({
    input: source.path,
    output: path,
    ...(source.verity ? { verity: source.verity } : {}),
    ...(shrink === undefined ? {} : { shrink }),
  });
  return { source, path, metadataSha384: built.metadataSha384 };
}

/**
 * The COSI's images decoded by cosi-format's extractor (node:zlib, not the Rust writer the engine
 * uses), as image path → SHA-256 of the raw image: what each partition must hold after a run.
 */
export async function imageHashes(cosi: DemoCosi, scratch: string): Promise<Map<string, string>> {
  const reader = await openCosi(cosi.path);
  const extracted = await extractCosi(
    { source: reader.source, entries: reader.index.byPath, metadata: reader.metadata },
    scratch,
    { overwrite: true },
  ).finally(() => reader.close());
  const hashes = new Map<string, string>();
  for (const image of extracted) hashes.set(image.imagePath, await hashRange(image.file, 0, image.size));
  return hashes;
}

/** SHA-256 of `length` bytes of a file at `offset`: compares what landed with what was imaged. */
export async function hashRange(path: string, offset: number, length: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(1024 * 1024);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, length - done), offset + done);
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
      done += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** The primary GPT of a disk-image file, parsed by cosi-format (512-byte sectors). */
export async function readPrimaryGpt(path: string): Promise<Gpt> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const bytes = Buffer.alloc(34 * 512);
    await handle.read(bytes, 0, bytes.length, 0);
    return parseGpt(bytes, { lbaSize: 512, diskSize: size });
  } finally {
    await handle.close();
  }
}
