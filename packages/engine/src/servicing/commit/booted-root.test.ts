import type { HostStatus } from '@trident/datastore';
import { parseHostConfig } from '@trident/host-config';
import { describe, expect, it } from 'vitest';
import { expectedRoot } from './booted-root.ts';

/** The root commit expects when `/` is on a RAID array or an encrypted volume (no partition path). */
function config(extra: string, rootId: string) {
  const parsed = parseHostConfig(`storage:
  disks:
    - id: d1
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 16M }
        - { id: r1, type: root, size: 1G }
    - id: d2
      device: /dev/sdb
      partitionTableType: gpt
      partitions:
        - { id: r2, type: root, size: 1G }
${extra}
  filesystems:
    - deviceId: esp
      mountPoint: /boot/efi
    - deviceId: ${rootId}
      mountPoint: /
`);
  if (!parsed.config) throw new Error(JSON.stringify(parsed.findings));
  return parsed.config;
}

const status = {
  partitionPaths: { esp: '/dev/disk/by-partuuid/e', r1: '/dev/disk/by-partuuid/1' },
} as unknown as HostStatus;

describe('expectedRoot for stacked roots', () => {
  it('names a root on an array by its /dev/md link and one on a LUKS volume by its mapping', () => {
    const raid = config(
      '  raid:\n    software:\n      - { id: root, name: root, level: raid1, devices: [r1, r2] }',
      'root',
    );
    expect(expectedRoot(raid, status, 'volume-a')).toEqual({
      deviceId: 'root',
      path: '/dev/md/root',
      verity: false,
    });
    const luks = config(
      '  encryption:\n    pcrs: [7]\n    volumes:\n      - { id: sealed, deviceName: cryptroot, deviceId: r1 }',
      'sealed',
    );
    expect(expectedRoot(luks, status, 'volume-a')).toEqual({
      deviceId: 'sealed',
      path: '/dev/mapper/cryptroot',
      verity: false,
    });
  });
});
