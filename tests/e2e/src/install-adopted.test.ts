/**
 * `trident install` with `storage.disks[].adoptedPartitions` (issue 16): on a disk that already
 * holds a GPT, the adopted partitions (one matched by GPT name, one by partition GUID) keep their
 * entries and every byte, the others disappear, the new partitions fill the space around them, and
 * the installed OS mounts the adopted filesystems (fstab) and records them (datastore, `trident
 * get`). A criterion that matches nothing is refused before the disk is touched. The host step
 * attaches the disk-image file as a loop device (root only).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { openDatastore } from '@trident/datastore';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { createLoopScope } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debugfsCat, exec, extractRange, hashRange, sgdiskClean } from './disk-checks.ts';
import { trident } from './run-cli.ts';

const root = process.getuid?.() === 0;
const MiB = 1024 * 1024;
const SECTORS_PER_MIB = MiB / 512;
const HOME_GUID = '5d3e2a71-8c4b-4f0a-9e61-2b7c0d9f4a13';
const LOGS_GUID = 'a7f04c2e-1b95-4d38-8e0c-63d2b9e51f70';

const loops = createLoopScope();
let dir: string;
let cosi: string;
let sha: string;

interface Partition {
  start: number;
  size: number;
  type: string;
  uuid: string;
  name: string;
  attrs?: string;
}

async function table(path: string): Promise<{ id: string; partitions: Partition[] }> {
  const { stdout } = await exec('sfdisk', ['--json', path]);
  const parsed = JSON.parse(stdout).partitiontable as {
    id: string;
    partitions: Array<Partition & { node?: string }>;
  };
  return {
    id: parsed.id.toLowerCase(),
    partitions: parsed.partitions.map(({ node: _node, ...p }) => ({ ...p, uuid: p.uuid.toLowerCase() })),
  };
}

/** An ext4 filesystem holding `marker` with `text`, made in its own file and copied to `offset`. */
async function ext4WithMarker(disk: string, offset: number, sizeMiB: number, marker: string, text: string) {
  const content = join(dir, `content-${marker}`);
  await mkdir(content, { recursive: true });
  await writeFile(join(content, marker), text);
  const fs = join(dir, `${marker}.ext4`);
  await exec('mkfs.ext4', ['-q', '-F', '-d', content, fs, `${sizeMiB}M`]);
  await exec('dd', [
    `if=${fs}`,
    `of=${disk}`,
    'bs=1M',
    `seek=${offset}`,
    'oflag=seek_bytes',
    'conv=notrunc,sparse',
    'status=none',
  ]);
  await rm(fs);
}

/**
 * A 1200 MiB disk as another OS left it: `scratch-old` (1-101 MiB) and `old-swap` (165-200 MiB) to
 * be removed, `keep-home` (101-165 MiB, ext4 with a marker) adopted by name, `keep-logs`
 * (1100-1132 MiB, ext4 with a marker, attribute bit 60 set) adopted by GUID.
 */
async function usedDisk(name: string): Promise<string> {
  const disk = join(dir, name);
  await exec('truncate', ['-s', '1200M', disk]);
  const at = (mib: number) => mib * SECTORS_PER_MIB;
  await exec(
    'sgdisk',
    [
      '-o',
      `-n 1:${at(1)}:${at(101) - 1}`,
      '-c 1:scratch-old',
      `-n 2:${at(101)}:${at(165) - 1}`,
      '-c 2:keep-home',
      `-u 2:${HOME_GUID}`,
      `-n 3:${at(165)}:${at(200) - 1}`,
      '-c 3:old-swap',
      '-t 3:8200',
      `-n 4:${at(1100)}:${at(1132) - 1}`,
      '-c 4:keep-logs',
      `-u 4:${LOGS_GUID}`,
      '-A 4:set:60',
      disk,
    ].flatMap((arg) => arg.split(' ')),
  );
  await ext4WithMarker(disk, 101 * MiB, 64, 'home-marker', 'kept across the install\n');
  await ext4WithMarker(disk, 1100 * MiB, 32, 'logs-marker', 'old logs\n');
  return disk;
}

