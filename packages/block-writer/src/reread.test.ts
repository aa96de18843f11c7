import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { createLoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileTarget } from './block-target.ts';
import { isBlockWriterError } from './errors.ts';
import { comparePartitions, rereadPartitionTable } from './reread.ts';
import { readBlockDevice } from './sysfs.ts';
import { MiB, sh } from './test-support/fixture-disk.ts';

const support = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  support.available,
  'loop-device re-read',
  'reason' in support ? support.reason : '',
);
const scope = createLoopScope();
let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-reread-'));
});
afterAll(async () => {
  await scope.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const partition = (number: number, start: number, size: number) => ({
  name: `loop9p${number}`,
  path: `/dev/loop9p${number}`,
  majMin: `259:${number}`,
  number,
  start,
  size,
  holders: [],
});

describe('comparing the kernel with the table written', () => {
  it('finds stale, missing and moved partitions', () => {
    const kernel = [partition(1, MiB, 8 * MiB), partition(2, 9 * MiB, 8 * MiB), partition(3, 17 * MiB, MiB)];
    const expected = [
      { number: 1, offset: MiB, size: 8 * MiB },
      { number: 2, offset: 9 * MiB, size: 16 * MiB },
      { number: 4, offset: 30 * MiB, size: MiB },
    ];
    expect(comparePartitions(kernel, expected).map((d) => [d.number, d.kind])).toEqual([
      [2, 'moved'],
      [3, 'stale'],
      [4, 'missing'],
    ]);
    expect(comparePartitions(kernel.slice(0, 1), expected.slice(0, 1))).toEqual([]);
  });
});

async function threePartitionLoop() {
  const file = join(dir, `disk-${counter++}.img`);
  const target = await createFileTarget(file, { size: 64 * MiB });
  await target.close();
  const loop = await scope.attach(file, { partitions: true });
  sh('sgdisk', ['-n', '1:0:+16M', '-n', '2:0:+16M', '-n', '3:0:+16M', loop.path]);
  await rereadPartitionTable(loop.path, { partitions: [1, 2, 3] });
  return loop;
}

/** Rewrites the table with two partitions, the second larger, without telling the kernel. */
function shrinkTable(path: string): Array<{ number: number; offset: number; size: number }> {
  sh('sgdisk', ['-Z', path]);
  sh('sgdisk', ['-n', '1:0:+16M', '-n', '2:0:+32M', path]);
  return [
    { number: 1, offset: MiB, size: 16 * MiB },
    { number: 2, offset: 17 * MiB, size: 32 * MiB },
  ];
}

describe.skipIf(!loopsAvailable)('re-reading on a loop device', () => {
  it('ends with exactly the partitions written: stale ones deleted, moved ones re-added', async () => {
    const loop = await threePartitionLoop();
    const expected = shrinkTable(loop.path);
    await rereadPartitionTable(loop.path, { expected });
    const kernel = (await readBlockDevice(loop.name)).partitions;
    expect(kernel.map((p) => [p.number, p.start, p.size])).toEqual(
      expected.map((p) => [p.number, p.offset, p.size]),
    );
  });

  it('names the cause when a stale partition cannot be removed', async () => {
    const loop = await threePartitionLoop();
    sh('mkfs.ext4', ['-q', '-F', loop.partitionPath(3)]);
    const mountPoint = await scope.mount(loop.partitionPath(3), { readOnly: true });
    const expected = shrinkTable(loop.path);
    const error = await rereadPartitionTable(loop.path, { expected, timeoutMs: 1500 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBlockWriterError(error, 'BLOCK_PARTITION_MISMATCH')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('still has partition 3');
    expect(message).toContain(`${loop.partitionPath(3)} is mounted at ${mountPoint}`);
    expect(message).toMatch(/partx --delete: .*error deleting partition 3/u);
    // The partition the table wants there could not be added over it, and that is said too.
    expect(message).toContain('the kernel has no partition 2');
  });
});
