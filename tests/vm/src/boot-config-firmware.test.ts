/**
 * The firmware side of boot configuration on real UEFI (OVMF), run inside the fixture OS by Node
 * from source: `createBootEntry` makes the install's UEFI entry (efibootmgr: `AZLA` loading
 * `/EFI/AZLA/bootx64.efi`, BootNext, BootOrder first) and `setLoaderEntryOneShot` writes
 * `LoaderEntryOneShot` into efivarfs; the job then removes the removable-media loader. The next
 * boot of the same machine (same UEFI variable store) can only come through the new entry, and
 * systemd-boot starts the one-shot entry instead of the default: the trial boot of an A/B update.
 *
 * The minimal fixture OS has no efibootmgr: the host's (same Debian release; tools/setup.sh
 * installs it) goes into the job with its two libraries.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { openDiskBootVolumes } from '@trident/boot-config';
import { componentAvailable } from '@trident/test-support/component';
import { createVmScope, runVmJob } from '@trident/test-support/vm';
import { ensureOsFixture, type OsFixture } from '@trident/test-support/vm-fixture';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { extendedVmTest, VM_TEST_TIMEOUT, vmTestsAvailable } from './suite.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
const available =
  extendedVmTest('UEFI entries and loader variables on real firmware (two boots, ~8 min)') &&
  vmTestsAvailable(['minimal']) &&
  componentAvailable(
    existsSync('/usr/bin/efibootmgr'),
    'VM firmware boot',
    'efibootmgr is not installed (tools/setup.sh installs it)',
  );
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
const FIRMWARE_SCRIPT = `
import { createBootEntry, readEfiBootState } from './boot-config/src/uefi/efibootmgr.ts';
import { readLoaderEntrySelected, setLoaderEntryOneShot } from './boot-config/src/uefi/loader-variables.ts';
console.log(\`selected=\${await readLoaderEntrySelected()}\`);
const created = await createBootEntry({
  label: 'AZLA',
  esp: [{ disk: '/dev/vda', partitionNumber: Number(process.env.ESP_PARTITION) }],
  loader: '/EFI/AZLA/bootx64.efi',
  bootOrder: 'first',
});
console.log(\`created=\${created.join(',')}\`);
const state = await readEfiBootState();
console.log(\`boot-next=\${state.bootNext}\`);
console.log(\`boot-order=\${state.bootOrder.join(',')}\`);
// Twice: the second write meets the variable efivarfs made immutable.
await setLoaderEntryOneShot('trident-fixture.conf');
await setLoaderEntryOneShot('bootcfg-oneshot.conf');
console.log('oneshot-set');
`;

const EFIBOOTMGR_ENV =
  'export PATH="$TRIDENT_JOB_DIR/efi/bin:$PATH" LD_LIBRARY_PATH="$TRIDENT_JOB_DIR/efi/lib"';

function firmwareJob(espPartition: number): string {
  return `
${EFIBOOTMGR_ENV}
# Each step bounded and timed: a stalled guest shows where it stalled.
date; timeout 90 efibootmgr; echo "efibootmgr-rc=$?"; date
# Bare imports of workspace packages resolve through node_modules, as in the repository (a link
# to a directory outside node_modules: Node strips types only there).
mkdir -p node_modules/@trident && ln -s ../../exec node_modules/@trident/exec
ESP_PARTITION=${espPartition} timeout 300 ./node --conditions=@trident/source firmware.mts; echo "node-rc=$?"; date
od -An -tx1 /sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f | tr -d ' \\n' | sed 's/^/oneshot-bytes=/'
echo
# From now on only the UEFI entry can boot this disk.
rm /boot/efi/EFI/BOOT/BOOTX64.EFI
sync
`;
}

/** The host's efibootmgr and the libraries the minimal fixture lacks. */
async function efibootmgrFiles(): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = { 'efi/bin/efibootmgr': await readFile('/usr/bin/efibootmgr') };
  for (const lib of ['libefivar.so.1', 'libefiboot.so.1'])
    files[`efi/lib/${lib}`] = await readFile(await realpath(join('/lib/x86_64-linux-gnu', lib)));
  return files;
}

