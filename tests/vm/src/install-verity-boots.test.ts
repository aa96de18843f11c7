/**
 * A host installed by `trident install` with a dm-verity root boots: the fixture OS's verity
 * variant (grub, separate /boot, read-only root, hash partition, writable /var) is installed from its COSI into a
 * disk-image file laid out as upstream's root-verity configurations do — root data and hash
 * partitions under a verity device named `root`, `/` mounted read-only, the image's /var, and a new
 * filesystem at /var/lib/trident-overlay for the writable layer of /etc — and the installed disk
 * boots alone under QEMU/OVMF. A job in the booted OS reports what the checks compare: the verity
 * device verified with the COSI's root hash on the new data partition, /etc an overlay carrying
 * the configured hostname and additional file, and a read-only root.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact } from '@trident/test-support/vm-job';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { trident, VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const available = vmTestsAvailable(['minimal']);
const vms = createVmScope();
let dir: string;
let fixture: OsFixture;

const FACTS_JOB = `
veritysetup status root > "$TRIDENT_RESULTS/verity.txt" 2>&1 || echo "verity-status-failed=$?"
echo "root-source=$(findmnt -no SOURCE /)"
echo "root-options=$(findmnt -no OPTIONS /)"
echo "etc=$(findmnt -no FSTYPE,OPTIONS /etc)"
echo "overlay-fs=$(findmnt -no FSTYPE /var/lib/trident-overlay)"
echo "hostname=$(hostname)"
echo "etc-hostname=$(cat /etc/hostname)"
echo "welcome=$(cat /etc/trident-welcome 2>/dev/null)"
echo "welcome-upper=$(cat /var/lib/trident-overlay/etc/upper/trident-welcome 2>/dev/null)"
echo "cmdline=$(cat /proc/cmdline)"
if touch /trident-write-probe 2>/dev/null; then echo "root-writable=yes"; else echo "root-writable=no"; fi
`;

/** A field of `veritysetup status` ("  data device: /dev/vda2" → "/dev/vda2"). */
function statusField(status: string, name: string): string | undefined {
  return new RegExp(`^\\s*${name}:\\s*(.*?)\\s*$`, 'mu').exec(status)?.[1];
}

function hostConfiguration(): string {
  const mib = (role: string) => Math.ceil(fixture.partitions.find((p) => p.role === role)!.size / 1048576);
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
        - { id: boot, type: xbootldr, size: ${mib('boot')}M }
        - { id: root-data, type: root, size: ${mib('root')}M }
        - { id: root-hash, type: root-verity, size: ${mib('root-hash')}M }
        - { id: overlay, type: linux-generic, size: 64M }
        - { id: var, type: var, size: grow }
  verity:
    - id: root
      name: root
      dataDeviceId: root-data
      hashDeviceId: root-hash
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: boot
      mountPoint: /boot
    - deviceId: root
      mountPoint: { path: /, options: ro }
    - deviceId: overlay
      source: new
      mountPoint: /var/lib/trident-overlay
    - deviceId: var
      mountPoint: /var
os:
  hostname: verity-host
  additionalFiles:
    - destination: /etc/trident-welcome
      content: "written through the /etc overlay\\n"
`;
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-install-verity-'));
  // Upstream's root-verity images boot with grub from a separate /boot (validation requires one);
  // the same build as boot-config's grub verity disk, so one cached fixture serves both.
  fixture = await ensureOsFixture({
    bootloader: 'grub',
    separateBoot: true,
    verity: true,
    hostname: 'grub-verity',
  });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('a host installed by trident install with a dm-verity root', () => {
  it(
    'boots its verity root from the new partitions, verified, with /etc overlaid and / read-only',
    async () => {
      const config = join(dir, 'host.yaml');
      await writeFile(config, hostConfiguration());
      const target = join(dir, 'installed.img');
      const run = await trident(['install', config, '--disk', `os=image:${target}:3G`]);
      expect(run.stderr).not.toMatch(/^error/imu);
      expect(run.code, run.stderr).toBe(0);

      const { boot, job } = await runVmJob(vms, {
        name: 'installed-verity',
        disks: [{ path: target }],
        job: { script: FACTS_JOB },
      });
      expect(job.rc).toBe(0);
      const output = job.output;
      expect(boot.rootDevice).toBe('/dev/mapper/root');

      const status = job.results.get('verity.txt')?.toString() ?? '';
      expect(fact(output, 'verity-status-failed'), status).toBeUndefined();
      expect(status).toMatch(/is active and is in use/u);
      expect(statusField(status, 'status')).toBe('verified');
      expect(statusField(status, 'root hash')).toBe(fixture.roothash);
      // The data device is the installed disk's third partition, under a PARTUUID the fixture never had.
      expect(statusField(status, 'data device')).toBe('/dev/vda3');
      expect(statusField(status, 'hash device')).toBe('/dev/vda4');
      const cmdline = fact(output, 'cmdline') ?? '';
      const dataPartUuid = /systemd\.verity_root_data=PARTUUID=([0-9a-f-]{36})/u.exec(cmdline)?.[1];
      expect(dataPartUuid, cmdline).toBeDefined();
      expect(dataPartUuid).not.toBe(fixture.partitions.find((p) => p.role === 'root')!.partUuid);
      expect(cmdline).toContain(`roothash=${fixture.roothash}`);

      expect(fact(output, 'root-source')).toBe('/dev/mapper/root');
      expect(fact(output, 'root-options')).toMatch(/^ro\b/u);
      expect(fact(output, 'root-writable')).toBe('no');
      // The initrd mounted the overlay from the partition fstab also mounts at /var/lib/trident-overlay.
      expect(fact(output, 'etc')).toMatch(/^overlay .*upperdir=[^,]*\/etc\/upper,/u);
      expect(fact(output, 'overlay-fs')).toBe('ext4');
      expect(fact(output, 'hostname')).toBe('verity-host');
      expect(fact(output, 'etc-hostname')).toBe('verity-host');
      expect(fact(output, 'welcome')).toBe('written through the /etc overlay');
      expect(fact(output, 'welcome-upper')).toBe('written through the /etc overlay');
    },
    VM_TEST_TIMEOUT,
  );
});
