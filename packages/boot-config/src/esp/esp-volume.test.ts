import { randomBytes } from 'node:crypto';
/**
 * Both ESP implementations, on real volumes: the mtools one on a FAT image made by mkfs.vfat (alone
 * and inside a GPT disk at its offset), the mounted one on a directory. The same contract test runs
 * on each, and what the mtools one writes is read back with mtools itself.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBootConfigError } from '../errors.ts';
import {
  makeDiskWithEsp,
  makeFatImage,
  mdirAll,
  mtype,
  type Scratch,
  scratchDir,
} from '../test-support/fat-image.ts';
import { openDiskBootVolumes, readDiskPartitions } from './disk-partitions.ts';
import { type EspVolume, espPathParts, listFilesRecursive } from './esp-volume.ts';
import { createImageEsp } from './image-esp.ts';
import { createMountedEsp } from './mounted-esp.ts';

let scratch: Scratch;
beforeEach(async () => {
  scratch = await scratchDir();
});
afterEach(() => scratch.cleanup());

const implementations: Array<[string, () => Promise<EspVolume>]> = [
  [
    'mtools on a FAT image',
    async () => {
      const image = join(scratch.dir, 'esp.img');
      await makeFatImage(image, { 'EFI/BOOT/BOOTX64.EFI': 'MZ-fake', 'loader/loader.conf': 'timeout 3\n' });
      return createImageEsp({ image });
    },
  ],
  [
    'a mounted directory',
    async () => {
      const dir = join(scratch.dir, 'esp');
      await mkdir(dir);
      const esp = createMountedEsp(dir);
      await esp.write('/EFI/BOOT/BOOTX64.EFI', 'MZ-fake');
      await esp.write('/loader/loader.conf', 'timeout 3\n');
      return esp;
    },
  ],
];

describe.each(implementations)('EspVolume on %s', (_name, make) => {
  it('reads, writes, lists, renames and removes', async () => {
    const esp = await make();
    expect((await esp.read('/loader/loader.conf'))?.toString()).toBe('timeout 3\n');
    expect(await esp.read('/loader/missing.conf')).toBeUndefined();
    expect(await esp.read('/loader')).toBeUndefined(); // a directory is not a file
    await esp.write('/loader/entries/a.conf', 'title A\n');
    await esp.write('/loader/entries/a.conf', 'title A2\n'); // replaced, not refused
    const binary = new Uint8Array([0, 1, 2, 255, 10, 13, 0]);
    await esp.write('/EFI/Linux/x.efi', binary);
    expect(new Uint8Array((await esp.read('/EFI/Linux/x.efi'))!)).toEqual(binary);
    expect((await esp.list('/loader'))?.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'entries', kind: 'directory' },
      { name: 'loader.conf', kind: 'file' },
    ]);
    expect(await esp.list('/nope')).toBeUndefined();
    expect(await esp.list('/loader/loader.conf')).toBeUndefined();
    await esp.write('/loader/entries/b.conf.new', 'title B\n');
    await esp.rename('/loader/entries/b.conf.new', '/loader/entries/a.conf');
    expect((await esp.read('/loader/entries/a.conf'))?.toString()).toBe('title B\n');
    // A long name in place (mtools: mren), over an existing file, and into another directory.
    await esp.write('/EFI/Linux/vmlinuz-0.efi.staged', 'new uki');
    await esp.write('/EFI/Linux/vmlinuz-100-azlb0.efi', 'old uki');
    await esp.rename('/EFI/Linux/vmlinuz-0.efi.staged', '/EFI/Linux/vmlinuz-100-azlb0.efi');
    expect((await esp.read('/EFI/Linux/vmlinuz-100-azlb0.efi'))?.toString()).toBe('new uki');
    expect((await esp.list('/EFI/Linux'))?.map((e) => e.name).sort()).toEqual([
      'vmlinuz-100-azlb0.efi',
      'x.efi',
    ]);
    await esp.makeDirectory('/EFI/Linux/vmlinuz-100-azlb0.efi.extra.d');
    await esp.rename(
      '/EFI/Linux/vmlinuz-100-azlb0.efi',
      '/EFI/Linux/vmlinuz-100-azlb0.efi.extra.d/moved.addon.efi',
    );
    await esp.remove('/EFI/Linux/vmlinuz-100-azlb0.efi.extra.d/moved.addon.efi');
    await esp.removeDirectory('/EFI/Linux/vmlinuz-100-azlb0.efi.extra.d');
    await esp.remove('/loader/entries/a.conf');
    await esp.remove('/loader/entries/a.conf'); // already gone: no error
    expect(await listFilesRecursive(esp, '/')).toEqual([
      'EFI/BOOT/BOOTX64.EFI',
      'EFI/Linux/x.efi',
      'loader/loader.conf',
    ]);
    await esp.makeDirectory('/EFI/AZLA/deep');
    expect((await esp.list('/EFI/AZLA'))?.map((e) => e.kind)).toEqual(['directory']);
    await esp.removeDirectory('/EFI/AZLA/deep');
    await esp.removeDirectory('/EFI/AZLA/deep'); // already gone: no error
    expect(await esp.list('/EFI/AZLA')).toEqual([]);
    await expect(esp.removeDirectory('/EFI/BOOT')).rejects.toMatchObject({ code: 'BOOTCFG_ESP_IO' });
  });
});

describe('mtools ESP', () => {
  it('writes what mtools itself reads back, inside a GPT disk at the ESP offset', async () => {
    const ids = { esp: '11111111-2222-4333-8444-555555555555', root: '66666666-7777-4888-9999-aaaaaaaaaaaa' };
    const { disk } = await makeDiskWithEsp(
      join(scratch.dir, 'disk.img'),
      { 'loader/loader.conf': 'timeout 0\n' },
      ids,
    );
    const partitions = await readDiskPartitions(disk);
    expect(partitions.map((p) => [p.number, p.partUuid, p.offset])).toEqual([
      [1, ids.esp, 1024 * 1024],
      [2, ids.root, 35 * 1024 * 1024],
    ]);
    const volumes = await openDiskBootVolumes(disk);
    expect(volumes.xbootldr).toBeUndefined();
    await volumes.esp.volume.write('/loader/entries/new.conf', 'options root=PARTUUID=x\n');
    expect(await mtype(disk, '/loader/entries/new.conf', 1024 * 1024)).toBe('options root=PARTUUID=x\n');
    expect(await mdirAll(disk, 1024 * 1024)).toEqual([
      '/loader/',
      '/loader/entries/',
      '/loader/entries/new.conf',
      '/loader/loader.conf',
    ]);
  });

  it('reads a file larger than the tool runner keeps of an output, whole (an initrd)', async () => {
    const image = join(scratch.dir, 'large.img');
    await makeFatImage(image, {}, 64);
    const esp = createImageEsp({ image });
    const initrd = randomBytes(20 * 1024 * 1024 + 7);
    await esp.write('/EFI/azla/initrd.img', initrd);
    const read = await esp.read('/EFI/azla/initrd.img');
    expect(read?.length).toBe(initrd.length);
    expect(read?.equals(initrd)).toBe(true);
  });

  it('finds names without regard to case, as FAT does', async () => {
    const image = join(scratch.dir, 'esp.img');
    await makeFatImage(image, { 'EFI/BOOT/BOOTX64.EFI': 'MZ' });
    const esp = createImageEsp({ image });
    expect((await esp.read('/efi/boot/bootx64.efi'))?.toString()).toBe('MZ');
  });

  it('says which disk has no ESP, and which file is not FAT', async () => {
    const image = join(scratch.dir, 'esp.img');
    await makeFatImage(image, {});
    await expect(openDiskBootVolumes(image)).rejects.toMatchObject({ code: 'BOOTCFG_DISK_LAYOUT' });
    const notFat = createImageEsp({ image: join(scratch.dir, 'missing.img') });
    const error = await notFat.write('/a', 'x').catch((e: unknown) => e);
    expect(isBootConfigError(error, 'BOOTCFG_ESP_IO')).toBe(true);
    expect((error as Error).message).toContain('missing.img');
  });
});

describe('espPathParts', () => {
  it('refuses paths that leave the volume or that FAT cannot name', () => {
    expect(espPathParts('/EFI//BOOT/')).toEqual(['EFI', 'BOOT']);
    for (const bad of ['EFI/BOOT', '/EFI/../x', '/a\\b', '/a:b', '/a\nb'])
      expect(() => espPathParts(bad)).toThrowError(
        expect.objectContaining({ code: 'BOOTCFG_ESP_PATH_INVALID' }),
      );
  });
});
