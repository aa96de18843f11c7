import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoCosi, type DemoCosi } from '../../test-support/demo-cosi.ts';
import { abConfig } from '../../test-support/host-configs.ts';
import { planInstall } from './plan-install.ts';
import type { InstallRequest } from './request.ts';

/** Install planning from a Host Configuration onto disk-image files: no root, nothing written. */
const MiB = 1024 * 1024;
let dir: string;
let cosi: DemoCosi;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'engine-plan-install-'));
  cosi = await createDemoCosi(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const url = (): string => pathToFileURL(cosi.path).href;

function request(text: string, target: string, size: number | 'no size' = 256 * MiB): InstallRequest {
  return {
    kind: 'install',
    hostConfiguration: { text, path: join(dir, 'host-config.yaml') },
    disks: { os: { kind: 'image-file', path: target, ...(size === 'no size' ? {} : { size }) } },
  };
}

describe('planning install', () => {
  it('lays the disk out, places image filesystems by mount point (A/B pairs on volume A) and lists new ones', async () => {
    const target = join(dir, 'install.img');
    const { plan, context } = await planInstall(request(abConfig(url(), cosi.metadataSha384), target));
    if (context.phase !== 'stage') throw new Error('an install with both operations plans a stage');
    await context.reader?.close();
    expect(plan.targets).toEqual([
      {
        kind: 'image-file',
        path: target,
        size: 256 * MiB,
        sectorSize: 512,
        create: true,
        replace: false,
        requiredSize: expect.any(Number),
      },
    ]);
    const [layout] = context.layouts;
    expect(layout!.partitions.map((p) => [p.id, p.number, p.offset / MiB])).toEqual([
      ['esp', 1, 1],
      ['root-a', 2, 17],
      ['root-b', 3, 81],
      ['swap', 4, 145],
      ['trident', 5, 153],
      ['data', 6, 169],
    ]);
    const data = layout!.partitions.at(-1)!;
    // `grow` takes the rest, 1 MiB-aligned, short of the backup GPT.
    expect(data.offset + data.length).toBeLessThanOrEqual(256 * MiB - 33 * 512);
    expect(data.offset + data.length).toBeGreaterThan(255 * MiB - 1);

    expect(plan.images.map((i) => [i.id, i.partitionNumber, i.mountPoint, i.grow])).toEqual([
      ['esp', 1, '/boot/efi', false],
      ['root', 2, '/', true], // the A/B pair's volume A
    ]);
    expect(plan.newFilesystems.map((fs) => [fs.id, fs.fsType, fs.offset / MiB])).toEqual([
      ['trident', 'ext4', 153],
      ['data', 'vfat', 169],
      ['swap', 'swap', 145],
    ]);
    expect(context.protect).toEqual([cosi.path, join(dir, 'host-config.yaml')]);
    expect(plan.steps.some((step) => step.startsWith('configure the OS in the new root: fstab'))).toBe(true);
    expect(plan.steps.at(-1)).toBe('sync');
  });

  it('asks for a size when a disk-image file would hold a grow partition', async () => {
    await expect(
      planInstall(request(abConfig(url(), cosi.metadataSha384), join(dir, 'unsized.img'), 'no size')),
    ).rejects.toMatchObject({ tridentError: { kind: 'INVALID_INPUT_ERROR', subkind: 'invalid-target' } });
  });

  it('refuses a disk-image file path that is not a file', async () => {
    await expect(planInstall(request(abConfig(url(), cosi.metadataSha384), dir))).rejects.toMatchObject({
      code: 'ENGINE_TARGET_NOT_FILE',
      tridentError: { kind: 'INVALID_INPUT_ERROR', subkind: 'invalid-target' },
    });
  });

  it('refuses what it would not apply, by name, before opening the image', async () => {
    const managementOs = `managementOs:\n  users:\n    - name: installer\n`;
    await expect(
      planInstall(request(abConfig(url(), cosi.metadataSha384, managementOs), join(dir, 'os.img'))),
    ).rejects.toMatchObject({
      code: 'ENGINE_UNSUPPORTED_SECTION',
      tridentError: { kind: 'UNSUPPORTED_CONFIGURATION_ERROR', subkind: 'unsupported-feature' },
    });
  });

  it('refuses a configuration the image does not fit', async () => {
    // /var/lib/trident taken from the image, which has no such filesystem.
    const text = abConfig(url(), cosi.metadataSha384).replace(
      '- deviceId: trident\n      source: new\n',
      '- deviceId: trident\n',
    );
    await expect(planInstall(request(text, join(dir, 'usr.img')))).rejects.toMatchObject({
      tridentError: { kind: 'INVALID_INPUT_ERROR', subkind: 'host-configuration-image-mismatch' },
    });
    const small = abConfig(url(), cosi.metadataSha384).replace(
      '{ id: esp, type: esp, size: 16M }',
      '{ id: esp, type: esp, size: 8M }',
    );
    await expect(planInstall(request(small, join(dir, 'small.img')))).rejects.toMatchObject({
      tridentError: { kind: 'INVALID_INPUT_ERROR' },
    });
  });

  it('refuses an invalid Host Configuration with where it is wrong', async () => {
    const text = abConfig(url(), cosi.metadataSha384).replace('volumeAId: root-a', 'volumeAId: nowhere');
    await expect(planInstall(request(text, join(dir, 'bad.img')))).rejects.toMatchObject({
      tridentError: { kind: 'INVALID_INPUT_ERROR', subkind: 'invalid-host-configuration' },
    });
  });
});
