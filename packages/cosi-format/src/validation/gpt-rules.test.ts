import { describe, expect, it } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { openCosi } from '../reader/open-cosi.ts';
import { buildFixtureCosi, type FixtureOptions } from '../test-support/fixture-cosi.ts';

/**
 * GPTs that stream-disk's writer (block-writer's decodeGptRegion + layoutGpt) refuses after it has
 * wiped the target and written every image. Validation under both profiles, and `reader.gpt()`
 * (what planning and --dry-run use), must refuse them first.
 */

const ESP = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const ROOT = '4f68bce3-e8cd-4db1-96e7-fbcaf984b709';
// The fixture disk: 64 MiB of 512-byte LBAs = 131072 LBAs; a 128-entry backup GPT takes the last 33,
// so the last usable LBA of the real layout is 131038.
const partitions = (rootLast: number) => [
  {
    typeGuid: ESP,
    partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000001',
    firstLba: 2048,
    lastLba: 18431,
    name: 'esp',
  },
  {
    typeGuid: ROOT,
    partitionGuid: 'aaaaaaaa-0000-4000-8000-000000000002',
    firstLba: 18432,
    lastLba: rootLast,
    name: 'root',
  },
];

interface GptCase {
  name: string;
  options: FixtureOptions;
  code: string;
  path: string;
  message: RegExp;
}

const cases: GptCase[] = [
  {
    name: 'FirstUsableLBA inside the entry array',
    options: { gptHeader: { firstUsableLba: 20 } },
    code: 'COSI_GPT_FIRST_USABLE_IN_ENTRIES',
    path: 'disk.gptRegions[0].image',
    message: /first usable LBA 20 lies inside the partition entry array \(LBA 2\.\.33\)/u,
  },
  {
    name: 'a partition over the backup GPT (header LastUsableLBA stretched to allow it)',
    options: { gptHeader: { lastUsableLba: 131070 }, partitions: partitions(131050) },
    code: 'COSI_GPT_PARTITION_OVER_BACKUP',
    path: 'disk.gptRegions[2]',
    message: /partition 2 .* reaches into the backup GPT: .* last usable LBA is 131038/u,
  },
  {
    name: 'a partition past the end of the disk',
    options: { gptHeader: { lastUsableLba: 200000 }, partitions: partitions(140000) },
    code: 'COSI_GPT_PARTITION_OVER_BACKUP',
    path: 'disk.gptRegions[2]',
    message: /past the end of the 67108864-byte disk/u,
  },
  {
    name: 'a partition past the header LastUsableLBA',
    options: { partitions: partitions(131040) },
    code: 'COSI_GPT_PARTITION_OUTSIDE_USABLE',
    path: 'disk.gptRegions[2]',
    message: /outside the usable range 34\.\.131038/u,
  },
  {
    name: 'overlapping partitions',
    options: {
      partitions: [partitions(90000)[0]!, { ...partitions(90000)[1]!, firstLba: 18000 }],
    },
    code: 'COSI_GPT_PARTITION_OVERLAP',
    path: 'disk.gptRegions[2]',
    message: /partitions 1 .* and 2 .* overlap/u,
  },
  {
    name: 'an entry array with no entries',
    options: { gptHeader: { entryCount: 0 } },
    code: 'COSI_GPT_ENTRY_COUNT',
    path: 'disk.gptRegions[0].image',
    message: /0 entries/u,
  },
  {
    name: 'an entry array of more than 65,536 entries',
    options: { gptHeader: { entryCount: 65537, lastUsableLba: 100000 } },
    code: 'COSI_GPT_ENTRY_COUNT',
    path: 'disk.gptRegions[0].image',
    message: /65537 x 128 bytes is too large/u,
  },
  {
    name: 'a disk too small for its own GPT',
    options: {
      gptHeader: { firstUsableLba: 131050, lastUsableLba: 131070 },
      partitions: [],
      mutate: (m) => {
        m.images = [];
        m.disk.gptRegions = [m.disk.gptRegions[0]];
      },
    },
    code: 'COSI_GPT_DISK_TOO_SMALL',
    path: 'disk.size',
    message: /too few for the first usable LBA 131050/u,
  },
];

async function open(options: FixtureOptions) {
  const fixture = buildFixtureCosi(options);
  return openCosi(createBufferSource(fixture.bytes, 'gpt.cosi'), { expectedSha384: 'ignored' });
}

describe('GPTs the writer would refuse', () => {
  for (const rule of cases) {
    for (const profile of ['trident', 'spec'] as const) {
      it(`${profile}: ${rule.name} is an error with code and JSON path`, async () => {
        const reader = await open(rule.options);
        const report = await reader.validate(profile);
        expect(report.valid).toBe(false);
        const hit = report.errors.find((e) => e.code === rule.code);
        expect(hit, JSON.stringify(report.errors, null, 2)).toBeDefined();
        expect(hit?.path).toBe(rule.path);
        expect(hit?.message).toMatch(rule.message);
      });
    }
    it(`planning (reader.gpt()) refuses ${rule.name}`, async () => {
      const reader = await open(rule.options);
      await expect(reader.gpt()).rejects.toMatchObject({ code: 'COSI_GPT_INVALID' });
      await expect(reader.gptRegionBytes()).rejects.toMatchObject({ code: 'COSI_GPT_INVALID' });
    });
  }

  it('a correct table at the edge of the real layout is accepted', async () => {
    const reader = await open({ partitions: partitions(131038) });
    expect((await reader.validate('trident')).errors).toEqual([]);
    expect((await reader.validate('spec')).errors).toEqual([]);
    expect((await reader.gpt()).partitions.at(-1)?.lastLba).toBe(131038);
  });

  it('an entry array under 16 KiB is a spec error and a trident warning (the writer accepts it)', async () => {
    const reader = await open({ gptHeader: { entryCount: 4, firstUsableLba: 34 } });
    const trident = await reader.validate('trident');
    expect(trident.valid).toBe(true);
    expect(trident.warnings.map((w) => w.code)).toContain('COSI_GPT_ENTRY_ARRAY_SMALL');
    const spec = await reader.validate('spec');
    expect(spec.errors.map((e) => [e.code, e.path])).toContainEqual([
      'COSI_GPT_ENTRY_ARRAY_SMALL',
      'disk.gptRegions[0].image',
    ]);
    await expect(reader.gpt()).resolves.toBeDefined();
  });
});
