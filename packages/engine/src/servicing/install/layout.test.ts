import { parseGpt } from '@trident/cosi-format';
import { parseHostConfig } from '@trident/host-config';
import { describe, expect, it } from 'vitest';
import { layoutDisk, minimumDiskSize } from './layout.ts';
import { checkSupportedSections } from './unsupported.ts';

const MiB = 1024 * 1024;

function disk(partitions: string) {
  const parsed = parseHostConfig(
    `storage:\n  disks:\n    - id: os\n      device: /dev/sda\n      partitionTableType: gpt\n      partitions:\n${partitions}`,
    { semantic: false } as never,
  );
  return parsed.config!.storage.disks[0]!;
}

describe('layoutDisk', () => {
  it('places partitions from 1 MiB on 1 MiB boundaries and gives the rest to the grow partition', () => {
    const d = disk(
      '        - { id: esp, type: esp, size: 100M }\n        - { id: root, type: root, size: 1G }\n        - { id: data, size: grow }\n',
    );
    const layout = layoutDisk(d, 4096 * MiB, 512, 'x64');
    expect(layout.partitions.map((p) => [p.id, p.offset / MiB, p.length / MiB])).toEqual([
      ['esp', 1, 100],
      ['root', 101, 1024],
      ['data', 1125, 4096 - 1125 - 1],
    ]);
    const gpt = parseGpt(layout.gptRegion, { lbaSize: 512, diskSize: 4096 * MiB });
    expect(gpt.partitions.map((p) => [p.number, p.typeName, p.name])).toEqual([
      [1, 'esp', 'esp'],
      [2, 'root-x86-64', 'root'],
      [3, 'linux-generic', 'data'],
    ]);
  });

  it('keeps configured partition UUIDs and labels', () => {
    const d = disk(
      '        - { id: esp, type: esp, size: 64M, uuid: 0f0e0d0c-0b0a-4908-8706-050403020100, label: EFI }\n',
    );
    const layout = layoutDisk(d, 256 * MiB, 512, 'x64');
    expect(layout.partitions[0]).toMatchObject({
      uuid: '0f0e0d0c-0b0a-4908-8706-050403020100',
      label: 'EFI',
    });
  });

  it('lays out 4096-byte-sector disks', () => {
    const d = disk('        - { id: esp, type: esp, size: 64M }\n');
    const layout = layoutDisk(d, 256 * MiB, 4096, 'x64');
    expect(parseGpt(layout.gptRegion, { lbaSize: 4096 }).partitions[0]).toMatchObject({
      firstLba: 256,
      lastLba: 256 + 16384 - 1,
    });
  });

  it('refuses a disk too small for its fixed partitions, saying how much is needed', () => {
    const d = disk('        - { id: root, size: 2G }\n');
    expect(minimumDiskSize(d, 512)).toBeGreaterThan(2048 * MiB);
    expect(() => layoutDisk(d, 1024 * MiB, 512, 'x64')).toThrow(/needs at least \d+ bytes/u);
  });
});

describe('checkSupportedSections', () => {
  it('refuses what install does not apply yet, by name and with the reason', () => {
    expect(() =>
      checkSupportedSections({
        os: { users: [{ name: 'a' }], hostname: 'h' },
        managementOs: { users: [{ name: 'b' }] },
      }),
    ).toThrow(/managementOs \(users/u);
    // RAID, encryption, extensions and adopted partitions are applied, so no longer refused.
    expect(
      checkSupportedSections({
        storage: {
          raid: { software: [{ id: 'r' }] },
          encryption: { volumes: [{ id: 'v' }] },
          disks: [{ adoptedPartitions: [{ id: 'x', matchLabel: 'x' }] }],
        },
        os: { sysexts: [{ url: 'x' }] },
      }),
    ).toEqual([]);
  });

  it('accepts sysexts and confexts: the Provision step places them in the new root', () => {
    const image = { url: 'https://example.com/a.raw', sha384: 'a'.repeat(96) };
    expect(checkSupportedSections({ os: { sysexts: [image], confexts: [image] } })).toEqual([]);
  });

  it('accepts health checks: recorded with the spec, run by trident commit at first boot', () => {
    expect(checkSupportedSections({ health: { checks: [{ name: 'c', content: 'true' }] } })).toEqual([]);
  });

  it('accepts storage, OS configuration and scripts, and warns about agent tuning', () => {
    expect(
      checkSupportedSections({
        image: {},
        storage: { disks: [] },
        os: { users: [{ name: 'a' }], hostname: 'h', netplan: { version: 2 } },
        scripts: { postProvision: [{ content: 'true' }] },
        trident: { datastorePath: '/x' },
      }),
    ).toEqual([]);
    expect(checkSupportedSections({ internalParams: { x: 1 } })).toHaveLength(1);
  });
});

describe('layoutDisk limits', () => {
  it('refuses more partitions than a GPT holds, with a code instead of a RangeError', () => {
    const many = Array.from({ length: 129 }, (_, i) => `        - { id: p${i}, size: 1M }\n`).join('');
    expect(() => layoutDisk(disk(many), 4096 * MiB, 512, 'x64')).toThrow(
      expect.objectContaining({ code: 'ENGINE_TOO_MANY_PARTITIONS' }),
    );
  });
});
