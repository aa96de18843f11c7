/**
 * A/B update on loop devices (root): a demo OS installed by `trident install` with an A/B root pair,
 * then updated through the engine to a second build. What this machine can prove without a boot:
 * the second build lands on volume B only (volume A's bytes unchanged), its OS configuration and
 * fstab are written in B's root, B gets its own systemd-boot entry beside A's untouched one, the
 * Host Status records `ab-update-staged`, and finalize sets `LoaderEntryOneShot` to B's entry and
 * records `ab-update-finalized`. The host's "running root" is volume A through a prepared
 * /proc/self/mountinfo; its EFI variables are a directory. Booting it is `tests/vm`'s job.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { openDatastore } from '@trident/datastore';
import { discardPlan, plan, run, type UpdateRequest } from '@trident/engine';
import { componentAvailable } from '@trident/test-support/component';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { createLoopScope, type LoopDevice, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debugfsCat, exec, hashRange } from './disk-checks.ts';
import { trident } from './run-cli.ts';

const loops = createLoopScope();
const support = loopDeviceSupport();
const available = componentAvailable(
  support.available,
  'loop-device A/B update',
  'reason' in support ? support.reason : '',
);
const LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';

let dir: string;
let cosi1: { path: string; sha: string };
let cosi2: { path: string; sha: string };
let loop: LoopDevice;
let datastorePath: string;
let procDir: string;
let sysDir: string;

function espFiles(version: string): Record<string, string> {
  return {
    'loader/loader.conf': 'timeout 0\ndefault demo.conf\n',
    'loader/entries/demo.conf': [
      `title Demo ${version}`,
      'linux /vmlinuz-demo',
      'initrd /initrd-demo',
      'options root=PARTUUID=00000000-0000-0000-0000-000000000000 rw console=ttyS0',
      '',
    ].join('\n'),
    'vmlinuz-demo': `kernel ${version}`,
    'initrd-demo': `initrd ${version}`,
  };
}

function configuration(cosi: { path: string; sha: string }, os: string): string {
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
        - { id: root-a, type: root, size: 320M }
        - { id: root-b, type: root, size: 320M }
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
${os}`;
}

async function mtype(device: string, path: string): Promise<string> {
  const { stdout } = await exec('mtype', ['-i', device, `::${path}`], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
  });
  return stdout;
}

function request(text: string, extra: Partial<UpdateRequest> = {}): UpdateRequest {
  return {
    kind: 'update',
    hostConfiguration: { text, path: 'update.yaml' },
    datastorePath,
    system: { procDir, sysDir, osReleasePath: join(dir, 'os-release') },
    ...extra,
  };
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-update-'));
  for (const [version, name] of [
    ['1', 'v1'],
    ['2', 'v2'],
  ] as const) {
    const disk = await createDemoDiskImage({
      path: join(dir, `${name}.img`),
      sizeMiB: 384,
      espMiB: 32,
      rootMiB: 256,
      espFiles: espFiles(version),
      files: { 'etc/os-release': `NAME="Demo Linux"\nID=demo\nVERSION_ID="${version}"\n` },
    });
    const built = await buildCosi({ input: disk.path, output: join(dir, `${name}.cosi`) });
    const entry = { path: join(dir, `${name}.cosi`), sha: built.metadataSha384 };
    if (version === '1') cosi1 = entry;
    else cosi2 = entry;
  }
  await writeFile(join(dir, 'os-release'), 'NAME="Demo Linux"\nID=demo\nVERSION_ID="1"\n');
  const backing = join(dir, 'host.img');
  await exec('truncate', ['-s', '800M', backing]);
  loop = await loops.attach(backing, { partitions: true });
  const install = trident([
    'install',
    await writeConfig('install.yaml', configuration(cosi1, 'os:\n  hostname: host-a\n')),
    '--disk',
    `os=${loop.path}`,
  ]);
  expect(install.code, install.stderr).toBe(0);
  await exec('partx', ['--update', loop.path]).catch(() => undefined);
  // The installed host's datastore, on its own partition, committed as trident commit does at boot.
  // This machine has no udev: the recorded /dev/disk/by-partuuid paths become the loop's nodes.
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
  sysDir = join(dir, 'sys');
  await mkdir(join(sysDir, 'firmware/efi/efivars'), { recursive: true });
}, 600_000);

afterAll(async () => {
  await loops.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe.skipIf(!available)('A/B update on loop devices', () => {
  it('an interrupted stage changes nothing the host runs or boots: provisioned on A, no entry for B', async () => {
    const text = configuration(cosi2, 'os:\n  hostname: host-b\n');
    const planned = await plan(request(text, { allowedOperations: { stage: true, finalize: false } }));
    const abort = new AbortController();
    const result = await run(planned, {
      signal: abort.signal,
      // Stop as soon as the image phase reports progress: B is half written.
      onEvent: (event) => {
        if (event.type === 'progress' && event.phase === 'write') abort.abort(new Error('test interrupt'));
      },
    });
    expect(result.status).toBe('failure');
    const store = openDatastore(datastorePath, { readOnly: true });
    try {
      const status = store.current();
      expect(status.servicingState).toBe('provisioned');
      expect(status.abActiveVolume).toBe('volume-a');
      expect((status.spec as { os: { hostname: string } }).os.hostname).toBe('host-a');
      // The failure is recorded, as upstream records every failed servicing.
      expect(status.lastError).toBeDefined();
    } finally {
      store.close();
    }
    await expect(mtype(loop.partitionPath(1), '/loader/entries/azlb-demo.conf')).rejects.toThrow();
    expect(await debugfsCat(loop.partitionPath(2), '/etc/os-release')).toContain('VERSION_ID="1"');
  }, 300_000);

  it('stages the second build on volume B only, with its configuration and boot entry', async () => {
    const partitionSize = async (n: number) =>
      Number((await exec('blockdev', ['--getsize64', loop.partitionPath(n)])).stdout.trim());
    const volumeA = await hashRange(loop.partitionPath(2), 0, await partitionSize(2));
    const espA = await mtype(loop.partitionPath(1), '/loader/entries/demo.conf');
    const text = configuration(cosi2, 'os:\n  hostname: host-b\n');
    const planned = await plan(request(text, { allowedOperations: { stage: true, finalize: false } }));
    expect(planned.images.map((i) => [i.id, planned.targets[i.targetIndex]!.path])).toEqual([
      ['root-b', loop.partitionPath(3)],
    ]);
    expect(planned.steps.join('\n')).toMatch(/Running volume-a .* updating volume-b/u);
    const result = await run(planned);
    expect(result.error?.message ?? '', result.error?.message).toBe('');
    expect(result).toMatchObject({ status: 'success', servicingKind: 'ab-update', rebootRequired: false });

    // Volume A: not one byte changed. Volume B: build 2, configured for B.
    expect(await hashRange(loop.partitionPath(2), 0, await partitionSize(2))).toBe(volumeA);
    expect(await debugfsCat(loop.partitionPath(2), '/etc/os-release')).toContain('VERSION_ID="1"');
    expect(await debugfsCat(loop.partitionPath(3), '/etc/os-release')).toContain('VERSION_ID="2"');
    expect((await debugfsCat(loop.partitionPath(3), '/etc/hostname')).trim()).toBe('host-b');
    const partUuid = async (n: number) =>
      (await exec('blkid', ['-s', 'PARTUUID', '-o', 'value', loop.partitionPath(n)])).stdout.trim();
    const [uuidA, uuidB] = [await partUuid(2), await partUuid(3)];
    const fstab = await debugfsCat(loop.partitionPath(3), '/etc/fstab');
    expect(fstab).toMatch(new RegExp(`^/dev/disk/by-partuuid/${uuidB}\\s+/\\s`, 'mu'));

    // The ESP: B's entry with B's root and build 2's kernel; A's entry as it was.
    const entryB = await mtype(loop.partitionPath(1), '/loader/entries/azlb-demo.conf');
    expect(entryB).toContain(`root=PARTUUID=${uuidB}`);
    expect(entryB).toContain('linux /azlb/vmlinuz-demo');
    expect(await mtype(loop.partitionPath(1), '/azlb/vmlinuz-demo')).toBe('kernel 2');
    expect(await mtype(loop.partitionPath(1), '/loader/entries/demo.conf')).toBe(espA);
    expect(espA).toContain(`root=PARTUUID=${uuidA}`);

    const store = openDatastore(datastorePath, { readOnly: true });
    try {
      const status = store.current();
      expect(status.servicingState).toBe('ab-update-staged');
      expect(status.abActiveVolume).toBe('volume-a');
      expect((status.spec as { os: { hostname: string } }).os.hostname).toBe('host-b');
      expect((status.specOld as { os: { hostname: string } }).os.hostname).toBe('host-a');
      expect(status.lastError).toBeUndefined();
    } finally {
      store.close();
    }
  }, 600_000);

  it('finalize only: records ab-update-finalized and sets the one-shot entry to B, writing no image', async () => {
    const text = configuration(cosi2, 'os:\n  hostname: host-b\n');
    const planned = await plan(request(text, { allowedOperations: { stage: false, finalize: true } }));
    expect(planned.images).toEqual([]);
    const result = await run(planned);
    expect(result.error?.message ?? '').toBe('');
    expect(result).toMatchObject({ status: 'success', rebootRequired: true });
    const oneShot = await readFile(join(sysDir, `firmware/efi/efivars/LoaderEntryOneShot-${LOADER_GUID}`));
    expect(oneShot.subarray(4).toString('utf16le').replace(/\0+$/u, '')).toBe('azlb-demo.conf');
    const store = openDatastore(datastorePath, { readOnly: true });
    try {
      expect(store.current().servicingState).toBe('ab-update-finalized');
    } finally {
      store.close();
    }
  }, 300_000);

  it('a finalized update waits for its reboot: another configuration is refused', async () => {
    const planned = plan(request(configuration(cosi2, 'os:\n  hostname: host-c\n')));
    await expect(planned).rejects.toMatchObject({
      tridentError: expect.objectContaining({ subkind: 'unexpected-servicing-state' }),
    });
    await planned.then(discardPlan, () => undefined);
  });
});
