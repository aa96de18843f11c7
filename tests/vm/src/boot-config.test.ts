/**
 * Boot configuration makes an installed disk boot. Installation gives partitions new PARTUUIDs,
 * and a loader entry that still names the old root drops to the initramfs shell (issue 16). Here
 * fixture OS disks get what install does to them — new PARTUUIDs (sgdisk), fstab following (the
 * OS-configuration step, done here by hand), the loader only in the install's ESP directory
 * (EFI/AZLA) — then boot configuration edits them, and they boot under QEMU/OVMF to the marker:
 *
 * - systemd-boot: `configureDiskBoot` on the image file (mtools), booting through the UEFI
 *   fallback copy, from the new root partition, with the extra command line;
 * - grub with a dm-verity root on a separate /boot: `configureGrub` on the /boot filesystem
 *   (loop-mounted ext4), the verity data and hash partitions found by their new PARTUUIDs and the
 *   root hash verified.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  configureDiskBoot,
  configureGrub,
  openDiskBootVolumes,
  readDiskPartitions,
} from '@trident/boot-config';
import { createLoopScope, type LoopScope } from '@trident/test-support/loop-device';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { ensureOsFixture, type FixturePartition, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact } from '@trident/test-support/vm-job';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const run = promisify(execFile);
const available = vmTestsAvailable(['minimal']);
const vms = createVmScope();
let loops: LoopScope;
let dir: string;
let fixture: OsFixture;
let grubVerity: OsFixture;

const JOB = `
echo "cmdline=$(cat /proc/cmdline)"
echo "root-source=$(findmnt -no SOURCE /)"
echo "root-partuuid=$(blkid -s PARTUUID -o value "$(findmnt -no SOURCE /)")"
`;

/** A copy of a fixture disk (sparse), the cached one is never written. */
async function copyDisk(name: string, from: OsFixture = fixture): Promise<string> {
  const disk = join(dir, `${name}.img`);
  await run('cp', ['--sparse=always', from.disk, disk]);
  return disk;
}

