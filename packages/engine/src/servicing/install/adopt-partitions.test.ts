import { encodeGptRegion, parseGpt } from '@trident/cosi-format';
import { parseHostConfig } from '@trident/host-config';
import { describe, expect, it } from 'vitest';
import { type ExistingTable, matchAdoptedPartitions, removedPartitions } from './adopt-partitions.ts';
import { layoutAroundAdopted } from './adopted-layout.ts';
import { writablePartition } from './resolve-devices.ts';

const MiB = 1024 * 1024;
const DISK = 64 * MiB;
const LINUX = '0fc63daf-8483-4772-8e79-3d69d8477de4';
const HOME_GUID = '6a1c1e2b-3f4d-4e5f-8a9b-0c1d2e3f4a5b';
const LOGS_GUID = 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e';
const OLD_GUID = 'c0ffee00-1111-4222-8333-444455556666';

/** An existing disk: `old` (to be removed) at 1 MiB, `home` at 8 MiB, `logs` near the end. */
function existingTable(
  entries = [
    { number: 1, name: 'old', partitionGuid: OLD_GUID, firstLba: 2048, lastLba: 8191 },
    { number: 2, name: 'home', partitionGuid: HOME_GUID, firstLba: 16384, lastLba: 32767 },
    { number: 5, name: 'logs', partitionGuid: LOGS_GUID, firstLba: 110592, lastLba: 126975 },
  ],
  diskId = 'os',
): ExistingTable {
  const region = encodeGptRegion({
    lbaSize: 512,
    totalLbas: DISK / 512,
    diskGuid: '11112222-3333-4444-8555-666677778888',
    partitions: entries.map((e) => ({ ...e, typeGuid: LINUX, attributes: e.number === 5 ? 1n << 60n : 0n })),
  });
  return { diskId, path: `/dev/${diskId}`, gpt: parseGpt(region, { lbaSize: 512, diskSize: DISK }) };
}

function disk(yaml: string) {
  const parsed = parseHostConfig(
    `storage:\n  disks:\n    - id: os\n      device: /dev/sda\n      partitionTableType: gpt\n${yaml}`,
    { semantic: false } as never,
  );
  return parsed.config!.storage.disks[0]!;
}

const adopting = disk(`      partitions:
        - { id: esp, type: esp, size: 4M }
        - { id: root, type: root, size: 12M }
        - { id: data, size: grow }
      adoptedPartitions:
        - { id: home, matchLabel: home }
        - { id: logs, matchUuid: ${LOGS_GUID.toUpperCase()} }
`);

describe('matchAdoptedPartitions', () => {
  it('matches matchLabel against the GPT partition name and matchUuid against the partition GUID', () => {
    const table = existingTable();
    const matches = matchAdoptedPartitions(adopting, table);
    expect(matches.map((m) => [m.id, m.entry.number, m.entry.partitionGuid])).toEqual([
      ['home', 2, HOME_GUID],
      ['logs', 5, LOGS_GUID],
    ]);
    expect(removedPartitions(table, matches).map((p) => p.name)).toEqual(['old']);
  });

  it('refuses a criterion that matches nothing, naming the adopted partition, the disk and what is there', () => {
    const table = existingTable([
      { number: 1, name: 'other', partitionGuid: OLD_GUID, firstLba: 2048, lastLba: 8191 },
    ]);
    expect(() => matchAdoptedPartitions(adopting, table)).toThrow(
      expect.objectContaining({
        code: 'ENGINE_ADOPTED_NO_MATCH',
        message: expect.stringMatching(
          /'home': no partition with label 'home' on disk 'os' \(\/dev\/os\).*name 'other'/u,
        ),
      }),
    );
  });

  it('says which configured disk holds a partition that was adopted on the wrong one', () => {
    const here = existingTable([
      { number: 1, name: 'other', partitionGuid: OLD_GUID, firstLba: 2048, lastLba: 8191 },
    ]);
    const there = existingTable(undefined, 'data-disk');
    expect(() => matchAdoptedPartitions(adopting, here, [there])).toThrow(
      expect.objectContaining({
        code: 'ENGINE_ADOPTED_NO_MATCH',
        message: expect.stringContaining("one is on disk 'data-disk' (/dev/data-disk)"),
      }),
    );
  });

  it('refuses two partitions with the adopted label', () => {
    const table = existingTable([
      { number: 1, name: 'home', partitionGuid: OLD_GUID, firstLba: 2048, lastLba: 8191 },
      { number: 2, name: 'home', partitionGuid: HOME_GUID, firstLba: 16384, lastLba: 32767 },
    ]);
    expect(() => matchAdoptedPartitions(adopting, table)).toThrow(
      expect.objectContaining({
        code: 'ENGINE_ADOPTED_AMBIGUOUS',
        message: expect.stringContaining("adopted partition 'home': 2 partitions with label 'home'"),
      }),
    );
  });

  it('refuses a disk with no partition table at all', () => {
    expect(() => matchAdoptedPartitions(adopting, { diskId: 'os', path: '/dev/os', gpt: undefined })).toThrow(
      expect.objectContaining({ code: 'ENGINE_ADOPTED_NO_PARTITIONS' }),
    );
  });
});

