import { parseHostConfig } from '@trident/host-config';
import { describe, expect, it } from 'vitest';
import { stackedBootArgs } from './boot-args.ts';
import { cryptenrollArgs, luksFormatArgs } from './encryption.ts';
import { mdadmCreateArgs } from './raid.ts';
import { checkStackedLayout } from './stacked-devices.ts';

/** The command lines and kernel arguments install's storage step is built from (reference §11). */

function config(storage: string) {
  const parsed = parseHostConfig(`storage:
  disks:
    - id: d1
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 16M }
        - { id: r1, type: root, size: 1G }
        - { id: data, size: 1G }
    - id: d2
      device: /dev/sdb
      partitionTableType: gpt
      partitions:
        - { id: r2, type: root, size: 1G }
${storage}
  filesystems:
    - deviceId: esp
      mountPoint: /boot/efi
    - deviceId: root
      mountPoint: /
`);
  if (!parsed.config) throw new Error(JSON.stringify(parsed.findings));
  return parsed.config;
}

const RAID = `  raid:
    software:
      - { id: root, name: root, level: raid1, devices: [r1, r2] }`;

describe('storage commands', () => {
  it('creates an array as upstream does: level number, member count, members, metadata 1.0', () => {
    const array = config(RAID).storage.raid.software[0]!;
    expect(mdadmCreateArgs(array, ['/dev/sda2', '/dev/sdb1'])).toEqual([
      '--create',
      '/dev/md/root',
      '--level=1',
      '--raid-devices=2',
      '/dev/sda2',
      '/dev/sdb1',
      '--metadata=1.0',
      '--homehost=any',
      '--run',
    ]);
  });

  it("formats with upstream's exact luksFormat options and seals to the configured PCRs", () => {
    expect(luksFormatArgs('/k', '/dev/sda3').join(' ')).toBe(
      'luksFormat --cipher aes-xts-plain64 --force-password --hash sha512 --iter-time 0 --key-file /k --key-size 512 --key-slot 0 --pbkdf pbkdf2 --reduce-device-size 16M --type luks2 /dev/sda3',
    );
    expect(cryptenrollArgs('/dev/sda3', '/k', [7])).toEqual([
      '/dev/sda3',
      '--tpm2-device=auto',
      '--wipe-slot=tpm2',
      '--unlock-key-file=/k',
      '--tpm2-pcrs=7',
    ]);
  });

  it('boots a root on an array by filesystem UUID and names every array for the initrd', () => {
    const raid = config(RAID);
    const facts = { arrays: [{ id: 'root', uuid: 'a:b:c:d' }], volumes: [] };
    expect(stackedBootArgs(raid, facts, 'root', '1234-fs')).toEqual({
      root: 'UUID=1234-fs',
      args: ['rd.md.uuid=a:b:c:d'],
    });
    expect(() => stackedBootArgs(raid, facts, 'root', '')).toThrow(/no filesystem UUID/u);
  });

  it('unlocks an encrypted root in the initrd with the TPM, and leaves data volumes to crypttab', () => {
    const encrypted = config(`${RAID}
  encryption:
    pcrs: [7]
    volumes:
      - { id: vol, deviceName: cryptdata, deviceId: data }`);
    const volume = { id: 'vol', deviceName: 'cryptdata', luksUuid: 'u-1' };
    expect(stackedBootArgs(encrypted, { arrays: [], volumes: [volume] }, 'vol', undefined)).toEqual({
      root: '/dev/mapper/cryptdata',
      args: ['rd.luks.name=u-1=cryptdata', 'rd.luks.options=u-1=tpm2-device=auto'],
    });
    expect(stackedBootArgs(encrypted, { arrays: [], volumes: [volume] }, 'esp', undefined)).toEqual({
      args: [],
    });
  });

  it('refuses arrays of anything but partitions, with the offending device', () => {
    const raid = config(RAID);
    expect(() => checkStackedLayout(raid, new Set(['r1', 'r2', 'esp', 'data']))).not.toThrow();
    expect(() => checkStackedLayout(raid, new Set(['r1']))).toThrow(
      expect.objectContaining({
        code: 'ENGINE_UNSUPPORTED_DEVICE',
        message: expect.stringMatching(/'r2', which is not a partition/u),
      }),
    );
  });
});
