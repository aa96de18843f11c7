/**
 * A host installed by `trident install` with /usr on dm-verity boots (issue 16, upstream's
 * `usr-verity` e2e configuration): the fixture OS with the agent (full flavour) in its usr-verity
 * variant — writable ext4 root, /usr on its own partition under a verity device named `usr` with a
 * hash partition, systemd-boot — is installed from its COSI into a disk-image file laid out as
 * that configuration does: A/B pairs of the root, the /usr data and the /usr hash, /usr mounted
 * read-only, and the datastore on a new partition at /var/lib/trident. The installed disk boots
 * alone under QEMU/OVMF; a job in the booted OS reports what the checks compare: `veritysetup
 * status usr` verified with the COSI's usr hash on volume A's new data partition, /usr mounted
 * read-only from /dev/mapper/usr, a writable root, the hostname, and `trident get` reading the
 * datastore install left, committed by trident.service at boot.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

const FACTS_JOB = `
veritysetup status usr > "$TRIDENT_RESULTS/verity.txt" 2>&1 || echo "verity-status-failed=$?"
echo "usr-source=$(findmnt -no SOURCE /usr)"
echo "usr-options=$(findmnt -no FSTYPE,OPTIONS /usr)"
echo "root-source=$(findmnt -no SOURCE /)"
echo "root-options=$(findmnt -no OPTIONS /)"
echo "datastore-fs=$(findmnt -no FSTYPE /var/lib/trident)"
echo "hostname=$(hostname)"
echo "cmdline=$(cat /proc/cmdline)"
if touch /trident-write-probe 2>/dev/null; then echo "root-writable=yes"; else echo "root-writable=no"; fi
if touch /usr/trident-write-probe 2>/dev/null; then echo "usr-writable=yes"; else echo "usr-writable=no"; fi
echo "commit-unit=$(systemctl show -p Result --value trident.service) $(systemctl show -p ExecMainStatus --value trident.service)"
{ systemctl status --no-pager trident.service; journalctl -b --no-pager -u trident.service; } > "$TRIDENT_RESULTS/commit-unit.log" 2>&1
trident get configuration > "$TRIDENT_RESULTS/configuration.yaml" 2>&1 || echo "get-failed=$?"
trident get status > "$TRIDENT_RESULTS/status.yaml" 2>&1 || echo "get-status-failed=$?"
`;

/** A field of `veritysetup status` ("  data device: /dev/vda4" → "/dev/vda4"). */
function statusField(status: string, name: string): string | undefined {
  return new RegExp(`^\\s*${name}:\\s*(.*?)\\s*$`, 'mu').exec(status)?.[1];
}

function mib(role: string): number {
  return Math.ceil(fixture.partitions.find((p) => p.role === role)!.size / 1048576);
}

