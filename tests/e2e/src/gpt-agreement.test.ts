import { decodeGpt } from '@trident/cosi-format';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// The writer's own decode and layout (not exported: block-writer only exposes writeGpt on a target).
import { decodeGptRegion, layoutGpt } from '../../../packages/block-writer/src/gpt.ts';
import { buildGptRegion } from '../../../packages/cosi-format/src/test-support/memory-gpt.ts';

/**
 * Validation (cosi-format's decodeGpt, which `cosi validate`, planning and --dry-run use) must refuse
 * every primary-GPT region that stream-disk's writer refuses after it has wiped the target; and it
 * should accept what the writer accepts, so valid images are not turned away. The writer is run on
 * a disk of exactly `disk.size` bytes, the smallest target stream-disk ever writes to.
 */

const LINUX = '0fc63daf-8483-4772-8e79-3d69d8477de4';

const region = fc
  .record({
    lbaSize: fc.constantFrom(512 as const, 4096 as const),
    diskLbas: fc.integer({ min: 40, max: 4000 }),
    entryCount: fc.constantFrom(0, 1, 4, 128, 129, 256),
    firstUsableDelta: fc.integer({ min: -40, max: 40 }),
    lastUsableDelta: fc.integer({ min: -40, max: 40 }),
    partitions: fc.array(
      fc.record({ start: fc.integer({ min: 0, max: 4100 }), length: fc.integer({ min: -2, max: 600 }) }),
      { maxLength: 5 },
    ),
  })
  .map((c) => {
    const entryLbas = Math.ceil((c.entryCount * 128) / c.lbaSize);
    const diskSize = c.diskLbas * c.lbaSize;
    return {
      lbaSize: c.lbaSize,
      diskSize,
      bytes: buildGptRegion({
        lbaSize: c.lbaSize,
        diskSize,
        entryCount: c.entryCount,
        firstUsableLba: Math.max(0, 2 + entryLbas + c.firstUsableDelta),
        lastUsableLba: Math.max(0, c.diskLbas - entryLbas - 2 + c.lastUsableDelta),
        partitions: c.partitions.map((p, i) => ({
          typeGuid: LINUX,
          partitionGuid: `aaaaaaaa-0000-4000-8000-00000000000${i}`,
          firstLba: p.start,
          lastLba: Math.max(0, p.start + p.length),
          name: `p${i}`,
        })),
      }),
    };
  });

function writerAccepts(bytes: Uint8Array, lbaSize: number, diskSize: number): string | undefined {
  try {
    layoutGpt(decodeGptRegion(bytes, lbaSize), Math.floor(diskSize / lbaSize));
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('GPT validation agrees with the writer', () => {
  it('refuses every table the writer refuses, and accepts what it accepts', () => {
    const runs = Number(process.env['FUZZ_RUNS'] ?? 1500);
    let refused = 0;
    let accepted = 0;
    fc.assert(
      fc.property(region, ({ lbaSize, diskSize, bytes }) => {
        const writer = writerAccepts(bytes, lbaSize, diskSize);
        const { problems } = decodeGpt(bytes, { lbaSize, diskSize });
        if (writer !== undefined) {
          refused++;
          expect(problems, `writer refused: ${writer}`).not.toEqual([]);
        } else {
          accepted++;
          // One refusal of ours is stricter than the writer on purpose: a header whose
          // FirstUsableLBA is past LastUsableLBA + 1 is not a table, even with no partitions.
          const stricter = problems.every((p) => /is after last usable LBA/u.test(p.message));
          expect(stricter || problems.length === 0, JSON.stringify(problems)).toBe(true);
        }
      }),
      { numRuns: runs },
    );
    // The generator must reach the refusals, or the property proves nothing.
    expect(refused).toBeGreaterThan(runs / 30);
    expect(accepted).toBeGreaterThan(runs / 30);
  });
});
