import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDemoDiskImage,
  DEMO_IDS,
  DEMO_PACKAGES,
  type DemoDiskImage,
} from '@trident/test-support/disk-image';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { debugfsCat, exec, growCopy, openValidateExtract, readRange } from '../test-support/writer-checks.ts';
import { buildCosi } from './build.ts';

let dir: string;
let disk: DemoDiskImage;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosi-build-'));
  disk = await createDemoDiskImage({
    path: join(dir, 'disk.img'),
    sizeMiB: 80,
    espMiB: 8,
    rootMiB: 40,
    dataMiB: 16,
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('buildCosi on a 512-byte-LBA disk (ESP, ext4 root, fstab-mounted data)', () => {
  let cosi: string;
  beforeAll(async () => {
    cosi = join(dir, 'a.cosi');
    await buildCosi({ input: disk.path, output: cosi });
  });

  test('metadata is read from the image itself', async () => {
    const { metadata } = await openValidateExtract(cosi, join(dir, 'x-meta'));
    expect(metadata.version).toBe('1.2');
    expect(metadata.osArch).toBe('x86_64');
    expect(metadata.osRelease).toBe(disk.osRelease);
    expect(metadata.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u);
    expect(metadata.osPackages).toEqual(DEMO_PACKAGES);
    expect(metadata.bootloader).toEqual({ type: 'grub' });
    expect(metadata.compression).toEqual({ maxWindowLog: 23 });
    expect(metadata.disk).toMatchObject({ size: 80 * 1024 * 1024, lbaSize: 512, type: 'gpt' });
    expect(metadata.disk?.gptRegions?.map((r) => [r.type, r.number, r.image.path])).toEqual([
      ['primary-gpt', undefined, 'images/primary-gpt.raw.zst'],
      ['partition', 1, 'images/partition-1.raw.zst'],
      ['partition', 2, 'images/partition-2.raw.zst'],
      ['partition', 3, 'images/partition-3.raw.zst'],
    ]);
    expect(metadata.images.map((i) => [i.mountPoint, i.fsType, i.fsUuid, i.partType])).toEqual([
      ['/boot/efi', 'vfat', DEMO_IDS.espFsUuid, disk.esp.typeGuid],
      ['/', 'ext4', DEMO_IDS.rootFsUuid, disk.root.typeGuid],
      ['/srv/data', 'ext4', DEMO_IDS.dataFsUuid, disk.data!.typeGuid],
    ]);
    // Filesystem images are the region images, field by field (COSI 1.2 §2.6).
    for (const fs of metadata.images) {
      expect(metadata.disk?.gptRegions?.find((r) => r.image.path === fs.image.path)?.image).toEqual(fs.image);
    }
  });

  test('tar layout: marker, metadata, GPT, partitions in LBA order; plain USTAR 0400 headers', async () => {
    const { index } = await openValidateExtract(cosi, join(dir, 'x-tar'));
    expect(index.entries.map((e) => e.path)).toEqual([
      'cosi-marker',
      'metadata.json',
      'images/primary-gpt.raw.zst',
      'images/partition-1.raw.zst',
      'images/partition-2.raw.zst',
      'images/partition-3.raw.zst',
    ]);
    for (const e of index.entries) {
      expect([e.type, e.mode, e.uid, e.gid, e.mtime, e.format, e.extended]).toEqual([
        'file',
        0o400,
        0,
        0,
        0,
        'ustar',
        false,
      ]);
    }
    expect(index.end).toBe('double-zero');
    const head = await readRange(cosi, 0, 512);
    expect(head.subarray(0, 11).toString('latin1')).toBe('cosi-marker');
    expect(head.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    const { stdout } = await exec('tar', ['-tvf', cosi]);
    expect(stdout.split('\n')[0]).toMatch(/^-r-------- 0\/0 +0 1970-01-01 00:00 cosi-marker$/u);
  });

  test("the GPT region is the disk's first bytes, verbatim; unshrunk partitions are byte-identical", async () => {
    const { extracted } = await openValidateExtract(cosi, join(dir, 'x-bytes'));
    const gpt = await readFile(extracted.get('images/primary-gpt.raw.zst')!.file);
    expect(gpt.length).toBe(512 + 512 + 128 * 128);
    expect(gpt.equals(await readRange(disk.path, 0, gpt.length))).toBe(true);
    const esp = await readFile(extracted.get('images/partition-1.raw.zst')!.file);
    expect(esp.equals(await readRange(disk.path, disk.esp.offset, disk.esp.size))).toBe(true);
  });

  test('shrunk ext4 root: e2fsck-clean, smaller, and grows back with the same files', async () => {
    const { metadata, extracted } = await openValidateExtract(cosi, join(dir, 'x-shrink'));
    const root = metadata.images.find((i) => i.mountPoint === '/')!;
    expect(root.image.uncompressedSize).toBeLessThan(disk.root.size);
    const file = extracted.get(root.image.path)!.file;
    await exec('e2fsck', ['-f', '-n', file]);
    const grown = await growCopy(file, disk.root.size);
    const original = join(dir, 'root-original.img');
    await exec('dd', [
      `if=${disk.path}`,
      `of=${original}`,
      'bs=1M',
      `skip=${disk.root.offset / 1048576}`,
      `count=${disk.root.size / 1048576}`,
      'status=none',
    ]);
    for (const path of ['/opt/payload.bin', '/etc/os-release', '/var/lib/dpkg/status', '/opt/text.txt']) {
      expect((await debugfsCat(grown, path)).equals(await debugfsCat(original, path)), path).toBe(true);
    }
  });

  test('deterministic: two builds are byte-identical', async () => {
    const second = join(dir, 'b.cosi');
    await buildCosi({ input: disk.path, output: second });
    expect((await readFile(second)).equals(await readFile(cosi))).toBe(true);
  });

  test('shrink: false keeps every partition byte-identical', async () => {
    const raw = join(dir, 'raw.cosi');
    await buildCosi({
      input: disk.path,
      output: raw,
      shrink: false,
      compression: { level: 3, windowLog: 20 },
    });
    const { metadata, extracted } = await openValidateExtract(raw, join(dir, 'x-raw'));
    expect(metadata.compression).toEqual({ maxWindowLog: 20 });
    for (const p of disk.partitions) {
      const bytes = await readFile(extracted.get(`images/partition-${p.number}.raw.zst`)!.file);
      expect(bytes.equals(await readRange(disk.path, p.offset, p.size)), `partition ${p.number}`).toBe(true);
    }
  });
});
