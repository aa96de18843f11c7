/**
 * The grub side of an A/B update on real files: the new root and both ESPs are directories (the
 * mounted-ESP implementation), the update volume's /boot an ext4 image made by mkfs.ext4 with a
 * known UUID (blkid reads files as it reads partitions). efibootmgr is left to the VM test
 * (grub-update-boots.test.ts), which boots through the entry finalize creates.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createMountedEsp } from '@trident/boot-config';
import type { CosiMetadata } from '@trident/cosi-format';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { abConfig } from '../../test-support/host-configs.ts';
import { parseRequestConfiguration } from '../host/parse-config.ts';
import {
  bootFilesystem,
  checkDistinctBootFilesystem,
  checkGrubFinalize,
  stageGrubVolume,
} from './update-grub.ts';

const run = promisify(execFile);
let dir: string;

const A_FS = 'aaaaaaaa-1111-4222-8333-444444444444';
const B_FS = 'bbbbbbbb-1111-4222-8333-444444444444';
const B_PART = 'bbbbbbbb-0000-4000-8000-000000000002';

const config = (extra = '') =>
  parseRequestConfiguration({ text: abConfig('file:///x.cosi', 'ignored', extra) }).config;

async function ext4(path: string, uuid: string): Promise<string> {
  await writeFile(path, '');
  await truncate(path, 8 * 1024 * 1024);
  await run('mkfs.ext4', ['-q', '-F', '-U', uuid, path]);
  return path;
}

async function put(root: string, path: string, content: string): Promise<void> {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), content);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'update-grub-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bootFilesystem', () => {
  it('is the root filesystem without a /boot of its own, else /boot', () => {
    expect(bootFilesystem(config())).toEqual({ id: 'root', mountPoint: '/' });
    const separate = config().storage;
    separate.filesystems.push({
      deviceId: 'data',
      source: 'image',
      mountPoint: { path: '/boot', options: 'defaults' },
    } as never);
    expect(bootFilesystem({ ...config(), storage: separate })).toEqual({ id: 'data', mountPoint: '/boot' });
  });
});

describe('checkDistinctBootFilesystem', () => {
  const metadata = (fsUuid: string) => ({ images: [{ mountPoint: '/', fsUuid }] }) as unknown as CosiMetadata;

  it("refuses an image whose /boot filesystem has the running volume's UUID, passes another", async () => {
    const running = await ext4(join(dir, 'root-a.img'), A_FS);
    const info = await checkDistinctBootFilesystem(config(), metadata(A_FS), () => running).catch(
      (error: { tridentError: unknown }) => error.tridentError,
    );
    expect(info).toMatchObject({
      kind: 'INVALID_INPUT_ERROR',
      subkind: 'duplicate-fs-uuid-ab-update',
      code: 'ENGINE_UPDATE_DUPLICATE_FS_UUID',
    });
    await expect(
      checkDistinctBootFilesystem(config(), metadata(B_FS), () => running),
    ).resolves.toBeUndefined();
  });
});

describe('stageGrubVolume', () => {
  it("rewrites the volume's grub.cfg, fills EFI/AZLB searching its /boot, and gives A its own EFI/AZLA", async () => {
    const newRoot = join(dir, 'newroot');
    await put(
      newRoot,
      'boot/grub/grub.cfg',
      "menuentry 'v2' {\n  linux /boot/vmlinuz-6 root=PARTUUID=11111111-2222-4333-8444-555555555555 console=ttyS0 rw\n}\n",
    );
    const image = join(dir, 'image-esp');
    await put(image, 'EFI/BOOT/BOOTX64.EFI', 'shim v2');
    await put(image, 'EFI/BOOT/grubx64.efi', 'grub v2');
    await put(image, 'EFI/BOOT/grub.cfg', `search -n -u ${A_FS} -s\nconfigfile ($root)/boot/grub/grub.cfg\n`);
    const esp = join(dir, 'esp');
    await put(esp, 'EFI/BOOT/BOOTX64.EFI', 'shim v1');
    await put(esp, 'EFI/BOOT/grub.cfg', `search -n -u ${A_FS} -s\n`);
    const bootDevice = await ext4(join(dir, 'root-b.img'), B_FS);
    const lines: string[] = [];
    await stageGrubVolume({
      newRoot,
      target: { root: { kind: 'partuuid', partUuid: B_PART }, extraCommandLine: ['trident.updated=1'] },
      image: createMountedEsp(image),
      esp: createMountedEsp(esp),
      dir: 'AZLB',
      installVolumeDir: 'AZLA',
      bootDevice,
      signal: new AbortController().signal,
      log: (line) => lines.push(line),
    });
    expect(await readFile(join(newRoot, 'boot/grub/grub.cfg'), 'utf8')).toContain(
      `linux /boot/vmlinuz-6 root=PARTUUID=${B_PART} console=ttyS0 rw trident.updated=1`,
    );
    expect(await readFile(join(esp, 'EFI/AZLB/bootx64.efi'), 'utf8')).toBe('shim v2');
    expect(await readFile(join(esp, 'EFI/AZLB/grubx64.efi'), 'utf8')).toBe('grub v2');
    expect(await readFile(join(esp, 'EFI/AZLB/grub.cfg'), 'utf8')).toBe(
      `search -n -u ${B_FS} -s\nconfigfile ($root)/boot/grub/grub.cfg\n`,
    );
    // Volume A's loader under its own name; the removable-media path untouched.
    expect(await readFile(join(esp, 'EFI/AZLA/bootx64.efi'), 'utf8')).toBe('shim v1');
    expect(await readFile(join(esp, 'EFI/AZLA/grub.cfg'), 'utf8')).toBe(`search -n -u ${A_FS} -s\n`);
    expect(await readFile(join(esp, 'EFI/BOOT/BOOTX64.EFI'), 'utf8')).toBe('shim v1');
    expect(lines.join('\n')).toContain(`searches /boot by UUID ${B_FS}`);
  });
});

describe('checkGrubFinalize', () => {
  it('needs the staged directory, then firmware variables', async () => {
    const esp = join(dir, 'esp');
    await mkdir(esp);
    const sysDir = join(dir, 'sys');
    await mkdir(join(sysDir, 'firmware/efi/efivars'), { recursive: true });
    const fail = (error: { tridentError: unknown }) => error.tridentError;
    expect(
      await checkGrubFinalize({ esp: createMountedEsp(esp), dir: 'AZLB', sysDir }).catch(fail),
    ).toMatchObject({
      subkind: 'create-boot-entry',
      code: 'ENGINE_UPDATE_NO_ENTRY',
    });
    await put(esp, 'EFI/AZLB/bootx64.efi', 'shim');
    // A plain directory is not efivarfs: there is nothing to write BootNext to.
    expect(
      await checkGrubFinalize({ esp: createMountedEsp(esp), dir: 'AZLB', sysDir }).catch(fail),
    ).toMatchObject({
      subkind: 'set-boot-entries',
      code: 'ENGINE_UPDATE_NO_EFIVARS',
    });
  });
});
