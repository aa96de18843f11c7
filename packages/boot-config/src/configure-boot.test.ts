/**
 * The entry point on the other ESP implementation (a mounted directory, what a real host has at
 * /boot/efi), and its dispatch by bootloader type.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { grubFiles, kernelCmdline, systemdBootFiles } from '@trident/test-support/vm-fixture-boot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureBoot } from './configure-boot.ts';
import { createMountedEsp } from './esp/mounted-esp.ts';
import { type Scratch, scratchDir, writeTree } from './test-support/fat-image.ts';

const OLD_ROOT = '0b5e5c2e-2c8f-4b43-9a8b-3d5c3f0e2a11';
const NEW_ROOT = '5f1b7a52-9d5e-4c47-8a53-2f1e0c6b9d70';
const PLAN = {
  kernelVersion: '6.1.0-57-cloud-amd64',
  baseCmdline: 'console=ttyS0,115200',
  rootPartUuid: OLD_ROOT,
};
const target = { root: { kind: 'partuuid', partUuid: NEW_ROOT } } as const;

let scratch: Scratch;
beforeEach(async () => {
  scratch = await scratchDir();
});
afterEach(() => scratch.cleanup());

describe('configureBoot', () => {
  it('configures systemd-boot on a mounted ESP and copies the fallback loader', async () => {
    const dir = join(scratch.dir, 'efi');
    const files = systemdBootFiles(PLAN, 'fixture');
    await writeTree(dir, { ...files.esp, ...files.entries, 'EFI/AZLA/bootx64.efi': 'MZ-loader' });
    const result = await configureBoot({
      bootloader: 'systemd-boot',
      esp: createMountedEsp(dir),
      target,
      uefiFallbackFrom: 'AZLA',
    });
    expect(result.configured).toEqual([`${dir}:/loader/entries/trident-fixture.conf`]);
    expect(await readFile(join(dir, 'loader/entries/trident-fixture.conf'), 'utf8')).toContain(
      `options root=PARTUUID=${NEW_ROOT} rw console=ttyS0,115200\n`,
    );
    expect(await readFile(join(dir, 'EFI/BOOT/BOOTX64.EFI'), 'utf8')).toBe('MZ-loader');
  });

  it('configures grub from the new root', async () => {
    const rootDir = join(scratch.dir, 'root');
    const esp = join(scratch.dir, 'efi');
    await mkdir(esp);
    const files = grubFiles(PLAN, 'fixture', OLD_ROOT, '/boot');
    await writeTree(rootDir, { 'boot/grub/grub.cfg': files.grubCfg });
    const result = await configureBoot({
      bootloader: 'grub',
      esp: createMountedEsp(esp),
      target,
      grub: { rootDir },
    });
    expect(result.configured).toEqual([join(rootDir, 'boot/grub/grub.cfg')]);
    expect(await readFile(join(rootDir, 'boot/grub/grub.cfg'), 'utf8')).toBe(
      files.grubCfg.replace(kernelCmdline(PLAN), `root=PARTUUID=${NEW_ROOT} rw console=ttyS0,115200`),
    );
    await expect(
      configureBoot({ bootloader: 'grub', esp: createMountedEsp(esp), target }),
    ).rejects.toMatchObject({
      code: 'BOOTCFG_NOT_FOUND',
    });
    await expect(
      configureBoot({ bootloader: 'lilo' as 'grub', esp: createMountedEsp(esp), target }),
    ).rejects.toMatchObject({ code: 'BOOTCFG_UNSUPPORTED' });
  });
});
