/**
 * OS configuration of a real Debian root (the "full" fixture OS: openssh-server, netplan.io,
 * mdadm), chrooted as install does it, checked with the new OS's own tools.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '@trident/exec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOsConfig } from './apply.ts';
import { type ChrootMounts, mountChrootFilesystems } from './chroot-mounts.ts';
import {
  hostConfig,
  rootfsUnavailable,
  SIMPLE_STORAGE,
  type UnpackedRootfs,
  unpackRootfs,
} from './test-support/rootfs.ts';
import type { OsConfigStepEvent, StorageLayout } from './types.ts';

const unavailable = rootfsUnavailable('full');
if (unavailable) console.log(`[os-config] skipping the real-root tests: ${unavailable}`);

const ALICE_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq0sQe1R2vWcWm3bW5ONkfTWV0Ztzp1wdr4aZ0Hm8pY alice@lab';
const ALICE_KEY2 =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ2n6pP8dRfY7nGm0Zq4i1s9o3tHcV5kWb2xLr8uQeAa alice@laptop';

const STORAGE = SIMPLE_STORAGE;
const LAYOUT: StorageLayout = {
  partitionUuids: {
    esp: '6a1f0e42-8d0c-4c55-b6a3-2f6f1d4e0a01',
    rootfs: '6a1f0e42-8d0c-4c55-b6a3-2f6f1d4e0a02',
  },
  imageFilesystemTypes: { '/boot/efi': 'vfat', '/': 'ext4' },
};

describe.skipIf(unavailable !== undefined)('OS configuration of a real root', () => {
  let rootfs: UnpackedRootfs;
  let root: string;
  let mounts: ChrootMounts | undefined;
  let hostDir: string;
  const inRoot = (command: string, ...args: string[]) => runTool(command, args, { root });

  beforeAll(async () => {
    rootfs = await unpackRootfs('full');
    root = rootfs.root;
    hostDir = await mkdtemp(join(tmpdir(), 'os-config-host-'));
    mounts = await mountChrootFilesystems(root);
  }, 300_000);
  afterAll(async () => {
    await mounts?.unmount();
    await rootfs?.remove();
    if (hostDir) await rm(hostDir, { recursive: true, force: true });
  }, 120_000);

  describe('a configuration with users, network, services, modules, files and scripts', () => {
    const events: OsConfigStepEvent[] = [];
    const logs: string[] = [];

    beforeAll(async () => {
      await writeFile(join(hostDir, 'motd'), 'managed by trident\n', { mode: 0o640 });
      await writeFile(
        join(hostDir, 'provision.sh'),
        'echo "provisioned $SERVICING_TYPE" > "$TARGET_ROOT/var/provision-marker"\n',
      );
      const config = hostConfig(`${STORAGE}
os:
  hostname: lab-node-7
  users:
  - name: alice
    sshPublicKeys: ['${ALICE_KEY}', '${ALICE_KEY2}']
    sshMode: key-only
    secondaryGroups: [sudo, adm]
  - name: bob
    uid: 1500
    homeDirectory: /srv/bob
    startupCommand: /usr/bin/bash
  netplan:
    version: 2
    ethernets:
      uplink:
        match: { name: 'enp*' }
        dhcp4: true
  services:
    enable: [ssh.service, fstrim.timer]
    disable: [trident-test-marker.service, e2scrub_reap.service]
  modules:
  - name: br_netfilter
    loadMode: always
    options: { hashsize: '4096' }
  - name: floppy
    loadMode: disable
  additionalFiles:
  - destination: /usr/local/bin/hello
    content: "#!/bin/sh\\necho hello\\n"
    permissions: '0755'
  - destination: /etc/motd.d/trident
    source: ${join(hostDir, 'motd')}
  - destination: /etc/trident-note
    content: note
scripts:
  postProvision:
  - name: mark-provision
    runOn: [clean-install]
    path: ${join(hostDir, 'provision.sh')}
  - name: only-on-update
    runOn: [ab-update]
    content: exit 1
  postConfigure:
  - name: record-environment
    runOn: [all]
    interpreter: /bin/bash
    arguments: [first, second arg]
    environmentVariables: { GREETING: hi there }
    content: |
      printf '%s|%s|%s|%s|%s\\n' "$SERVICING_TYPE" "$TARGET_ROOT" "$GREETING" "$1" "$2" > /var/configure-marker
      echo "configure says hello"
      echo "to stderr" >&2
`);
      await applyOsConfig(root, config, LAYOUT, {
        onStep: (e) => events.push(e),
        onLog: (l) => logs.push(`${l.source}: ${l.message}`),
      });
    }, 300_000);

    it('runs every step in upstream order and reports each', () => {
      expect(
        events.filter((e) => e.status !== 'started').map((e) => `${e.phase}:${e.step}:${e.status}`),
      ).toEqual([
        'provision:machine-id:skipped',
        'provision:extensions:skipped',
        'provision:post-provision-scripts:completed',
        'configure:fstab:completed',
        'configure:crypttab:skipped',
        'configure:mdadm-conf:skipped',
        'configure:netplan:completed',
        'configure:users:completed',
        'configure:hostname:completed',
        'configure:services:completed',
        'configure:modules:completed',
        'configure:selinux:skipped',
        'configure:agent-config:skipped',
        'configure:additional-files:completed',
        'configure:post-configure-scripts:completed',
      ]);
      expect(events.filter((e) => e.status === 'started')).toHaveLength(15);
    });

    it('writes fstab by PARTUUID', async () => {
      expect(await readFile(join(root, 'etc/fstab'), 'utf8')).toBe(
        `/dev/disk/by-partuuid/${LAYOUT.partitionUuids['esp']} /boot/efi vfat umask=0077 0 2\n` +
          `/dev/disk/by-partuuid/${LAYOUT.partitionUuids['rootfs']} / ext4 defaults 0 1\n`,
      );
    });

    it('sets the hostname without a newline', async () => {
      expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe('lab-node-7');
    });

    it('creates the users with their groups, uid, home and shell', async () => {
      expect((await inRoot('id', '-nG', 'alice')).stdout.trim().split(' ').sort()).toEqual([
        'adm',
        'alice',
        'sudo',
      ]);
      expect((await inRoot('id', '-u', 'bob')).stdout.trim()).toBe('1500');
      const bob = (await inRoot('getent', 'passwd', 'bob')).stdout.trim().split(':');
      expect([bob[5], bob[6]]).toEqual(['/srv/bob', '/usr/bin/bash']);
      expect((await stat(join(root, 'srv/bob'))).uid).toBe(1500);
      // Locked password: `*`, so only keys can log in.
      for (const name of ['alice', 'bob'])
        expect((await inRoot('getent', 'shadow', name)).stdout.split(':')[1]).toBe('*');
    });

    it("installs alice's keys owned by her, 0700/0600", async () => {
      const uid = Number((await inRoot('id', '-u', 'alice')).stdout.trim());
      const gid = Number((await inRoot('id', '-g', 'alice')).stdout.trim());
      const dir = await stat(join(root, 'home/alice/.ssh'));
      const keys = await stat(join(root, 'home/alice/.ssh/authorized_keys'));
      expect([dir.mode & 0o7777, dir.uid, dir.gid]).toEqual([0o700, uid, gid]);
      expect([keys.mode & 0o7777, keys.uid, keys.gid]).toEqual([0o600, uid, gid]);
      expect(await readFile(join(root, 'home/alice/.ssh/authorized_keys'), 'utf8')).toBe(
        `${ALICE_KEY}\n${ALICE_KEY2}\n`,
      );
    });

    it('configures sshd to refuse bob and lets sshd itself read it that way', async () => {
      const sshd = await readFile(join(root, 'etc/ssh/sshd_config'), 'utf8');
      expect(
        sshd.startsWith(
          '# Trident Configuration Overrides\nInclude /etc/ssh/sshd_config.d/global_user.conf\n\n',
        ),
      ).toBe(true);
      expect(await readFile(join(root, 'etc/ssh/sshd_config.d/global_user.conf'), 'utf8')).toBe(
        'DenyUsers bob\n\n',
      );
      // sshd's extended test mode prints the effective configuration.
      await runTool('mkdir', ['-p', join(root, 'run/sshd')]);
      const effective = (await inRoot('/usr/sbin/sshd', '-T', '-C', 'user=bob,host=client,addr=192.0.2.10'))
        .stdout;
      expect(effective).toMatch(/^denyusers bob$/mu);
    });

    it('writes netplan 0600 and netplan generates the networkd files from it', async () => {
      const file = join(root, 'etc/netplan/99-trident.yaml');
      expect((await stat(file)).mode & 0o7777).toBe(0o600);
      expect(await readFile(file, 'utf8')).toBe(
        'network:\n  version: 2\n  ethernets:\n    uplink:\n      match:\n        name: enp*\n      dhcp4: true\n',
      );
      const generated = await readFile(join(root, 'run/systemd/network/10-netplan-uplink.network'), 'utf8');
      expect(generated).toMatch(/^Name=enp\*$/mu);
      expect(generated).toMatch(/^DHCP=ipv4$/mu);
    });

    it('enables and disables the services as systemd sees them', async () => {
      const state = async (unit: string) =>
        (await runTool('systemctl', ['--root', root, 'is-enabled', unit], { okCodes: 'any' })).stdout.trim();
      expect(await state('ssh.service')).toBe('enabled');
      expect(await state('fstrim.timer')).toBe('enabled');
      expect(await state('trident-test-marker.service')).toBe('disabled');
      expect(await state('e2scrub_reap.service')).toBe('disabled');
    });

    it('writes the module files', async () => {
      expect(await readFile(join(root, 'etc/modules-load.d/modules-load.conf'), 'utf8')).toBe(
        'br_netfilter\n',
      );
      expect(await readFile(join(root, 'etc/modprobe.d/modules-disabled.conf'), 'utf8')).toBe(
        'blacklist floppy\n',
      );
      expect(await readFile(join(root, 'etc/modprobe.d/module-options.conf'), 'utf8')).toBe(
        'options br_netfilter hashsize=4096\n',
      );
    });

    it('writes additional files with the configured, source or default mode', async () => {
      const mode = async (p: string) => (await stat(join(root, p))).mode & 0o7777;
      expect(await readFile(join(root, 'usr/local/bin/hello'), 'utf8')).toBe('#!/bin/sh\necho hello\n');
      expect(await mode('usr/local/bin/hello')).toBe(0o755);
      expect((await inRoot('/usr/local/bin/hello')).stdout).toBe('hello\n');
      expect(await readFile(join(root, 'etc/motd.d/trident'), 'utf8')).toBe('managed by trident\n');
      expect(await mode('etc/motd.d/trident')).toBe(0o640);
      expect(await mode('etc/trident-note')).toBe(0o664);
    });

    it('runs scripts where upstream runs them, with its environment, and logs their output', async () => {
      expect(await readFile(join(root, 'var/provision-marker'), 'utf8')).toBe('provisioned clean_install\n');
      expect(await readFile(join(root, 'var/configure-marker'), 'utf8')).toBe(
        'clean_install|/|hi there|first|second arg\n',
      );
      expect(logs).toContain('script:record-environment: configure says hello');
      expect(logs).toContain('script:record-environment: to stderr');
      expect(logs.some((l) => l.startsWith('script:only-on-update: not run'))).toBe(true);
      // The script's temporary file is gone from the new root's /tmp.
      expect((await runTool('ls', ['-A', join(root, 'tmp')])).stdout).toBe('');
    });

    it('keeps existing keys of a user that exists, appending the new ones', async () => {
      const config = hostConfig(`${STORAGE}
os:
  users:
  - name: alice
    sshPublicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE3rT2Q9xk1mNw3e8K0q6FvYw2p9sLr3dZc7VbX4nUa1 alice@new']
    sshMode: key-only
`);
      await applyOsConfig(root, config, LAYOUT);
      expect(await readFile(join(root, 'home/alice/.ssh/authorized_keys'), 'utf8')).toBe(
        `${ALICE_KEY}\n${ALICE_KEY2}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE3rT2Q9xk1mNw3e8K0q6FvYw2p9sLr3dZc7VbX4nUa1 alice@new\n`,
      );
      // Included once, however often it runs.
      const sshd = await readFile(join(root, 'etc/ssh/sshd_config'), 'utf8');
      expect(sshd.match(/^Include \/etc\/ssh\/sshd_config\.d\/global_user\.conf$/gmu)).toHaveLength(1);
    }, 120_000);
  });

  describe('refusals, each by name', () => {
    const run = (yaml: string, events?: OsConfigStepEvent[]) =>
      applyOsConfig(
        root,
        hostConfig(`${STORAGE}${yaml}`),
        LAYOUT,
        events ? { onStep: (e) => events.push(e) } : {},
      );

    it('a failing postConfigure script stops with its name and its last output', async () => {
      const events: OsConfigStepEvent[] = [];
      const failure = run(
        `
scripts:
  postConfigure:
  - name: broken-step
    runOn: [clean-install]
    content: |
      echo "checking the widget"
      echo "widget missing" >&2
      exit 3
`,
        events,
      );
      await expect(failure).rejects.toMatchObject({
        code: 'OS_CONFIG_POST_CONFIGURE_SCRIPT',
        subkind: 'run-post-configure-script',
        message: expect.stringMatching(
          /script 'broken-step' failed: exited with code 3; its last output:\nchecking the widget\nwidget missing/u,
        ),
      });
      expect(events.at(-1)).toMatchObject({ step: 'post-configure-scripts', status: 'failed' });
    }, 120_000);

    it('an interpreter the new root lacks', async () => {
      await expect(
        run(`
scripts:
  postConfigure:
  - name: needs-python
    runOn: [all]
    interpreter: /usr/bin/python9
    content: print(1)
`),
      ).rejects.toMatchObject({
        code: 'OS_CONFIG_POST_CONFIGURE_SCRIPT',
        message: expect.stringContaining("interpreter '/usr/bin/python9' is not installed in the new root"),
      });
    }, 120_000);

    it('a script path that is not on the servicing OS, before anything runs', async () => {
      const events: OsConfigStepEvent[] = [];
      await expect(
        run(
          `
scripts:
  postProvision:
  - name: lost
    runOn: [clean-install]
    path: /nonexistent/provision.sh
`,
          events,
        ),
      ).rejects.toMatchObject({
        code: 'OS_CONFIG_INVALID_SCRIPT_PATH',
        message: expect.stringContaining("'lost'"),
      });
      expect(events).toEqual([]);
    });

    it('changing the uid of a user the image already has', async () => {
      await expect(run('\nos:\n  users:\n  - name: alice\n    uid: 4242\n')).rejects.toMatchObject({
        code: 'OS_CONFIG_USERS',
        subkind: 'set-up-users',
        message: expect.stringContaining("user 'alice' already exists"),
      });
    }, 120_000);

    it('disabling a unit the new OS does not have', async () => {
      await expect(run('\nos:\n  services:\n    disable: [no-such-thing.service]\n')).rejects.toMatchObject({
        code: 'OS_CONFIG_SERVICES',
        message: expect.stringContaining("'no-such-thing.service'"),
      });
    }, 120_000);

    it('options on a module that is disabled, or that the image blacklists', async () => {
      await expect(
        run("\nos:\n  modules:\n  - name: floppy\n    loadMode: disable\n    options: { x: '1' }\n"),
      ).rejects.toMatchObject({ code: 'OS_CONFIG_MODULES' });
      // floppy was blacklisted above; inherit cannot give it options.
      await expect(
        run("\nos:\n  modules:\n  - name: floppy\n    options: { allowed_drive_mask: '0' }\n"),
      ).rejects.toMatchObject({
        code: 'OS_CONFIG_MODULES',
        message: expect.stringContaining('blacklisted by the image'),
      });
    }, 120_000);

    it('SELinux enforcing on an OS without SELinux; disabled is already true there', async () => {
      const events: OsConfigStepEvent[] = [];
      await run('\nos:\n  selinux:\n    mode: disabled\n', events);
      expect(events.find((e) => e.step === 'selinux' && e.status === 'skipped')?.detail).toContain(
        'no /etc/selinux/config',
      );
      await expect(run('\nos:\n  selinux:\n    mode: enforcing\n')).rejects.toMatchObject({
        code: 'OS_CONFIG_SELINUX_NOT_FOUND',
        subkind: 'selinux-enabled-but-not-found',
      });
    }, 120_000);

    it('RAID arrays whose superblocks mdadm cannot find', async () => {
      const raid = hostConfig(`
image:
  url: file:///srv/images/os.cosi
  sha384: ignored
storage:
  disks:
  - id: a
    device: /dev/vda
    partitionTableType: gpt
    partitions:
    - { id: esp, type: esp, size: 100M }
    - { id: r1, type: root, size: 1G }
    - { id: state, size: 100M }
  - id: b
    device: /dev/vdb
    partitionTableType: gpt
    partitions:
    - { id: r2, type: root, size: 1G }
  raid:
    software:
    - { id: rootraid, name: root, level: raid1, devices: [r1, r2] }
  filesystems:
  - deviceId: esp
    mountPoint: { path: /boot/efi, options: umask=0077 }
  - deviceId: rootraid
    mountPoint: /
`);
      await expect(
        applyOsConfig(root, raid, {
          partitionUuids: { esp: '1'.repeat(8), r1: '2'.repeat(8), r2: '3'.repeat(8) },
        }),
      ).rejects.toMatchObject({
        code: 'OS_CONFIG_MDADM_CONF',
        message: expect.stringContaining('found no RAID superblock'),
      });
      // fstab was written before: the array by its /dev/md name.
      expect(await readFile(join(root, 'etc/fstab'), 'utf8')).toContain('/dev/md/root / auto defaults 0 1\n');
    }, 120_000);
  });

  describe('SELinux mode in an OS that has it', () => {
    it('rewrites the first SELINUX= line only', async () => {
      await runTool('mkdir', ['-p', join(root, 'etc/selinux')]);
      await writeFile(
        join(root, 'etc/selinux/config'),
        '# policy\nSELINUX=enforcing\nSELINUXTYPE=targeted\n# SELINUX=permissive\n',
      );
      await applyOsConfig(root, hostConfig(`${STORAGE}\nos:\n  selinux:\n    mode: permissive\n`), LAYOUT);
      expect(await readFile(join(root, 'etc/selinux/config'), 'utf8')).toBe(
        '# policy\nSELINUX=permissive\nSELINUXTYPE=targeted\n# SELINUX=permissive\n',
      );
      await rm(join(root, 'etc/selinux'), { recursive: true });
    }, 120_000);
  });
});
