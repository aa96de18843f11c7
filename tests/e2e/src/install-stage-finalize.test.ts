/**
 * `trident install --allowed-operations stage|finalize` (issue 16): staging then finalizing gives
 * the disk one install gives, the staged state lives in the servicing OS's datastore in between,
 * and a finalize with nothing staged is refused with upstream's subkind. Disk-image files are
 * attached as loop devices by the install's host step (root only).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { type HostStatus, openDatastore } from '@trident/datastore';
import { createDemoDiskImage, type DemoDiskImage } from '@trident/test-support/disk-image';
import { type NginxServer, startNginx } from '@trident/test-support/nginx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debugfsCat, exec, extractRange, hashRange } from './disk-checks.ts';
import { trident } from './run-cli.ts';

const root = process.getuid?.() === 0;
let dir: string;
let nginx: NginxServer;
let demo: DemoDiskImage;
let sha: string;

beforeAll(async () => {
  if (!root) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-stage-finalize-'));
  nginx = await startNginx();
  demo = await createDemoDiskImage({ path: join(dir, 'demo.img'), sizeMiB: 256, espMiB: 32, rootMiB: 128 });
  sha = (await buildCosi({ input: demo.path, output: join(nginx.root, 'demo.cosi') })).metadataSha384;
});

afterAll(async () => {
  await nginx?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Fixed partition GUIDs, so two installs of it can be compared byte for byte where it matters. */
function config(hostname = 'staged'): string {
  return `image:
  url: ${nginx.url}/demo.cosi
  sha384: ${sha}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 32M, uuid: 0b9c6a86-6a1f-4d4b-9a3c-2f7e5d1c0a01 }
        - { id: root, type: root, size: 192M, uuid: 0b9c6a86-6a1f-4d4b-9a3c-2f7e5d1c0a02 }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
os:
  hostname: ${hostname}
`;
}

interface Partition {
  start: number;
  size: number;
  type: string;
  uuid: string;
  name: string;
}

async function table(path: string): Promise<{ id: string; partitions: Partition[] }> {
  const { stdout } = await exec('sfdisk', ['--json', path]);
  const parsed = JSON.parse(stdout).partitiontable as {
    id: string;
    partitions: Array<Partition & { node?: string }>;
  };
  return { id: parsed.id.toLowerCase(), partitions: parsed.partitions.map(({ node: _node, ...p }) => p) };
}

/** The installed OS's datastore, copied out of its root filesystem. */
async function installedStatuses(disk: string, name: string): Promise<HostStatus[]> {
  const { partitions } = await table(disk);
  const rootPart = partitions[1]!;
  const image = join(dir, `${name}-root.img`);
  await extractRange(disk, rootPart.start * 512, rootPart.size * 512, image);
  const out = join(dir, `${name}-datastore.sqlite`);
  await exec('debugfs', ['-R', `dump /var/lib/trident/datastore.sqlite ${out}`, image]);
  const datastore = openDatastore(out, { readOnly: true });
  try {
    return datastore
      .history()
      .reverse()
      .map((row) => row.status as HostStatus);
  } finally {
    datastore.close();
  }
}

function stagingState(path: string): HostStatus {
  const datastore = openDatastore(path, { readOnly: true });
  try {
    return datastore.current();
  } finally {
    datastore.close();
  }
}

