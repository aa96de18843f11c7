/**
 * A host installed by `trident install` with an encrypted data volume boots and unlocks it with its
 * TPM. The host kernel here has no dm-crypt, so the install runs in a management OS: the full
 * fixture (agent inside) boots on a machine with a TPM 2.0 (swtpm), the COSI as a virtio disk
 * (`file:///dev/vdb`) and a blank disk, and installs the full fixture's own OS with a LUKS2 volume
 * `srv` on its third partition, a new ext4 at /srv inside it, and no recovery key: the volume key
 * is sealed to PCR 7 of that TPM and the password slot wiped. The installed disk then boots alone
 * on the same machine (same TPM), and a job reports: the mapping open over the partition
 * (`cryptsetup status`), /srv mounted from it, only a TPM2 key slot left, crypttab, and `trident
 * get` reading the Host Status install left.
 */
import { copyFile, mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { ensureAgentPackage } from '@trident/test-support/vm-bundle';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact } from '@trident/test-support/vm-job';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const MiB = 1024 * 1024;
const SRV_MiB = 128;
const available = vmTestsAvailable(['full']);
const vms = createVmScope();
let dir: string;
let management: OsFixture;

function sizeMiB(role: string): number {
  return Math.ceil(management.partitions.find((p) => p.role === role)!.size / MiB);
}

function hostConfiguration(): string {
  return `image:
  url: file:///dev/vdb
  sha384: ${management.cosiSha384}
storage:
  disks:
    - id: os
      device: /dev/vdc
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: ${sizeMiB('esp')}M }
        - { id: root, type: root, size: ${sizeMiB('root')}M }
        - { id: secret, type: srv, size: ${SRV_MiB}M }
  encryption:
    pcrs: [7]
    volumes:
      - { id: srv, deviceName: srv, deviceId: secret }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
    - deviceId: srv
      source: new
      mountPoint: /srv
os:
  hostname: sealed-host
`;
}

const INSTALLED_JOB = `
cryptsetup status srv > "$TRIDENT_RESULTS/status.txt" 2>&1 || echo "status-failed=$?"
systemd-cryptenroll /dev/vda3 > "$TRIDENT_RESULTS/slots.txt" 2>&1 || echo "slots-failed=$?"
cp /etc/crypttab "$TRIDENT_RESULTS/crypttab" 2>/dev/null || echo "no-crypttab=1"
echo "srv=$(findmnt -no SOURCE,FSTYPE /srv)"
echo "unit=$(systemctl is-active systemd-cryptsetup@srv.service)"
echo "hostname=$(hostname)"
echo hello > /srv/probe && echo "srv-writable=$(cat /srv/probe)"
trident get > "$TRIDENT_RESULTS/get.yaml" 2>&1 || echo "get-failed=$?"
`;

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-install-luks-'));
  const agent = await ensureAgentPackage();
  management = await ensureOsFixture({ flavour: 'full', agentDeb: agent.deb, hostname: 'management' });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)(
  'a host installed by trident install with a LUKS2 volume sealed to its TPM',
  () => {
    it(
      'installs from a management VM and unlocks /srv at boot with the TPM alone',
      async () => {
        const cosiDisk = join(dir, 'cosi.img');
        await copyFile(management.cosi, cosiDisk);
        await truncate(cosiDisk, Math.ceil((await stat(cosiDisk)).size / MiB) * MiB);
        const target = join(dir, 'disk.img');
        await writeFile(target, '');
        await truncate(target, (sizeMiB('esp') + sizeMiB('root') + SRV_MiB + 8) * MiB);
        // One machine for both boots: the TPM the key is sealed to must be the one that boots.
        const machine = vms.machine({ tpm: true });
        const install = await runVmJob(vms, {
          name: 'luks-management',
          machine,
          memoryMiB: 1536,
          timeoutMs: 25 * 60_000,
          disks: [
            { path: management.disk, snapshot: true },
            { path: cosiDisk, readOnly: true },
            { path: target },
          ],
          job: {
            script: [
              'set -e',
              'trident install "$TRIDENT_JOB_DIR/host.yaml"',
              'echo "mappings-left=$(ls /dev/mapper | grep -vc control)"',
            ].join('\n'),
            files: { 'host.yaml': hostConfiguration() },
          },
        });
        expect(install.boot.hostname).toBe('management');
        expect(install.job.rc, install.job.output).toBe(0);
        // The volume is closed again once the host is written.
        expect(fact(install.job.output, 'mappings-left')).toBe('0');

        const { boot, job } = await runVmJob(vms, {
          name: 'luks-installed',
          machine,
          disks: [{ path: target }],
          job: { script: INSTALLED_JOB },
        });
        expect(job.rc, job.output).toBe(0);
        expect(boot.hostname).toBe('sealed-host');
        const output = job.output;
        const status = job.results.get('status.txt')?.toString() ?? '';
        expect(fact(output, 'status-failed'), status).toBeUndefined();
        expect(status).toMatch(/\/dev\/mapper\/srv is active and is in use/u);
        expect(status).toMatch(/^\s*type:\s*LUKS2$/mu);
        expect(status).toMatch(/^\s*cipher:\s*aes-xts-plain64$/mu);
        expect(status).toMatch(/^\s*device:\s*\/dev\/vda3$/mu);
        expect(fact(output, 'unit')).toBe('active');
        expect(fact(output, 'srv')).toBe('/dev/mapper/srv ext4');
        expect(fact(output, 'srv-writable')).toBe('hello');
        // No recovery key: the random install key's slot is gone, the TPM's is the only one.
        const slots = job.results.get('slots.txt')?.toString() ?? '';
        expect(slots).toMatch(/\btpm2\b/u);
        expect(slots).not.toMatch(/\bpassword\b/u);
        const crypttab = job.results.get('crypttab')?.toString() ?? '';
        expect(crypttab).toMatch(
          /^srv\t\/dev\/disk\/by-partuuid\/[0-9a-f-]{36}\tnone\tluks,tpm2-device=auto$/mu,
        );
        expect(fact(output, 'get-failed')).toBeUndefined();
        const get = job.results.get('get.yaml')?.toString() ?? '';
        expect(get).toMatch(/servicingState: provisioned/u);
        expect(get).toMatch(/deviceName: srv/u);
      },
      2 * VM_TEST_TIMEOUT,
    );
  },
);
