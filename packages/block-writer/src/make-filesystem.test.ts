import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBlockWriterError } from './errors.ts';
import { openFileTarget } from './file-target.ts';
import { makeFilesystem } from './make-filesystem.ts';
import { MiB, sh } from './test-support/fixture-disk.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-mkfs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh 32 MiB disk-image file target. */
async function target(name: string) {
  return openFileTarget(join(dir, name), { size: 32 * MiB, sectorSize: 512 });
}

describe('makeFilesystem on a disk-image file (no root needed)', () => {
  it('creates ext4 and vfat inside their byte ranges, labelled with their ids', async () => {
    const disk = await target('fs.img');
    try {
      await makeFilesystem(disk, { id: 'root', fsType: 'ext4', offset: 1 * MiB, length: 16 * MiB });
      await makeFilesystem(disk, { id: 'esp', fsType: 'vfat', offset: 17 * MiB, length: 8 * MiB });
    } finally {
      await disk.close();
    }
    const file = join(dir, 'fs.img');
    const ext4 = sh('dumpe2fs', ['-h', `${file}?offset=${1 * MiB}`]);
    expect(ext4).toMatch(/Filesystem volume name:\s+root/u);
    // Exactly its range: block count x block size = 16 MiB.
    const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`, 'u').exec(ext4)?.[1]);
    expect(field('Block count') * field('Block size')).toBe(16 * MiB);
    const fat = sh('minfo', ['-i', `${file}@@${17 * MiB}`, '::']);
    expect(fat).toMatch(/disk label="ESP\s*"/u);
  });

  it('writes a swap header that names its last page, and refuses a swap area under 10 pages', async () => {
    const disk = await target('swap.img');
    try {
      await makeFilesystem(disk, { id: 'swap', fsType: 'swap', offset: 2 * MiB, length: 4 * MiB });
      const error = await makeFilesystem(disk, {
        id: 'tiny',
        fsType: 'swap',
        offset: 8 * MiB,
        length: 9 * 4096,
      }).catch((e: unknown) => e);
      expect(isBlockWriterError(error, 'BLOCK_SWAP_TOO_SMALL')).toBe(true);
    } finally {
      await disk.close();
    }
    const page = readFileSync(join(dir, 'swap.img')).subarray(2 * MiB, 2 * MiB + 4096);
    expect(page.subarray(4096 - 10).toString('latin1')).toBe('SWAPSPACE2');
    expect(page.readUInt32LE(1028)).toBe((4 * MiB) / 4096 - 1);
    expect(page.subarray(1052, 1056).toString('latin1')).toBe('swap');
  });

  it('names the tool and the filesystem when mkfs fails', async () => {
    const disk = await target('bad.img');
    try {
      // A vfat area of 1 KiB is too small for mkfs.vfat to make anything of.
      const error = await makeFilesystem(disk, {
        id: 'esp',
        fsType: 'vfat',
        offset: 1 * MiB,
        length: 1024,
      }).catch((e: unknown) => e);
      expect(isBlockWriterError(error, 'BLOCK_MKFS_FAILED')).toBe(true);
      expect((error as Error).message).toMatch(/mkfs\.vfat for 'esp' failed/u);
    } finally {
      await disk.close();
    }
  });
});