describe.runIf(root)('trident install --allowed-operations', () => {
  it('stage then finalize gives the disk one install gives; the staged state sits in the servicing datastore', async () => {
    const hc = join(dir, 'host-config.yaml');
    await writeFile(hc, config());
    const once = join(dir, 'once.img');
    const split = join(dir, 'split.img');
    const staging = join(dir, 'servicing', 'datastore.sqlite');

    const whole = trident(['install', hc, '--disk', `os=image:${once}:256M`]);
    expect(whole.stderr).not.toMatch(/\berror\b/iu);
    expect(whole.code).toBe(0);

    const stage = trident([
      'install',
      hc,
      '--disk',
      `os=image:${split}:256M`,
      '--allowed-operations',
      'stage',
      '--datastore',
      staging,
    ]);
    expect(stage.stderr).not.toMatch(/\berror\b/iu);
    expect(stage.code).toBe(0);
    const staged = stagingState(staging);
    expect(staged).toMatchObject({
      servicingState: 'clean-install-staged',
      isManagementOs: true,
      installIndex: 0,
      partitionPaths: {
        esp: '/dev/disk/by-partuuid/0b9c6a86-6a1f-4d4b-9a3c-2f7e5d1c0a01',
        root: '/dev/disk/by-partuuid/0b9c6a86-6a1f-4d4b-9a3c-2f7e5d1c0a02',
      },
    });
    expect((staged.spec as { os: { hostname: string } }).os.hostname).toBe('staged');
    // Staged, not finalized: the installed OS has no datastore yet, but its OS configuration is in place.
    await expect(installedStatuses(split, 'staged-only')).rejects.toThrow();
    const splitTable = await table(split);
    expect(staged.diskUuids).toEqual({ os: splitTable.id });

    // Finalize-only names no Host Configuration: it takes the staged one.
    const finalize = trident([
      'install',
      '--disk',
      `os=image:${split}`,
      '--allowed-operations',
      'finalize',
      '--datastore',
      staging,
    ]);
    expect(finalize.stderr).not.toMatch(/\berror\b/iu);
    expect(finalize.code).toBe(0);
    expect(stagingState(staging).servicingState).toBe('clean-install-finalized');

    // The same disk: partitions, ESP bytes, root files the install writes, and the installed datastore.
    const onceTable = await table(once);
    expect(splitTable.partitions).toEqual(onceTable.partitions);
    const [esp, rootPart] = onceTable.partitions as [Partition, Partition];
    expect(await hashRange(split, esp.start * 512, esp.size * 512)).toBe(
      await hashRange(once, esp.start * 512, esp.size * 512),
    );
    const rootImage = async (disk: string, name: string) => {
      const out = join(dir, `${name}-files.img`);
      await extractRange(disk, rootPart.start * 512, rootPart.size * 512, out);
      return out;
    };
    const onceRoot = await rootImage(once, 'once');
    const splitRoot = await rootImage(split, 'split');
    for (const file of ['/etc/fstab', '/etc/hostname'])
      expect(await debugfsCat(splitRoot, file)).toBe(await debugfsCat(onceRoot, file));
    await exec('e2fsck', ['-fn', splitRoot]);

    const withoutDisk = (statuses: HostStatus[]) =>
      statuses.map(({ diskUuids: _d, tridentVersion: _v, ...rest }) => rest);
    const onceRows = await installedStatuses(once, 'once');
    const splitRows = await installedStatuses(split, 'split');
    // `clean-install-started` changes nothing in a new datastore, so it writes no row.
    expect(splitRows.map((s) => s.servicingState)).toEqual([
      'clean-install-staged',
      'clean-install-finalized',
    ]);
    expect(withoutDisk(splitRows)).toEqual(withoutDisk(onceRows));
    // The installed OS's datastore is persistent, not the installer's: no row is marked as the
    // management OS's (upstream's `is_persistent`; update and rollback read it so).
    expect(onceRows.map((s) => s.isManagementOs)).toEqual([undefined, undefined]);
    expect(splitRows.at(-1)!.diskUuids).toEqual({ os: splitTable.id });

    // Finalized once: a second finalize finds nothing staged.
    const again = trident([
      'install',
      '--disk',
      `os=image:${split}`,
      '--allowed-operations',
      'finalize',
      '--datastore',
      staging,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('unexpected-servicing-state');
    expect(again.stderr).toContain("Unexpected servicing state 'clean-install-finalized'");
  });

  it('finalize without a stage is refused with unexpected-servicing-state, writing nothing', async () => {
    const target = join(dir, 'never-staged.img');
    await exec('truncate', ['-s', '256M', target]);
    const before = await hashRange(target, 0, 1024 * 1024);
    const staging = join(dir, 'none', 'datastore.sqlite');
    const result = trident([
      'install',
      '--disk',
      `os=image:${target}`,
      '--allowed-operations',
      'finalize',
      '--datastore',
      staging,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unexpected-servicing-state');
    expect(result.stderr).toContain("run 'trident install --allowed-operations stage' first");
    expect(await hashRange(target, 0, 1024 * 1024)).toBe(before);
    await expect(exec('test', ['-e', staging])).rejects.toThrow();
  });

  it('finalize with another Host Configuration than the staged one, or a foreign disk, is refused', async () => {
    const hc = join(dir, 'first.yaml');
    await writeFile(hc, config('first'));
    const disk = join(dir, 'mismatch.img');
    const staging = join(dir, 'mismatch', 'datastore.sqlite');
    const stage = trident([
      'install',
      hc,
      '--disk',
      `os=image:${disk}:256M`,
      '--allowed-operations',
      'stage',
      '--datastore',
      staging,
    ]);
    expect(stage.code).toBe(0);
    const other = join(dir, 'other.yaml');
    await writeFile(other, config('other'));
    const differs = trident([
      'install',
      other,
      '--disk',
      `os=image:${disk}`,
      '--allowed-operations',
      'finalize',
      '--datastore',
      staging,
    ]);
    expect(differs.code).toBe(1);
    expect(differs.stderr).toContain('invalid-host-configuration');
    expect(differs.stderr).toContain('is not the one staged in');
    // The one-run install above wrote another disk GUID: it is not the staged disk.
    const foreign = join(dir, 'foreign.img');
    expect(trident(['install', hc, '--disk', `os=image:${foreign}:256M`]).code).toBe(0);
    const wrongDisk = trident([
      'install',
      '--disk',
      `os=image:${foreign}`,
      '--allowed-operations',
      'finalize',
      '--datastore',
      staging,
    ]);
    expect(wrongDisk.code).toBe(1);
    expect(wrongDisk.stderr).toContain('is not the disk that was staged');
    expect(stagingState(staging).servicingState).toBe('clean-install-staged');
  });

  it('stage refuses a servicing datastore of a provisioned host; a bad operation is a usage error', async () => {
    const staging = join(dir, 'provisioned', 'datastore.sqlite');
    const datastore = openDatastore(staging, { create: true });
    datastore.write({ spec: {}, servicingState: 'provisioned', installIndex: 0 });
    datastore.close();
    const hc = join(dir, 'p.yaml');
    await writeFile(hc, config());
    const result = trident([
      'install',
      hc,
      '--disk',
      `os=image:${join(dir, 'p.img')}:256M`,
      '--allowed-operations',
      'stage',
      '--datastore',
      staging,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('clean-install-on-provisioned-host');
    const bad = trident(['install', hc, '--allowed-operations', 'stage,reboot']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown allowed operation 'reboot'");
  });
});
