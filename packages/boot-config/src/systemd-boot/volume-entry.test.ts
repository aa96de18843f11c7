import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMountedEsp } from '../esp/mounted-esp.ts';
import { findVolumeEntry, removeVolumeEntries, writeVolumeEntry } from './volume-entry.ts';

let dir: string;
let imageDir: string;
let espDir: string;

const IMAGE_ENTRY = [
  'title Fixture 2',
  'version 6.1.0',
  'linux /vmlinuz-6.1.0',
  'initrd /initrd.img-6.1.0',
  'options root=PARTUUID=11111111-1111-1111-1111-111111111111 console=ttyS0 rw',
  '',
].join('\n');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'volume-entry-'));
  imageDir = join(dir, 'image');
  espDir = join(dir, 'esp');
  await mkdir(join(imageDir, 'loader/entries'), { recursive: true });
  await writeFile(join(imageDir, 'loader/loader.conf'), 'timeout 0\ndefault trident-fixture.conf\n');
  await writeFile(join(imageDir, 'loader/entries/trident-fixture.conf'), IMAGE_ENTRY);
  await writeFile(join(imageDir, 'vmlinuz-6.1.0'), 'kernel v2');
  await writeFile(join(imageDir, 'initrd.img-6.1.0'), 'initrd v2');
  // The host's ESP: the running volume's entry (A), which must stay as it is.
  await mkdir(join(espDir, 'loader/entries'), { recursive: true });
  await writeFile(
    join(espDir, 'loader/entries/trident-fixture.conf'),
    'title A\nlinux /vmlinuz-6.1.0\noptions root=PARTUUID=aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa\n',
  );
  await writeFile(join(espDir, 'vmlinuz-6.1.0'), 'kernel v1');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const B = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb';

describe('writeVolumeEntry', () => {
  it("copies the image's default entry with its kernel under the volume token, composed for that volume", async () => {
    const esp = createMountedEsp(espDir);
    const entry = await writeVolumeEntry({
      image: createMountedEsp(imageDir),
      esp,
      token: 'azlb',
      target: { root: { kind: 'partuuid', partUuid: B }, extraCommandLine: ['trident.updated=1'] },
    });
    expect(entry.id).toBe('azlb-trident-fixture.conf');
    const text = await readFile(join(espDir, 'loader/entries/azlb-trident-fixture.conf'), 'utf8');
    expect(text).toContain('linux /azlb/vmlinuz-6.1.0');
    expect(text).toContain('initrd /azlb/initrd.img-6.1.0');
    expect(text).toMatch(new RegExp(`^options root=PARTUUID=${B} console=ttyS0 rw trident.updated=1$`, 'mu'));
    expect(await readFile(join(espDir, 'azlb/vmlinuz-6.1.0'), 'utf8')).toBe('kernel v2');
    expect(await readFile(join(espDir, 'azlb/initrd.img-6.1.0'), 'utf8')).toBe('initrd v2');
    // The running volume's entry and kernel are untouched.
    expect(await readFile(join(espDir, 'loader/entries/trident-fixture.conf'), 'utf8')).toContain('aaaaaaaa');
    expect(await readFile(join(espDir, 'vmlinuz-6.1.0'), 'utf8')).toBe('kernel v1');
    expect(await findVolumeEntry(esp, 'azlb')).toBe('azlb-trident-fixture.conf');
    expect(await findVolumeEntry(esp, 'azla')).toBeUndefined();
  });

  it("replaces a previous update's entry for the same volume, and removes it on request", async () => {
    const esp = createMountedEsp(espDir);
    await mkdir(join(espDir, 'azlb'), { recursive: true });
    await writeFile(join(espDir, 'azlb/vmlinuz-5.0'), 'old kernel');
    await writeFile(join(espDir, 'loader/entries/azlb-old.conf'), 'title old\nlinux /azlb/vmlinuz-5.0\n');
    await writeVolumeEntry({
      image: createMountedEsp(imageDir),
      esp,
      token: 'azlb',
      target: { root: { kind: 'partuuid', partUuid: B } },
    });
    expect(await findVolumeEntry(esp, 'azlb')).toBe('azlb-trident-fixture.conf');
    await expect(readFile(join(espDir, 'azlb/vmlinuz-5.0'))).rejects.toThrow();
    const removed = await removeVolumeEntries(esp, 'azlb');
    expect(removed).toContain('/loader/entries/azlb-trident-fixture.conf');
    expect(await findVolumeEntry(esp, 'azlb')).toBeUndefined();
  });

  it('refuses an image ESP with several entries and no default naming one', async () => {
    await writeFile(join(imageDir, 'loader/loader.conf'), 'timeout 0\n');
    await writeFile(join(imageDir, 'loader/entries/other.conf'), IMAGE_ENTRY);
    await expect(
      writeVolumeEntry({
        image: createMountedEsp(imageDir),
        esp: createMountedEsp(espDir),
        token: 'azlb',
        target: { root: { kind: 'partuuid', partUuid: B } },
      }),
    ).rejects.toMatchObject({ code: 'BOOTCFG_NOT_FOUND' });
  });
});
