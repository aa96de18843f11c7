import { execFile } from 'node:child_process';
import { copyFile, open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { openCosi } from '../reader/open-cosi.ts';
import { createNodeZstdCodec } from '../writer/codec.ts';
import { type ExtractedImage, extractCosi } from '../writer/extract.ts';

/** Test-only helpers shared by the writer tests (real tools, no mocks). */
export const exec = promisify(execFile);

export async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, offset);
    return buffer;
  } finally {
    await handle.close();
  }
}

/** Opens with the lead's reader, asserts both validation profiles pass, and extracts every image. */
export async function openValidateExtract(cosiPath: string, directory: string) {
  const reader = await openCosi(cosiPath, { decoder: createNodeZstdCodec() });
  try {
    for (const profile of ['spec', 'trident'] as const) {
      const report = await reader.validate(profile);
      expect(report.errors, `${profile} errors`).toEqual([]);
    }
    const verification = await reader.verifyImages();
    expect(verification.filter((v) => !v.ok)).toEqual([]);
    const extracted = await extractCosi(
      { source: reader.source, entries: reader.index.byPath, metadata: reader.metadata },
      directory,
    );
    const byPath = new Map<string, ExtractedImage>(extracted.map((e) => [e.imagePath, e]));
    return { reader, metadata: reader.metadata, index: reader.index, extracted: byPath };
  } finally {
    await reader.close();
  }
}

export async function debugfsCat(image: string, path: string): Promise<Buffer> {
  const { stdout } = await exec('debugfs', ['-R', `cat ${path}`, image], {
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** Grows a copy of a shrunk ext image back to `size` bytes with resize2fs, checks it, returns the copy. */
export async function growCopy(image: string, size: number): Promise<string> {
  const copy = `${image}.grown`;
  await copyFile(image, copy);
  const handle = await open(copy, 'r+');
  await handle.truncate(size);
  await handle.close();
  await exec('e2fsck', ['-f', '-n', copy]);
  await exec('resize2fs', [copy]);
  await exec('e2fsck', ['-f', '-n', copy]);
  return copy;
}
