/**
 * System extensions on an installed host, placed at install and changed at runtime, in one boot:
 * `trident install` of the full fixture (agent inside) with a sysext in `os.sysexts` places it in
 * the new root's /var/lib/extensions and enables systemd-sysext.service, so the installed host boots
 * with it merged into /usr. In that boot a job runs `trident update` three times (each change is runtime-only, so the
 * update is a runtime update: no volume written, no reboot):
 *   1. a second sysext, handed to the VM as a virtio disk (`file:///dev/disk/by-id/virtio-sysext`):
 *      downloaded through the staging directory, placed, `systemd-sysext refresh`; its runtime-update
 *      health check sees its file in /usr;
 *   2. the first sysext dropped: unmerged, its file gone from /usr;
 *   3. the first one back (from another virtio disk) with a health check that fails: auto-rollback,
 *      the host keeps the second sysext only, `trident get` shows provisioned with the previous spec
 *      and the error.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

interface Sysext {
  file: string;
  sha384: string;
}

/** A squashfs sysext named `name` carrying /usr/share/trident-sysext/<name>. */
async function buildSysext(name: string): Promise<Sysext> {
  const tree = join(dir, `tree-${name}`);
  await mkdir(join(tree, 'usr/lib/extension-release.d'), { recursive: true });
  await mkdir(join(tree, 'usr/share/trident-sysext'), { recursive: true });
  // ID=_any: the extension fits any OS, so systemd-sysext checks no VERSION_ID/SYSEXT_LEVEL.
  await writeFile(
    join(tree, `usr/lib/extension-release.d/extension-release.${name}`),
    `ID=_any\nSYSEXT_ID=${name}\n`,
  );
  await writeFile(join(tree, `usr/share/trident-sysext/${name}`), `from the ${name} sysext\n`);
  const file = join(dir, `${name}.raw`);
  execFileSync('mksquashfs', [tree, file, '-quiet', '-noappend', '-all-root']);
  return {
    file,
    sha384: createHash('sha384')
      .update(await readFile(file))
      .digest('hex'),
  };
}

function hostConfiguration(espMiB: number, sysexts: string, health = ''): string {
  return `image:
  url: file://${fixture.cosi}
  sha384: ${fixture.cosiSha384}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: ${espMiB}M }
        - { id: root, type: root, size: grow }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
os:
  hostname: sysext-host
  sysexts:
${sysexts}${health}`;
}

const entry = (url: string, ext: Sysext) => `    - url: ${url}\n      sha384: ${ext.sha384}\n`;

