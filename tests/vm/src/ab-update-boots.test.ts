/**
 * A/B update on the VM rig, one machine (UEFI variables kept between boots), the agent inside:
 *
 * 1. `trident install` (on this host) of the full fixture into a disk image with an A/B root pair
 *    and the datastore on its own partition; the installed host boots from volume A and
 *    trident.service commits the install.
 * 2. In that boot a job runs `trident update` to a second build of the OS (os-release VERSION_ID
 *    2, handed over as a virtio disk, `file:///dev/vdb`) whose health check fails: staged on
 *    volume B, finalized (LoaderEntryOneShot = B's entry), then the guest reboots.
 * 3. The one-shot boot comes up on B; trident.service's commit runs the failing check, records
 *    `ab-update-health-check-failed` and reboots; the firmware's one-shot is spent.
 * 4. The host is back on A (version 12): commit recorded the rollback (`provisioned` on A, the
 *    health check's error kept). A job reads that with `trident get`, then updates to build 2 again
 *    with a passing health check and a new hostname; the guest reboots.
 * 5. The host boots B, VERSION_ID 2, hostname from the update; commit made it `provisioned` on
 *    volume B with no last error, and B's entry the default.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOADER_VENDOR_GUID as LOADER_GUID } from '@trident/boot-config';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { type AgentPackage, ensureAgentPackage } from '@trident/test-support/vm-bundle';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { jobFact as fact, jobFile as result } from '@trident/test-support/vm-job';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { abStorage } from './ab-storage.ts';
import { extendedVmTest, trident, vmTestsAvailable } from './suite.ts';

// Four TCG boots and two in-guest updates (26 min measured): beyond the CI budget with the rest of
// the suite. CI boots A/B updates through grpc-update-boots.test.ts and grub-update-boots.test.ts
// (install, update, boot B, commit, manual rollback) and a failed health check with its rollback
// through uki-update-boots.test.ts; this one adds the type #1 variant and a second update after it.
const available =
  extendedVmTest('A/B update with a failed health check and its rollback (four boots, ~26 min)') &&
  vmTestsAvailable(['full']);
const vms = createVmScope();
/** Four TCG boots and two updates inside the guest. */
const TEST_TIMEOUT = 60 * 60_000;
let dir: string;
let agent: AgentPackage;
let v1: OsFixture;
let v2: OsFixture;

function installConfiguration(espMiB: number): string {
  return `image:
  url: file://${v1.cosi}
  sha384: ${v1.cosiSha384}
${abStorage(espMiB)}os:
  hostname: installed-host
`;
}

function updateConfiguration(espMiB: number, health: string): string {
  return `image:
  url: file:///dev/vdb
  sha384: ${v2.cosiSha384}
${abStorage(espMiB)}os:
  hostname: updated-host
  kernelCommandLine:
    extraCommandLine: [trident.updated=1]
health:
  checks:
    - name: after-update
      runOn: [ab-update]
      content: ${JSON.stringify(health)}
`;
}

/**
 * What each job prints: the Host Status, the boot variables, the ESP's entries. A boot loader
 * variable is read whole (efivarfs files do not seek): NULs of the UTF-16 text dropped, then the
 * attribute word's unprintable bytes, as the fixture's marker reads LoaderEntrySelected.
 */
const STATUS = `
efivar_text() { tr -d '\\0' < /sys/firmware/efi/efivars/$1-${LOADER_GUID} 2>/dev/null | tr -cd '[:print:]'; }
trident get status > "$TRIDENT_RESULTS/status.yaml" 2>&1 || echo "get-status-failed=$?"
trident get last-error > "$TRIDENT_RESULTS/last-error.yaml" 2>&1 || echo "get-last-error-failed=$?"
echo "commit-unit=$(systemctl show -p Result --value trident.service) $(systemctl show -p ExecMainStatus --value trident.service)"
journalctl -b --no-pager -u trident.service > "$TRIDENT_RESULTS/commit-unit.log" 2>&1
echo "entries=$(ls /boot/efi/loader/entries | tr '\\n' ' ')"
echo "default=$(efivar_text LoaderEntryDefault)"
echo "selected=$(efivar_text LoaderEntrySelected)"
echo "hostname=$(hostname)"
echo "cmdline=$(cat /proc/cmdline)"
`;

