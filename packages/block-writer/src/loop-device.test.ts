import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { createLoopScope, type LoopDevice, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlockTarget, createFileTarget, openBlockTarget } from './block-target.ts';
import { isBlockWriterError } from './errors.ts';
import { decodeGptRegion } from './gpt.ts';
import { growShrunkFilesystems } from './grow.ts';
import { rereadPartitionTable } from './reread.ts';
import { checkTargetSafety, inspectTarget } from './safety.ts';
import {
  buildFixtureDisk,
  type FixtureDisk,
  fileSha256,
  MiB,
  sh,
  shStatus,
  streamFixture,
} from './test-support/fixture-disk.ts';
import { wipeSignatures, writeGpt } from './write-gpt.ts';

const support = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  support.available,
  'loop-device',
  'reason' in support ? support.reason : '',
);

const scope = createLoopScope();
let dir: string;
let fixture: FixtureDisk;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-loop-'));
  fixture = buildFixtureDisk(join(dir, 'fixture'));
});
afterAll(async () => {
  await scope.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
async function blankLoop(
  size: number,
  options: { sectorSize?: number; readOnly?: boolean } = {},
): Promise<{ loop: LoopDevice; file: string }> {
  const file = join(dir, `disk-${counter++}.img`);
  const target = await createFileTarget(file, { size });
  await target.close();
  const loop = await scope.attach(file, { partitions: true, ...options });
  return { loop, file };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBlockWriterError(error) ? error.code : error).toBe(code);
  return error as Error;
}

/** Runs `attempt` against the device and asserts the backing file is byte-identical afterwards. */
async function expectRefusedUnchanged(
  file: string,
  attempt: () => Promise<unknown>,
  code: string,
): Promise<Error> {
  sh('sync', []);
  const before = fileSha256(file);
  const error = await expectCode(attempt(), code);
  sh('sync', []);
  expect(fileSha256(file)).toBe(before);
  return error;
}

/** The engine's whole path on a device: open, stream, close, re-read. */
async function attemptStream(path: string): Promise<void> {
  const target = await openBlockTarget(path);
  try {
    await streamFixture(target, fixture);
  } finally {
    await target.close();
  }
}

describe.skipIf(!loopsAvailable)('loop devices', () => {
  it('streams onto a loop device, re-reads the table and grows the root filesystem', async () => {
    const { loop } = await blankLoop(64 * MiB);
    const target = await openBlockTarget(loop.path);
    expect(target.kind).toBe('block-device');
    expect(target.size).toBe(64 * MiB);
    expect(target.sectorSize).toBe(512);
    // exclusive: a second exclusive open is refused while we hold it
    await expectCode(openBlockTarget(loop.path), 'BLOCK_TARGET_BUSY');
    const written = await streamFixture(target, fixture);
    await target.close();
    const reread = await rereadPartitionTable(loop.path, {
      partitions: written.partitions.map((p) => p.number),
    });
    expect(reread.partitions.map((p) => p.path)).toEqual([loop.partitionPath(1), loop.partitionPath(2)]);
    expect(reread.partitions.map((p) => [p.start, p.size])).toEqual(
      written.partitions.map((p) => [p.offset, p.size]),
    );

    const verify = sh('sgdisk', ['-v', loop.path]);
    expect(verify).toContain('No problems found');
    expect(verify).not.toMatch(/warning|caution/i);
    for (const p of written.partitions) {
      const uuid = sh('blkid', [
        '-p',
        '-o',
        'value',
        '-s',
        'PART_ENTRY_UUID',
        loop.partitionPath(p.number),
      ]).trim();
      expect(uuid).toBe(p.partitionGuid);
    }
    expect(sh('blkid', ['-p', '-o', 'value', '-s', 'TYPE', loop.partitionPath(1)]).trim()).toBe('vfat');
    expect(sh('blkid', ['-p', '-o', 'value', '-s', 'TYPE', loop.partitionPath(2)]).trim()).toBe('ext4');
    expect(shStatus('fsck.vfat', ['-n', loop.partitionPath(1)]).status).toBe(0);

    const results = await growShrunkFilesystems(
      loop.path,
      fixture.images.map((image) => ({ ...image, imageSize: image.imageSize })),
    );
    expect(results.map((r) => r.action)).toEqual(['unchanged', 'grown']);
    expect(shStatus('e2fsck', ['-fn', loop.partitionPath(2)]).status).toBe(0);
    const dump = sh('dumpe2fs', ['-h', loop.partitionPath(2)]);
    const blocks = Number(/Block count:\s+(\d+)/.exec(dump)?.[1]);
    const blockSize = Number(/Block size:\s+(\d+)/.exec(dump)?.[1]);
    expect(blocks * blockSize).toBe(fixture.images[1]?.size);
    const mountPoint = await scope.mount(loop.partitionPath(2), { readOnly: true });
    expect(sh('cat', [join(mountPoint, 'etc', 'marker')])).toBe(fixture.marker);
  });

  it('replicates a 4096-byte-sector image onto a 4096-byte-sector device', async () => {
    const { loop: source, file: sourceFile } = await blankLoop(32 * MiB, { sectorSize: 4096 });
    sh('sgdisk', ['-n', '1:0:+8M', '-t', '1:8300', '-c', '1:data', source.path]);
    // 4Kn region: MBR, header, 16 KiB of entries = 6 LBAs
    const region = new Uint8Array(readFileSync(sourceFile).subarray(0, 6 * 4096));
    const gpt = decodeGptRegion(region, 4096);
    const first = gpt.partitions[0];
    if (first === undefined) throw new Error('sgdisk made no partition');
    const data = randomBytes(MiB);
    const { loop } = await blankLoop(64 * MiB, { sectorSize: 4096 });
    const target = await openBlockTarget(loop.path);
    expect(target.sectorSize).toBe(4096);
    await checkTargetSafety(target, { requiredSize: 32 * MiB, lbaSize: 4096 });
    await wipeSignatures(target);
    await target.writeAt(data, first.firstLba * 4096);
    const written = await writeGpt(target, region, { lbaSize: 4096 });
    await target.close();
    expect(written.totalLbas).toBe((64 * MiB) / 4096);
    const verify = sh('sgdisk', ['-v', loop.path]);
    expect(verify).toContain('No problems found');
    expect(verify).not.toMatch(/warning|caution/i);
    const reread = await rereadPartitionTable(loop.path, { partitions: [1] });
    expect(reread.partitions[0]?.start).toBe(first.firstLba * 4096);
    expect(readFileSync(loop.partitionPath(1)).subarray(0, MiB).equals(data)).toBe(true);
  });

  it('refuses a mounted loop device and writes nothing', async () => {
    const { loop, file } = await blankLoop(48 * MiB);
    // Read-only mount, eager mkfs: the mounted filesystem itself must not write while we compare checksums.
    sh('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', loop.path]);
    const mountPoint = await scope.mount(loop.path, { readOnly: true });
    const error = await expectRefusedUnchanged(file, () => attemptStream(loop.path), 'BLOCK_TARGET_MOUNTED');
    expect(error.message).toContain(loop.path);
    expect(error.message).toContain(mountPoint);
    const report = await inspectTarget(loop.path, {});
    expect(report.problems.map((p) => p.code)).toEqual(['BLOCK_TARGET_MOUNTED']);
  });

  it('refuses a loop device with a mounted partition and writes nothing', async () => {
    const { loop, file } = await blankLoop(48 * MiB);
    sh('sgdisk', ['-n', '1:0:+16M', '-n', '2:0:0', loop.path]);
    await rereadPartitionTable(loop.path, { partitions: [1, 2] });
    sh('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', loop.partitionPath(2)]);
    const mountPoint = await scope.mount(loop.partitionPath(2), { readOnly: true });
    const error = await expectRefusedUnchanged(file, () => attemptStream(loop.path), 'BLOCK_TARGET_MOUNTED');
    expect(error.message).toContain(`partition ${loop.partitionPath(2)} is mounted at ${mountPoint}`);
    // the file behind it is refused as a target too
    await expectRefusedUnchanged(
      file,
      async () => {
        const target = await openBlockTarget(file);
        try {
          await streamFixture(target, fixture);
        } finally {
          await target.close();
        }
      },
      'BLOCK_TARGET_MOUNTED',
    );
  });

  it('refuses a loop device used as swap and writes nothing', async (context) => {
    const { loop, file } = await blankLoop(48 * MiB);
    sh('mkswap', [loop.path]);
    try {
      await scope.swapon(loop.path);
    } catch (error) {
      context.skip(`swapon is not possible here: ${String(error)}`);
    }
    const error = await expectRefusedUnchanged(file, () => attemptStream(loop.path), 'BLOCK_TARGET_SWAP');
    expect(error.message).toContain(loop.path);
  });

  it('refuses a too small loop device and writes nothing', async () => {
    const { loop, file } = await blankLoop(24 * MiB);
    const error = await expectRefusedUnchanged(
      file,
      () => attemptStream(loop.path),
      'BLOCK_TARGET_TOO_SMALL',
    );
    expect(error.message).toContain(loop.path);
  });

  it('refuses a 4096-byte-sector device for a 512-byte image, override or not, and writes nothing', async () => {
    const { loop, file } = await blankLoop(48 * MiB, { sectorSize: 4096 });
    const error = await expectRefusedUnchanged(
      file,
      () => attemptStream(loop.path),
      'BLOCK_SECTOR_SIZE_MISMATCH',
    );
    expect(error.message).toContain('4096');
    await expectRefusedUnchanged(
      file,
      async () => {
        const target: BlockTarget = await openBlockTarget(loop.path);
        try {
          expect(target.sectorSize).toBe(4096);
          await expectCode(
            checkTargetSafety(target, { lbaSize: 512, allowFileSectorSizeMismatch: true }),
            'BLOCK_SECTOR_SIZE_MISMATCH',
          );
          await writeGpt(target, fixture.region, { lbaSize: 512, allowFileSectorSizeMismatch: true });
        } finally {
          await target.close();
        }
      },
      'BLOCK_SECTOR_SIZE_MISMATCH',
    );
  });

  it('refuses a read-only loop device and writes nothing', async () => {
    const { loop, file } = await blankLoop(48 * MiB, { readOnly: true });
    await expectRefusedUnchanged(file, () => attemptStream(loop.path), 'BLOCK_TARGET_READ_ONLY');
    expect((await inspectTarget(loop.path, {})).problems.map((p) => p.code)).toEqual([
      'BLOCK_TARGET_READ_ONLY',
    ]);
  });

  it('refuses a partition as target', async () => {
    const { loop } = await blankLoop(48 * MiB);
    sh('sgdisk', ['-n', '1:0:0', loop.path]);
    await rereadPartitionTable(loop.path, { partitions: [1] });
    await expectCode(openBlockTarget(loop.partitionPath(1)), 'BLOCK_TARGET_PARTITION');
  });

  it('refuses a device held by device-mapper', async (context) => {
    const { loop, file } = await blankLoop(48 * MiB);
    const name = `trident-bw-test-${process.pid}`;
    const created = shStatus('dmsetup', [
      'create',
      name,
      '--table',
      `0 ${(48 * MiB) / 512} linear ${loop.path} 0`,
    ]);
    if (created.status !== 0) context.skip(`device-mapper is not available here: ${created.output.trim()}`);
    try {
      const error = await expectRefusedUnchanged(file, () => attemptStream(loop.path), 'BLOCK_TARGET_HELD');
      expect(error.message).toContain(name);
    } finally {
      shStatus('dmsetup', ['remove', name]);
    }
  });
});
