/**
 * A disk written by `trident stream-disk` boots: the fixture OS's COSI is served by a local nginx,
 * streamed into a disk-image file larger than the image, and the file boots under QEMU/OVMF to the
 * marker unit, with the root filesystem grown to its partition; the dm-verity variant boots with
 * its root hash verified, the grub variant with a separate /boot, the UKI variant through systemd-boot
 * and its standalone UKI (root found by filesystem UUID); a disk interrupted mid-stream
 * does not boot and `--resume` completes it so that it does.
 */
import { mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCosi } from '@trident/cosi-format';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { createVmScope, runVmJob, VmError } from '@trident/test-support/vm';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact } from '@trident/test-support/vm-job';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { trident, VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const available = vmTestsAvailable(['minimal']);
const vms = createVmScope();
let dir: string;
let nginx: NginxServer;
const fixtures: Record<'plain' | 'verity' | 'grub' | 'uki', OsFixture> = {} as never;

/** Reports what the tests check, from inside the booted OS. */
const FACTS_JOB = `
root=$(findmnt -no SOURCE /)
echo "root-source=$root"
echo "root-fs-bytes=$(( $(dumpe2fs -h "$root" 2>/dev/null | sed -n 's/^Block count: *//p') * 4096 ))"
echo "root-part-bytes=$(blockdev --getsize64 /dev/vda2)"
df -B1 /
findmnt -no SOURCE,FSTYPE,OPTIONS /boot || true
veritysetup status root || true
`;

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-boot-'));
  fixtures.plain = await ensureOsFixture({ versionId: '12.0-plain' });
  fixtures.verity = await ensureOsFixture({ verity: true, versionId: '12.0-verity' });
  fixtures.grub = await ensureOsFixture({ bootloader: 'grub', separateBoot: true, hostname: 'grub-host' });
  fixtures.uki = await ensureOsFixture({ bootloader: 'uki', versionId: '12.0-uki' });
  const www = join(dir, 'www');
  await mkdir(join(www, 'slow'), { recursive: true });
  for (const [name, fixture] of Object.entries(fixtures))
    await symlink(fixture.cosi, join(www, `${name}.cosi`));
  await symlink(fixtures.plain.cosi, join(www, 'slow', 'plain.cosi'));
  // Slow enough that the run can be interrupted after the ESP and before the root is written.
  nginx = await startNginx({ root: www, serverConfig: 'location /slow/ { limit_rate 8m; }' });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  await nginx?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function streamDisk(name: keyof typeof fixtures, target: string): Promise<void> {
  const fixture = fixtures[name];
  const run = await trident([
    'stream-disk',
    `${nginx.url}/${name}.cosi`,
    '--hash',
    `sha384:${fixture.cosiSha384}`,
    '--target-image',
    target,
    '--target-size',
    '3G',
  ]);
  expect(run.stderr).not.toMatch(/error/iu);
  expect(run.code).toBe(0);
}

describe.skipIf(!available)('disks written by stream-disk boot', () => {
  it(
    'boots the streamed fixture OS, with the root filesystem grown to fill its partition',
    async () => {
      const target = join(dir, 'plain.img');
      await streamDisk('plain', target);
      expect((await stat(target)).size).toBe(3 * 1024 ** 3);
      const { boot, job } = await runVmJob(vms, {
        name: 'stream-disk-plain',
        disks: [{ path: target }],
        job: { script: FACTS_JOB },
      });
      expect(boot).toMatchObject({
        versionId: '12.0-plain',
        hostname: 'trident-fixture',
        rootDevice: '/dev/vda2',
      });
      expect(boot.facts['loader-entry']).toBe('trident-fixture.conf');
      expect(job.rc).toBe(0);
      // The COSI carries the root shrunk to its content; on the booted disk it fills the partition.
      const cosi = await openCosi(fixtures.plain.cosi);
      const rootImage = cosi.metadata.images.find((fs) => fs.mountPoint === '/')!.image;
      await cosi.close();
      const partBytes = Number(fact(job.output, 'root-part-bytes'));
      expect(partBytes).toBe(fixtures.plain.partitions.find((p) => p.role === 'root')!.size);
      expect(rootImage.uncompressedSize).toBeLessThan(partBytes / 2);
      expect(Number(fact(job.output, 'root-fs-bytes'))).toBe(partBytes);
    },
    VM_TEST_TIMEOUT,
  );

  it(
    'boots the dm-verity variant with its root hash verified',
    async () => {
      const target = join(dir, 'verity.img');
      await streamDisk('verity', target);
      const { boot, job } = await runVmJob(vms, {
        name: 'stream-disk-verity',
        disks: [{ path: target }],
        job: { script: FACTS_JOB },
      });
      expect(boot).toMatchObject({ versionId: '12.0-verity', rootDevice: '/dev/mapper/root' });
      expect(job.output).toMatch(/status:\s+verified/u);
      expect(job.output).toContain(`root hash:   ${fixtures.verity.roothash}`);
      expect(job.output).toMatch(/data device: \/dev\/vda2/u);
    },
    VM_TEST_TIMEOUT,
  );

  it(
    'boots the grub variant with a separate /boot',
    async () => {
      const target = join(dir, 'grub.img');
      await streamDisk('grub', target);
      const { boot, job } = await runVmJob(vms, {
        name: 'stream-disk-grub',
        disks: [{ path: target }],
        job: { script: FACTS_JOB },
      });
      expect(boot).toMatchObject({ hostname: 'grub-host', rootDevice: '/dev/vda3' });
      expect(boot.facts['loader-entry']).toBe('none'); // systemd-boot would have set LoaderEntrySelected
      expect(job.output).toMatch(/^\/dev\/vda2 ext4 /mu); // /boot
    },
    VM_TEST_TIMEOUT,
  );

  it(
    'boots the UKI variant: systemd-boot starts the standalone UKI, whose command line finds the root by filesystem UUID',
    async () => {
      const target = join(dir, 'uki.img');
      await streamDisk('uki', target);
      const { boot } = await runVmJob(vms, {
        name: 'stream-disk-uki',
        disks: [{ path: target }],
        job: { script: 'true' },
      });
      expect(boot).toMatchObject({ versionId: '12.0-uki', rootDevice: '/dev/vda2' });
      // systemd-boot names a standalone UKI's entry by its file name.
      expect(boot.facts['loader-entry']).toBe(fixtures.uki.uki);
      const rootFs = fixtures.uki.partitions.find((p) => p.role === 'root')!.fsUuid!;
      expect(boot.facts['cmdline']?.split(',')).toContain(`root=UUID=${rootFs}`);
    },
    VM_TEST_TIMEOUT,
  );

  it(
    'does not boot a disk interrupted mid-stream; --resume completes it and it boots',
    async () => {
      const target = join(dir, 'interrupted.img');
      const journal = `${target}.trident-journal.json`;
      const url = `${nginx.url}/slow/plain.cosi`;
      const first = trident([
        'stream-disk',
        url,
        '--target-image',
        target,
        '--target-size',
        '3G',
        '--concurrency',
        '1',
      ]);
      const deadline = Date.now() + 120_000;
      while (!(await readFile(journal, 'utf8').catch(() => '')).includes('"partitionNumber": 1')) {
        if (Date.now() > deadline) throw new Error('the first partition was never journalled');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      first.kill('SIGINT');
      expect((await first).code).toBe(4);

      const noBoot = runVmJob(vms, {
        name: 'interrupted',
        disks: [{ path: target }],
        job: { script: 'true' },
        timeoutMs: 180_000,
      });
      const error = await noBoot.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VmError);
      expect((error as VmError).code).toBe('VM_NO_BOOTABLE_DEVICE');

      const resumed = await trident(['stream-disk', url, '--target-image', target, '--resume']);
      expect(resumed.code).toBe(0);
      expect(resumed.stderr).toMatch(/already written and re-verified; skipping/u);
      const { boot } = await runVmJob(vms, {
        name: 'resumed',
        disks: [{ path: target }],
        job: { script: 'true' },
      });
      expect(boot).toMatchObject({ versionId: '12.0-plain', rootDevice: '/dev/vda2' });
    },
    VM_TEST_TIMEOUT,
  );
});
