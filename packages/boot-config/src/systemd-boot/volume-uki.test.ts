/**
 * A/B update of standalone UKIs on real volumes: a mounted ESP (a directory) through a sequence
 * of updates as a host lives them (install's original UKI, then B, A, B), and the same stage and
 * finalize through mtools on a FAT image. UKIs are minimal PE files with the sections read.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BootTarget } from '../cmdline/compose.ts';
import type { EspVolume } from '../esp/esp-volume.ts';
import { listFilesRecursive } from '../esp/esp-volume.ts';
import { createImageEsp } from '../esp/image-esp.ts';
import { createMountedEsp } from '../esp/mounted-esp.ts';
import { fakeUki } from '../test-support/fake-uki.ts';
import { makeFatImage, mdirAll, type Scratch, scratchDir } from '../test-support/fat-image.ts';
import { findPreviousUki } from './rollback-entries.ts';
import { finalizeVolumeUki, findVolumeUki, stageVolumeUki, ukiSlot } from './volume-uki.ts';

const ROOT_A_FS = 'aaaaaaaa-1111-4222-8333-444444444444';
const ROOT_B_FS = 'bbbbbbbb-1111-4222-8333-444444444444';
const PART_B = 'bbbbbbbb-0000-4000-8000-000000000002';
const target = (fsUuid: string): BootTarget => ({
  root: { kind: 'partuuid', partUuid: PART_B },
  rootFsUuid: fsUuid,
});

let scratch: Scratch;
let n = 0;
beforeEach(async () => {
  scratch = await scratchDir();
});
afterEach(() => scratch.cleanup());

async function dirVolume(files: Record<string, string | Uint8Array> = {}): Promise<EspVolume> {
  const dir = join(scratch.dir, `vol${n++}`);
  await mkdir(dir);
  const volume = createMountedEsp(dir);
  for (const [path, data] of Object.entries(files)) await volume.write(path, data);
  return volume;
}

/** An image ESP whose one UKI names its root by the filesystem UUID, with an addon. */
const imageFor = (fsUuid: string, version: string) =>
  dirVolume({
    [`/EFI/Linux/vmlinuz-${version}.efi`]: fakeUki(`root=UUID=${fsUuid} rw console=ttyS0`, version),
    [`/EFI/Linux/vmlinuz-${version}.efi.extra.d/debug.addon.efi`]: `addon ${version}`,
    '/EFI/BOOT/BOOTX64.EFI': 'systemd-boot',
  });

describe('ukiSlot', () => {
  it("is upstream's slot name: volume letter, then install index", () => {
    expect([ukiSlot(0, 'a'), ukiSlot(0, 'b'), ukiSlot(2, 'b')]).toEqual(['azla0', 'azlb0', 'azlb2']);
    expect(() => ukiSlot(-1, 'a')).toThrowError(expect.objectContaining({ code: 'BOOTCFG_CONFIG_INVALID' }));
  });
});