function config(home: string): string {
  return `image:
  url: file://${cosi}
  sha384: ${sha}
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 64M }
        - { id: root, type: root, size: 384M }
        - { id: srv, size: grow }
      adoptedPartitions:
        - { id: home, matchLabel: ${home} }
        - { id: logs, matchUuid: ${LOGS_GUID.toUpperCase()} }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
    - deviceId: srv
      source: new
      mountPoint: /srv
    - deviceId: home
      source: adopted
      mountPoint: /home
    - deviceId: logs
      source: adopted
      type: ext4
      mountPoint: { path: /var/log/archive, options: ro }
os:
  additionalFiles:
    - destination: /home/installed-note
      content: "written by install\\n"
`;
}

beforeAll(async () => {
  if (!root) return;
  dir = await mkdtemp(join(tmpdir(), 'trident-adopted-'));
  const demo = await createDemoDiskImage({
    path: join(dir, 'demo.img'),
    sizeMiB: 512,
    espMiB: 64,
    rootMiB: 256,
  });
  cosi = join(dir, 'demo.cosi');
  sha = (await buildCosi({ input: demo.path, output: cosi })).metadataSha384;
});

afterAll(async () => {
  await loops.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.runIf(root)('trident install with adopted partitions', () => {
  it('keeps adopted partitions and their data, drops the others, and mounts and records the adopted filesystems', async () => {
    const disk = await usedDisk('adopt.img');
    const before = await table(disk);
    const [, home, , logs] = before.partitions as [Partition, Partition, Partition, Partition];
    const file = join(dir, 'adopt.yaml');
    await writeFile(file, config('keep-home'));

    const dryRun = trident(['install', file, '--disk', `os=image:${disk}`, '--dry-run']);
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('remove partition 1 (scratch-old');
    expect(dryRun.stdout).toContain("partition 2 'home' (keep-home): adopted, kept as it is");

    const result = trident(['install', file, '--disk', `os=image:${disk}`]);
    expect(result.stderr).not.toMatch(/error/iu);
    expect(result.code).toBe(0);
    expect((await sgdiskClean(disk)).ok).toBe(true);

    const after = await table(disk);
    // The disk GUID and both adopted entries as they were: number, GUID, type, name, range, attributes.
    expect(after.id).toBe(before.id);
    expect(after.partitions.find((p) => p.name === 'keep-home')).toEqual(home);
    expect(after.partitions.find((p) => p.name === 'keep-logs')).toEqual(logs);
    expect(logs.attrs).toContain('60');
    expect(after.partitions.map((p) => p.name)).toEqual(['esp', 'keep-home', 'root', 'keep-logs', 'srv']);
    // Not adopted: gone. New partitions in the space around the kept ones.
    const byName = Object.fromEntries(after.partitions.map((p) => [p.name, p]));
    expect(
      [byName.esp!.start, byName.root!.start, byName.srv!.start].map((s) => s / SECTORS_PER_MIB),
    ).toEqual([1, 165, 549]);
    // Their data kept; the adopted /home mounted writable while the OS was configured, as upstream
    // does: the additional file under /home landed on it.
    const homeCopy = join(dir, 'home.ext4');
    await extractRange(disk, home.start * 512, home.size * 512, homeCopy);
    expect(await debugfsCat(homeCopy, '/home-marker')).toBe('kept across the install\n');
    expect(await debugfsCat(homeCopy, '/installed-note')).toBe('written by install\n');
    const logsCopy = join(dir, 'logs.ext4');
    await extractRange(disk, logs.start * 512, logs.size * 512, logsCopy);
    expect(await debugfsCat(logsCopy, '/logs-marker')).toBe('old logs\n');

    // The installed OS mounts them by PARTUUID, the auto type as found on the disk.
    const rootCopy = join(dir, 'root.ext4');
    await extractRange(disk, byName.root!.start * 512, byName.root!.size * 512, rootCopy);
    const fstab = await debugfsCat(rootCopy, '/etc/fstab');
    expect(fstab).toContain(`/dev/disk/by-partuuid/${HOME_GUID} /home ext4 defaults 0 2\n`);
    expect(fstab).toContain(`/dev/disk/by-partuuid/${LOGS_GUID} /var/log/archive ext4 ro 0 2\n`);

    // And its Host Status records them with the new partitions.
    const datastore = join(dir, 'datastore.sqlite');
    await exec('debugfs', ['-R', `dump /var/lib/trident/datastore.sqlite ${datastore}`, rootCopy]);
    const status = trident(['get', 'status', '--datastore', datastore, '--json']);
    expect(status.code).toBe(0);
    const recorded = JSON.parse(status.stdout) as { partitionPaths: Record<string, string> };
    expect(recorded.partitionPaths).toMatchObject({
      home: `/dev/disk/by-partuuid/${HOME_GUID}`,
      logs: `/dev/disk/by-partuuid/${LOGS_GUID}`,
      root: `/dev/disk/by-partuuid/${byName.root!.uuid}`,
    });
  });

  it('adopts on a block device, staged then finalized: the staged record and the finalize find the kept entries', async () => {
    const loop = await loops.attach(await usedDisk('adopt-loop.img'), { partitions: true });
    const before = await table(loop.path);
    const [, home, , logs] = before.partitions as [Partition, Partition, Partition, Partition];
    const file = join(dir, 'adopt-loop.yaml');
    await writeFile(file, config('keep-home'));
    const staging = join(dir, 'servicing', 'datastore.sqlite');
    const stage = trident([
      'install',
      file,
      '--disk',
      `os=${loop.path}`,
      '--allowed-operations',
      'stage',
      '--datastore',
      staging,
    ]);
    expect(stage.stderr).not.toMatch(/\berror\b/iu);
    expect(stage.code).toBe(0);
    const stagedStore = openDatastore(staging, { readOnly: true });
    try {
      expect(stagedStore.current()).toMatchObject({
        servicingState: 'clean-install-staged',
        partitionPaths: {
          home: `/dev/disk/by-partuuid/${HOME_GUID}`,
          logs: `/dev/disk/by-partuuid/${LOGS_GUID}`,
        },
      });
    } finally {
      stagedStore.close();
    }
    const finalize = trident([
      'install',
      '--disk',
      `os=${loop.path}`,
      '--allowed-operations',
      'finalize',
      '--datastore',
      staging,
    ]);
    expect(finalize.stderr).not.toMatch(/\berror\b/iu);
    expect(finalize.code).toBe(0);
    const after = await table(loop.path);
    expect(after.partitions.find((p) => p.name === 'keep-home')).toEqual(home);
    expect(after.partitions.find((p) => p.name === 'keep-logs')).toEqual(logs);
    // The kernel sees the new table: the adopted partition keeps its number and node.
    expect(await debugfsCat(loop.partitionPath(2), '/home-marker')).toBe('kept across the install\n');
  });

  it('refuses an adopted partition that matches nothing, naming it, with the disk untouched', async () => {
    const disk = await usedDisk('no-match.img');
    const before = await hashRange(disk, 0, 1200 * MiB);
    const file = join(dir, 'no-match.yaml');
    await writeFile(file, config('no-such-label'));
    const result = trident(['install', file, '--disk', `os=image:${disk}`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('INVALID_INPUT_ERROR:invalid-host-configuration');
    expect(result.stderr).toContain(
      "adopted partition 'home': no partition with label 'no-such-label' on disk 'os'",
    );
    expect(await hashRange(disk, 0, 1200 * MiB)).toBe(before);
  });
});
