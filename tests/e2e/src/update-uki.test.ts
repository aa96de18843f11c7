/**
 * A/B update of a standalone-UKI image on loop devices (root): a demo OS whose ESP holds one UKI
 * (`EFI/Linux/vmlinuz-<version>.efi`, its root named `root=UUID=<root filesystem UUID>`, as the VM
 * fixture's), installed by `trident install`, then updated through the engine to a second build
 * with its own root filesystem UUID. What this machine proves without a boot: install accepts the
 * UKI, stage checks the new one against volume B and stages it on the ESP beside the running one,
 * finalize pins the running UKI as LoaderEntryDefault, names the new one `vmlinuz-100-azlb0.efi`,
 * sets LoaderEntryOneShot to it and records `ab-update-finalized`. The UKIs are minimal PE files
 * (nothing boots here; tests/vm uki-update-boots boots real ones). EFI variables are a directory.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeUki } from '@trident/boot-config/test-support/fake-uki';
import { buildCosi } from '@trident/cosi-format';
import { openDatastore } from '@trident/datastore';
import { plan, run, type UpdateRequest } from '@trident/engine';
import { componentAvailable } from '@trident/test-support/component';
import { createDemoDiskImage, DEMO_IDS } from '@trident/test-support/disk-image';
import { createLoopScope, type LoopDevice, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from './disk-checks.ts';
import { trident } from './run-cli.ts';

const loops = createLoopScope();
const support = loopDeviceSupport();
const available = componentAvailable(
  support.available,
  'loop-device A/B update of a UKI image',
  'reason' in support ? support.reason : '',
);
const LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';
/** Build 2's root filesystem UUID (build 1 keeps the demo disk's). */
const ROOT_FS_V2 = '2b3c4d5e-6f70-4182-93a4-b5c6d7e8f902';
const ESP_MIB = 32;

let dir: string;
let cosi1: { path: string; sha: string };
let cosi2: { path: string; sha: string };
let loop: LoopDevice;
let datastorePath: string;
let procDir: string;
let efivars: string;

function configuration(cosi: { path: string; sha: string }, hostname: string): string {
  return `image:
  url: file://${cosi.path}
  sha384: ${cosi.sha}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 64M }
        - { id: root-a, type: root, size: 160M }
        - { id: root-b, type: root, size: 160M }
        - { id: trident, size: 64M }
  abUpdate:
    volumePairs:
      - { id: root, volumeAId: root-a, volumeBId: root-b }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
    - deviceId: trident
      source: new
      mountPoint: /var/lib/trident
os:
  hostname: ${hostname}
`;
}

async function espFile(path: string): Promise<Buffer> {
  const { stdout } = await exec('mcopy', ['-n', '-i', loop.partitionPath(1), `::${path}`, '-'], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
    encoding: 'buffer',
  });
  return stdout;
}

async function espNames(dir: string): Promise<string[]> {
  const { stdout } = await exec('mdir', ['-b', '-i', loop.partitionPath(1), `::${dir}`], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
  });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.slice(`::${dir}/`.length))
    .sort();
}

