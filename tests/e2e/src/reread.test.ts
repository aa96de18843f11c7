/**
 * The kernel's view of a re-read partition table is checked, not trusted: a StreamDisk with three
 * partitions followed by an Install with two on the same loop device used to fail in
 * resize-filesystems, because `partx --update` left the old partition 3 (EBUSY) and exited 0.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCosi } from '@trident/cosi-format';
import { componentAvailable } from '@trident/test-support/component';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { createLoopScope, loopDeviceSupport } from '@trident/test-support/loop-device';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, sgdiskClean } from './disk-checks.ts';
import { trident } from './run-cli.ts';

const loops = createLoopScope();
const support = loopDeviceSupport();
const loopsAvailable = componentAvailable(
  support.available,
  'loop-device partition re-read',
  'reason' in support ? support.reason : '',
);

let dir: string;
let cosi: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-reread-'));
  await createDemoDiskImage({
    path: join(dir, 'three.img'),
    sizeMiB: 256,
    espMiB: 32,
    rootMiB: 96,
    dataMiB: 64,
  });
  cosi = join(dir, 'three.cosi');
  await buildCosi({ input: join(dir, 'three.img'), output: cosi });
});

afterAll(async () => {
  await loops.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** The kernel's partitions of a disk (sysfs), in bytes: what the checks compare with the table. */
function kernelPartitions(name: string): Array<[number, number, number]> {
  return readdirSync(`/sys/block/${name}`)
    .filter((entry) => entry.startsWith(`${name}p`))
    .map((entry): [number, number, number] => {
      const read = (attr: string) => Number(readFileSync(`/sys/block/${name}/${entry}/${attr}`, 'utf8'));
      return [read('partition'), read('start') * 512, read('size') * 512];
    })
    .sort((a, b) => a[0] - b[0]);
}

/** The table on the disk (sfdisk), in bytes. */
async function tablePartitions(path: string): Promise<Array<[number, number, number]>> {
  const { stdout } = await exec('sfdisk', ['--json', path]);
  const table = JSON.parse(stdout).partitiontable as {
    partitions: Array<{ node: string; start: number; size: number }>;
  };
  return table.partitions.map((p) => [Number(/(\d+)$/u.exec(p.node)?.[1]), p.start * 512, p.size * 512]);
}

describe.skipIf(!loopsAvailable)('re-reading the partition table', () => {
  it('stream-disk with 3 partitions, then install with 2 on the same loop device: the kernel ends with exactly the 2', async () => {
    const backing = join(dir, 'disk.img');
    await exec('truncate', ['-s', '1G', backing]);
    const loop = await loops.attach(backing);
    const streamed = trident(['stream-disk', cosi, '--disk', loop.path, '-q']);
    expect(streamed.code, streamed.stderr).toBe(0);
    expect(kernelPartitions(loop.name)).toEqual(await tablePartitions(loop.path));
    expect(kernelPartitions(loop.name)).toHaveLength(3);

    const config = join(dir, 'two.yaml');
    await writeFile(
      config,
      `image:
  url: file://${cosi}
  sha384: ignored
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 64M }
        - { id: root, type: root, size: 400M }
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
    - deviceId: root
      mountPoint: /
internalParams:
  allowUnusedFilesystems: true
`,
    );
    const installed = trident(['install', config, '--disk', `os=${loop.path}`, '-q']);
    expect(installed.stderr).not.toMatch(/resize-filesystems|ENOENT/u);
    expect(installed.code, installed.stderr).toBe(0);
    const table = await tablePartitions(loop.path);
    expect(table).toHaveLength(2);
    expect(kernelPartitions(loop.name)).toEqual(table);
    expect((await sgdiskClean(loop.path)).ok).toBe(true);
    // The root was grown through the partition node the kernel now has at the right place.
    await exec('e2fsck', ['-fn', loop.partitionPath(2)]);
  });
});