const JOB = `
set -u
report() {
  echo "== $1"
  echo "sysext-status-$1=$(systemd-sysext status 2>&1 | tr '\\n' ' ')"
  echo "base-$1=$(cat /usr/share/trident-sysext/base 2>&1)"
  echo "later-$1=$(cat /usr/share/trident-sysext/later 2>&1)"
  echo "images-$1=$(ls /var/lib/extensions | tr '\\n' ' ')"
}
report boot
echo "sysext-unit=$(systemctl is-enabled systemd-sysext.service) $(systemctl is-active systemd-sysext.service)"
for step in add drop fail; do
  trident update "$TRIDENT_JOB_DIR/$step.yaml" --no-reboot > "$TRIDENT_RESULTS/$step.log" 2>&1
  echo "rc-$step=$?"
  report "$step"
done
trident get status > "$TRIDENT_RESULTS/status.yaml" 2>&1 || echo "get-status-failed=$?"
trident get rollback-chain > "$TRIDENT_RESULTS/chain.yaml" 2>&1 || echo "get-chain-failed=$?"
test -d /var/lib/extensions/.staging && echo "staging-left=yes"
true
`;

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-sysext-'));
  agent = await ensureAgentPackage();
  fixture = await ensureOsFixture({ flavour: 'full', agentDeb: agent.deb, hostname: 'management' });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('system extensions', () => {
  it(
    'install places a sysext merged at boot; runtime updates add, drop and roll back sysexts live',
    async () => {
      const base = await buildSysext('base');
      const later = await buildSysext('later');
      const esp = fixture.partitions.find((p) => p.role === 'esp')!;
      const espMiB = Math.ceil(esp.size / 1048576);
      const baseUrl = `file://${base.file}`;
      const laterUrl = 'file:///dev/disk/by-id/virtio-sysext';
      const config = join(dir, 'host.yaml');
      await writeFile(config, hostConfiguration(espMiB, entry(baseUrl, base)));
      const target = join(dir, 'installed.img');
      const run = await trident(['install', config, '--disk', `os=image:${target}:4G`]);
      expect(run.code, run.stderr).toBe(0);

      const failing = `health:\n  checks:\n    - name: refuse\n      runOn: [runtime-update]\n      content: echo refused by the test >&2; exit 7\n`;
      const seesLater = `health:\n  checks:\n    - name: later-merged\n      runOn: [runtime-update]\n      content: grep -q later /usr/share/trident-sysext/later\n`;
      const { job } = await runVmJob(vms, {
        name: 'sysext',
        disks: [
          { path: target },
          { path: later.file, readOnly: true, serial: 'sysext' },
          // The base image again, for step 3: its install URL is a path on this machine.
          { path: base.file, readOnly: true, serial: 'base' },
        ],
        job: {
          script: JOB,
          files: {
            'add.yaml': hostConfiguration(espMiB, entry(baseUrl, base) + entry(laterUrl, later), seesLater),
            'drop.yaml': hostConfiguration(espMiB, entry(laterUrl, later)),
            'fail.yaml': hostConfiguration(
              espMiB,
              entry('file:///dev/disk/by-id/virtio-base', base) + entry(laterUrl, later),
              failing,
            ),
          },
        },
      });
      const output = job.output;
      const logs = ['add', 'drop', 'fail']
        .map((s) => `${s}.log:\n${job.results.get(`${s}.log`)?.toString() ?? ''}`)
        .join('\n');
      expect(job.rc, output).toBe(0);
      // Install: placed under its NAME and merged at boot by the enabled unit.
      expect(fact(output, 'sysext-unit')).toBe('enabled active');
      expect(fact(output, 'images-boot')).toBe('base.raw ');
      expect(fact(output, 'base-boot')).toBe('from the base sysext');
      expect(fact(output, 'sysext-status-boot')).toContain('base');
      // 1. Added from a virtio disk, merged live, the health check saw it.
      expect(fact(output, 'rc-add'), logs).toBe('0');
      expect(fact(output, 'later-add')).toBe('from the later sysext');
      expect(fact(output, 'base-add')).toBe('from the base sysext');
      expect(fact(output, 'images-add')).toBe('base.raw later.raw ');
      expect(fact(output, 'sysext-status-add')).toMatch(/base.*later|later.*base/u);
      // 2. Dropped: unmerged, its image gone.
      expect(fact(output, 'rc-drop'), logs).toBe('0');
      expect(fact(output, 'base-drop')).toMatch(/No such file/u);
      expect(fact(output, 'later-drop')).toBe('from the later sysext');
      expect(fact(output, 'images-drop')).toBe('later.raw ');
      // 3. Failed health check: rolled back to what step 2 left, exit 2, the error recorded.
      expect(fact(output, 'rc-fail'), logs).toBe('2');
      const failLog = job.results.get('fail.log')?.toString() ?? '';
      expect(failLog).toMatch(/health-checks-failed/u);
      expect(failLog).toMatch(/auto-rollback/u);
      expect(fact(output, 'images-fail')).toBe('later.raw ');
      expect(fact(output, 'base-fail')).toMatch(/No such file/u);
      expect(fact(output, 'later-fail')).toBe('from the later sysext');
      expect(fact(output, 'staging-left')).toBeUndefined();
      const status = job.results.get('status.yaml')?.toString() ?? '';
      expect(status).toMatch(/servicingState: provisioned/u);
      expect(status).toMatch(/path: \/var\/lib\/extensions\/later\.raw/u);
      expect(status).not.toMatch(/base\.raw/u);
      expect(status).toMatch(/error: health-checks-failed/u);
      expect(job.results.get('chain.yaml')?.toString() ?? '').toMatch(/kind: runtime/u);
    },
    VM_TEST_TIMEOUT,
  );
});
