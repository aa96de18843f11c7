/**
 * Issue 17, grub: an A/B update of a host whose image boots with grub, on one machine (the UEFI
 * variables carry over between boots), the agent inside:
 *
 * 1. `trident install` (on this host) of the full grub fixture into a disk image with an A/B root
 *    pair and the datastore on its own partition. The disk boots from its removable-media path
 *    (`EFI/BOOT/BOOTX64.EFI`, the image's grub), volume A; trident.service commits the install.
 * 2. In that boot a job runs `trident update --no-reboot` to the second build (VERSION_ID 2, its
 *    COSI as `file:///dev/vdb`): B's grub.cfg points at B, the image's grub goes to `EFI/AZLB`, and
 *    finalize creates the `AZLB` UEFI entry as BootNext; the job reboots.
 * 3. The firmware's one-shot boot starts `EFI/AZLB`: build 2 on volume B with the update's
 *    hostname and command line; commit records it (`provisioned` on volume B) and moves the booted
 *    entry first in BootOrder. A job then runs `trident rollback --no-reboot` (a manual A/B rollback,
 *    after `--check` says `ab`): finalize makes volume A's `AZLA` UEFI entry (`EFI/AZLA`, the update's
 *    copy of the removable-media grub) BootNext; the job reboots.
 * 4. BootNext starts `EFI/AZLA`: build 1 on volume A with the install's hostname; commit records
 *    the rollback (`provisioned` on volume A) and moves `AZLA` first in BootOrder.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { type AgentPackage, ensureAgentPackage } from '@trident/test-support/vm-bundle';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact, jobFile as text } from '@trident/test-support/vm-job';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { abStorage } from './ab-storage.ts';
import { trident, vmTestsAvailable } from './suite.ts';

const available = vmTestsAvailable(['full']);
const vms = createVmScope();
/** Two TCG boots, an update streamed inside the first. */
const TEST_TIMEOUT = 45 * 60_000;
let dir: string;
let agent: AgentPackage;
let v1: OsFixture;
let v2: OsFixture;

const installConfiguration = (espMiB: number) => `image:
  url: file://${v1.cosi}
  sha384: ${v1.cosiSha384}
${abStorage(espMiB)}os:
  hostname: installed-host
`;

const updateConfiguration = (espMiB: number) => `image:
  url: file:///dev/vdb
  sha384: ${v2.cosiSha384}
${abStorage(espMiB)}os:
  hostname: grub-updated-host
  uefiFallback: optimistic
  kernelCommandLine:
    extraCommandLine: [trident.updated=1]
`;

/**
 * Which volume directory the removable-media path EFI/BOOT is a copy of: each build's grub image
 * embeds the search for its own /boot filesystem UUID, so the two loaders differ.
 */
const FALLBACK = `
esp=/boot/efi/EFI
echo "fallback=$(for d in AZLA AZLB; do cmp -s $esp/BOOT/BOOTX64.EFI $esp/$d/BOOTX64.EFI && echo $d; done)"
`;

/** The Host Status, the firmware's boot variables and the ESP's volume directories. */
const STATUS = `${FALLBACK}
trident get status > "$TRIDENT_RESULTS/status.yaml" 2>&1 || echo "get-status-failed=$?"
echo "commit-unit=$(systemctl show -p Result --value trident.service) $(systemctl show -p ExecMainStatus --value trident.service)"
journalctl -b --no-pager -u trident.service > "$TRIDENT_RESULTS/commit-unit.log" 2>&1
efibootmgr > "$TRIDENT_RESULTS/efibootmgr.txt" 2>&1
echo "cmdline=$(cat /proc/cmdline)"
echo "esp-dirs=$(ls /boot/efi/EFI | tr '\\n' ' ')"
`;

const UPDATE_JOB = `${STATUS}
trident update /run/trident-job/update.yaml --no-reboot > "$TRIDENT_RESULTS/update.log" 2>&1
echo "update-rc=$?"
${FALLBACK.replace('fallback=', 'fallback-after-update=')}
trident get status > "$TRIDENT_RESULTS/status-after-update.yaml" 2>&1
efibootmgr > "$TRIDENT_RESULTS/efibootmgr-after-update.txt" 2>&1
echo "azlb=$(ls /boot/efi/EFI/AZLB | tr '\\n' ' ')"
`;

/** STATUS, then a manual A/B rollback whose reboot the job makes. */
const ROLLBACK_JOB = `${STATUS}
echo "rollback-check=$(trident rollback --check 2>&1)"
trident rollback --no-reboot > "$TRIDENT_RESULTS/rollback.log" 2>&1
echo "rollback-rc=$?"
trident get status > "$TRIDENT_RESULTS/status-after-rollback.yaml" 2>&1
efibootmgr > "$TRIDENT_RESULTS/efibootmgr-after-rollback.txt" 2>&1
`;

/** efibootmgr's `BootXXXX* LABEL` number of `label`, and the named variable's value. */
function entryNumber(efibootmgr: string, label: string): string | undefined {
  return new RegExp(`^Boot([0-9A-Fa-f]{4})\\*? ${label}\\b`, 'mu').exec(efibootmgr)?.[1];
}