async function variable(name: string): Promise<string | undefined> {
  const bytes = await readFile(join(efivars, `${name}-${LOADER_GUID}`)).catch(() => undefined);
  return bytes?.subarray(4).toString('utf16le').replace(/\0+$/u, '');
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-update-uki-'));
  for (const [version, fsUuid] of [
    ['1', DEMO_IDS.rootFsUuid],
    ['2', ROOT_FS_V2],
  ] as const) {
    const disk = await createDemoDiskImage({
      path: join(dir, `v${version}.img`),
      sizeMiB: 160,
      espMiB: ESP_MIB,
      rootMiB: 96,
      espFiles: {
        [`EFI/Linux/vmlinuz-6.${version}.efi`]: fakeUki(
          `root=UUID=${fsUuid} rw console=ttyS0`,
          `kernel ${version}`,
        ),
      },
      files: { 'etc/os-release': `NAME="Demo Linux"\nID=demo\nVERSION_ID="${version}"\n` },
    });
    // Build 2 is another build: its root filesystem gets its own UUID (e2fsprogs' offset syntax
    // edits the filesystem inside the disk image, the root partition following the 1 MiB gap and the ESP).
    if (fsUuid !== DEMO_IDS.rootFsUuid)
      await exec('tune2fs', ['-U', fsUuid, `${disk.path}?offset=${(1 + ESP_MIB) * 1024 * 1024}`]);
    const built = await buildCosi({ input: disk.path, output: join(dir, `v${version}.cosi`) });
    const entry = { path: join(dir, `v${version}.cosi`), sha: built.metadataSha384 };
    if (version === '1') cosi1 = entry;
    else cosi2 = entry;
  }
  await writeFile(join(dir, 'os-release'), 'NAME="Demo Linux"\nID=demo\nVERSION_ID="1"\n');
  const backing = join(dir, 'host.img');
  await exec('truncate', ['-s', '480M', backing]);
  loop = await loops.attach(backing, { partitions: true });
  const installConfig = join(dir, 'install.yaml');
  await writeFile(installConfig, configuration(cosi1, 'host-a'));
  const install = trident(['install', installConfig, '--disk', `os=${loop.path}`]);
  expect(install.code, install.stderr).toBe(0);
  await exec('partx', ['--update', loop.path]).catch(() => undefined);
  // As update.test.ts: the datastore committed as at first boot, the by-partuuid paths this
  // udev-less machine lacks replaced by the loop's partition nodes.
  const tridentDir = await loops.mount(loop.partitionPath(4));
  datastorePath = join(tridentDir, 'datastore.sqlite');
  const store = openDatastore(datastorePath);
  try {
    const status = store.current();
    const ids = ['esp', 'root-a', 'root-b', 'trident'];
    store.write({
      ...status,
      partitionPaths: Object.fromEntries(ids.map((id, index) => [id, loop.partitionPath(index + 1)])),
    });
    store.apply({ type: 'committed' });
  } finally {
    store.close();
  }
  procDir = join(dir, 'proc');
  await mkdir(join(procDir, 'self'), { recursive: true });
  await writeFile(
    join(procDir, 'self/mountinfo'),
    `22 1 259:2 / / rw,relatime shared:1 - ext4 ${loop.partitionPath(2)} rw\n`,
  );
  efivars = join(dir, 'sys/firmware/efi/efivars');
  await mkdir(efivars, { recursive: true });
  // systemd-boot booted the install's UKI.
  await writeFile(
    join(efivars, `LoaderEntrySelected-${LOADER_GUID}`),
    Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from('vmlinuz-6.1.efi\0', 'utf16le')]),
  );
}, 600_000);

afterAll(async () => {
  await loops.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('A/B update of a UKI image on loop devices', () => {
  it('stages build 2’s UKI for volume B and finalizes it as a one-shot trial beside the running one', async () => {
    expect(await espNames('/EFI/Linux')).toEqual(['vmlinuz-6.1.efi']);
    const request: UpdateRequest = {
      kind: 'update',
      hostConfiguration: { text: configuration(cosi2, 'host-b'), path: 'update.yaml' },
      datastorePath,
      system: { procDir, sysDir: join(dir, 'sys'), osReleasePath: join(dir, 'os-release') },
    };
    const planned = await plan(request);
    expect(planned.steps.join('\n')).toMatch(/stage it as EFI\/Linux\/vmlinuz-0\.efi\.staged/u);
    const result = await run(planned);
    expect(result.error?.message ?? '', result.error?.message).toBe('');
    expect(result).toMatchObject({ status: 'success', servicingKind: 'ab-update', rebootRequired: true });

    expect(await espNames('/EFI/Linux')).toEqual(['vmlinuz-100-azlb0.efi', 'vmlinuz-6.1.efi']);
    expect((await espFile('/EFI/Linux/vmlinuz-100-azlb0.efi')).toString('latin1')).toContain(
      `root=UUID=${ROOT_FS_V2}`,
    );
    expect((await espFile('/EFI/Linux/vmlinuz-6.1.efi')).toString('latin1')).toContain(
      `root=UUID=${DEMO_IDS.rootFsUuid}`,
    );
    expect(await variable('LoaderEntryDefault')).toBe('vmlinuz-6.1.efi');
    expect(await variable('LoaderEntryOneShot')).toBe('vmlinuz-100-azlb0.efi');
    // Volume B holds build 2, its root filesystem UUID as the UKI names it.
    const uuidB = (
      await exec('blkid', ['-p', '-s', 'UUID', '-o', 'value', loop.partitionPath(3)])
    ).stdout.trim();
    expect(uuidB).toBe(ROOT_FS_V2);
    const store = openDatastore(datastorePath, { readOnly: true });
    try {
      expect(store.current().servicingState).toBe('ab-update-finalized');
    } finally {
      store.close();
    }
  }, 600_000);
});
