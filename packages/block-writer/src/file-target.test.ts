import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileTarget, openBlockTarget } from './block-target.ts';
import { type BlockWriterWarning, WARNING_CHANNEL } from './diagnostics.ts';
import { isBlockWriterError } from './errors.ts';
import { decodeGptHeader } from './gpt.ts';
import { growShrunkFilesystems } from './grow.ts';
import { checkTargetSafety } from './safety.ts';
import {
  buildFixtureDisk,
  extract,
  type FixtureDisk,
  fileSha256,
  MiB,
  sh,
  sha256,
  shStatus,
  streamFixture,
} from './test-support/fixture-disk.ts';
import { readGpt, wipeSignatures } from './write-gpt.ts';

let dir: string;
let fixture: FixtureDisk;
const loopSupport = loopDeviceSupport();
const loops = {
  available: componentAvailable(
    loopSupport.available,
    'loop-device growth',
    'reason' in loopSupport ? loopSupport.reason : '',
  ),
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-file-'));
  fixture = buildFixtureDisk(join(dir, 'fixture'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBlockWriterError(error) ? error.code : error).toBe(code);
  return error as Error;
}

describe('file targets', () => {
  it('creates a sparse file of the requested size and refuses to clobber an existing one', async () => {
    const path = join(dir, 'sparse.img');
    const target = await createFileTarget(path, { size: 256 * MiB });
    expect(target.size).toBe(256 * MiB);
    expect(target.sectorSize).toBe(512);
    expect(target.kind).toBe('file');
    await target.writeAt(new Uint8Array([1, 2, 3]), 100 * MiB);
    await target.close();
    const stats = statSync(path);
    expect(stats.size).toBe(256 * MiB);
    expect(stats.blocks * 512).toBeLessThan(1 * MiB);
    await expectCode(createFileTarget(path, { size: MiB }), 'BLOCK_TARGET_EXISTS');
    const again = await createFileTarget(path, { size: MiB, overwrite: true });
    expect(await again.readAt(3, 0)).toEqual(new Uint8Array(3));
    await expectCode(again.writeAt(new Uint8Array(2), MiB - 1), 'BLOCK_IO');
    await again.close();
    await expectCode(again.writeAt(new Uint8Array(1), 0), 'BLOCK_TARGET_CLOSED');
  });

  it('streams the fixture: valid GPT with the backup at the end, data read back, filesystems clean', async () => {
    const path = join(dir, 'disk.img');
    const target = await createFileTarget(path, { size: 48 * MiB });
    const written = await streamFixture(target, fixture);
    expect(written.diskGuid).toBe(fixture.diskGuid);
    expect(written.partitions.map((p) => [p.number, p.offset, p.size])).toEqual(
      fixture.images.map((i) => [i.number, i.offset, i.size]),
    );
    for (const image of fixture.images) {
      expect(sha256(await target.readAt(image.imageSize, image.offset))).toBe(sha256(image.bytes));
    }
    await target.close();

    const verify = sh('sgdisk', ['-v', path]);
    expect(verify).toContain('No problems found');
    expect(verify).not.toMatch(/warning|caution|problem:/i);
    const bytes = readFileSync(path);
    const lastLba = bytes.length / 512 - 1;
    const backup = decodeGptHeader(bytes.subarray(lastLba * 512, (lastLba + 1) * 512));
    expect(backup.myLba).toBe(lastLba);
    expect(sh('sgdisk', ['-p', path]).toLowerCase()).toContain(fixture.diskGuid);
    expect(
      sh('blkid', ['-p', '-O', String(fixture.images[1]?.offset), '-o', 'value', '-s', 'TYPE', path]).trim(),
    ).toBe('ext4');
    const esp = fixture.images[0];
    const root = fixture.images[1];
    if (esp === undefined || root === undefined) throw new Error('fixture');
    expect(
      shStatus('fsck.vfat', ['-n', extract(path, esp.offset, esp.size, join(dir, 'esp.check'))]).status,
    ).toBe(0);
    expect(
      shStatus('e2fsck', ['-fn', extract(path, root.offset, root.size, join(dir, 'root.check'))]).status,
    ).toBe(0);
  });

  it.skipIf(!loops.available)(
    'grows the shrunk ext4 through a loop device and leaves vfat with a warning',
    async () => {
      const path = join(dir, 'grow.img');
      const target = await createFileTarget(path, { size: 48 * MiB });
      const written = await streamFixture(target, fixture);
      await target.close();
      const warnings: BlockWriterWarning[] = [];
      const onWarning = (message: unknown): void => {
        warnings.push(message as BlockWriterWarning);
      };
      diagnosticsChannel.subscribe(WARNING_CHANNEL, onWarning);
      try {
        const images = fixture.images.map((image) => {
          const partition = written.partitions.find((p) => p.number === image.number);
          return {
            number: image.number,
            offset: partition?.offset ?? 0,
            size: partition?.size ?? 0,
            imageSize: image.imageSize,
            fsType: image.fsType,
          };
        });
        const kept = await growShrunkFilesystems(path, images, { keepPartitionsAsImaged: true });
        expect(kept.map((r) => r.reason)).toEqual(['keep-as-imaged', 'keep-as-imaged']);
        const results = await growShrunkFilesystems(path, images);
        expect(results.map((r) => [r.number, r.action, r.reason])).toEqual([
          [1, 'unchanged', 'unsupported-fs-type'],
          [2, 'grown', 'grown'],
        ]);
      } finally {
        diagnosticsChannel.unsubscribe(WARNING_CHANNEL, onWarning);
      }
      expect(warnings.map((w) => w.kind)).toEqual(['filesystem-not-grown']);
      const root = fixture.images[1];
      if (root === undefined) throw new Error('fixture');
      const copy = extract(path, root.offset, root.size, join(dir, 'grown.check'));
      expect(shStatus('e2fsck', ['-fn', copy]).status).toBe(0);
      const dump = sh('dumpe2fs', ['-h', copy]);
      const blocks = Number(/Block count:\s+(\d+)/.exec(dump)?.[1]);
      const blockSize = Number(/Block size:\s+(\d+)/.exec(dump)?.[1]);
      expect(blocks * blockSize).toBe(root.size);
      expect(sh('debugfs', ['-R', 'cat /etc/marker', copy])).toBe(fixture.marker);
      expect(sh('sgdisk', ['-v', path])).toContain('No problems found');
    },
  );

  it('wipes an old partition table and filesystem signatures at both ends', async () => {
    const path = join(dir, 'old.img');
    sh('truncate', ['-s', String(40 * MiB), path]);
    sh('sgdisk', ['-n', '1:0:0', path]);
    const target = await openBlockTarget(path);
    expect(await readGpt(target)).toBeDefined();
    await target.close();
    // a whole-disk ext4 signature at 1 KiB too
    const ext = join(dir, 'ext.img');
    sh('truncate', ['-s', String(4 * MiB), ext]);
    sh('mkfs.ext4', ['-q', '-F', ext]);
    const head = readFileSync(ext).subarray(1024, 2048);
    const buffer = readFileSync(path);
    buffer.set(head, 1024 * 64);
    writeFileSync(path, buffer);
    const again = await openBlockTarget(path);
    await wipeSignatures(again);
    expect(await readGpt(again)).toBeUndefined();
    await again.close();
    expect(sh('wipefs', ['--no-act', path]).trim()).toBe('');
    expect(sh('sgdisk', ['-v', path])).toContain('Creating new GPT entries');
  });

  it('refuses a too small file and writes nothing', async () => {
    const path = join(dir, 'small.img');
    const target = await createFileTarget(path, { size: 16 * MiB });
    await target.writeAt(new Uint8Array(4096).fill(0x5a), 0);
    const before = fileSha256(path);
    const error = await expectCode(streamFixture(target, fixture), 'BLOCK_TARGET_TOO_SMALL');
    expect(error.message).toContain(path);
    await target.close();
    expect(fileSha256(path)).toBe(before);
  });

  it('refuses a sector-size mismatch on a file unless the named override is set', async () => {
    const path = join(dir, 'fourk.img');
    const target = await createFileTarget(path, { size: 48 * MiB, sectorSize: 4096 });
    const before = fileSha256(path);
    const error = await expectCode(streamFixture(target, fixture), 'BLOCK_SECTOR_SIZE_MISMATCH');
    expect(error.message).toContain('allowFileSectorSizeMismatch');
    expect(fileSha256(path)).toBe(before);
    await streamFixture(target, fixture, { allowFileSectorSizeMismatch: true });
    await target.close();
    expect(sh('sgdisk', ['-v', path])).toContain('No problems found');
  });

  it('refuses a closed target and a missing path', async () => {
    const path = join(dir, 'ro.img');
    const target = await createFileTarget(path, { size: 48 * MiB });
    await target.close();
    await expectCode(checkTargetSafety(target, {}), 'BLOCK_TARGET_CLOSED');
    await expectCode(openBlockTarget(join(dir, 'missing.img')), 'BLOCK_TARGET_NOT_FOUND');
  });
});
