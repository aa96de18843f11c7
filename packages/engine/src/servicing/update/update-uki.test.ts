/**
 * The UKI side of an A/B update on real files: the image's and the host's ESPs are directories
 * (the mounted-ESP implementation), systemd-boot's variables files in a plain directory written
 * as efivarfs stores them. A host lives through install (the image's own UKI boots volume A), an
 * update to B (stage, finalize, finalize again), its commit, and an update back to A; then a
 * manual rollback finds the UKI of the other volume. Booting them is the VM test's
 * (tests/vm uki-update-boots).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BootTarget,
  createMountedEsp,
  type EspVolume,
  findPreviousUki,
  LOADER_VENDOR_GUID,
  listFilesRecursive,
  readLoaderEntryDefault,
  setLoaderEntryDefault,
  setLoaderEntryOneShot,
} from '@trident/boot-config';
import { fakeUki } from '@trident/boot-config/test-support/fake-uki';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasVolumeUki, placeStagedUki, stageUkiVolume } from './update-uki.ts';

const FS_A = 'aaaaaaaa-1111-4222-8333-444444444444';
const FS_B = 'bbbbbbbb-1111-4222-8333-444444444444';
const PART_A = 'aaaaaaaa-0000-4000-8000-000000000001';
const PART_B = 'bbbbbbbb-0000-4000-8000-000000000002';
const targetOf = (partUuid: string, fsUuid: string): BootTarget => ({
  root: { kind: 'partuuid', partUuid },
  rootFsUuid: fsUuid,
});

let dir: string;
let efivarsDir: string;
let esp: EspVolume;
let n = 0;
const log: string[] = [];

async function image(fsUuid: string, version: string): Promise<EspVolume> {
  const volume = createMountedEsp(join(dir, `image${n++}`));
  // The fixture's shape: root by the root image's filesystem UUID, named after its kernel.
  await volume.write(`/EFI/Linux/vmlinuz-${version}.efi`, fakeUki(`root=UUID=${fsUuid} rw console=ttyS0`));
  return volume;
}

async function variable(name: string): Promise<string | undefined> {
  const bytes = await readFile(join(efivarsDir, `${name}-${LOADER_VENDOR_GUID}`)).catch(() => undefined);
  return bytes?.subarray(4).toString('utf16le').replace(/\0+$/u, '');
}

/** systemd-boot's record of what it booted. */
async function booted(entry: string): Promise<void> {
  await writeFile(
    join(efivarsDir, `LoaderEntrySelected-${LOADER_VENDOR_GUID}`),
    Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from(`${entry}\0`, 'utf16le')]),
  );
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'update-uki-'));
  efivarsDir = join(dir, 'efivars');
  await mkdir(efivarsDir);
  await mkdir(join(dir, 'esp'));
  esp = createMountedEsp(join(dir, 'esp'));
  log.length = 0;
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const slot = (volume: 'volume-a' | 'volume-b') => ({
  esp,
  installIndex: 0,
  volume,
  efivarsDir,
  log: (line: string) => log.push(line),
});