function updateJob(config: string): string {
  return `${STATUS}
trident update /run/trident-job/${config} --no-reboot > "$TRIDENT_RESULTS/update.log" 2>&1
echo "update-rc=$?"
trident get status > "$TRIDENT_RESULTS/status-after-update.yaml" 2>&1
echo "oneshot=$(efivar_text LoaderEntryOneShot)"
echo "entries-after-update=$(ls /boot/efi/loader/entries | tr '\\n' ' ')"
`;
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-ab-update-'));
  agent = await ensureAgentPackage();
  v1 = await ensureOsFixture({ flavour: 'full', agentDeb: agent.deb, hostname: 'management' });
  v2 = await ensureOsFixture({
    flavour: 'full',
    agentDeb: agent.deb,
    hostname: 'management',
    versionId: '2',
  });
}, TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('A/B update of an installed host', () => {
  it(
    'rolls back a build whose health check fails, then boots the next one from volume B and commits it',
    async () => {
      const espMiB = Math.ceil(v1.partitions.find((p) => p.role === 'esp')!.size / 1048576);
      const installConfig = join(dir, 'install.yaml');
      await writeFile(installConfig, installConfiguration(espMiB));
      const target = join(dir, 'host.img');
      const install = await trident(['install', installConfig, '--disk', `os=image:${target}:5G`]);
      expect(install.code, install.stderr).toBe(0);

      const machine = vms.machine();
      const disks = [{ path: target }, { path: v2.cosi, readOnly: true }];
      const files = {
        'update-fails.yaml': updateConfiguration(espMiB, 'echo "failing on purpose"; exit 1'),
        'update.yaml': updateConfiguration(
          espMiB,
          'test "$(hostname)" = updated-host && echo "$SERVICING_TYPE" > /var/lib/trident/update-health',
        ),
      };

      // Boot 1, volume A: the install is committed; stage + finalize an update that will fail its check.
      const first = await runVmJob(vms, {
        name: 'ab-update-1',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: updateJob('update-fails.yaml'), files, after: 'reboot' },
        timeoutMs: 30 * 60_000,
      });
      const log1 = `${first.job.output}\n${result(first.job, 'update.log')}`;
      expect(first.boot.rootDevice).toBe('/dev/vda2');
      expect(result(first.job, 'status.yaml')).toMatch(/servicingState: provisioned/u);
      expect(fact(first.job.output, 'update-rc'), log1).toBe('0');
      expect(result(first.job, 'status-after-update.yaml')).toMatch(/servicingState: ab-update-finalized/u);
      expect(fact(first.job.output, 'oneshot')).toMatch(/^azlb-.*\.conf$/u);
      expect(fact(first.job.output, 'entries-after-update')).toContain(fact(first.job.output, 'oneshot')!);

      // Boot 2, the one-shot into volume B: commit's health check fails and it reboots by itself.
      const second = await vms.start({
        name: 'ab-update-2',
        machine,
        memoryMiB: 1536,
        disks,
        timeoutMs: 20 * 60_000,
      });
      await second.waitForExit({ timeoutMs: 20 * 60_000 });
      const serial2 = second.serial();
      await second.stop();

      // Boot 3: back on volume A, the rollback recorded; update again with a passing check.
      const third = await runVmJob(vms, {
        name: 'ab-update-3',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: updateJob('update.yaml'), files, after: 'reboot' },
        timeoutMs: 30 * 60_000,
      });
      const log3 = `${third.job.output}\n${result(third.job, 'commit-unit.log')}\n${serial2.slice(-4000)}`;
      expect(third.boot.rootDevice, log3).toBe('/dev/vda2');
      expect(third.boot.versionId).toBe(first.boot.versionId);
      const rolledBack = result(third.job, 'status.yaml');
      expect(rolledBack, log3).toMatch(/servicingState: provisioned/u);
      expect(rolledBack).toMatch(/abActiveVolume: volume-a/u);
      expect(result(third.job, 'last-error.yaml'), log3).toMatch(/health-checks-failed|failing on purpose/u);
      // Commit on A says the update was rolled back (the unit fails with that error).
      expect(result(third.job, 'commit-unit.log')).toMatch(/ab-update-health-check-commit-check/u);
      expect(fact(third.job.output, 'update-rc'), result(third.job, 'update.log')).toBe('0');
      expect(result(third.job, 'status-after-update.yaml')).toMatch(/servicingState: ab-update-finalized/u);

      // Boot 4: volume B, build 2, committed.
      const fourth = await runVmJob(vms, {
        name: 'ab-update-4',
        machine,
        memoryMiB: 1536,
        disks,
        job: { script: `${STATUS}\necho "health=$(cat /var/lib/trident/update-health)"\n` },
        timeoutMs: 20 * 60_000,
      });
      const log4 = `${fourth.job.output}\n${result(fourth.job, 'commit-unit.log')}`;
      expect(fourth.boot.versionId, log4).toBe('2');
      expect(fourth.boot.rootDevice).toBe('/dev/vda3');
      expect(fourth.boot.hostname).toBe('updated-host');
      expect(fact(fourth.job.output, 'cmdline')).toContain('trident.updated=1');
      expect(fact(fourth.job.output, 'health'), log4).toBe('ab_update');
      expect(fact(fourth.job.output, 'commit-unit')).toBe('success 0');
      const committed = result(fourth.job, 'status.yaml');
      expect(committed, log4).toMatch(/servicingState: provisioned/u);
      expect(committed).toMatch(/abActiveVolume: volume-b/u);
      expect(committed).not.toMatch(/lastError/u);
      expect(fact(fourth.job.output, 'default')).toMatch(/^azlb-.*\.conf$/u);
    },
    TEST_TIMEOUT,
  );
});
