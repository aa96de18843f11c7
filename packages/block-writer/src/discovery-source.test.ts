/** The disk an image is read from (`file:///dev/vdb`) is never chosen as the target, nor accepted as one. */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { createLoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, expect, it } from 'vitest';
import { createFileTarget } from './block-target.ts';
import { discoverDisks, selectDisk } from './discovery.ts';

const support = loopDeviceSupport();
const available = componentAvailable(
  support.available,
  'loop-device source exclusion',
  'reason' in support ? support.reason : '',
);
const scope = createLoopScope();
const dir = mkdtempSync(join(tmpdir(), 'bw-source-'));
afterAll(async () => {
  await scope.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

it.skipIf(!available)('skips and refuses the disk this process reads the image from', async () => {
  const file = join(dir, 'source.img');
  await (await createFileTarget(file, { size: 64 * 1024 * 1024 })).close();
  const loop = await scope.attach(file);
  const candidates = (await discoverDisks({ prefixes: ['loop'] })).filter((d) => d.name === loop.name);
  expect(candidates).toHaveLength(1);
  const reading = await open(loop.path, 'r');
  try {
    const error = await selectDisk({ requiredSize: 1024 * 1024, lbaSize: 512, candidates }).catch((e) => e);
    expect(error.code).toBe('BLOCK_NO_SUITABLE_DISK');
    expect(error.message).toContain('the image is read from it');
    const explicit = await selectDisk({ requiredSize: 1024 * 1024, lbaSize: 512, disk: loop.path }).catch(
      (e) => e,
    );
    expect(explicit.code).toBe('BLOCK_TARGET_IS_SOURCE');
  } finally {
    await reading.close();
  }
  const selection = await selectDisk({ requiredSize: 1024 * 1024, lbaSize: 512, candidates });
  expect(selection.path).toBe(loop.path);
});
