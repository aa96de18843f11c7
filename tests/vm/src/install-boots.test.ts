/**
 * A host installed by `trident install` boots, configured as its Host Configuration says: the
 * fixture OS with the agent (full flavour) is installed from its COSI into a disk-image file — new
 * partition UUIDs, a new ext4 at /srv, the datastore on a partition of its own at /var/lib/trident
 * (as upstream's `misc` configuration has it), users with keys, hostname, netplan, services, kernel
 * modules with options, extra kernel command line (a quoted value with a space), additional files
 * and scripts — and the installed disk boots alone under QEMU/OVMF. A job in the booted OS reports
 * what the checks compare: the root partition it came up from, the user and key, the hostname, the
 * mounts and their options, the module loaded with its options, the scripts' marker files, and
 * `trident get` reading the datastore install left. The packaged trident.service ran `trident commit` before the job (the job
 * unit is ordered after it): the health check ran on the booted OS and the host is provisioned on
 * volume A.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { type AgentPackage, ensureAgentPackage } from '@trident/test-support/vm-bundle';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact } from '@trident/test-support/vm-job';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { trident, VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const available = vmTestsAvailable(['full']);
const vms = createVmScope();
let dir: string;
let agent: AgentPackage;
let fixture: OsFixture;

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheInstallTestOnly0000000000000 alice@test';

const FACTS_JOB = `
echo "root-source=$(findmnt -no SOURCE /)"
echo "root-partuuid=$(blkid -s PARTUUID -o value "$(findmnt -no SOURCE /)")"
echo "hostname=$(hostname)"
echo "alice=$(id alice)"
echo "alice-key=$(cat /home/alice/.ssh/authorized_keys)"
echo "alice-key-mode=$(stat -c '%a %U' /home/alice/.ssh/authorized_keys)"
echo "srv=$(findmnt -no FSTYPE,OPTIONS /srv)"
echo "motd=$(cat /etc/motd)"
echo "post-provision=$(cat /root/post-provision 2>/dev/null)"
echo "post-configure=$(cat /root/post-configure 2>/dev/null)"
echo "netplan-mode=$(stat -c '%a' /etc/netplan/99-trident.yaml)"
echo "ssh-enabled=$(systemctl is-enabled ssh.service)"
echo "trident-fs=$(findmnt -no FSTYPE /var/lib/trident)"
echo "brd-loaded=$(grep -c '^brd ' /proc/modules)"
echo "brd-options=$(cat /sys/module/brd/parameters/rd_nr /sys/module/brd/parameters/rd_size 2>/dev/null | tr '\\n' ' ')"
echo "brd-devices=$(ls -d /sys/block/ram* 2>/dev/null | wc -l)"
echo "module-options=$(cat /etc/modprobe.d/module-options.conf 2>/dev/null)"
echo "blacklisted=$(cat /etc/modprobe.d/modules-disabled.conf 2>/dev/null)"
echo "cmdline=$(cat /proc/cmdline)"
echo "health-check=$(cat /var/lib/trident/health-check 2>/dev/null)"
echo "commit-unit=$(systemctl show -p Result --value trident.service) $(systemctl show -p ExecMainStatus --value trident.service)"
{ systemctl is-enabled trident.service; systemctl status --no-pager trident.service; journalctl -b --no-pager -u trident.service; } > "$TRIDENT_RESULTS/commit-unit.log" 2>&1
trident get configuration > "$TRIDENT_RESULTS/configuration.yaml" 2>&1 || echo "get-failed=$?"
trident get status > "$TRIDENT_RESULTS/status.yaml" 2>&1 || echo "get-status-failed=$?"
`;

function hostConfiguration(espMiB: number): string {
  return `image:
  url: file://${fixture.cosi}
  sha384: ${fixture.cosiSha384}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: ${espMiB}M }
        - { id: root, type: root, size: 2G }
        - { id: trident, size: 256M }
        - { id: srv, size: grow }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
    - deviceId: srv
      source: new
      mountPoint: { path: /srv, options: noatime }
    - deviceId: trident
      source: new
      mountPoint: /var/lib/trident
os:
  hostname: installed-host
  users:
    - name: alice
      sshPublicKeys: ["${KEY}"]
      sshMode: key-only
      secondaryGroups: [sudo]
  netplan:
    version: 2
    ethernets:
      uplink:
        match: { name: "en*" }
        dhcp4: true
  services:
    enable: [ssh.service]
  modules:
    - name: brd
      loadMode: always
      options: { rd_nr: "3", rd_size: "4096" }
    - name: pcspkr
      loadMode: disable
  kernelCommandLine:
    extraCommandLine: [trident.installed=1, 'trident.quoted="two words"']
  additionalFiles:
    - destination: /etc/motd
      content: "installed by trident-ts\\n"
scripts:
  preServicing:
    - name: mark-pre-servicing
      runOn: [clean-install]
      content: echo "$SERVICING_TYPE" > ${join(dir, 'pre-servicing')}
  postProvision:
    - name: mark-provision
      runOn: [clean-install]
      content: echo "$SERVICING_TYPE" > "$TARGET_ROOT/root/post-provision"
  postConfigure:
    - name: mark-configure
      runOn: [all]
      content: echo "configured $SERVICING_TYPE" > /root/post-configure
health:
  checks:
    - name: booted-fine
      runOn: [clean-install]
      content: test -f /etc/motd && echo "$SERVICING_TYPE" > /var/lib/trident/health-check
`;
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-install-'));
  agent = await ensureAgentPackage();
  fixture = await ensureOsFixture({ flavour: 'full', agentDeb: agent.deb, hostname: 'management' });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('a host installed by trident install', () => {
  it(
    'boots from its new partitions with the OS configuration applied and its datastore readable',
    async () => {
      const esp = fixture.partitions.find((p) => p.role === 'esp')!;
      const config = join(dir, 'host.yaml');
      await writeFile(config, hostConfiguration(Math.ceil(esp.size / 1048576)));
      const target = join(dir, 'installed.img');
      const run = await trident(['install', config, '--disk', `os=image:${target}:4G`]);
      expect(run.stderr).not.toMatch(/^error/imu);
      expect(run.code, run.stderr).toBe(0);

      const { boot, job } = await runVmJob(vms, {
        name: 'installed',
        disks: [{ path: target }],
        job: { script: FACTS_JOB },
      });
      expect(job.rc).toBe(0);
      const output = job.output;
      expect(boot.rootDevice).toBe('/dev/vda2');
      // The installed root has a PARTUUID the fixture never had: boot configuration followed it.
      const partUuid = fact(output, 'root-partuuid');
      expect(partUuid).toMatch(/^[0-9a-f-]{36}$/u);
      expect(partUuid).not.toBe(fixture.partitions.find((p) => p.role === 'root')!.partUuid);
      expect(fact(output, 'cmdline')).toContain(`root=PARTUUID=${partUuid}`);
      expect(fact(output, 'cmdline')).toContain('trident.installed=1');
      expect(fact(output, 'cmdline')).toContain('trident.quoted="two words"');
      // os.modules: loaded at boot from modules-load.d, with its options from modprobe.d.
      const modules = fact(output, 'module-options') ?? '';
      expect(fact(output, 'brd-loaded'), modules).toBe('1');
      expect(fact(output, 'brd-options'), modules).toBe('3 4096 ');
      expect(fact(output, 'brd-devices'), modules).toBe('3');
      expect(fact(output, 'blacklisted')).toBe('blacklist pcspkr');
      expect(fact(output, 'trident-fs')).toBe('ext4');
      expect(fact(output, 'hostname')).toBe('installed-host');
      expect(fact(output, 'alice')).toMatch(/groups=.*\bsudo\b/u);
      expect(fact(output, 'alice-key')).toBe(KEY);
      expect(fact(output, 'alice-key-mode')).toBe('600 alice');
      expect(fact(output, 'srv')).toMatch(/^ext4 .*noatime/u);
      expect(fact(output, 'motd')).toBe('installed by trident-ts');
      expect((await readFile(join(dir, 'pre-servicing'), 'utf8')).trim()).toBe('clean_install');
      expect(fact(output, 'post-provision')).toBe('clean_install');
      expect(fact(output, 'post-configure')).toBe('configured clean_install');
      expect(fact(output, 'netplan-mode')).toBe('600');
      expect(fact(output, 'ssh-enabled')).toBe('enabled');
      expect(fact(output, 'get-failed')).toBeUndefined();
      const configuration = job.results.get('configuration.yaml')?.toString() ?? '';
      expect(configuration).toContain('hostname: installed-host');
      expect(configuration).toContain(fixture.cosiSha384);
      const status = job.results.get('status.yaml')?.toString() ?? '';
      // trident.service committed the install at boot: right root, health check passed.
      const commitLog = `${output}\n${job.results.get('commit-unit.log')?.toString() ?? ''}`;
      expect(fact(output, 'health-check'), commitLog).toBe('clean_install');
      expect(fact(output, 'commit-unit')).toBe('success 0');
      expect(status).toMatch(/servicingState: provisioned/u);
      expect(status).toMatch(/abActiveVolume: volume-a/u);
      expect(status).not.toMatch(/lastError/u);
    },
    VM_TEST_TIMEOUT,
  );
});
