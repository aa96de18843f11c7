/**
 * What the "minimal" fixture OS (no sshd, no netplan, no SELinux) makes the steps do, the machine-id
 * of a verity root, and systemd health checks where no systemd runs.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '@trident/exec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOsConfig, relabelNewRoot } from './apply.ts';
import { mountChrootFilesystems } from './chroot-mounts.ts';
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

  it("an A/B update takes the running OS's machine-id and, without os.hostname, its hostname", async () => {
    await writeFile(join(root, 'etc/hostname'), 'from-image');
    await applyOsConfig(root, hostConfig(SIMPLE_STORAGE), SIMPLE_LAYOUT, { servicingType: 'ab-update' });
    expect(await readFile(join(root, 'etc/machine-id'), 'utf8')).toBe(
      await readFile('/etc/machine-id', 'utf8'),
    );
    expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe(
      (await readFile('/etc/hostname', 'utf8')).trim(),
    );
    // Turned off by the internal parameter: the image's hostname stays.
    await writeFile(join(root, 'etc/hostname'), 'from-image');
    await applyOsConfig(
      root,
      hostConfig(`${SIMPLE_STORAGE}internalParams:\n  disableHostnameCarryOver: true\n`),
      SIMPLE_LAYOUT,
      { servicingType: 'ab-update' },
    );
    expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe('from-image');
  });

  it('refuses servicing types that do not configure a new root', async () => {
    for (const servicingType of ['runtime-update', 'manual-rollback-ab'] as const)
      await expect(
        applyOsConfig(root, hostConfig(SIMPLE_STORAGE), SIMPLE_LAYOUT, { servicingType }),
      ).rejects.toMatchObject({ code: 'OS_CONFIG_UNSUPPORTED_SERVICING', subkind: 'unsupported-feature' });
  });

  it('points the agent at a non-default datastore, and refuses an image that disagrees', async () => {
    const custom = hostConfig(`${SIMPLE_STORAGE}trident:\n  datastorePath: /var/lib/trident/agent.sqlite\n`);
    await applyOsConfig(root, custom, SIMPLE_LAYOUT);
    expect(await readFile(join(root, 'etc/trident/trident.conf'), 'utf8')).toBe(
      'DatastorePath=/var/lib/trident/agent.sqlite',
    );
    // Now the image "ships" that file: the default path disagrees with it.
    await expect(applyOsConfig(root, hostConfig(SIMPLE_STORAGE), SIMPLE_LAYOUT)).rejects.toMatchObject({
      code: 'OS_CONFIG_AGENT_CONFIG_MISMATCH',
      subkind: 'image-bad-agent-configuration',
    });
    await rm(join(root, 'etc/trident'), { recursive: true });
    // A verity root cannot be given one.
    await expect(
      applyOsConfig(
        root,
        hostConfig(`${VERITY}trident:\n  datastorePath: /var/lib/trident/agent.sqlite\n`),
        VERITY_LAYOUT,
      ),
    ).rejects.toMatchObject({
      code: 'OS_CONFIG_AGENT_CONFIG_MISMATCH',
      message: expect.stringContaining('verity root'),
    });
  });

  it('relabels only where SELinux ends up on, and needs setfiles for it', async () => {
    const events: OsConfigStepEvent[] = [];
    await relabelNewRoot(root, hostConfig(SIMPLE_STORAGE), SIMPLE_LAYOUT, { onStep: (e) => events.push(e) });
    expect(events.at(-1)).toMatchObject({
      step: 'selinux-relabel',
      status: 'skipped',
      detail: 'the new OS has no SELinux',
    });
    await runTool('mkdir', ['-p', join(root, 'etc/selinux')]);
    await writeFile(join(root, 'etc/selinux/config'), 'SELINUX=enforcing\nSELINUXTYPE=default\n');
    try {
      await relabelNewRoot(
        root,
        hostConfig(`${SIMPLE_STORAGE}os:\n  selinux:\n    mode: disabled\n`),
        SIMPLE_LAYOUT,
        {
          onStep: (e) => events.push(e),
        },
      );
      expect(events.at(-1)).toMatchObject({ status: 'skipped', detail: 'SELinux is disabled' });
      // The image's enforcing mode stands; Debian's minimal OS has no setfiles to label with.
      await expect(relabelNewRoot(root, hostConfig(SIMPLE_STORAGE), SIMPLE_LAYOUT)).rejects.toMatchObject({
        code: 'OS_CONFIG_SELINUX_NOT_FOUND',
        message: expect.stringContaining("no 'setfiles'"),
      });
    } finally {
      await rm(join(root, 'etc/selinux'), { recursive: true });
    }
  });

  it('mounts what the chroot needs and unmounts all of it', async () => {
    const under = async () =>
      (await readFile('/proc/self/mounts', 'utf8'))
        .split('\n')
        .map((line) => line.split(' '))
        .filter((f) => f[1]?.startsWith(`${root}/`))
        .map((f) => `${f[1]?.slice(root.length)} ${f[2]}`);
    const mounts = await mountChrootFilesystems(root);
    try {
      expect(await under()).toEqual([
        '/dev devtmpfs',
        '/proc proc',
        '/sys sysfs',
        '/run tmpfs',
        '/tmp tmpfs',
      ]);
      // The chroot sees the host's disks and its own processes.
      expect((await runTool('ls', ['/dev/null'], { root })).stdout).toBe('/dev/null\n');
      expect((await runTool('cat', ['/proc/self/comm'], { root })).stdout).toBe('cat\n');
    } finally {
      await mounts.unmount();
    }
    expect(await under()).toEqual([]);
    await mounts.unmount();
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