describe('stageVolumeUki and finalizeVolumeUki on a mounted ESP', () => {
  it('takes a host from its install UKI through updates to B, A and B again', async () => {
    const esp = await dirVolume({ '/EFI/Linux/vmlinuz-6.1.efi': fakeUki(`root=UUID=${ROOT_A_FS} rw`) });
    const slot = { esp, installIndex: 0 };

    // Update 1, to B: the install's UKI boots A and Trident manages no UKI yet: it stays.
    const staged = await stageVolumeUki({
      ...slot,
      volume: 'b',
      image: await imageFor(ROOT_B_FS, '6.2'),
      target: target(ROOT_B_FS),
      booted: 'vmlinuz-6.1.efi',
    });
    expect(staged).toMatchObject({
      cmdline: `root=UUID=${ROOT_B_FS} rw console=ttyS0`,
      removed: [],
      written: ['/EFI/Linux/vmlinuz-0.efi.staged.extra.d/debug.addon.efi', '/EFI/Linux/vmlinuz-0.efi.staged'],
    });
    expect(await findVolumeUki({ ...slot, volume: 'b' })).toEqual({ kind: 'staged' });
    expect(await finalizeVolumeUki({ ...slot, volume: 'b' })).toEqual({
      id: 'vmlinuz-100-azlb0.efi',
      renamed: true,
    });
    // A rerun finds the renamed UKI (finalize is repeated until its variable is set).
    expect(await finalizeVolumeUki({ ...slot, volume: 'b' })).toEqual({
      id: 'vmlinuz-100-azlb0.efi',
      renamed: false,
    });
    expect(await listFilesRecursive(esp, '/')).toEqual([
      'EFI/Linux/vmlinuz-100-azlb0.efi',
      'EFI/Linux/vmlinuz-100-azlb0.efi.extra.d/debug.addon.efi',
      'EFI/Linux/vmlinuz-6.1.efi',
    ]);
    expect((await esp.read('/EFI/Linux/vmlinuz-100-azlb0.efi.extra.d/debug.addon.efi'))?.toString()).toBe(
      'addon 6.2',
    );
    expect(await esp.list('/EFI/Linux/vmlinuz-0.efi.staged.extra.d')).toBeUndefined();
    // A manual rollback from B boots the install's UKI.
    expect(await findPreviousUki(esp)).toBe('vmlinuz-6.1.efi');

    // Update 2, to A (B running): A's install UKI is overwritten with its volume.
    const second = await stageVolumeUki({
      ...slot,
      volume: 'a',
      image: await imageFor(ROOT_A_FS, '6.3'),
      target: target(ROOT_A_FS),
      booted: 'vmlinuz-100-azlb0.efi',
    });
    expect(second.removed).toEqual(['/EFI/Linux/vmlinuz-6.1.efi']);
    expect((await finalizeVolumeUki({ ...slot, volume: 'a' })).id).toBe('vmlinuz-101-azla0.efi');
    expect(await findPreviousUki(esp)).toBe('vmlinuz-100-azlb0.efi');

    // Update 3, to B (A running): B's UKI and its addons go, N keeps growing.
    const third = await stageVolumeUki({
      ...slot,
      volume: 'b',
      image: await imageFor(ROOT_B_FS, '6.4'),
      target: target(ROOT_B_FS),
      booted: 'vmlinuz-101-azla0.efi',
    });
    expect(third.removed).toEqual([
      '/EFI/Linux/vmlinuz-100-azlb0.efi.extra.d/debug.addon.efi',
      '/EFI/Linux/vmlinuz-100-azlb0.efi',
    ]);
    expect((await finalizeVolumeUki({ ...slot, volume: 'b' })).id).toBe('vmlinuz-102-azlb0.efi');
    expect(await listFilesRecursive(esp, '/EFI/Linux')).toEqual([
      'vmlinuz-101-azla0.efi',
      'vmlinuz-101-azla0.efi.extra.d/debug.addon.efi',
      'vmlinuz-102-azlb0.efi',
      'vmlinuz-102-azlb0.efi.extra.d/debug.addon.efi',
    ]);
    expect(await findPreviousUki(esp)).toBe('vmlinuz-101-azla0.efi');
  });

  it('never removes the UKI the running OS booted, nor an other install index’s originals', async () => {
    const esp = await dirVolume({
      '/EFI/Linux/vmlinuz-6.1.efi': fakeUki('rw'),
      '/EFI/Linux/vmlinuz-100-azlb0.efi': fakeUki('rw'),
      '/EFI/Linux/vmlinuz-101-azla1.efi': fakeUki('rw'),
      // Upstream's name for install index 0's B: managed (never an original), in no slot of ours.
      '/EFI/Linux/vmlinuz-102-azlb0.efi': fakeUki('rw'),
    });
    const image = await imageFor(ROOT_A_FS, '6.3');
    // The host still runs the install's UKI although B has one (B's trial boot failed, say).
    const staged = await stageVolumeUki({
      esp,
      installIndex: 0,
      volume: 'a',
      image,
      target: target(ROOT_A_FS),
      booted: 'VMLINUZ-6.1.EFI',
    });
    expect(staged.removed).toEqual([]);
    // Install index 1 never owns the image's originals; its own slot is a1. (The staged name is
    // one for the whole ESP, as upstream's: a new stage replaces any staged UKI.)
    const other = await stageVolumeUki({
      esp,
      installIndex: 1,
      volume: 'a',
      image,
      target: target(ROOT_A_FS),
    });
    expect(other.removed).toEqual([
      '/EFI/Linux/vmlinuz-0.efi.staged.extra.d/debug.addon.efi',
      '/EFI/Linux/vmlinuz-0.efi.staged',
      '/EFI/Linux/vmlinuz-101-azla1.efi',
    ]);
    expect((await finalizeVolumeUki({ esp, installIndex: 1, volume: 'a' })).id).toBe('vmlinuz-103-azla1.efi');
  });

  it('refuses a UKI naming another root before anything on the ESP changes', async () => {
    const before = {
      '/EFI/Linux/vmlinuz-6.1.efi': fakeUki('rw'),
      '/EFI/Linux/vmlinuz-100-azlb0.efi': fakeUki('rw'),
      '/EFI/Linux/vmlinuz-0.efi.staged': fakeUki('rw'),
    };
    const esp = await dirVolume(before);
    const options = { esp, installIndex: 0, volume: 'a' as const, booted: 'vmlinuz-100-azlb0.efi' };
    // The running volume's root filesystem: the image was built from the wrong tree.
    const wrongUuid = await stageVolumeUki({
      ...options,
      image: await imageFor(ROOT_B_FS, '6.3'),
      target: target(ROOT_A_FS),
    }).catch((e: unknown) => e);
    expect(wrongUuid).toMatchObject({
      code: 'BOOTCFG_UKI_CMDLINE_EMBEDDED',
      path: '/EFI/Linux/vmlinuz-6.3.efi',
    });
    expect((wrongUuid as Error).message).toContain(`root=UUID=${ROOT_B_FS}`);
    const byPartUuid = await dirVolume({
      '/EFI/Linux/vmlinuz-6.3.efi': fakeUki('root=PARTUUID=11111111-2222-4333-8444-555555555555 rw'),
    });
    await expect(
      stageVolumeUki({ ...options, image: byPartUuid, target: target(ROOT_A_FS) }),
    ).rejects.toMatchObject({ code: 'BOOTCFG_UKI_CMDLINE_EMBEDDED' });
    await expect(
      stageVolumeUki({
        ...options,
        image: await imageFor(ROOT_A_FS, '6.3'),
        target: { ...target(ROOT_A_FS), extraCommandLine: ['panic=30'] },
      }),
    ).rejects.toThrowError(/extraCommandLine \(panic=30\) cannot be added/u);
    expect((await listFilesRecursive(esp, '/'))?.sort()).toEqual(
      Object.keys(before)
        .map((p) => p.slice(1))
        .sort(),
    );
  });

  it('needs exactly one UKI in the image, and a UKI at that', async () => {
    const esp = await dirVolume();
    const stage = (image: EspVolume) =>
      stageVolumeUki({ esp, installIndex: 0, volume: 'b', image, target: target(ROOT_B_FS) });
    const none = await dirVolume({ '/EFI/BOOT/BOOTX64.EFI': 'x' });
    await expect(stage(none)).rejects.toMatchObject({ code: 'BOOTCFG_NOT_FOUND', path: '/EFI/Linux' });
    const two = await dirVolume({ '/EFI/Linux/a.efi': fakeUki('rw'), '/EFI/Linux/b.efi': fakeUki('rw') });
    const error = await stage(two).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BOOTCFG_CONFIG_INVALID', path: '/EFI/Linux' });
    expect((error as Error).message).toContain(`${two.location}:/EFI/Linux holds 2 UKIs (a.efi, b.efi)`);
    const notUki = await dirVolume({ '/EFI/Linux/shell.efi': 'MZ not a PE' });
    await expect(stage(notUki)).rejects.toMatchObject({ code: 'BOOTCFG_CONFIG_INVALID' });
    expect(await listFilesRecursive(esp, '/')).toEqual([]);
    await expect(finalizeVolumeUki({ esp, installIndex: 0, volume: 'b' })).rejects.toMatchObject({
      code: 'BOOTCFG_NOT_FOUND',
    });
    expect(await findVolumeUki({ esp, installIndex: 0, volume: 'b' })).toBeUndefined();
  });
});

