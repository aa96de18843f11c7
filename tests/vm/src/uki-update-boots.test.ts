/**
 * Issue 17, A/B update of a UKI image rolled back by a failing health check, on one machine (UEFI
 * variables kept between boots), the agent inside. Three boots:
 *
 * 1. `trident install` (on this host) of the full fixture built with a standalone UKI (bootloader
 *    `uki`: systemd-boot, `EFI/Linux/vmlinuz-<kernel>.efi` finding its root by filesystem UUID)
 *    into a disk image with an A/B root pair; the host boots volume A through the image's UKI and
 *    trident.service commits the install. A job runs
 *    `trident update` to the second build (VERSION_ID 2, its own root filesystem UUID, handed over
 *    as `file:///dev/vdb`) with a health check that fails: B staged, finalized with the new UKI on
 *    the ESP as `EFI/Linux/vmlinuz-100-azlb0.efi` and `LoaderEntryOneShot` naming it, the running
 *    UKI pinned as `LoaderEntryDefault`.
 * 2. The one-shot boot: build 2 on B; commit's health check fails and it reboots by itself (the
 *    marker, ordered after trident.service, does not run: the next boot reads B's journal instead).
 * 3. Back on A through the image's UKI (VERSION_ID of build 1): `trident get` shows `provisioned` on
 *    volume A with the health check's error; B's journal shows boot 2 was build 2's UKI on B.
 *
 * No `os.kernelCommandLine.extraCommandLine` anywhere: a UKI's command line cannot be extended.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOADER_VENDOR_GUID as LOADER_GUID } from '@trident/boot-config';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { type AgentPackage, ensureAgentPackage } from '@trident/test-support/vm-bundle';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact, parseBootMarkers, jobFile as result } from '@trident/test-support/vm-job';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { abStorage } from './ab-storage.ts';
import { trident, vmTestsAvailable } from './suite.ts';

const available = vmTestsAvailable(['full']);
const vms = createVmScope();
/** The install, three TCG boots and an update inside the first (see the README for the measured time). */
const TEST_TIMEOUT = 45 * 60_000;
let dir: string;
let agent: AgentPackage;
let v1: OsFixture;
let v2: OsFixture;

/** The name finalize gives the first staged UKI (upstream's `vmlinuz-<N>-azl<volume><install index>.efi`, N from 100). */
const STAGED_UKI = 'vmlinuz-100-azlb0.efi';

function installConfiguration(espMiB: number): string {
  return `image:
  url: file://${v1.cosi}
  sha384: ${v1.cosiSha384}
${abStorage(espMiB)}os:
  hostname: installed-host
`;
}

function updateConfiguration(espMiB: number): string {
  return `image:
  url: file:///dev/vdb
  sha384: ${v2.cosiSha384}
${abStorage(espMiB)}os:
  hostname: updated-host
health:
  checks:
    - name: after-update
      runOn: [ab-update]
      content: ${JSON.stringify('echo "failing on purpose"; exit 1')}
`;
}

/**
 * What each job prints: the Host Status, the boot loader variables (read whole: efivarfs files do
 * not seek; the UTF-16 NULs dropped, then the attribute word's unprintable bytes), the UKIs on the
 * ESP and the root filesystem's UUID.
 */
const STATUS = `
efivar_text() { tr -d '\\0' < /sys/firmware/efi/efivars/$1-${LOADER_GUID} 2>/dev/null | tr -cd '[:print:]'; }
trident get status > "$TRIDENT_RESULTS/status.yaml" 2>&1 || echo "get-status-failed=$?"
trident get last-error > "$TRIDENT_RESULTS/last-error.yaml" 2>&1 || echo "get-last-error-failed=$?"
echo "commit-unit=$(systemctl show -p Result --value trident.service) $(systemctl show -p ExecMainStatus --value trident.service)"
journalctl -b --no-pager -u trident.service > "$TRIDENT_RESULTS/commit-unit.log" 2>&1
echo "ukis=$(ls /boot/efi/EFI/Linux | tr '\\n' ' ')"
echo "default=$(efivar_text LoaderEntryDefault)"
echo "oneshot=$(efivar_text LoaderEntryOneShot)"
echo "root-fs=$(findmnt -no UUID /)"
`;

const UPDATE_JOB = `${STATUS}
trident update /run/trident-job/update.yaml --no-reboot > "$TRIDENT_RESULTS/update.log" 2>&1
echo "update-rc=$?"
trident get status > "$TRIDENT_RESULTS/status-after-update.yaml" 2>&1
echo "oneshot-after-update=$(efivar_text LoaderEntryOneShot)"
echo "default-after-update=$(efivar_text LoaderEntryDefault)"
echo "ukis-after-update=$(ls /boot/efi/EFI/Linux | tr '\\n' ' ')"
`;

/**
 * Back on A: what boot 2 left on volume B (/dev/vda3), read-only. Its journal is persistent
 * (/var/log/journal), and its last boot's kernel command line is the one its UKI embeds.
 */
const ROLLED_BACK_JOB = `${STATUS}
mkdir -p /mnt/b && mount -o ro,noload /dev/vda3 /mnt/b
echo "b-version=$(. /mnt/b/usr/lib/os-release && echo "$VERSION_ID")"
echo "b-fs=$(blkid -s UUID -o value /dev/vda3)"
journalctl -D /mnt/b/var/log/journal -b 0 --no-pager > "$TRIDENT_RESULTS/b-journal.log" 2>&1
echo "b-cmdline=$(grep -m1 -o 'Command line: .*' "$TRIDENT_RESULTS/b-journal.log" | sed 's/^Command line: //')"
umount /mnt/b
`;

