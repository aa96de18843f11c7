/**
 * What the "minimal" fixture OS (no sshd, no netplan, no SELinux) makes the steps do, the machine-id
 * of a verity root, and systemd health checks where no systemd runs.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOsConfig } from './apply.ts';
import { runHealthChecks } from './health-checks.ts';
import {
  hostConfig,
  rootfsUnavailable,
  SIMPLE_STORAGE,
  type UnpackedRootfs,
  unpackRootfs,
} from './test-support/rootfs.ts';
import type { OsConfigStepEvent, StorageLayout } from './types.ts';

const unavailable = rootfsUnavailable('minimal');
if (unavailable) console.log(`[os-config] skipping the minimal-root tests: ${unavailable}`);

const SIMPLE_LAYOUT: StorageLayout = {
  partitionUuids: {
    esp: '9b2c4d6e-0f1a-4b3c-8d5e-6f7a8b9c0d01',
    rootfs: '9b2c4d6e-0f1a-4b3c-8d5e-6f7a8b9c0d02',
  },
};

const VERITY = `
image:
  url: file:///srv/images/verity.cosi
  sha384: ignored
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
    mountPoint: /var/lib/trident-overlay
  - deviceId: root
    mountPoint: { path: /, options: ro }
  - source: new
    type: tmpfs
    mountPoint: /var/tmp
  verity:
  - { id: root, name: root, dataDeviceId: rootdata, hashDeviceId: roothash }
os:
  hostname: sealed
`;
const VERITY_LAYOUT: StorageLayout = {
  partitionUuids: {
    esp: '5d0e8f1a-2b3c-4d5e-9f60-7182a3b4c501',
    rootdata: '5d0e8f1a-2b3c-4d5e-9f60-7182a3b4c502',
    roothash: '5d0e8f1a-2b3c-4d5e-9f60-7182a3b4c503',
    trident: '5d0e8f1a-2b3c-4d5e-9f60-7182a3b4c504',
    overlay: '5d0e8f1a-2b3c-4d5e-9f60-7182a3b4c505',
    bootfs: '5d0e8f1a-2b3c-4d5e-9f60-7182a3b4c506',
  },
  imageFilesystemTypes: { '/boot/efi': 'vfat', '/boot': 'ext4', '/': 'ext4' },
};

describe.skipIf(unavailable !== undefined)('a minimal root', () => {
  let rootfs: UnpackedRootfs;
  let root: string;
  beforeAll(async () => {
    rootfs = await unpackRootfs('minimal');
    root = rootfs.root;
  }, 300_000);
  afterAll(async () => {
    await rootfs?.remove();
  }, 120_000);

  it('refuses a user who may log in by SSH when the OS has no sshd', async () => {
    const config = hostConfig(`${SIMPLE_STORAGE}
os:
  users:
  - name: carol
    sshMode: key-only
    sshPublicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3v9c1Qy6m2bV8nX0rT5wP4sL7dF1gJ2hK3mN5pQ6r carol']
`);
    await expect(applyOsConfig(root, config, SIMPLE_LAYOUT)).rejects.toMatchObject({
      code: 'OS_CONFIG_USERS',
      message: expect.stringContaining(
        'no /etc/ssh/sshd_config (is openssh-server installed?), yet os.users lets carol',
      ),
    });
  });

  it('creates a blocked user without sshd, warning about the keys nobody will use', async () => {
    const logs: string[] = [];
    const config = hostConfig(`${SIMPLE_STORAGE}
os:
  users:
  - name: dave
    sshPublicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3v9c1Qy6m2bV8nX0rT5wP4sL7dF1gJ2hK3mN5pQ6r dave']
`);
    await applyOsConfig(root, config, SIMPLE_LAYOUT, { onLog: (l) => logs.push(`${l.level} ${l.message}`) });
    expect(logs).toContain('warn no /etc/ssh/sshd_config in the new OS, yet dave have SSH keys');
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toMatch(/^dave:x:\d+:\d+::\/home\/dave:/mu);
  });

  it('refuses os.netplan when the OS has no netplan', async () => {
    const config = hostConfig(`${SIMPLE_STORAGE}
os:
  netplan:
    version: 2
    ethernets:
      nic: { dhcp4: true }
`);
    await expect(applyOsConfig(root, config, SIMPLE_LAYOUT)).rejects.toMatchObject({
      code: 'OS_CONFIG_NETPLAN_GENERATE',
      subkind: 'generate-netplan-config',
      message: expect.stringContaining('the new OS has no netplan'),
    });
  });

  it('gives a verity root its own machine-id now and overlays /etc', async () => {
    const config = hostConfig(VERITY);
    expect(await readFile(join(root, 'etc/machine-id'), 'utf8')).toBe('');
    await applyOsConfig(root, config, VERITY_LAYOUT);
    const first = await readFile(join(root, 'etc/machine-id'), 'utf8');
    expect(first).toMatch(/^[0-9a-f]{32}\n$/u);
    const uuid = VERITY_LAYOUT.partitionUuids;
    expect(await readFile(join(root, 'etc/fstab'), 'utf8')).toBe(
      [
        `/dev/disk/by-partuuid/${uuid['esp']} /boot/efi vfat umask=0077 0 2`,
        `/dev/disk/by-partuuid/${uuid['bootfs']} /boot ext4 defaults 0 2`,
        `/dev/disk/by-partuuid/${uuid['trident']} /var/lib/trident ext4 defaults 0 2`,
        `/dev/disk/by-partuuid/${uuid['overlay']} /var/lib/trident-overlay ext4 defaults 0 2`,
        '# Mounting is handled by veritysetup generator',
        '# /dev/mapper/root / ext4 ro 0 1',
        'tmpfs /var/tmp tmpfs defaults 0 2',
        'overlay /etc overlay lowerdir=/etc,upperdir=/var/lib/trident-overlay/etc/upper,workdir=/var/lib/trident-overlay/etc/work,ro 0 2',
        '',
      ].join('\n'),
    );
    // Each clean install gets a new one.
    await applyOsConfig(root, config, VERITY_LAYOUT);
    const second = await readFile(join(root, 'etc/machine-id'), 'utf8');
    expect(second).toMatch(/^[0-9a-f]{32}\n$/u);
    expect(second).not.toBe(first);
  });

  it('skips storage and OS configuration of a UKI image with a verity root, as upstream', async () => {
    const before = await readFile(join(root, 'etc/fstab'), 'utf8');
    const events: OsConfigStepEvent[] = [];
    await applyOsConfig(
      root,
      hostConfig(VERITY.replace('hostname: sealed', 'hostname: uki-host')),
      VERITY_LAYOUT,
      {
        bootKind: 'uki',
        onStep: (e) => events.push(e),
      },
    );
    expect(
      events.filter((e) => e.status === 'skipped' && e.detail?.startsWith('UKI')).map((e) => e.step),
    ).toEqual(['fstab', 'crypttab', 'mdadm-conf', 'users', 'hostname', 'services', 'modules', 'selinux']);
    expect(await readFile(join(root, 'etc/fstab'), 'utf8')).toBe(before);
    expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe('sealed');
  });

  describe('systemd health checks, where no systemd runs', () => {
    it('polls systemctl status until timeoutSeconds, then fails naming the units', async () => {
      const config = hostConfig(`${SIMPLE_STORAGE}
health:
  checks:
  - name: web
    systemdServices: [nginx.service, ssh.service]
    timeoutSeconds: 1
    runOn: [all]
  - name: once
    systemdServices: [ssh.service]
    timeoutSeconds: 0
    runOn: [all]
`);
      const logs: string[] = [];
      const started = Date.now();
      const failure = runHealthChecks(config, {
        servicingType: 'clean-install',
        root: root,
        onLog: (l) => logs.push(`${l.source} ${l.message}`),
      });
      await expect(failure).rejects.toMatchObject({
        failures: [
          {
            name: 'web',
            error: expect.stringMatching(/nginx\.service ssh\.service not active within 1 s/u),
          },
          { name: 'once', error: expect.stringMatching(/not active within 0 s/u) },
        ],
      });
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1000);
      expect(elapsed).toBeLessThan(10_000);
      // Polled: several attempts for the one-second check, exactly one for the zero-second one.
      expect(logs.filter((l) => l.startsWith('health:web not healthy')).length).toBeGreaterThan(2);
      expect(logs.filter((l) => l.startsWith('health:once not healthy'))).toHaveLength(1);
    }, 60_000);
  });
});
