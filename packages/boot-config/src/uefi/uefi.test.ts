/**
 * Firmware-side pieces: the removable-media fallback copy on a real FAT image; loader variables
 * in efivarfs's file format (attribute word + UTF-16LE value), written to a directory standing in
 * for /sys/firmware/efi/efivars (this host boots without UEFI); efibootmgr's listing as OVMF
 * produces it, and the BootOrder rules.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createImageEsp } from '../esp/image-esp.ts';
import {
  makeFatImage,
  mdirAll,
  mtype,
  type Scratch,
  scratchDir,
  writeTree,
} from '../test-support/fat-image.ts';
import { isVirtdeploy, parseEfibootmgr, planBootOrder } from './efibootmgr.ts';
import {
  copyToUefiFallback,
  espDirectoryName,
  type FallbackMoment,
  nextInstallIndex,
  type UefiFallbackMode,
  uefiFallbackSource,
} from './fallback.ts';
import {
  LOADER_VENDOR_GUID,
  readLoaderEntryDefault,
  readLoaderEntrySelected,
  setLoaderEntryDefault,
  setLoaderEntryOneShot,
} from './loader-variables.ts';

let scratch: Scratch;
beforeEach(async () => {
  scratch = await scratchDir();
});
afterEach(() => scratch.cleanup());

describe('UEFI fallback', () => {
  it('makes EFI/BOOT a copy of the install directory, in phases, leaving no staging files', async () => {
    const image = join(scratch.dir, 'esp.img');
    await makeFatImage(image, {
      'EFI/AZLA/bootx64.efi': 'MZ-shim-new',
      'EFI/AZLA/grubx64.efi': 'MZ-grub-new',
      'EFI/AZLA/grub.cfg': 'search -n -u x -s\n',
      'EFI/BOOT/BOOTX64.EFI': 'MZ-old',
      'EFI/BOOT/other.efi': 'kept',
    });
    const esp = createImageEsp({ image });
    expect(await copyToUefiFallback(esp, 'AZLA')).toEqual(['bootx64.efi', 'grub.cfg', 'grubx64.efi']);
    expect(await mtype(image, '/EFI/BOOT/BOOTX64.EFI')).toBe('MZ-shim-new');
    expect(await mtype(image, '/EFI/BOOT/grubx64.efi')).toBe('MZ-grub-new');
    // As upstream: what the old set had and the source lacks is gone too.
    expect((await mdirAll(image)).filter((p) => p.startsWith('/EFI/BOOT/') && !p.endsWith('/'))).toEqual([
      '/EFI/BOOT/BOOTX64.EFI',
      '/EFI/BOOT/grub.cfg',
      '/EFI/BOOT/grubx64.efi',
    ]);
  });

  it('refuses a source without a loader, and names directories as upstream does', async () => {
    const image = join(scratch.dir, 'esp.img');
    await makeFatImage(image, { 'EFI/AZLB/grub.cfg': 'x' });
    const esp = createImageEsp({ image });
    await expect(copyToUefiFallback(esp, 'AZLB')).rejects.toThrowError(/has no bootx64\.efi/u);
    await expect(copyToUefiFallback(esp, 'AZLA')).rejects.toMatchObject({ code: 'BOOTCFG_NOT_FOUND' });
    await expect(copyToUefiFallback(esp, '../x')).rejects.toMatchObject({ code: 'BOOTCFG_CONFIG_INVALID' });
    // Upstream's skip: an A/B copy from a missing AZLA when AZLB exists (VMs initialised offline).
    await esp.write('/EFI/AZLB/bootx64.efi', 'MZ');
    expect(await copyToUefiFallback(esp, 'AZLA', { skipMissingVolumeA: true })).toEqual([]);
    expect(await nextInstallIndex(esp)).toBe(1);
    await esp.write('/EFI/AZL2A/bootx64.efi', 'MZ');
    expect(await nextInstallIndex(esp)).toBe(2);
    expect([
      espDirectoryName(0, 'a'),
      espDirectoryName(0, 'b'),
      espDirectoryName(1, 'a'),
      espDirectoryName(9, 'b'),
    ]).toEqual(['AZLA', 'AZLB', 'AZL2A', 'AZL10B']);
  });
});

describe('which directory the fallback copies (upstream find_uefi_fallback_source_dir_name)', () => {
  it('follows the mode, the moment and the active volume', () => {
    const at = (mode: UefiFallbackMode, moment: FallbackMoment, activeVolume?: 'a' | 'b') =>
      uefiFallbackSource({ mode, moment, installIndex: 0, ...(activeVolume ? { activeVolume } : {}) });
    expect(at('conservative', 'install-finalize')).toBe('AZLA');
    expect(at('optimistic', 'install-finalize')).toBe('AZLA');
    expect(at('disabled', 'install-finalize')).toBeUndefined();
    expect(at('conservative', 'ab-update-finalize', 'a')).toBe('AZLA'); // the running one
    expect(at('optimistic', 'ab-update-finalize', 'a')).toBe('AZLB'); // the update
    expect(at('optimistic', 'ab-update-finalize', 'b')).toBe('AZLA');
    expect(at('conservative', 'ab-update-commit', 'b')).toBe('AZLB'); // the volume that just passed its commit
    expect(at('optimistic', 'ab-update-commit', 'a')).toBeUndefined();
    expect(at('conservative', 'manual-rollback-finalize', 'b')).toBe('AZLA');
    expect(
      uefiFallbackSource({
        mode: 'optimistic',
        moment: 'manual-rollback-finalize',
        installIndex: 1,
        activeVolume: 'a',
      }),
    ).toBe('AZL2B');
  });
});

describe('loader variables', () => {
  it('writes LoaderEntryOneShot and LoaderEntryDefault as efivarfs stores them', async () => {
    const efivarsDir = scratch.dir;
    await setLoaderEntryOneShot('vmlinuz-101-azlb0.efi', { efivarsDir });
    const bytes = await readFile(join(efivarsDir, `LoaderEntryOneShot-${LOADER_VENDOR_GUID}`));
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([7, 0, 0, 0]));
    expect(bytes.subarray(4)).toEqual(Buffer.from('vmlinuz-101-azlb0.efi\0', 'utf16le'));
    await setLoaderEntryDefault('os.conf', { efivarsDir });
    await setLoaderEntryDefault('a.conf', { efivarsDir }); // shorter: nothing of the old value remains
    expect(await readFile(join(efivarsDir, `LoaderEntryDefault-${LOADER_VENDOR_GUID}`))).toEqual(
      Buffer.concat([Buffer.from([7, 0, 0, 0]), Buffer.from('a.conf\0', 'utf16le')]),
    );
    expect(await readLoaderEntryDefault({ efivarsDir })).toBe('a.conf');
    await expect(setLoaderEntryOneShot('a/b', { efivarsDir })).rejects.toMatchObject({
      code: 'BOOTCFG_EFIVAR',
    });
    await expect(
      setLoaderEntryOneShot('x', { efivarsDir: join(efivarsDir, 'missing') }),
    ).rejects.toMatchObject({
      code: 'BOOTCFG_EFIVAR',
    });
  });

  it('reads LoaderEntrySelected as systemd-boot leaves it', async () => {
    const efivarsDir = scratch.dir;
    expect(await readLoaderEntrySelected({ efivarsDir })).toBeUndefined();
    await writeFile(
      join(efivarsDir, `LoaderEntrySelected-${LOADER_VENDOR_GUID}`),
      Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from('trident-fixture.conf\0', 'utf16le')]),
    );
    expect(await readLoaderEntrySelected({ efivarsDir })).toBe('trident-fixture.conf');
  });
});

describe('efibootmgr', () => {
  /** efibootmgr 17 on OVMF after an install (with -v the device path follows a tab). */
  const LISTING = [
    'BootCurrent: 0001',
    'BootNext: 0005',
    'Timeout: 0 seconds',
    'BootOrder: 0005,0001,0000,0002',
    'Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)',
    'Boot0001* UEFI Misc Device\tPciRoot(0x0)/Pci(0x3,0x0){auto_created_boot_option}',
    'Boot0002* EFI Internal Shell\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(7c04a583-9e3e-4f1c-ad65-e05268d0b4d1)',
    'Boot0005* AZLA\tHD(1,GPT,0b5e5c2e-2c8f-4b43-9a8b-3d5c3f0e2a11,0x800,0x40000)/\\EFI\\AZLA\\bootx64.efi',
    'Boot000A  AZLB\tHD(1,GPT,0b5e5c2e-2c8f-4b43-9a8b-3d5c3f0e2a11,0x800,0x40000)/\\EFI\\AZLB\\bootx64.efi',
    '',
  ].join('\n');

  it('reads the listing', () => {
    const state = parseEfibootmgr(LISTING);
    expect(state).toMatchObject({
      bootCurrent: '0001',
      bootNext: '0005',
      bootOrder: ['0005', '0001', '0000', '0002'],
    });
    expect(state.entries.map((e) => [e.number, e.label, e.active])).toEqual([
      ['0000', 'UiApp', true],
      ['0001', 'UEFI Misc Device', true],
      ['0002', 'EFI Internal Shell', true],
      ['0005', 'AZLA', true],
      ['000A', 'AZLB', false],
    ]);
    // Without -v, older efibootmgr prints the label alone.
    expect(parseEfibootmgr('BootOrder: 0001\nBoot0001* debian\n').entries).toEqual([
      { number: '0001', label: 'debian', active: true },
    ]);
    expect(() => parseEfibootmgr('Boot12* broken')).toThrowError(/cannot read efibootmgr line/u);
  });

  it('puts new entries first (install, rollback), last (A/B update) or leaves the order', () => {
    const order = ['0005', '0001', '0000'];
    expect(planBootOrder(order, ['000A'], 'first')).toEqual(['000A', '0005', '0001', '0000']);
    expect(planBootOrder(order, ['000A'], 'last')).toEqual(['0005', '0001', '0000', '000A']);
    expect(planBootOrder(order, ['0001'], 'first')).toEqual(['0001', '0005', '0000']);
    expect(planBootOrder(order, ['000A'], 'unchanged')).toEqual(order);
    expect(planBootOrder(order, ['000A', '000B'], 'first')).toEqual(['000A', '000B', '0005', '0001', '0000']);
  });

  it('recognises a virtdeploy VM by its SMBIOS OEM string, as upstream', async () => {
    expect(await isVirtdeploy(scratch.dir)).toBe(false);
    await writeTree(scratch.dir, {
      'firmware/dmi/entries/11-0/raw': Buffer.from('\u000b\u0005\u0000\u0000vendor:x\u0000\u0000'),
      'firmware/dmi/entries/11-1/raw': Buffer.from('\u000b\u0005\u0001\u0000virtdeploy:1\u0000\u0000'),
    });
    expect(await isVirtdeploy(scratch.dir)).toBe(true);
  });
});