function rootFsUuid(fixture: OsFixture): string {
  return fixture.partitions.find((p) => p.role === 'root')!.fsUuid!;
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-uki-update-'));
  agent = await ensureAgentPackage();
  const build = { flavour: 'full', bootloader: 'uki', agentDeb: agent.deb, hostname: 'management' } as const;
  v1 = await ensureOsFixture(build);
  v2 = await ensureOsFixture({ ...build, versionId: '2' });
}, TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('A/B update of a UKI host', () => {
  it(
    'boots the staged UKI once on B, and a failing health check returns the host to A',
    async () => {
      // Each build's UKI finds its own root: the two roots differ only if their UUIDs do.
      expect(rootFsUuid(v1)).not.toBe(rootFsUuid(v2));
      expect(v1.uki).toBeDefined();

      const espMiB = Math.ceil(v1.partitions.find((p) => p.role === 'esp')!.size / 1048576);
      const installConfig = join(dir, 'install.yaml');
      await writeFile(installConfig, installConfiguration(espMiB));
      const target = join(dir, 'host.img');
      const install = await trident(['install', installConfig, '--disk', `os=image:${target}:5G`]);
      expect(install.code, install.stderr).toBe(0);

      const machine = vms.machine();
      const disks = [{ path: target }, { path: v2.cosi, readOnly: true }];
      const files = { 'update.yaml': updateConfiguration(espMiB) };

      // Boot 1, volume A through the image's UKI: install committed; stage + finalize the update.
      const first = await runVmJob(vms, {
        name: 'uki-update-1',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: UPDATE_JOB, files, after: 'reboot' },
        timeoutMs: 30 * 60_000,
      });
      const log1 = `${first.job.output}\n${result(first.job, 'update.log')}\n${result(first.job, 'commit-unit.log')}`;
      expect(first.boot.versionId).toBe(v1.versionId);
      expect(first.boot.rootDevice).toBe('/dev/vda2');
      expect(first.boot.facts['loader-entry']).toBe(v1.uki);
      expect(fact(first.job.output, 'root-fs')).toBe(rootFsUuid(v1));
      const installed = result(first.job, 'status.yaml');
      expect(installed, log1).toMatch(/servicingState: provisioned/u);
      expect(installed).toMatch(/abActiveVolume: volume-a/u);
      expect(fact(first.job.output, 'update-rc'), log1).toBe('0');
      expect(result(first.job, 'status-after-update.yaml')).toMatch(/servicingState: ab-update-finalized/u);
      expect(fact(first.job.output, 'oneshot-after-update')).toBe(STAGED_UKI);
      // The running entry is pinned as the default (if commit had not already): a rollback returns to it.
      expect(fact(first.job.output, 'default-after-update')).toBe(v1.uki);
      expect(fact(first.job.output, 'ukis-after-update')?.split(' ')).toEqual(
        expect.arrayContaining([v1.uki, STAGED_UKI]),
      );

      // Boot 2, the one-shot into B: commit's health check fails and the guest reboots by itself.
      const second = await vms.start({
        name: 'uki-update-2',
        machine,
        memoryMiB: 1536,
        disks,
        timeoutMs: 20 * 60_000,
      });
      await second.waitForExit({ timeoutMs: 20 * 60_000 });
      const serial2 = second.serial();
      await second.stop();
      // The marker runs after trident.service, which reboots first; should it have run, it must be B.
      for (const marker of parseBootMarkers(serial2))
        expect(marker).toMatchObject({ versionId: '2', rootDevice: '/dev/vda3' });

      // Boot 3: back on A through the image's UKI, the rollback recorded.
      const third = await runVmJob(vms, {
        name: 'uki-update-3',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: ROLLED_BACK_JOB },
        timeoutMs: 20 * 60_000,
      });
      const log3 = `${third.job.output}\n${result(third.job, 'commit-unit.log')}\n${serial2.slice(-4000)}`;
      expect(third.boot.versionId, log3).toBe(v1.versionId);
      expect(third.boot.rootDevice).toBe('/dev/vda2');
      expect(third.boot.facts['loader-entry'], log3).toBe(v1.uki);
      expect(fact(third.job.output, 'oneshot')).toBe(''); // spent by boot 2
      const rolledBack = result(third.job, 'status.yaml');
      expect(rolledBack, log3).toMatch(/servicingState: provisioned/u);
      expect(rolledBack).toMatch(/abActiveVolume: volume-a/u);
      expect(result(third.job, 'last-error.yaml'), log3).toMatch(/health-checks-failed|failing on purpose/u);
      expect(result(third.job, 'commit-unit.log')).toMatch(/ab-update-health-check-commit-check/u);

      // Boot 2 was build 2 on B, started from the staged UKI: the command line only it embeds.
      const journalB = result(third.job, 'b-journal.log');
      expect(fact(third.job.output, 'b-version'), log3).toBe('2');
      expect(fact(third.job.output, 'b-fs')).toBe(rootFsUuid(v2));
      expect(fact(third.job.output, 'b-cmdline'), journalB.slice(-4000)).toBe(v2.cmdline);
      // …and its commit found the root it expected there, then the health check failed.
      expect(journalB).toMatch(/Root is \/dev\/vda3; volume-b expects .*booted as expected/u);
      expect(journalB).toMatch(/health-checks-failed/u);
    },
    TEST_TIMEOUT,
  );
});
