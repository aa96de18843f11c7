import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoDiskImage, type DemoDiskImage } from '@trident/test-support/disk-image';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFsReader, type FsReader, withSeparateUsr } from './fs-reader.ts';

let dir: string;
let disk: DemoDiskImage;
let root: FsReader;
let usr: FsReader;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosi-fs-reader-'));
  // The demo disk's data partition stands in for a /usr filesystem: its own files at its top level.
  disk = await createDemoDiskImage({
    path: join(dir, 'disk.img'),
    sizeMiB: 64,
    espMiB: 8,
    rootMiB: 32,
    dataMiB: 16,
    dataMountPoint: '/usr',
    files: { 'etc/machine-id': 'root only\n' },
  });
  root = createFsReader(disk.path, disk.root.offset, 'ext4')!;
  usr = createFsReader(disk.path, disk.data!.offset, 'ext4')!;
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('withSeparateUsr', () => {
  test('reads /usr paths from the /usr filesystem and the rest from the root', async () => {
    const os = withSeparateUsr(root, usr);
    expect((await os.readFile('/usr/README'))?.toString()).toBe('data partition\n');
    expect(await os.readFile('/README')).toBeUndefined();
    // The root's own /usr/bin/env is hidden, as the mounted /usr hides it.
    expect(await os.readFile('/usr/bin/env')).toBeUndefined();
    expect((await os.readFile('/etc/machine-id'))?.toString()).toBe('root only\n');
    expect((await os.listDir('/usr'))?.sort()).toEqual((await usr.listDir('/'))?.sort());
    expect(await os.listDir('/usr')).toContain('blob.bin');
    expect(await os.listDir('/etc')).toContain('os-release');
    const out = join(dir, 'blob.bin');
    expect(await os.dumpFile('/usr//blob.bin', out)).toBe(true);
    expect(await os.dumpFile('/usr/missing', join(dir, 'missing'))).toBe(false);
  });
});
