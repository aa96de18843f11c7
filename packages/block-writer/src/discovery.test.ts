import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentAvailable } from '@trident/test-support/component';
import { createLoopScope, type LoopDevice, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileTarget } from './block-target.ts';
import { describeDiskSelection, discoverDisks, selectDisk } from './discovery.ts';
import { isBlockWriterError } from './errors.ts';
import { readMounts, rootDeviceMajMin } from './mounts.ts';
import { MiB, sh } from './test-support/fixture-disk.ts';

const support = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  support.available,
  'loop-device discovery',
  'reason' in support ? support.reason : '',
);

const scope = createLoopScope();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-disc-'));
});
afterAll(async () => {
  await scope.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
async function loopOfSize(size: number): Promise<LoopDevice> {
  const file = join(dir, `d${counter++}.img`);
  await (await createFileTarget(file, { size })).close();
  return scope.attach(file, { partitions: true });
}

async function ours(loops: readonly LoopDevice[]) {
  const names = new Set(loops.map((l) => l.name));
  return (await discoverDisks({ prefixes: ['loop'] })).filter((d) => names.has(d.name));
}

describe('disk discovery', () => {
  it('lists whole disks with Trident prefixes and never offers the root disk', async () => {
    const disks = await discoverDisks();
    for (const disk of disks) {
      expect(disk.isPartition).toBe(false);
      expect(disk.size).toBeGreaterThan(0);
      expect(['sd', 'nvme', 'vd', 'hd', 'mmcblk'].some((p) => disk.name.startsWith(p))).toBe(true);
    }
    const rootMajMin = await rootDeviceMajMin(await readMounts());
    const rootDisk = disks.find(
      (d) => d.majMin === rootMajMin || d.partitions.some((p) => p.majMin === rootMajMin),
    );
    if (rootDisk === undefined) return; // root on overlay/tmpfs or a non-Trident name: nothing to show
    const selection = await selectDisk({
      requiredSize: 1,
      lbaSize: rootDisk.logicalSectorSize,
      candidates: [rootDisk],
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isBlockWriterError(selection, 'BLOCK_NO_SUITABLE_DISK')).toBe(true);
    expect((selection as Error).message).toContain('holds the running root filesystem');
  });

  it.skipIf(!loopsAvailable)(
    'picks the smallest safe disk that fits and says why others were skipped',
    async () => {
      const tiny = await loopOfSize(16 * MiB);
      const mounted = await loopOfSize(40 * MiB);
      const fits = await loopOfSize(48 * MiB);
      const big = await loopOfSize(96 * MiB);
      sh('mkfs.ext4', ['-q', '-F', mounted.path]);
      await scope.mount(mounted.path);
      const candidates = await ours([big, tiny, mounted, fits]);
      const selection = await selectDisk({ requiredSize: 32 * MiB, lbaSize: 512, candidates });
      expect(selection.path).toBe(fits.path);
      expect(selection.how).toBe('smallest-that-fits');
      expect(selection.considered.map((d) => [d.path, d.selected, d.reasons.map((r) => r.code)])).toEqual([
        [tiny.path, false, ['BLOCK_TARGET_TOO_SMALL']],
        [mounted.path, false, ['BLOCK_TARGET_MOUNTED']],
        [fits.path, true, []],
        [big.path, false, ['BLOCK_LARGER_THAN_SELECTED']],
      ]);
      const lines = describeDiskSelection(selection);
      expect(lines[0]).toContain(fits.path);
      expect(lines.some((l) => l.startsWith(`skipped ${mounted.path}`) && l.includes('is mounted at'))).toBe(
        true,
      );

      // an explicit disk wins over the smallest fit, after the safety checks
      const explicit = await selectDisk({ requiredSize: 32 * MiB, lbaSize: 512, candidates, disk: big.path });
      expect(explicit.path).toBe(big.path);
      expect(explicit.how).toBe('explicit');
      const refused = await selectDisk({
        requiredSize: 32 * MiB,
        lbaSize: 512,
        candidates,
        disk: mounted.path,
      }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isBlockWriterError(refused, 'BLOCK_TARGET_MOUNTED')).toBe(true);

      const none = await selectDisk({ requiredSize: 200 * MiB, lbaSize: 512, candidates }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isBlockWriterError(none, 'BLOCK_NO_SUITABLE_DISK')).toBe(true);
      expect((none as Error).message).toContain(`${mounted.path} (${40 * MiB} bytes)`);
    },
  );

  it('accepts an explicit disk-image file', async () => {
    const file = join(dir, 'explicit.img');
    await (await createFileTarget(file, { size: 40 * MiB })).close();
    const selection = await selectDisk({ requiredSize: 32 * MiB, lbaSize: 512, disk: file, candidates: [] });
    expect(selection).toMatchObject({ path: file, how: 'explicit', size: 40 * MiB, sectorSize: 512 });
    const fourK = await selectDisk({
      requiredSize: 32 * MiB,
      lbaSize: 512,
      disk: file,
      fileSectorSize: 4096,
      candidates: [],
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isBlockWriterError(fourK, 'BLOCK_SECTOR_SIZE_MISMATCH')).toBe(true);
  });
});
