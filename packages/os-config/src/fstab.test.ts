import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '@trident/exec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderCrypttab } from './crypttab.ts';
import { renderFstab } from './fstab.ts';
import { hostConfig } from './test-support/rootfs.ts';
import type { StorageLayout } from './types.ts';

const IMAGE = 'image:\n  url: file:///srv/images/os.cosi\n  sha384: ignored\n';

const uuid = (n: number) => `0c3d7a52-1e0b-4f7e-9a51-0000000000${String(n).padStart(2, '0')}`;

// One disk with an encrypted data volume, an encrypted swap partition, plain swap and a tmpfs.
const plain = hostConfig(`${IMAGE}
storage:
  disks:
  - id: os
    device: /dev/sda
    partitionTableType: gpt
    partitions:
    - { id: esp, type: esp, size: 100M }
    - { id: rootfs, type: root, size: 2G }
    - { id: swapspace, type: swap, size: 512M }
    - { id: vault, size: 256M }
    - { id: swapvault, type: swap, size: 256M }
  encryption:
    volumes:
    - { id: vaultvol, deviceName: vault, deviceId: vault }
    - { id: swapvol, deviceName: cswap, deviceId: swapvault }
    pcrs: [7]
  filesystems:
  - deviceId: esp
    mountPoint: { path: /boot/efi, options: umask=0077 }
  - deviceId: rootfs
    mountPoint: { path: /, options: errors=remount-ro }
  - deviceId: vaultvol
    source: new
    mountPoint: /srv/vault
  - source: new
    type: tmpfs
    mountPoint: { path: /scratch, options: "size=64M,mode=1777" }
  swap:
  - swapspace
  - swapvol
`);
const plainLayout: StorageLayout = {
  partitionUuids: { esp: uuid(1), rootfs: uuid(2), swapspace: uuid(3), vault: uuid(4), swapvault: uuid(5) },
  imageFilesystemTypes: { '/boot/efi': 'vfat', '/': 'ext4' },
};

// Root on dm-verity, its /etc overlay on a partition of its own, an image /var.
const verity = hostConfig(`${IMAGE}
storage:
  disks:
  - id: os
    device: /dev/vda
    partitionTableType: gpt
    partitions:
    - { id: esp, type: esp, size: 100M }
    - { id: bootfs, type: xbootldr, size: 300M }
    - { id: rootdata, type: root, size: 2G }
    - { id: roothash, type: root-verity, size: 128M }
    - { id: trident, size: 100M }
    - { id: overlay, size: 100M }
    - { id: varfs, size: 1G }
  filesystems:
  - deviceId: esp
    mountPoint: { path: /boot/efi, options: umask=0077 }
  - deviceId: bootfs
    mountPoint: /boot
  - deviceId: trident
    source: new
    mountPoint: /var/lib/trident
  - deviceId: overlay
    source: new
    type: xfs
    mountPoint: /var/lib/trident-overlay
  - deviceId: varfs
    mountPoint: /var
  - deviceId: root
    mountPoint: { path: /, options: ro }
  verity:
  - { id: root, name: root, dataDeviceId: rootdata, hashDeviceId: roothash }
`);
const verityLayout: StorageLayout = {
  partitionUuids: {
    esp: uuid(1),
    bootfs: uuid(2),
    rootdata: uuid(3),
    roothash: uuid(4),
    trident: uuid(5),
    overlay: uuid(6),
    varfs: uuid(7),
  },
  imageFilesystemTypes: { '/boot/efi': 'vfat', '/boot': 'ext4', '/': 'ext4', '/var': 'ext4' },
};