beforeAll(async () => {
  if (!available) return;
  fixture = await ensureOsFixture({ versionId: '12.0-plain' });
}, VM_TEST_TIMEOUT);

afterEach(() => vms.cleanup());
afterAll(() => vms.cleanup());

describe.skipIf(!available)('UEFI entries and loader variables on real firmware', () => {
  it(
    'createBootEntry and setLoaderEntryOneShot: the next boot comes through the new UEFI entry and starts the one-shot entry',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'trident-vm-oneshot-'));
      try {
        const disk = join(dir, 'disk.img');
        await run('cp', ['--sparse=always', fixture.disk, disk]);
        // Install's ESP directory beside the removable-media path (the first boot needs that one).
        const { esp } = await openDiskBootVolumes(disk);
        await esp.volume.write('/EFI/AZLA/bootx64.efi', (await esp.volume.read('/EFI/BOOT/BOOTX64.EFI'))!);
        // A second entry, told apart by one argument; loader.conf keeps trident-fixture.conf the default.
        const entry = (await esp.volume.read('/loader/entries/trident-fixture.conf'))!.toString();
        await esp.volume.write(
          '/loader/entries/bootcfg-oneshot.conf',
          entry.replace(/^title .*$/mu, 'title one-shot').replace(/^(options .*)$/mu, '$1 trident.oneshot=1'),
        );

        const machine = vms.machine();
        const node = await readFile(await realpath(join(REPO, 'node_modules/node/bin/node')));
        const first = await runVmJob(vms, {
          name: 'bootcfg-firmware-set',
          machine,
          memoryMiB: 2048,
          timeoutMs: 22 * 60_000,
          disks: [{ path: disk }],
          job: {
            id: 'set',
            script: firmwareJob(esp.partition.number),
            after: 'reboot',
            files: {
              node,
              'firmware.mts': FIRMWARE_SCRIPT,
              ...(await efibootmgrFiles()),
              ...(await packageSources('boot-config', 'boot-config')),
              ...(await packageSources('exec', 'exec')),
            },
          },
        });
        expect(first.boot.facts['loader-entry']).toBe('trident-fixture.conf');
        expect(first.job.rc).toBe(0);
        expect(first.job.output).toContain('selected=trident-fixture.conf');
        expect(first.job.output).toContain('oneshot-set');
        expect(first.job.output).toContain('efibootmgr-rc=0');
        expect(first.job.output).toContain('node-rc=0');
        const created = /^created=([0-9A-F]{4})$/mu.exec(first.job.output)?.[1];
        expect(created).toBeDefined();
        expect(first.job.output).toContain(`boot-next=${created}`);
        expect(first.job.output).toMatch(new RegExp(`^boot-order=${created},`, 'mu'));
        const utf16 = Buffer.from('bootcfg-oneshot.conf\0', 'utf16le').toString('hex');
        expect(first.job.output).toContain(`oneshot-bytes=07000000${utf16}`);

        const second = await runVmJob(vms, {
          name: 'bootcfg-firmware-boot',
          machine,
          disks: [{ path: disk }],
          job: {
            id: 'check',
            script: `${EFIBOOTMGR_ENV}\ncat /proc/cmdline\nefibootmgr\nls /boot/efi/EFI/BOOT/`,
            files: await efibootmgrFiles(),
          },
        });
        expect(second.boot.facts['loader-entry']).toBe('bootcfg-oneshot.conf');
        expect(second.job.output).toMatch(/ trident\.oneshot=1/u);
        expect(second.job.output).toContain(`BootCurrent: ${created}`);
        expect(second.job.output).not.toMatch(/BOOTX64\.EFI/u);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    2 * VM_TEST_TIMEOUT,
  );
});
