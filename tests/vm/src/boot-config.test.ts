/**
 * Boot configuration makes an installed disk boot. Installation gives partitions new PARTUUIDs,
 * and a loader entry that still names the old root drops to the initramfs shell (issue 16). Here
 * the fixture OS disk gets what install does to it — a new root PARTUUID (sgdisk), its fstab
 * following (the OS-configuration step, done here by hand), the loader only in the install's ESP
 * directory (EFI/AZLA) — then `configureDiskBoot` edits the disk image through mtools, and the disk
 * boots under QEMU/OVMF from the removable-media path to the marker, from the new partition, with
 * the extra command line.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { configureDiskBoot, openDiskBootVolumes } from '@trident/boot-config';
import { createLoopScope, type LoopScope } from '@trident/test-support/loop-device';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { ensureOsFixture, type FixturePartition, type OsFixture } from '@trident/test-support/vm-fixture';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const run = promisify(execFile);
const available = vmTestsAvailable(['minimal']);
const vms = createVmScope();
let loops: LoopScope;
let dir: string;
let fixture: OsFixture;

const JOB = `
echo "cmdline=$(cat /proc/cmdline)"
echo "root-source=$(findmnt -no SOURCE /)"
echo "root-partuuid=$(blkid -s PARTUUID -o value "$(findmnt -no SOURCE /)")"
`;

function fact(output: string, name: string): string | undefined {
  return new RegExp(`^${name}=(.*)$`, 'mu').exec(output)?.[1];
}

/** A copy of the fixture disk (sparse), the cached one is never written. */
async function copyDisk(name: string): Promise<string> {
  const disk = join(dir, `${name}.img`);
  await run('cp', ['--sparse=always', fixture.disk, disk]);
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
      expect(entryBefore).toContain(`root=PARTUUID=${root.partUuid}`);

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
});
