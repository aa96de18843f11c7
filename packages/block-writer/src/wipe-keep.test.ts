import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileTarget } from './block-target.ts';
import { wipeSignatures } from './write-gpt.ts';

const MiB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bw-wipe-keep-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('wipeSignatures with kept ranges', () => {
  it('zeroes both ends of the disk except the ranges a disk keeps, which stay byte for byte', async () => {
    const target = await createFileTarget(join(dir, 'disk.img'), { size: 8 * MiB });
    try {
      const filled = new Uint8Array(8 * MiB).fill(0xa5);
      await target.writeAt(filled, 0);
      // A kept partition from LBA 34 into the first MiB, another ending at the last usable LBA.
      const keep: Array<[number, number]> = [
        [34 * 512, MiB + 4096],
        [8 * MiB - 2 * MiB, 8 * MiB - 34 * 512],
      ];
      const ranges = await wipeSignatures(target, { keep });
      expect(ranges).toEqual([
        [0, 34 * 512],
        [8 * MiB - 34 * 512, 8 * MiB],
      ]);
      const bytes = await target.readAt(8 * MiB, 0);
      const at = (offset: number) => bytes[offset];
      expect([at(0), at(34 * 512 - 1)]).toEqual([0, 0]);
      expect([at(34 * 512), at(MiB + 4095), at(4 * MiB)]).toEqual([0xa5, 0xa5, 0xa5]);
      expect([at(8 * MiB - 34 * 512 - 1), at(8 * MiB - 34 * 512), at(8 * MiB - 1)]).toEqual([0xa5, 0, 0]);
    } finally {
      await target.close();
    }
  });
});
