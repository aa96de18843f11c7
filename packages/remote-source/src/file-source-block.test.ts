/** A COSI on a block device (`file:///dev/vdb` in a VM): its size comes from sysfs, not fstat. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { createLoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, expect, it } from 'vitest';
import { openFileSource } from './file-source.ts';

const support = loopDeviceSupport();
const available = componentAvailable(
  support.available,
  'block-device file source',
  'reason' in support ? support.reason : '',
);
const loops = createLoopScope();
afterAll(() => loops.cleanup());

it.skipIf(!available)('reads a block device with its real size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trident-blocksrc-'));
  try {
    const bytes = randomBytes(3 * 1024 * 1024);
    await writeFile(join(dir, 'disk.img'), bytes);
    const loop = await loops.attach(join(dir, 'disk.img'), { readOnly: true });
    const source = await openFileSource(loop.path);
    try {
      expect(source.size).toBe(bytes.length);
      const tail = await source.read(bytes.length - 4096, 4096);
      expect(Buffer.from(tail).equals(bytes.subarray(bytes.length - 4096))).toBe(true);
    } finally {
      await source.close();
    }
  } finally {
    await loops.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
