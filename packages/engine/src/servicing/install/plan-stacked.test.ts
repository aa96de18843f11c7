import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoCosi, type DemoCosi } from '../../test-support/demo-cosi.ts';
import { planInstall } from './plan-install.ts';
import type { InstallRequest } from './request.ts';

/**
 * Install planning with RAID arrays and encrypted volumes: what lives on them is planned to be
 * streamed onto the array or opened volume after the tables, never at a disk offset.
 */
const MiB = 1024 * 1024;
let dir: string;
let cosi: DemoCosi;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'engine-plan-stacked-'));
  cosi = await createDemoCosi(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function config(storageExtra: string, filesystems: string): string {
  return `image:
  url: ${pathToFileURL(cosi.path).href}
  sha384: ${cosi.metadataSha384}
storage:
  disks:
    - id: disk1
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 16M }
        - { id: root1, type: root, size: 64M }
        - { id: secret, size: 40M }
        - { id: swap, type: swap, size: 24M }
    - id: disk2
      device: /dev/sdb
      partitionTableType: gpt
      partitions:
        - { id: root2, type: root, size: 64M }
${storageExtra}
  filesystems:
    - deviceId: esp
      mountPoint: { path: /boot/efi, options: umask=0077 }
${filesystems}`;
}

function request(text: string): InstallRequest {
  return {
    kind: 'install',
    hostConfiguration: { text, path: join(dir, 'host.yaml') },
    disks: {
      disk1: { kind: 'image-file', path: join(dir, 'd1.img'), size: 256 * MiB },
      disk2: { kind: 'image-file', path: join(dir, 'd2.img'), size: 128 * MiB },
    },
  };
}

const MIRRORED = `  raid:
    software:
      - { id: root, name: root, level: raid1, devices: [root1, root2] }
  encryption:
    pcrs: [7]
    volumes:
      - { id: enc-srv, deviceName: srv, deviceId: secret }
      - { id: enc-swap, deviceName: swap, deviceId: swap }
  swap:
    - enc-swap`;

describe('planning install with RAID and encryption', () => {
  it('streams the root image onto the array and makes /srv and swap on the opened volumes', async () => {
    const { plan, context } = await planInstall(
      request(
        config(
          MIRRORED,
          `    - deviceId: root
      mountPoint: /
    - deviceId: enc-srv
      source: new
      mountPoint: /srv`,
        ),
      ),
    );
    if (context.phase !== 'stage') throw new Error('an install with both operations plans a stage');
    await context.reader?.close();
    // Only the ESP is written at a disk offset; nothing is made on the members themselves.
    expect(plan.images.map((i) => i.id)).toEqual(['esp']);
    expect(plan.newFilesystems).toEqual([]);
    expect(context.stackedImages.map((i) => [i.id, i.device.path, i.mountPoint, i.grow])).toEqual([
      ['root', '/dev/md/root', '/', true],
    ]);
    expect(context.stackedFilesystems.map((fs) => [fs.id, fs.device.path, fs.fsType])).toEqual([
      ['enc-srv', '/dev/mapper/srv', 'ext4'],
      ['enc-swap', '/dev/mapper/swap', 'swap'],
    ]);
    expect(plan.steps).toContain(
      "create RAID array /dev/md/root (raid1, metadata 1.0) from 'root1', 'root2'",
    );
    expect(plan.steps.some((s) => s.startsWith("encrypt 'secret' with LUKS2 (key random, TPM only"))).toBe(
      true,
    );
    expect(plan.steps.some((s) => s.startsWith('write ') && s.includes('to /dev/md/root'))).toBe(true);
    // The stacked work comes after the partition tables are written.
    const tables = plan.steps.findIndex((s) => s.startsWith('write the GPT'));
    const raid = plan.steps.findIndex((s) => s.startsWith('create RAID array'));
    expect(tables).toBeGreaterThan(-1);
    expect(raid).toBeGreaterThan(tables);
  });

  it('refuses an image larger than the array will be (the COSI cross-check sizes arrays by level)', async () => {
    const small = config(MIRRORED, '    - deviceId: root\n      mountPoint: /').replaceAll(
      'type: root, size: 64M',
      'type: root, size: 2M',
    );
    await expect(planInstall(request(small))).rejects.toMatchObject({
      code: 'HC_COSI_SIZE_EXCEEDS_DEVICE',
      tridentError: { kind: 'INVALID_INPUT_ERROR', subkind: 'host-configuration-image-mismatch' },
    });
  });
});