describe('layoutAroundAdopted', () => {
  it('keeps adopted entries as they are and places new partitions in the space around them', () => {
    const table = existingTable();
    const adopted = matchAdoptedPartitions(adopting, table);
    const layout = layoutAroundAdopted(adopting, DISK, 512, 'x64', {
      diskGuid: table.gpt!.header.diskGuid,
      adopted,
      removed: removedPartitions(table, adopted),
    });
    // esp (4M) and root (12M) first-fit: esp at 1 MiB (where `old` was), root after `home`;
    // data (grow) takes the largest gap left: 28 MiB up to `logs`.
    expect(
      layout.partitions.map((p) => [p.number, p.id, p.offset / MiB, p.length / MiB, p.adopted !== undefined]),
    ).toEqual([
      [1, 'esp', 1, 4, false],
      [2, 'home', 8, 8, true],
      [3, 'root', 16, 12, false],
      [4, 'data', 28, 26, false],
      [5, 'logs', 54, 8, true],
    ]);
    const written = parseGpt(layout.gptRegion, { lbaSize: 512, diskSize: DISK });
    expect(written.header.diskGuid).toBe(table.gpt!.header.diskGuid);
    for (const kept of table.gpt!.partitions.filter((p) => p.name !== 'old'))
      expect(written.partitions.find((p) => p.number === kept.number)).toEqual(kept);
    const interim = parseGpt(layout.kept!.gptRegion, { lbaSize: 512, diskSize: DISK });
    expect(interim.partitions.map((p) => p.name)).toEqual(['home', 'logs']);
    expect(layout.kept!.ranges).toEqual([
      [8 * MiB, 16 * MiB],
      [54 * MiB, 62 * MiB],
    ]);
    expect(layout.kept!.removed).toEqual([{ number: 1, name: 'old', uuid: OLD_GUID }]);
  });

  it('refuses a new partition that fits in no gap, before anything is written', () => {
    const big = disk(`      partitions:
        - { id: root, size: 40M }
      adoptedPartitions:
        - { id: home, matchLabel: home }
        - { id: logs, matchLabel: logs }
`);
    const table = existingTable();
    const adopted = matchAdoptedPartitions(big, table);
    expect(() =>
      layoutAroundAdopted(big, DISK, 512, 'x64', {
        diskGuid: table.gpt!.header.diskGuid,
        adopted,
        removed: [],
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'ENGINE_ADOPTED_NO_SPACE',
        message: expect.stringContaining("disk 'os': partition 'root' (41943040 bytes) does not fit"),
      }),
    );
  });

  it('resolves adopted ids for mounting but refuses to write anything into them', () => {
    const table = existingTable();
    const adopted = matchAdoptedPartitions(adopting, table);
    const layout = layoutAroundAdopted(adopting, DISK, 512, 'x64', {
      diskGuid: table.gpt!.header.diskGuid,
      adopted,
      removed: [],
    });
    const config = parseHostConfig(
      `storage:\n  disks:\n    - id: os\n      device: /dev/sda\n      partitionTableType: gpt\n      partitions: []\n`,
      { semantic: false } as never,
    ).config!;
    expect(writablePartition(config, [layout], 'root', 'the image for /').partition.number).toBe(3);
    expect(() => writablePartition(config, [layout], 'home', 'the image for /boot/efi')).toThrow(
      expect.objectContaining({
        code: 'ENGINE_ADOPTED_NOT_WRITABLE',
        message: expect.stringContaining(
          "the image for /boot/efi would be written into 'home', an adopted partition",
        ),
      }),
    );
  });
});
