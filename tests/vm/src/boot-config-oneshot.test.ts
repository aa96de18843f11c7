/**
 * The firmware side of boot configuration on real UEFI: inside a fixture OS booted by
 * systemd-boot under OVMF, `setLoaderEntryOneShot` (our code, run by Node from source) writes
 * `LoaderEntryOneShot` into efivarfs; the next boot of the same machine (same UEFI variable store)
 * starts the one-shot entry instead of the default — the trial boot an A/B update relies on.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { openDiskBootVolumes } from '@trident/boot-config';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
const available = vmTestsAvailable(['minimal']);
const vms = createVmScope();
let fixture: OsFixture;

/** Non-test TypeScript sources of a workspace package, keyed for the job directory. */
async function packageSources(pkg: string, as: string): Promise<Record<string, Uint8Array>> {
  const root = join(REPO, 'packages', pkg);
  const files: Record<string, Uint8Array> = {
    [`${as}/package.json`]: await readFile(join(root, 'package.json')),
  };
  for (const entry of await readdir(join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    files[`${as}/${relative(root, path)}`] = await readFile(path);
  }
  return files;
}

/** Run in the guest by the job, with the Node runtime the repository uses (it strips types). */
const ONESHOT_SCRIPT = `
import { readLoaderEntrySelected, setLoaderEntryOneShot } from './boot-config/src/uefi/loader-variables.ts';
console.log(\`selected=\${await readLoaderEntrySelected()}\`);
// Twice: the second write meets the variable efivarfs made immutable.
await setLoaderEntryOneShot('trident-fixture.conf');
await setLoaderEntryOneShot('bootcfg-oneshot.conf');
console.log('oneshot-set');
`;

const JOB = `
set -e
# Bare imports of workspace packages resolve through node_modules, as in the repository (a link
# to a directory outside node_modules: Node strips types only there).
mkdir -p node_modules/@trident && ln -s ../../exec node_modules/@trident/exec
./node --conditions=@trident/source oneshot.mts
od -An -tx1 /sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f | tr -d ' \\n' | sed 's/^/oneshot-bytes=/'
echo
`;

beforeAll(async () => {
  if (!available) return;
  fixture = await ensureOsFixture({ versionId: '12.0-plain' });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());
afterAll(() => vms.cleanup());

describe.skipIf(!available)('loader variables on real UEFI', () => {
  it(
    'LoaderEntryOneShot written by setLoaderEntryOneShot makes the next boot start that entry',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'trident-vm-oneshot-'));
      try {
        const disk = join(dir, 'disk.img');
        await run('cp', ['--sparse=always', fixture.disk, disk]);
        // A second entry, told apart by one argument; loader.conf keeps trident-fixture.conf the default.
        const { esp } = await openDiskBootVolumes(disk);
        const entry = (await esp.volume.read('/loader/entries/trident-fixture.conf'))!.toString();
        await esp.volume.write(
          '/loader/entries/bootcfg-oneshot.conf',
          entry.replace(/^title .*$/mu, 'title one-shot').replace(/^(options .*)$/mu, '$1 trident.oneshot=1'),
        );

        const machine = vms.machine();
        const node = await readFile(await realpath(join(REPO, 'node_modules/node/bin/node')));
        const first = await runVmJob(vms, {
          name: 'bootcfg-oneshot-set',
          machine,
          memoryMiB: 2048,
          disks: [{ path: disk }],
          job: {
            id: 'set',
            script: JOB,
            after: 'reboot',
            files: {
              node,
              'oneshot.mts': ONESHOT_SCRIPT,
              ...(await packageSources('boot-config', 'boot-config')),
              ...(await packageSources('exec', 'exec')),
            },
          },
        });
        expect(first.boot.facts['loader-entry']).toBe('trident-fixture.conf');
        expect(first.job.rc).toBe(0);
        expect(first.job.output).toContain('selected=trident-fixture.conf');
        expect(first.job.output).toContain('oneshot-set');
        const utf16 = Buffer.from('bootcfg-oneshot.conf\0', 'utf16le').toString('hex');
        expect(first.job.output).toContain(`oneshot-bytes=07000000${utf16}`);

        const second = await runVmJob(vms, {
          name: 'bootcfg-oneshot-boot',
          machine,
          disks: [{ path: disk }],
          job: { id: 'check', script: 'cat /proc/cmdline' },
        });
        expect(second.boot.facts['loader-entry']).toBe('bootcfg-oneshot.conf');
        expect(second.job.output).toMatch(/ trident\.oneshot=1/u);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    2 * VM_TEST_TIMEOUT,
  );
});