/** What install's fstab step does for the root: the line names the new PARTUUID. */
async function followInFstab(disk: string, root: FixturePartition, newPartUuid: string): Promise<void> {
  const device = await loops.attach(disk, { offset: root.offset, sizeLimit: root.size });
  const mounted = await loops.mount(device.path, { fsType: 'ext4' });
  const fstab = join(mounted, 'etc/fstab');
  const text = await readFile(fstab, 'utf8');
  expect(text).toContain(`PARTUUID=${root.partUuid} / `);
  await writeFile(fstab, text.replaceAll(root.partUuid, newPartUuid));
  await loops.cleanup();
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-bootcfg-'));
  loops = createLoopScope();
  // The same build as boot-stream-disk's plain disk: one cached fixture for both.
  fixture = await ensureOsFixture({ versionId: '12.0-plain' });
  grubVerity = await ensureOsFixture({
    bootloader: 'grub',
    separateBoot: true,
    verity: true,
    hostname: 'grub-verity',
  });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  await loops?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('boot configuration of an installed disk', () => {
  it(
    'systemd-boot: a root with a new PARTUUID boots after configureDiskBoot, through the UEFI fallback path',
    async () => {
      const disk = await copyDisk('systemd-boot');
      const root = fixture.partitions.find((p) => p.role === 'root')!;
      const newRoot = randomUUID();
      await run('sgdisk', ['-u', `${root.number}:${newRoot}`, disk]);
      await followInFstab(disk, root, newRoot);

      // Install's ESP layout: the loader in EFI/AZLA, nothing at the removable-media path.
      const { esp } = await openDiskBootVolumes(disk);
      const loader = await esp.volume.read('/EFI/BOOT/BOOTX64.EFI');
      expect(loader).toBeDefined();
      await esp.volume.write('/EFI/AZLA/bootx64.efi', loader!);
      await esp.volume.remove('/EFI/BOOT/BOOTX64.EFI');
      const entryBefore = (await esp.volume.read('/loader/entries/trident-fixture.conf'))!.toString();
      // Without boot configuration the entry names a partition the disk no longer has: the
      // initramfs waits for it and gives up (issue 16 measured it; not booted again here).
      expect(entryBefore).toContain(`root=PARTUUID=${root.partUuid}`);
      expect((await readDiskPartitions(disk)).map((p) => p.partUuid)).not.toContain(root.partUuid);

      const result = await configureDiskBoot(disk, {
        bootloader: 'systemd-boot',
        target: {
          root: { kind: 'partuuid', partUuid: newRoot },
          extraCommandLine: ['trident.bootcfg=applied'],
        },
        systemdBoot: { defaultEntry: 'trident-fixture.conf', timeoutSeconds: 0 },
        uefiFallbackFrom: 'AZLA',
      });
      expect(result.changed.map((c) => c.path)).toEqual(['/loader/entries/trident-fixture.conf']);
      expect(result.fallbackFiles).toEqual(['bootx64.efi']);
      const entryAfter = (await esp.volume.read('/loader/entries/trident-fixture.conf'))!.toString();
      expect(entryAfter).toBe(
        entryBefore
          .replace(`root=PARTUUID=${root.partUuid}`, `root=PARTUUID=${newRoot}`)
          .replace(/^(options .*)$/mu, '$1 trident.bootcfg=applied'),
      );

      const { boot, job } = await runVmJob(vms, {
        name: 'bootcfg-systemd-boot',
        disks: [{ path: disk }],
        job: { script: JOB },
      });
      expect(boot).toMatchObject({ versionId: '12.0-plain', rootDevice: '/dev/vda2' });
      expect(boot.facts['loader-entry']).toBe('trident-fixture.conf');
      expect(job.rc).toBe(0);
      expect(fact(job.output, 'root-partuuid')).toBe(newRoot);
      expect(fact(job.output, 'cmdline')).toContain(`root=PARTUUID=${newRoot} `);
      expect(fact(job.output, 'cmdline')).toMatch(/ trident\.bootcfg=applied$/u);
    },
    VM_TEST_TIMEOUT,
  );

  it(
    'grub: a dm-verity root whose data and hash partitions got new PARTUUIDs boots after configureGrub on /boot',
    async () => {
      const disk = await copyDisk('grub-verity', grubVerity);
      const part = (role: FixturePartition['role']) => grubVerity.partitions.find((p) => p.role === role)!;
      const data = { uuid: randomUUID(), ...part('root') };
      const hash = { uuid: randomUUID(), ...part('root-hash') };
      await run('sgdisk', ['-u', `${data.number}:${data.uuid}`, '-u', `${hash.number}:${hash.uuid}`, disk]);

      // /boot is an ext4 partition: mounted through a loop device (the root is not touched: its
      // bytes are what the root hash covers).
      const boot = part('boot');
      const device = await loops.attach(disk, { offset: boot.offset, sizeLimit: boot.size });
      const bootDir = await loops.mount(device.path, { fsType: 'ext4' });
      const before = await readFile(join(bootDir, 'grub/grub.cfg'), 'utf8');
      expect(before).toContain(`systemd.verity_root_data=PARTUUID=${data.partUuid} `);
      const result = await configureGrub({
        bootDir,
        target: {
          root: { kind: 'verity', dataDevice: `PARTUUID=${data.uuid}`, hashDevice: `PARTUUID=${hash.uuid}` },
          extraCommandLine: ['trident.bootcfg=grub'],
        },
      });
      expect(result.linuxLines).toBe(1);
      const after = await readFile(join(bootDir, 'grub/grub.cfg'), 'utf8');
      expect(after).toContain(`roothash=${grubVerity.roothash}`); // kept from the image
      expect(after).toContain(
        `systemd.verity_root_data=PARTUUID=${data.uuid} systemd.verity_root_hash=PARTUUID=${hash.uuid}`,
      );
      await loops.cleanup();

      const { boot: marker, job } = await runVmJob(vms, {
        name: 'bootcfg-grub-verity',
        disks: [{ path: disk }],
        job: { script: `${JOB}\nveritysetup status root\n` },
      });
      expect(marker).toMatchObject({ hostname: 'grub-verity', rootDevice: '/dev/mapper/root' });
      expect(job.rc).toBe(0);
      expect(job.output).toMatch(/status:\s+verified/u);
      expect(job.output).toMatch(/data device: \/dev\/vda3/u);
      expect(fact(job.output, 'cmdline')).toContain(`systemd.verity_root_data=PARTUUID=${data.uuid} `);
      expect(fact(job.output, 'cmdline')).toMatch(/ trident\.bootcfg=grub( |$)/u);
    },
    VM_TEST_TIMEOUT,
  );
});