/** Upstream's usr-verity layout, sized to the fixture; partitions numbered in this order (vda1…). */
function hostConfiguration(): string {
  return `image:
  url: file://${fixture.cosi}
  sha384: ${fixture.cosiSha384}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: ${mib('esp')}M }
        - { id: root-a, type: root, size: 1536M }
        - { id: root-b, type: root, size: 1536M }
        - { id: usr-data-a, type: usr, size: ${mib('usr')}M }
        - { id: usr-data-b, type: usr, size: ${mib('usr')}M }
        - { id: usr-hash-a, type: usr-verity, size: ${mib('usr-hash')}M }
        - { id: usr-hash-b, type: usr-verity, size: ${mib('usr-hash')}M }
        - { id: trident, type: linux-generic, size: 64M }
  abUpdate:
    volumePairs:
      - { id: root, volumeAId: root-a, volumeBId: root-b }
      - { id: usr-data, volumeAId: usr-data-a, volumeBId: usr-data-b }
      - { id: usr-hash, volumeAId: usr-hash-a, volumeBId: usr-hash-b }
  verity:
    - id: usr
      name: usr
      dataDeviceId: usr-data
      hashDeviceId: usr-hash
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
    - deviceId: usr
      mountPoint: { path: /usr, options: ro }
    - deviceId: trident
      source: new
      mountPoint: /var/lib/trident
os:
  hostname: usr-verity-host
`;
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-install-usr-verity-'));
  agent = await ensureAgentPackage();
  fixture = await ensureOsFixture({
    flavour: 'full',
    agentDeb: agent.deb,
    usrVerity: true,
    hostname: 'usr-verity',
  });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('a host installed by trident install with /usr on dm-verity', () => {
  it(
    'boots its writable root with /usr verified from the new partitions, read-only, and is provisioned',
    async () => {
      const config = join(dir, 'host.yaml');
      await writeFile(config, hostConfiguration());
      const target = join(dir, 'installed.img');
      const run = await trident(['install', config, '--disk', `os=image:${target}:10G`]);
      expect(run.stderr).not.toMatch(/^error/imu);
      expect(run.code, run.stderr).toBe(0);

      const { boot, job } = await runVmJob(vms, {
        name: 'installed-usr-verity',
        disks: [{ path: target }],
        job: { script: FACTS_JOB },
      });
      expect(job.rc).toBe(0);
      const output = job.output;
      expect(boot.rootDevice).toBe('/dev/vda2');

      const status = job.results.get('verity.txt')?.toString() ?? '';
      expect(fact(output, 'verity-status-failed'), status).toBeUndefined();
      expect(status).toMatch(/is active and is in use/u);
      expect(statusField(status, 'status')).toBe('verified');
      expect(statusField(status, 'root hash')).toBe(fixture.usrhash);
      // Volume A's data and hash partitions, under PARTUUIDs the fixture never had.
      expect(statusField(status, 'data device')).toBe('/dev/vda4');
      expect(statusField(status, 'hash device')).toBe('/dev/vda6');
      const cmdline = fact(output, 'cmdline') ?? '';
      const dataPartUuid = /systemd\.verity_usr_data=PARTUUID=([0-9a-f-]{36})/u.exec(cmdline)?.[1];
      expect(dataPartUuid, cmdline).toBeDefined();
      expect(dataPartUuid).not.toBe(fixture.partitions.find((p) => p.role === 'usr')!.partUuid);
      expect(cmdline).toContain(`usrhash=${fixture.usrhash}`);
      expect(cmdline).toContain('mount.usr=/dev/mapper/usr');

      expect(fact(output, 'usr-source')).toBe('/dev/mapper/usr');
      expect(fact(output, 'usr-options')).toMatch(/^ext4\s+ro\b/u);
      expect(fact(output, 'usr-writable')).toBe('no');
      expect(fact(output, 'root-source')).toBe('/dev/vda2');
      expect(fact(output, 'root-options')).toMatch(/^rw\b/u);
      expect(fact(output, 'root-writable')).toBe('yes');
      expect(fact(output, 'datastore-fs')).toBe('ext4');
      expect(fact(output, 'hostname')).toBe('usr-verity-host');

      // trident.service committed the install at boot; `trident get` reads the datastore.
      const commitLog = `${output}\n${job.results.get('commit-unit.log')?.toString() ?? ''}`;
      expect(fact(output, 'commit-unit'), commitLog).toBe('success 0');
      expect(fact(output, 'get-failed')).toBeUndefined();
      const configuration = job.results.get('configuration.yaml')?.toString() ?? '';
      expect(configuration).toContain('hostname: usr-verity-host');
      expect(configuration).toContain(fixture.cosiSha384);
      expect(configuration).toMatch(/dataDeviceId: usr-data/u);
      const hostStatus = job.results.get('status.yaml')?.toString() ?? '';
      expect(hostStatus).toMatch(/servicingState: provisioned/u);
      expect(hostStatus).toMatch(/abActiveVolume: volume-a/u);
      expect(hostStatus).not.toMatch(/lastError/u);
    },
    VM_TEST_TIMEOUT,
  );
});