// Mirrored A/B root volumes on two disks.
const raidAb = hostConfig(`${IMAGE}
storage:
  disks:
  - id: first
    device: /dev/vda
    partitionTableType: gpt
    partitions:
    - { id: esp, type: esp, size: 100M }
    - { id: root-a1, type: root, size: 1G }
    - { id: root-b1, type: root, size: 1G }
    - { id: state, size: 100M }
  - id: second
    device: /dev/vdb
    partitionTableType: gpt
    partitions:
    - { id: root-a2, type: root, size: 1G }
    - { id: root-b2, type: root, size: 1G }
  raid:
    software:
    - { id: root-a, name: rootA, level: raid1, devices: [root-a1, root-a2] }
    - { id: root-b, name: rootB, level: raid1, devices: [root-b1, root-b2] }
  abUpdate:
    volumePairs:
    - { id: root, volumeAId: root-a, volumeBId: root-b }
  filesystems:
  - deviceId: esp
    mountPoint: { path: /boot/efi, options: umask=0077 }
  - deviceId: root
    mountPoint: /
  - deviceId: state
    source: new
    mountPoint: /var/lib/trident
`);
const raidLayout: StorageLayout = {
  partitionUuids: {
    esp: uuid(1),
    'root-a1': uuid(2),
    'root-b1': uuid(3),
    'root-a2': uuid(4),
    'root-b2': uuid(5),
    state: uuid(6),
  },
  imageFilesystemTypes: { '/boot/efi': 'vfat', '/': 'ext4' },
};