function variable(efibootmgr: string, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'mu').exec(efibootmgr)?.[1]?.trim();
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-grub-update-'));
  agent = await ensureAgentPackage();
  const common = {
    flavour: 'full',
    bootloader: 'grub',
    agentDeb: agent.deb,
    hostname: 'management',
  } as const;
  v1 = await ensureOsFixture(common);
  v2 = await ensureOsFixture({ ...common, versionId: '2' });
}, TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('A/B update of a grub host', () => {
  it(
    'stages build 2 on volume B with its own EFI/AZLB, boots it once through BootNext and commits it; a manual rollback boots volume A through AZLA',
    async () => {
      const espMiB = Math.ceil(v1.partitions.find((p) => p.role === 'esp')!.size / 1048576);
      const installConfig = join(dir, 'install.yaml');
      await writeFile(installConfig, installConfiguration(espMiB));
      const target = join(dir, 'host.img');
      const install = await trident(['install', installConfig, '--disk', `os=image:${target}:5G`]);
      expect(install.code, install.stderr).toBe(0);

      const machine = vms.machine();
      const disks = [{ path: target }, { path: v2.cosi, readOnly: true }];

      // Boot 1, volume A through the removable-media grub: update to build 2, then reboot.
      const first = await runVmJob(vms, {
        name: 'grub-update-1',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: UPDATE_JOB, files: { 'update.yaml': updateConfiguration(espMiB) }, after: 'reboot' },
        timeoutMs: 30 * 60_000,
      });
      const log1 = `${first.job.output}\n${text(first.job, 'update.log').slice(-6000)}`;
      expect(first.boot.rootDevice, log1).toBe('/dev/vda2');
      expect(text(first.job, 'status.yaml'), log1).toMatch(/servicingState: provisioned/u);
      expect(fact(first.job.output, 'update-rc'), log1).toBe('0');
      expect(text(first.job, 'status-after-update.yaml'), log1).toMatch(
        /servicingState: ab-update-finalized/u,
      );
      expect(fact(first.job.output, 'azlb')?.toLowerCase(), log1).toContain('bootx64.efi');
      // os.uefiFallback optimistic: finalize already made EFI/BOOT a copy of the new volume's grub.
      expect(fact(first.job.output, 'fallback-after-update'), log1).toBe('AZLB');
      const boot1 = text(first.job, 'efibootmgr-after-update.txt');
      const azlb = entryNumber(boot1, 'AZLB');
      expect(azlb, boot1).toBeDefined();
      expect(variable(boot1, 'BootNext'), boot1).toBe(azlb);

      // Boot 2, the same machine: BootNext starts EFI/AZLB, volume B, build 2; committed at boot.
      const second = await runVmJob(vms, {
        name: 'grub-update-2',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: ROLLBACK_JOB, after: 'reboot' },
        timeoutMs: 20 * 60_000,
      });
      const log2 = `${second.job.output}\n${text(second.job, 'commit-unit.log')}\n${text(second.job, 'rollback.log').slice(-6000)}`;
      expect(second.boot.versionId, log2).toBe('2');
      expect(second.boot.rootDevice, log2).toBe('/dev/vda3');
      expect(second.boot.hostname).toBe('grub-updated-host');
      expect(fact(second.job.output, 'cmdline')).toContain('trident.updated=1');
      expect(fact(second.job.output, 'commit-unit'), log2).toBe('success 0');
      const status = text(second.job, 'status.yaml');
      expect(status, log2).toMatch(/servicingState: provisioned/u);
      expect(status).toMatch(/abActiveVolume: volume-b/u);
      expect(status).not.toMatch(/lastError/u);
      // B's directory beside A's, which the update made from EFI/BOOT for a later rollback.
      expect(fact(second.job.output, 'esp-dirs')?.toUpperCase().split(' ')).toEqual(
        expect.arrayContaining(['AZLA', 'AZLB', 'BOOT']),
      );
      // Optimistic: commit leaves the fallback on B.
      expect(fact(second.job.output, 'fallback'), log2).toBe('AZLB');
      const boot2 = text(second.job, 'efibootmgr.txt');
      expect(variable(boot2, 'BootCurrent'), boot2).toBe(azlb);
      expect(variable(boot2, 'BootOrder')?.split(',')[0], boot2).toBe(azlb);

      // The manual rollback, B → A: AZLA made BootNext, the state recorded before the reboot.
      expect(fact(second.job.output, 'rollback-check'), log2).toBe('ab');
      expect(fact(second.job.output, 'rollback-rc'), log2).toBe('0');
      expect(text(second.job, 'status-after-rollback.yaml'), log2).toMatch(
        /servicingState: manual-rollback-ab-finalized/u,
      );
      const rollbackBoot = text(second.job, 'efibootmgr-after-rollback.txt');
      const azla = entryNumber(rollbackBoot, 'AZLA');
      expect(azla, rollbackBoot).toBeDefined();
      expect(variable(rollbackBoot, 'BootNext'), rollbackBoot).toBe(azla);

      // Boot 3, the same machine: BootNext starts EFI/AZLA, volume A, build 1; committed at boot.
      const third = await runVmJob(vms, {
        name: 'grub-update-3',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: STATUS },
        timeoutMs: 20 * 60_000,
      });
      const log3 = `${third.job.output}\n${text(third.job, 'commit-unit.log')}`;
      expect(third.boot.rootDevice, log3).toBe('/dev/vda2');
      expect(third.boot.versionId, log3).toBe(first.boot.versionId);
      expect(third.boot.hostname).toBe('installed-host');
      expect(fact(third.job.output, 'commit-unit'), log3).toBe('success 0');
      const rolledBack = text(third.job, 'status.yaml');
      expect(rolledBack, log3).toMatch(/servicingState: provisioned/u);
      expect(rolledBack).toMatch(/abActiveVolume: volume-a/u);
      expect(rolledBack).not.toMatch(/lastError/u);
      // The rollback's finalize copied the volume it returned to.
      expect(fact(third.job.output, 'fallback'), log3).toBe('AZLA');
      const boot3 = text(third.job, 'efibootmgr.txt');
      expect(variable(boot3, 'BootCurrent'), boot3).toBe(azla);
      expect(variable(boot3, 'BootOrder')?.split(',')[0], boot3).toBe(azla);
    },
    TEST_TIMEOUT,
  );
});