describe('stageVolumeUki and finalizeVolumeUki through mtools', () => {
  it('stages and finalizes on a FAT image, long names and addons kept', async () => {
    const image = join(scratch.dir, 'esp.img');
    await makeFatImage(image, {});
    const esp = createImageEsp({ image });
    await esp.write('/EFI/Linux/vmlinuz-6.1.efi', fakeUki('rw'));
    await esp.write('/EFI/Linux/vmlinuz-100-azla0.efi', fakeUki('rw'));
    await esp.write('/EFI/Linux/vmlinuz-0.efi.staged.extra.d/old.addon.efi', 'leftover');
    const staged = await stageVolumeUki({
      esp,
      installIndex: 0,
      volume: 'b',
      image: await imageFor(ROOT_B_FS, '6.2'),
      target: target(ROOT_B_FS),
      booted: 'vmlinuz-100-azla0.efi',
    });
    expect(staged.removed.sort()).toEqual([
      '/EFI/Linux/vmlinuz-0.efi.staged.extra.d/old.addon.efi',
      '/EFI/Linux/vmlinuz-6.1.efi',
    ]);
    expect(await finalizeVolumeUki({ esp, installIndex: 0, volume: 'b' })).toEqual({
      id: 'vmlinuz-101-azlb0.efi',
      renamed: true,
    });
    expect(await mdirAll(image)).toEqual([
      '/EFI/',
      '/EFI/Linux/',
      '/EFI/Linux/vmlinuz-100-azla0.efi',
      '/EFI/Linux/vmlinuz-101-azlb0.efi',
      '/EFI/Linux/vmlinuz-101-azlb0.efi.extra.d/',
      '/EFI/Linux/vmlinuz-101-azlb0.efi.extra.d/debug.addon.efi',
    ]);
    expect(await findVolumeUki({ esp, installIndex: 0, volume: 'b' })).toEqual({
      kind: 'managed',
      id: 'vmlinuz-101-azlb0.efi',
    });
  });
});