describe('A/B update of a UKI host', () => {
  it('stages, finalizes (again), commits and updates the other volume, removing what each replaces', async () => {
    // Install: the image's UKI, as the image had it, booted by systemd-boot.
    await esp.write('/EFI/Linux/vmlinuz-6.1.efi', fakeUki(`root=UUID=${FS_A} rw`));
    await booted('vmlinuz-6.1.efi');

    // Update 1 (A running): stage B.
    await stageUkiVolume({
      ...slot('volume-b'),
      image: await image(FS_B, '6.2'),
      target: targetOf(PART_B, FS_B),
    });
    expect(await listFilesRecursive(esp, '/EFI/Linux')).toEqual(['vmlinuz-0.efi.staged', 'vmlinuz-6.1.efi']);
    expect(await hasVolumeUki(esp, 0, 'volume-b')).toBe(true);
    expect(await hasVolumeUki(esp, 0, 'volume-a')).toBe(true); // the staged file is the ESP's one
    // Finalize: the running UKI pinned as default first, then the new one named and tried once.
    const placed = await placeStagedUki(slot('volume-b'));
    expect(placed).toEqual({ id: 'vmlinuz-100-azlb0.efi', renamed: true });
    expect(await variable('LoaderEntryDefault')).toBe('vmlinuz-6.1.efi');
    await setLoaderEntryOneShot(placed.id, { efivarsDir });
    expect(await variable('LoaderEntryOneShot')).toBe('vmlinuz-100-azlb0.efi');
    // Finalize again (a rerun after a failure to set the variable): the same UKI, nothing renamed.
    expect(await placeStagedUki(slot('volume-b'))).toEqual({ id: 'vmlinuz-100-azlb0.efi', renamed: false });
    expect(log.join('\n')).toContain('placed by an earlier finalize');

    // The trial boot; commit makes what booted the default (commit.ts: Default ← Selected).
    await booted('vmlinuz-100-azlb0.efi');
    await setLoaderEntryDefault('vmlinuz-100-azlb0.efi', { efivarsDir });
    // A manual rollback from B boots the install's UKI of A.
    expect(await findPreviousUki(esp)).toBe('vmlinuz-6.1.efi');

    // Update 2 (B running): A's install UKI goes with the volume it booted; the default stays B's.
    await stageUkiVolume({
      ...slot('volume-a'),
      image: await image(FS_A, '6.3'),
      target: targetOf(PART_A, FS_A),
    });
    expect(log.join('\n')).toContain('removed /EFI/Linux/vmlinuz-6.1.efi');
    expect((await placeStagedUki(slot('volume-a'))).id).toBe('vmlinuz-101-azla0.efi');
    expect(await readLoaderEntryDefault({ efivarsDir })).toBe('vmlinuz-100-azlb0.efi');
    expect(await listFilesRecursive(esp, '/EFI/Linux')).toEqual([
      'vmlinuz-100-azlb0.efi',
      'vmlinuz-101-azla0.efi',
    ]);
    expect(await findPreviousUki(esp)).toBe('vmlinuz-100-azlb0.efi');
  });

  it('refuses an image whose UKI names another root before anything on the ESP changes', async () => {
    await esp.write('/EFI/Linux/vmlinuz-6.1.efi', fakeUki(`root=UUID=${FS_A} rw`));
    await esp.write('/EFI/Linux/vmlinuz-100-azlb0.efi', fakeUki(`root=UUID=${FS_B} rw`));
    await booted('vmlinuz-100-azlb0.efi');
    // The image of A's build again for B: its UKI would boot A's root filesystem.
    const error = await stageUkiVolume({
      ...slot('volume-a'),
      image: await image(FS_B, '6.3'),
      target: targetOf(PART_A, FS_A),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BOOTCFG_UKI_CMDLINE_EMBEDDED', path: '/EFI/Linux/vmlinuz-6.3.efi' });
    expect(await listFilesRecursive(esp, '/EFI/Linux')).toEqual(['vmlinuz-100-azlb0.efi', 'vmlinuz-6.1.efi']);
  });

  it('finalize without a staged UKI says to stage again; without LoaderEntrySelected it pins nothing', async () => {
    await expect(placeStagedUki(slot('volume-b'))).rejects.toMatchObject({ code: 'BOOTCFG_NOT_FOUND' });
    expect(await hasVolumeUki(esp, 0, 'volume-b')).toBe(false);
    await esp.write('/EFI/Linux/vmlinuz-0.efi.staged', fakeUki('rw'));
    expect((await placeStagedUki(slot('volume-b'))).id).toBe('vmlinuz-100-azlb0.efi');
    expect(await variable('LoaderEntryDefault')).toBeUndefined();
    expect(log.join('\n')).toContain('LoaderEntrySelected is unset');
  });
});