describe('fstab', () => {
  it('names partitions by PARTUUID, encrypted volumes by mapper name, and ends with swap', () => {
    expect(renderFstab(plain, plainLayout)).toBe(
      [
        `/dev/disk/by-partuuid/${uuid(1)} /boot/efi vfat umask=0077 0 2`,
        `/dev/disk/by-partuuid/${uuid(2)} / ext4 errors=remount-ro 0 1`,
        '/dev/mapper/vault /srv/vault ext4 defaults 0 2',
        'tmpfs /scratch tmpfs size=64M,mode=1777 0 2',
        `/dev/disk/by-partuuid/${uuid(3)} none swap defaults 0 0`,
        '/dev/mapper/cswap none swap defaults 0 0',
        '',
      ].join('\n'),
    );
  });

  it('leaves a verity root to the veritysetup generator and overlays /etc', () => {
    expect(renderFstab(verity, verityLayout)).toBe(
      [
        `/dev/disk/by-partuuid/${uuid(1)} /boot/efi vfat umask=0077 0 2`,
        `/dev/disk/by-partuuid/${uuid(2)} /boot ext4 defaults 0 2`,
        `/dev/disk/by-partuuid/${uuid(5)} /var/lib/trident ext4 defaults 0 2`,
        `/dev/disk/by-partuuid/${uuid(6)} /var/lib/trident-overlay xfs defaults 0 2`,
        `/dev/disk/by-partuuid/${uuid(7)} /var ext4 defaults 0 2`,
        '# Mounting is handled by veritysetup generator',
        '# /dev/mapper/root / ext4 ro 0 1',
        'overlay /etc overlay lowerdir=/etc,upperdir=/var/lib/trident-overlay/etc/upper,workdir=/var/lib/trident-overlay/etc/work,ro 0 2',
        '',
      ].join('\n'),
    );
  });

  it('mounts the A/B member being written, by its /dev/md name', () => {
    const a = renderFstab(raidAb, { ...raidLayout, targetVolume: 'volume-a' });
    const b = renderFstab(raidAb, { ...raidLayout, targetVolume: 'volume-b' });
    expect(a).toBe(
      `/dev/disk/by-partuuid/${uuid(1)} /boot/efi vfat umask=0077 0 2\n/dev/md/rootA / ext4 defaults 0 1\n` +
        `/dev/disk/by-partuuid/${uuid(6)} /var/lib/trident ext4 defaults 0 2\n`,
    );
    expect(b).toContain('/dev/md/rootB / ext4 defaults 0 1\n');
    // Without a target volume, a clean install writes volume A.
    expect(renderFstab(raidAb, raidLayout)).toBe(a);
  });

  it('writes `auto` for an image filesystem whose type the image did not say', () => {
    expect(renderFstab(plain, { partitionUuids: plainLayout.partitionUuids })).toContain(
      `/dev/disk/by-partuuid/${uuid(2)} / auto errors=remount-ro 0 1`,
    );
  });

  it('names an adopted filesystem by its PARTUUID, with the type found on the disk when declared auto', () => {
    const adopted = hostConfig(`${IMAGE}
storage:
  disks:
  - id: os
    device: /dev/sda
    partitionTableType: gpt
    partitions:
    - { id: esp, type: esp, size: 100M }
    - { id: rootfs, type: root, size: 2G }
    adoptedPartitions:
    - { id: home, matchLabel: home }
    - { id: logs, matchUuid: ${uuid(9)} }
  filesystems:
  - deviceId: esp
    mountPoint: /boot/efi
  - deviceId: rootfs
    mountPoint: /
  - deviceId: home
    source: adopted
    mountPoint: /home
  - deviceId: logs
    source: adopted
    type: xfs
    mountPoint: { path: /var/log/old, options: ro }
`);
    const layout: StorageLayout = {
      partitionUuids: { esp: uuid(1), rootfs: uuid(2), home: uuid(8), logs: uuid(9) },
      imageFilesystemTypes: { '/boot/efi': 'vfat', '/': 'ext4' },
      adoptedFilesystemTypes: { '/home': 'ext4' },
    };
    const fstab = renderFstab(adopted, layout);
    expect(fstab).toContain(`/dev/disk/by-partuuid/${uuid(8)} /home ext4 defaults 0 2\n`);
    expect(fstab).toContain(`/dev/disk/by-partuuid/${uuid(9)} /var/log/old xfs ro 0 2\n`);
    // Nothing found on the disk: `auto`, as upstream writes it.
    expect(renderFstab(adopted, { ...layout, adoptedFilesystemTypes: {} })).toContain(
      `/dev/disk/by-partuuid/${uuid(8)} /home auto defaults 0 2\n`,
    );
  });

  it('refuses a partition the layout did not give a PARTUUID, naming it', () => {
    const { rootfs: _dropped, ...partial } = plainLayout.partitionUuids;
    expect(() => renderFstab(plain, { partitionUuids: partial })).toThrow(
      expect.objectContaining({
        code: 'OS_CONFIG_UNKNOWN_DEVICE',
        message: expect.stringContaining("'rootfs'"),
      }),
    );
  });

  describe('read back by util-linux', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'os-config-fstab-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('findmnt parses every entry with the intended fields', async () => {
      const file = join(dir, 'fstab');
      await writeFile(file, renderFstab(plain, plainLayout));
      const { stdout } = await runTool('findmnt', [
        '--tab-file',
        file,
        '--json',
        '--list',
        '--output',
        'source,target,fstype,options,passno',
      ]);
      const rows = (JSON.parse(stdout) as { filesystems: Record<string, unknown>[] }).filesystems;
      expect(rows).toEqual([
        {
          source: `/dev/disk/by-partuuid/${uuid(1)}`,
          target: '/boot/efi',
          fstype: 'vfat',
          options: 'umask=0077',
          passno: 2,
        },
        {
          source: `/dev/disk/by-partuuid/${uuid(2)}`,
          target: '/',
          fstype: 'ext4',
          options: 'errors=remount-ro',
          passno: 1,
        },
        { source: '/dev/mapper/vault', target: '/srv/vault', fstype: 'ext4', options: 'defaults', passno: 2 },
        { source: 'tmpfs', target: '/scratch', fstype: 'tmpfs', options: 'size=64M,mode=1777', passno: 2 },
        {
          source: `/dev/disk/by-partuuid/${uuid(3)}`,
          target: 'none',
          fstype: 'swap',
          options: 'defaults',
          passno: 0,
        },
        { source: '/dev/mapper/cswap', target: 'none', fstype: 'swap', options: 'defaults', passno: 0 },
      ]);
      expect(await readFile(file, 'utf8')).toMatch(/\n$/u);
    });
  });
});

describe('crypttab', () => {
  it('unlocks volumes with the TPM and gives encrypted swap a random key each boot', () => {
    expect(renderCrypttab(plain, plainLayout)).toBe(
      `vault\t/dev/disk/by-partuuid/${uuid(4)}\tnone\tluks,tpm2-device=auto\n` +
        `cswap\t/dev/disk/by-partuuid/${uuid(5)}\t/dev/random\tluks,swap,cipher=aes-xts-plain64,size=512\n`,
    );
  });

  it('is not written without storage.encryption', () => {
    expect(renderCrypttab(verity, verityLayout)).toBeUndefined();
  });
});
