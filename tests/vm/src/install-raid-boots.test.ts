/**
 * A host installed by `trident install` with its root on a RAID1 array boots from it. The host
 * kernel here has no md driver, so the install runs where upstream's does, in a management OS: the
 * full fixture (agent inside) boots with the COSI as a virtio disk (`file:///dev/vdb`) and two
 * blank disks, and installs the full fixture's own OS with the ESP on the first disk and `/` on a
 * RAID1 array `root` over one partition of each disk. Then the two installed disks boot alone and
 * a job reports: `/proc/mdstat` with both members active, `/` mounted from the array (found by its
 * filesystem UUID, the array named for dracut by `rd.md.uuid`), mdadm.conf naming the array, and
 * `trident get` reading the Host Status install left.
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
const available = vmTestsAvailable(['full']);
const vms = createVmScope();
let dir: string;
let management: OsFixture;

/** Root partitions leave room for mdadm's metadata 1.0 at their end beyond the image's root. */
function rootMiB(): number {
  return Math.ceil(management.partitions.find((p) => p.role === 'root')!.size / MiB) + 64;
}

function hostConfiguration(): string {
  const espMiB = Math.ceil(management.partitions.find((p) => p.role === 'esp')!.size / MiB);
  return `image:
  url: file:///dev/vdb
  sha384: ${management.cosiSha384}
storage:
  disks:
    - id: disk1
      device: /dev/vdc
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: ${espMiB}M }
        - { id: root1, type: root, size: ${rootMiB()}M }
    - id: disk2
      device: /dev/vdd
      partitionTableType: gpt
      partitions:
        - { id: root2, type: root, size: ${rootMiB()}M }
  raid:
    software:
      - { id: root, name: root, level: raid1, devices: [root1, root2] }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
os:
  hostname: raid-host
`;
}

const INSTALLED_JOB = `
cat /proc/mdstat > "$TRIDENT_RESULTS/mdstat.txt"
mdadm --detail /dev/md/root > "$TRIDENT_RESULTS/detail.txt" 2>&1 || echo "detail-failed=$?"
cp /etc/mdadm/mdadm.conf "$TRIDENT_RESULTS/mdadm.conf" 2>/dev/null || echo "no-mdadm-conf=1"
cp /etc/fstab "$TRIDENT_RESULTS/fstab" 2>/dev/null
echo "root-source=$(findmnt -no SOURCE /)"
echo "root-md=$(realpath /dev/md/root 2>/dev/null)"
echo "root-fs-uuid=$(findmnt -no UUID /)"
echo "hostname=$(hostname)"
echo "cmdline=$(cat /proc/cmdline)"
trident get > "$TRIDENT_RESULTS/get.yaml" 2>&1 || echo "get-failed=$?"
`;

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-install-raid-'));
  const agent = await ensureAgentPackage();
  management = await ensureOsFixture({ flavour: 'full', agentDeb: agent.deb, hostname: 'management' });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('a host installed by trident install with its root on RAID1', () => {
  it(
    'installs from a management VM onto two disks and boots from the array with both members active',
    async () => {
      // The COSI as a disk: a tar read from the block device, padded to whole sectors.
      const cosiDisk = join(dir, 'cosi.img');
      await copyFile(management.cosi, cosiDisk);
      await truncate(cosiDisk, Math.ceil((await stat(cosiDisk)).size / MiB) * MiB);
      const disks = [join(dir, 'disk1.img'), join(dir, 'disk2.img')];
      const espMiB = Math.ceil(management.partitions.find((p) => p.role === 'esp')!.size / MiB);
      for (const [index, disk] of disks.entries()) {
        await writeFile(disk, '');
        await truncate(disk, (rootMiB() + (index === 0 ? espMiB : 0) + 8) * MiB);
      }
      const machine = vms.machine();
      const install = await runVmJob(vms, {
        name: 'raid-management',
        machine,
        memoryMiB: 1536,
        timeoutMs: 25 * 60_000,
        disks: [
          { path: management.disk, snapshot: true },
          { path: cosiDisk, readOnly: true },
          { path: disks[0]! },
          { path: disks[1]! },
        ],
        job: {
          script: [
            'set -e',
            'trident install "$TRIDENT_JOB_DIR/host.yaml"',
            'cat /proc/mdstat',
            'echo "mdadm-active=$(ls /dev/md 2>/dev/null | wc -l)"',
          ].join('\n'),
          files: { 'host.yaml': hostConfiguration() },
        },
      });
      expect(install.boot.hostname).toBe('management');
      expect(install.job.rc, install.job.output).toBe(0);
      // The install stops the array it made once the host is written.
      expect(fact(install.job.output, 'mdadm-active')).toBe('0');

      const { boot, job } = await runVmJob(vms, {
        name: 'raid-installed',
        machine,
        disks: [{ path: disks[0]! }, { path: disks[1]! }],
        job: { script: INSTALLED_JOB },
      });
      expect(job.rc, job.output).toBe(0);
      expect(boot.hostname).toBe('raid-host');
      const output = job.output;
      const mdstat = job.results.get('mdstat.txt')?.toString() ?? '';
      // One raid1 array of both installed disks' root partitions, both members up ([UU]).
      expect(mdstat).toMatch(
        /^md\d+ : active raid1 vd[ab]2\[\d\] vd[ab]1\[\d\]|^md\d+ : active raid1 vd[ab]1\[\d\] vd[ab]2\[\d\]/mu,
      );
      expect(mdstat).toMatch(/\[2\/2\] \[UU\]/u);
      const rootSource = fact(output, 'root-source') ?? '';
      expect(rootSource).toMatch(/^\/dev\/md/u);
      expect(fact(output, 'root-md')).toMatch(/^\/dev\/md\d+$/u);
      const cmdline = fact(output, 'cmdline') ?? '';
      expect(cmdline).toContain(`root=UUID=${fact(output, 'root-fs-uuid')}`);
      expect(cmdline).toMatch(/rd\.md\.uuid=[0-9a-f:]{35}/u);
      const conf = job.results.get('mdadm.conf')?.toString() ?? '';
      expect(conf).toMatch(/^ARRAY \/dev\/md\/root .*metadata=1\.0/mu);
      expect(job.results.get('fstab')?.toString()).toMatch(/^\/dev\/md\/root\s+\/\s+ext4/mu);
      expect(fact(output, 'get-failed')).toBeUndefined();
      const get = job.results.get('get.yaml')?.toString() ?? '';
      expect(get).toMatch(/servicingState: provisioned/u);
      expect(get).toMatch(/level: raid1/u);
    },
    2 * VM_TEST_TIMEOUT,
  );
});
