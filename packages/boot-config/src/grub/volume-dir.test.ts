import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BootConfigError } from '../errors.ts';
import { createMountedEsp } from '../esp/mounted-esp.ts';
import { adoptFallbackAsVolumeDir, hasGrubVolumeDir, writeGrubVolumeDir } from './volume-dir.ts';

let dir: string;
let imageDir: string;
let espDir: string;

const OLD_UUID = '11111111-2222-3333-4444-555555555555';
const B_BOOT = 'bbbbbbbb-0000-1111-2222-333333333333';

async function put(root: string, path: string, content: string): Promise<void> {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), content);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grub-volume-dir-'));
  imageDir = join(dir, 'image');
  espDir = join(dir, 'esp');
  // The running volume's files, which must stay as they are.
  await put(espDir, 'EFI/BOOT/BOOTX64.EFI', 'shim v1');
  await put(espDir, 'EFI/AZLA/bootx64.efi', 'shim v1');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeGrubVolumeDir', () => {
  it("copies shim, the no-prefix grub as grubx64.efi and grub.cfg searching the volume's /boot", async () => {
    await put(imageDir, 'EFI/BOOT/bootx64.efi', 'shim v2');
    await put(imageDir, 'EFI/BOOT/grubx64-noprefix.efi', 'grub noprefix v2');
    await put(imageDir, 'EFI/BOOT/grubx64.efi', 'grub v2');
    await put(
      imageDir,
      'EFI/BOOT/grub.cfg',
      `search -n -u ${OLD_UUID} -s\nset prefix=($root)/boot/grub2\nconfigfile $prefix/grub.cfg\n`,
    );
    // A file of an earlier build of volume B that the new image no longer has.
    await put(espDir, 'EFI/AZLB/stale.efi', 'old');
    const esp = createMountedEsp(espDir);
    const result = await writeGrubVolumeDir({
      image: createMountedEsp(imageDir),
      esp,
      dir: 'AZLB',
      bootFsUuid: B_BOOT,
    });
    expect(result).toEqual({
      loader: '/EFI/AZLB/bootx64.efi',
      files: ['bootx64.efi', 'grubx64.efi', 'grub.cfg'],
      searchUpdated: true,
    });
    expect((await readdir(join(espDir, 'EFI/AZLB'))).sort()).toEqual([
      'bootx64.efi',
      'grub.cfg',
      'grubx64.efi',
    ]);
    expect(await readFile(join(espDir, 'EFI/AZLB/grubx64.efi'), 'utf8')).toBe('grub noprefix v2');
    expect(await readFile(join(espDir, 'EFI/AZLB/grub.cfg'), 'utf8')).toBe(
      `search -n -u ${B_BOOT} -s\nset prefix=($root)/boot/grub2\nconfigfile $prefix/grub.cfg\n`,
    );
    expect(await readFile(join(espDir, 'EFI/AZLA/bootx64.efi'), 'utf8')).toBe('shim v1');
    expect(await readFile(join(espDir, 'EFI/BOOT/BOOTX64.EFI'), 'utf8')).toBe('shim v1');
    expect(await hasGrubVolumeDir(esp, 'AZLB')).toBe(true);
  });

  it('copies a grub with its configuration built in as it is, and says no search was updated', async () => {
    await put(imageDir, 'EFI/BOOT/BOOTX64.EFI', 'grub with embedded search');
    const result = await writeGrubVolumeDir({
      image: createMountedEsp(imageDir),
      esp: createMountedEsp(espDir),
      dir: 'AZLB',
      bootFsUuid: B_BOOT,
    });
    expect(result.files).toEqual(['bootx64.efi']);
    expect(result.searchUpdated).toBe(false);
    expect(await readFile(join(espDir, 'EFI/AZLB/bootx64.efi'), 'utf8')).toBe('grub with embedded search');
  });

  it('refuses an image ESP without bootx64.efi, and a grub.cfg without a search to point', async () => {
    const esp = createMountedEsp(espDir);
    await mkdir(join(imageDir, 'EFI/BOOT'), { recursive: true });
    const missing = writeGrubVolumeDir({
      image: createMountedEsp(imageDir),
      esp,
      dir: 'AZLB',
      bootFsUuid: B_BOOT,
    });
    await expect(missing).rejects.toBeInstanceOf(BootConfigError);
    await expect(missing).rejects.toMatchObject({ code: 'BOOTCFG_NOT_FOUND' });
    await put(imageDir, 'EFI/BOOT/bootx64.efi', 'shim');
    await put(imageDir, 'EFI/BOOT/grub.cfg', 'configfile /boot/grub2/grub.cfg\n');
    await expect(
      writeGrubVolumeDir({ image: createMountedEsp(imageDir), esp, dir: 'AZLB', bootFsUuid: B_BOOT }),
    ).rejects.toMatchObject({ code: 'BOOTCFG_CONFIG_INVALID' });
    expect(await hasGrubVolumeDir(esp, 'AZLB')).toBe(false);
  });
});

describe('adoptFallbackAsVolumeDir', () => {
  it("copies EFI/BOOT (install's boot path) to the running volume's directory when it has none", async () => {
    await put(espDir, 'EFI/BOOT/grub.cfg', 'search -n -u x -s\n');
    await rm(join(espDir, 'EFI/AZLA'), { recursive: true });
    const esp = createMountedEsp(espDir);
    expect(await adoptFallbackAsVolumeDir(esp, 'AZLA')).toEqual(['grub.cfg', 'bootx64.efi']);
    expect(await readFile(join(espDir, 'EFI/AZLA/bootx64.efi'), 'utf8')).toBe('shim v1');
    expect(await readFile(join(espDir, 'EFI/AZLA/grub.cfg'), 'utf8')).toBe('search -n -u x -s\n');
    // Done once: an existing directory is the volume's own and stays as it is.
    await put(espDir, 'EFI/BOOT/BOOTX64.EFI', 'shim v2 (a fallback copy of B)');
    expect(await adoptFallbackAsVolumeDir(esp, 'AZLA')).toEqual([]);
    expect(await readFile(join(espDir, 'EFI/AZLA/bootx64.efi'), 'utf8')).toBe('shim v1');
  });

  it('refuses an ESP with no loader for the running volume at all', async () => {
    await rm(join(espDir, 'EFI'), { recursive: true });
    await expect(adoptFallbackAsVolumeDir(createMountedEsp(espDir), 'AZLA')).rejects.toMatchObject({
      code: 'BOOTCFG_NOT_FOUND',
    });
  });
});
