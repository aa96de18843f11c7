import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMountedEsp } from '../esp/mounted-esp.ts';
import { findLoaderEntriesForPartUuid, findPreviousUki } from './rollback-entries.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollback-entries-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(tree: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(tree)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

describe('findPreviousUki', () => {
  it('two or more Trident UKIs: the second-newest by number (not by name)', async () => {
    await files({
      'EFI/Linux/vmlinuz-99-azla0.efi': '',
      'EFI/Linux/vmlinuz-100-azlb0.efi': '',
      'EFI/Linux/vmlinuz-101-azla0.efi': '',
      'EFI/Linux/vmlinuz-6.6.1.efi': '',
    });
    expect(await findPreviousUki(createMountedEsp(dir))).toBe('vmlinuz-100-azlb0.efi');
  });

  it('knows the slot names A/B update gives (azlb0, azla1), the install index after the letter as upstream writes it', async () => {
    await files({
      'EFI/Linux/vmlinuz-100-azlb0.efi': '',
      'EFI/Linux/vmlinuz-101-azla1.efi': '',
      'EFI/Linux/vmlinuz-102-azla0.efi': '',
      'EFI/Linux/vmlinuz-6.6.1.efi': '',
    });
    expect(await findPreviousUki(createMountedEsp(dir))).toBe('vmlinuz-101-azla1.efi');
    await rm(join(dir, 'EFI/Linux/vmlinuz-101-azla1.efi'));
    await rm(join(dir, 'EFI/Linux/vmlinuz-102-azla0.efi'));
    expect(await findPreviousUki(createMountedEsp(dir))).toBe('vmlinuz-6.6.1.efi');
  });

  it('one Trident UKI: the newest image-provided one, by version', async () => {
    await files({
      'EFI/Linux/vmlinuz-100-azlb0.efi': '',
      'EFI/Linux/vmlinuz-6.6.9.efi': '',
      'EFI/Linux/vmlinuz-6.6.10.efi': '',
    });
    expect(await findPreviousUki(createMountedEsp(dir))).toBe('vmlinuz-6.6.10.efi');
  });

  it('nothing earlier: BOOTCFG_NOT_FOUND naming what was found', async () => {
    await files({ 'EFI/Linux/vmlinuz-100-azlb0.efi': '' });
    await expect(findPreviousUki(createMountedEsp(dir))).rejects.toThrow(
      expect.objectContaining({
        code: 'BOOTCFG_NOT_FOUND',
        message: expect.stringContaining('vmlinuz-100-azlb0.efi'),
      }),
    );
  });
});

describe('findLoaderEntriesForPartUuid', () => {
  it('matches root=PARTUUID=, by-partuuid paths and verity data devices, case-insensitively', async () => {
    const uuid = '0a1b2c3d-0000-4000-8000-00000000000a';
    await files({
      'loader/entries/a.conf': `linux /a/vmlinuz\noptions root=PARTUUID=${uuid.toUpperCase()} rw\n`,
      'loader/entries/b.conf':
        'linux /b/vmlinuz\noptions root=PARTUUID=ffffffff-0000-4000-8000-00000000000b rw\n',
      'loader/entries/v.conf': `linux /v/vmlinuz\noptions root=/dev/mapper/root systemd.verity_root_data=/dev/disk/by-partuuid/${uuid}\n`,
      'loader/entries/u.conf': 'uki /EFI/Linux/x.efi\n',
    });
    expect(await findLoaderEntriesForPartUuid(createMountedEsp(dir), uuid)).toEqual(['a.conf', 'v.conf']);
  });
});
