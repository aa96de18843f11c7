/**
 * systemd-boot configuration on real FAT images (mkfs.vfat, edited through mtools), with the
 * fixture OS's own loader entry and loader.conf (written by the code that builds the bootable
 * fixture disks), its real kernel and initrd, and UKIs assembled from its systemd EFI stub.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kernelCmdline, systemdBootFiles } from '@trident/test-support/vm-fixture-boot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureDiskBoot } from '../configure-boot.ts';
import { createImageEsp } from '../esp/image-esp.ts';
import {
  makeDiskWithEsp,
  makeFatImage,
  mdirAll,
  mtype,
  type Scratch,
  scratchDir,
} from '../test-support/fat-image.ts';
import { buildUki, extractFixtureBoot, fixtureOsAvailable } from '../test-support/fixture-os.ts';
import { configureSystemdBoot } from './configure-systemd-boot.ts';
import { createLoaderEntry } from './create-entry.ts';

const OLD_ROOT = '0b5e5c2e-2c8f-4b43-9a8b-3d5c3f0e2a11';
const NEW_ROOT = '5f1b7a52-9d5e-4c47-8a53-2f1e0c6b9d70';
const PLAN = {
  kernelVersion: '6.1.0-57-cloud-amd64',
  baseCmdline: 'console=ttyS0,115200 quiet loglevel=4',
  rootPartUuid: OLD_ROOT,
};
const fixtureFiles = systemdBootFiles(PLAN, 'trident-ts fixture minimal-systemd-boot 12.0');
const ENTRY = 'loader/entries/trident-fixture.conf';

let scratch: Scratch;
beforeEach(async () => {
  scratch = await scratchDir();
});
afterEach(() => scratch.cleanup());

describe('configureSystemdBoot', () => {
  it('points the fixture entry at the new root and sets loader.conf, through a whole disk image', async () => {
    const { disk, espOffset } = await makeDiskWithEsp(
      join(scratch.dir, 'disk.img'),
      { ...fixtureFiles.esp, ...fixtureFiles.entries },
      { esp: '11111111-2222-4333-8444-555555555555', root: NEW_ROOT },
    );
    const result = await configureDiskBoot(disk, {
      bootloader: 'systemd-boot',
      target: { root: { kind: 'partuuid', partUuid: NEW_ROOT }, extraCommandLine: ['panic=30'] },
      systemdBoot: { defaultEntry: 'trident-fixture.conf', timeoutSeconds: 5 },
    });
    const entry = await mtype(disk, `/${ENTRY}`, espOffset);
    expect(entry).toBe(
      fixtureFiles.entries[ENTRY]!.replace(
        `options ${kernelCmdline(PLAN)}`,
        `options root=PARTUUID=${NEW_ROOT} rw console=ttyS0,115200 quiet loglevel=4 panic=30`,
      ),
    );
    expect(await mtype(disk, '/loader/loader.conf', espOffset)).toBe(
      'timeout 5\ndefault trident-fixture.conf\neditor no\nconsole-mode keep\n',
    );
    expect(result.configured).toEqual([`${disk}@@${espOffset}:/${ENTRY}`]);
    expect(result.changed.map((c) => c.path)).toEqual([`/${ENTRY}`, '/loader/loader.conf']);
    // Replaced by rename: no staging file is left behind.
    const names = await mdirAll(disk, espOffset);
    expect(names.filter((p) => p.endsWith('.new'))).toEqual([]);
    expect(names).toContain('/loader/loader.conf'); // not LOADER.CONF: the name keeps its case

    // A second run finds nothing to change.
    const again = await configureDiskBoot(disk, {
      bootloader: 'systemd-boot',
      target: { root: { kind: 'partuuid', partUuid: NEW_ROOT }, extraCommandLine: ['panic=30'] },
      systemdBoot: { defaultEntry: 'trident-fixture.conf', timeoutSeconds: 5 },
    });
    expect(again.changed).toEqual([]);
  });

  it('rewrites entries on the XBOOTLDR volume too, merging repeated options lines', async () => {
    const esp = join(scratch.dir, 'esp.img');
    const xbootldr = join(scratch.dir, 'boot.img');
    await makeFatImage(esp, fixtureFiles.esp);
    await makeFatImage(xbootldr, {
      'loader/entries/a.conf': `# kept\ntitle A\nlinux /vmlinuz\noptions root=PARTUUID=${OLD_ROOT}\noptions ro quiet\n`,
    });
    const result = await configureSystemdBoot({
      esp: createImageEsp({ image: esp }),
      xbootldr: createImageEsp({ image: xbootldr }),
      target: { root: { kind: 'partuuid', partUuid: NEW_ROOT }, selinux: 'disabled' },
    });
    expect(result.entries).toEqual([`${xbootldr}:/loader/entries/a.conf`]);
    expect(await mtype(xbootldr, '/loader/entries/a.conf')).toBe(
      `# kept\ntitle A\nlinux /vmlinuz\noptions root=PARTUUID=${NEW_ROOT} ro quiet selinux=0\n`,
    );
  });

  it('says where nothing boots, and which entry is not an entry', async () => {
    const esp = join(scratch.dir, 'esp.img');
    await makeFatImage(esp, fixtureFiles.esp);
    const volume = createImageEsp({ image: esp });
    const target = { root: { kind: 'partuuid', partUuid: NEW_ROOT } } as const;
    await expect(configureSystemdBoot({ esp: volume, target })).rejects.toMatchObject({
      code: 'BOOTCFG_NOT_FOUND',
    });
    await volume.write('/loader/entries/bad.conf', 'title x\n= broken\n');
    await expect(configureSystemdBoot({ esp: volume, target })).rejects.toThrowError(/bad\.conf line 2/u);
    await volume.write('/loader/entries/bad.conf', 'title x\noptions quiet\n');
    await expect(configureSystemdBoot({ esp: volume, target })).rejects.toThrowError(/needs a "linux" line/u);
  });
});

describe.skipIf(!fixtureOsAvailable())('with the fixture OS boot files', () => {
  it('accepts a UKI that finds its root by partition type or names the new one, refuses one naming the old one', async () => {
    const { rootDir } = await extractFixtureBoot(scratch.dir);
    const esp = join(scratch.dir, 'esp.img');
    await makeFatImage(esp, {});
    const volume = createImageEsp({ image: esp });
    const good = join(scratch.dir, 'good.efi');
    await buildUki(rootDir, good, 'console=ttyS0 quiet');
    await volume.write('/EFI/Linux/os.efi', await readFile(good));
    const target = { root: { kind: 'partuuid', partUuid: NEW_ROOT } } as const;
    // No root= in it: systemd finds the root by partition type, which installation keeps.
    expect((await configureSystemdBoot({ esp: volume, target })).ukis).toEqual([`${esp}:/EFI/Linux/os.efi`]);
    // Extra arguments cannot go into it.
    await expect(
      configureSystemdBoot({ esp: volume, target: { ...target, extraCommandLine: ['quiet panic=30'] } }),
    ).rejects.toThrowError(/extraCommandLine \(panic=30\) cannot be added/u);
    const named = join(scratch.dir, 'named.efi');
    await buildUki(rootDir, named, `root=PARTUUID=${NEW_ROOT} console=ttyS0`);
    await volume.write('/EFI/Linux/os.efi', await readFile(named));
    const result = await configureSystemdBoot({ esp: volume, target, defaultEntry: 'os.efi' });
    expect(result.ukis).toEqual([`${esp}:/EFI/Linux/os.efi`]);
    expect(await mtype(esp, '/loader/loader.conf')).toBe('default os.efi\n');

    // A refused UKI leaves every file as it was, the type #1 entry beside it included.
    const bad = join(scratch.dir, 'bad.efi');
    await buildUki(rootDir, bad, `root=PARTUUID=${OLD_ROOT} console=ttyS0`);
    await volume.write('/EFI/Linux/old.efi', await readFile(bad));
    await volume.write(`/${ENTRY}`, fixtureFiles.entries[ENTRY]!);
    const error = await configureSystemdBoot({ esp: volume, target }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BOOTCFG_UKI_CMDLINE_EMBEDDED', path: '/EFI/Linux/old.efi' });
    expect((error as Error).message).toContain(`root=PARTUUID=${OLD_ROOT}`);
    expect(await mtype(esp, `/${ENTRY}`)).toBe(fixtureFiles.entries[ENTRY]);
  });

  it('creates an entry from the real kernel and initrd of the new root', async () => {
    const { rootDir, kernelVersion } = await extractFixtureBoot(scratch.dir);
    const esp = join(scratch.dir, 'esp.img');
    await makeFatImage(esp, fixtureFiles.esp, 96);
    const created = await createLoaderEntry({
      volume: createImageEsp({ image: esp }),
      rootDir,
      entryToken: 'azla',
      baseCmdline: 'console=ttyS0,115200 quiet',
      target: { root: { kind: 'partuuid', partUuid: NEW_ROOT } },
    });
    expect(created.kernelVersion).toBe(kernelVersion);
    const entry = await mtype(esp, `/loader/entries/azla-${kernelVersion}.conf`);
    expect(entry).toMatch(/^title Debian GNU\/Linux 12 \(bookworm\)\n/u);
    expect(entry).toContain(`linux /azla/${kernelVersion}/linux\ninitrd /azla/${kernelVersion}/initrd\n`);
    expect(entry).toContain(`options console=ttyS0,115200 quiet root=PARTUUID=${NEW_ROOT}\n`);
    const kernel = await readFile(join(rootDir, 'boot', `vmlinuz-${kernelVersion}`));
    const copied = await createImageEsp({ image: esp }).read(`/azla/${kernelVersion}/linux`);
    expect(copied?.equals(kernel)).toBe(true);
    await expect(
      createLoaderEntry({
        volume: createImageEsp({ image: esp }),
        rootDir,
        entryToken: 'azla',
        kernelVersion: '9.9.9',
        baseCmdline: '',
        target: { root: { kind: 'partuuid', partUuid: NEW_ROOT } },
      }),
    ).rejects.toMatchObject({ code: 'BOOTCFG_NOT_FOUND' });
  });
});
