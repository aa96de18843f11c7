/**
 * The agent bundle is self-contained, and the .deb installed in the full fixture OS runs inside a
 * VM: it streams a COSI handed over as a virtio disk (`file:///dev/vdb`) onto a blank virtio disk,
 * and automatic selection picks that blank disk, never the running system's disk nor the disk the
 * image is read from, even when the source disk is the smallest one that fits. The written disk
 * then boots as the only disk.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { type AgentPackage, ensureAgentPackage } from '@trident/test-support/vm-bundle';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const run = promisify(execFile);
const GiB = 1024 ** 3;
/** A UEFI variable (attributes non-volatile, boot and runtime access) that one boot leaves for the next. */
const EFI_VAR = '/sys/firmware/efi/efivars/TridentRig-6d1c9f0e-3b2a-4c5d-8e7f-a1b2c3d4e5f6';
const available = vmTestsAvailable(['minimal', 'full']);
const vms = createVmScope();
let dir: string;
let agent: AgentPackage;
let management: OsFixture;
let image: OsFixture;

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-vm-agent-'));
  agent = await ensureAgentPackage();
  management = await ensureOsFixture({ flavour: 'full', agentDeb: agent.deb, hostname: 'management' });
  image = await ensureOsFixture({ versionId: '12.0-streamed', hostname: 'streamed' });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());

afterAll(async () => {
  await vms.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('the agent bundle', () => {
  it('runs from the tarball with an empty environment and no Node on the PATH', async () => {
    const unpacked = join(dir, 'bundle');
    await run('mkdir', ['-p', unpacked]);
    await run('tar', ['-xzf', agent.tarball, '-C', unpacked]);
    const root = join(unpacked, `trident-${agent.version}-linux-x64`);
    const { stdout } = await run(join(root, 'bin/trident'), ['--version'], { env: {} });
    expect(stdout).toMatch(
      new RegExp(`^trident ${agent.version.replaceAll('.', '\\.')} \\(node v24\\.`, 'u'),
    );
    expect(stdout).toContain('zstd codec: native');
    const daemon = await run(join(root, 'bin/tridentd'), ['--version'], { env: {} });
    expect(daemon.stdout).toContain(agent.version);
    const { stdout: contents } = await run('dpkg-deb', ['--contents', agent.deb]);
    for (const path of ['./usr/bin/trident', './usr/bin/tridentd', './lib/systemd/system/tridentd.socket'])
      expect(contents).toContain(path);
  });

  it(
    'streams file:///dev/vdb onto the blank disk inside a VM, by --disk and by automatic selection, and that disk boots',
    async () => {
      // vdb holds the COSI as raw bytes, padded so that it is the smallest disk that would fit the
      // image, and the running system's disk vda is the next larger: automatic selection must skip
      // both and pick vdc, the largest.
      const source = join(dir, 'cosi-disk.img');
      await copyFile(image.cosi, source);
      const sourceSize = Math.ceil(image.diskSize / GiB + 0.25) * GiB;
      expect(sourceSize).toBeLessThan(management.diskSize);
      await truncate(source, sourceSize);
      const blank = join(dir, 'blank.img');
      await writeFile(blank, '');
      await truncate(blank, Math.ceil(management.diskSize / GiB + 0.5) * GiB);
      // One machine for both boots: the UEFI variable store (and TPM) carry over, as an install or
      // update followed by a reboot needs (BootNext, boot order, sealed keys).
      const machine = vms.machine({ tpm: true });
      const { boot, job } = await runVmJob(vms, {
        name: 'agent-stream-disk',
        machine,
        disks: [{ path: management.disk, snapshot: true }, { path: source, snapshot: true }, { path: blank }],
        memoryMiB: 1536,
        // Two stream-disk runs in a TCG guest: 40 s each on a quiet host, 230 s at load 18.
        timeoutMs: 25 * 60_000,
        job: {
          script: [
            'set -e',
            'trident --version',
            'systemctl is-enabled tridentd.socket',
            'echo "tpm-random=$(tpm2_getrandom --hex 8)"',
            `printf '\\007\\000\\000\\000machine-kept' > ${EFI_VAR}`,
            'echo "== explicit"',
            'trident stream-disk file:///dev/vdb --disk /dev/vdc -q',
            'echo "== automatic"',
            'trident stream-disk file:///dev/vdb',
            'sgdisk -p /dev/vdc',
            'tar -tf /dev/vdb | head -n 2',
          ].join('\n'),
        },
      });
      expect(boot).toMatchObject({ hostname: 'management', rootDevice: '/dev/vda2' });
      expect(job.rc, job.output).toBe(0);
      expect(job.output).toMatch(/^enabled$/mu);
      expect(job.output).toMatch(/^tpm-random=[0-9a-f]{16}$/mu);
      const automatic = job.output.slice(job.output.indexOf('== automatic'));
      expect(automatic).toMatch(/^target \/dev\/vdc \(disk,/mu);
      expect(automatic).toMatch(/skipped \/dev\/vda .*running root filesystem/u);
      expect(automatic).toMatch(/skipped \/dev\/vdb .*the image is read from it/u);
      expect(job.output).toMatch(/^cosi-marker$/mu); // the source disk still holds the COSI

      const streamed = await runVmJob(vms, {
        name: 'agent-written-disk',
        machine,
        disks: [{ path: blank }],
        // efivarfs files cannot seek: read through a pipe, skipping the 4 attribute bytes.
        job: { script: `echo "efi-var=$(cat ${EFI_VAR} | tail -c +5)"` },
      });
      expect(streamed.job.output).toMatch(/^efi-var=machine-kept$/mu);
      expect(streamed.boot).toMatchObject({
        versionId: '12.0-streamed',
        hostname: 'streamed',
        rootDevice: '/dev/vda2',
      });
    },
    2 * VM_TEST_TIMEOUT,
  );
});
