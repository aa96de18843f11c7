import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { fakePe } from '@trident/test-support/fake-pe';
import { readSeekTable } from '@trident/zstd-native';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isCosiError } from '../errors.ts';
import { exec, openValidateExtract, readRange } from '../test-support/writer-checks.ts';
import { buildCosi } from './build.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosi-variants-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A UKI as COSI detection reads one: its `.cmdline` and `.uname` sections. */
export function fakeUki(cmdline: string, uname: string): Uint8Array {
  return fakePe([
    ['.cmdline', Buffer.from(`${cmdline}\0`)],
    ['.uname', Buffer.from(uname)],
  ]);
}

function rpmHeaderBlob(tags: Array<[number, string]>): Uint8Array {
  const store = Buffer.concat(tags.map(([, v]) => Buffer.from(`${v}\0`)));
  const head = Buffer.alloc(8 + tags.length * 16);
  head.writeUInt32BE(tags.length, 0);
  head.writeUInt32BE(store.length, 4);
  let offset = 0;
  tags.forEach(([tag, value], i) => {
    head.writeUInt32BE(tag, 8 + i * 16);
    head.writeUInt32BE(6, 12 + i * 16);
    head.writeUInt32BE(offset, 16 + i * 16);
    head.writeUInt32BE(1, 20 + i * 16);
    offset += Buffer.byteLength(value) + 1;
  });
  return Buffer.concat([head, store]);
}

describe('buildCosi variants', () => {
  test('4096-byte LBA disk: lbaSize detected, GPT region is 2 LBAs + entries, verbatim', async () => {
    const disk = await createDemoDiskImage({
      path: join(dir, '4k.img'),
      sizeMiB: 48,
      espMiB: 8,
      rootMiB: 32,
      lbaSize: 4096,
    });
    const cosi = join(dir, '4k.cosi');
    await buildCosi({ input: disk.path, output: cosi });
    const { metadata, extracted } = await openValidateExtract(cosi, join(dir, 'x-4k'));
    expect(metadata.disk).toMatchObject({ lbaSize: 4096, size: 48 * 1024 * 1024 });
    const gpt = await readFile(extracted.get('images/primary-gpt.raw.zst')!.file);
    expect(gpt.length).toBe(2 * 4096 + 128 * 128);
    expect(gpt.equals(await readRange(disk.path, 0, gpt.length))).toBe(true);
    const esp = await readFile(extracted.get('images/partition-1.raw.zst')!.file);
    expect(esp.equals(await readRange(disk.path, disk.esp.offset, disk.esp.size))).toBe(true);
  });

  test('verity: data not shrunk, hash partition is verity.image and its own region, veritysetup verifies', async () => {
    const disk = await createDemoDiskImage({
      path: join(dir, 'verity.img'),
      sizeMiB: 48,
      espMiB: 8,
      rootMiB: 32,
      withVerity: true,
    });
    const cosi = join(dir, 'verity.cosi');
    await buildCosi({ input: disk.path, output: cosi, verity: disk.verity! });
    const { metadata, extracted } = await openValidateExtract(cosi, join(dir, 'x-verity'));
    const root = metadata.images.find((i) => i.mountPoint === '/')!;
    expect(root.image.uncompressedSize).toBe(disk.root.size);
    expect(root.verity?.roothash).toBe(disk.verity!.roothash);
    const hashRegion = metadata.disk?.gptRegions?.find((r) => r.number === 3);
    expect(root.verity?.image).toEqual(hashRegion?.image);
    expect(metadata.images.map((i) => i.image.path)).not.toContain(hashRegion?.image.path);
    const data = extracted.get(root.image.path)!.file;
    const hash = extracted.get(root.verity!.image.path)!.file;
    await exec('veritysetup', ['verify', data, hash, disk.verity!.roothash]);
  });

  test('systemd-boot UKIs and an rpm sqlite database are detected', async () => {
    const db = join(dir, 'rpmdb.sqlite');
    const sqlite = new DatabaseSync(db);
    sqlite.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)');
    const insert = sqlite.prepare('INSERT INTO Packages (blob) VALUES (?)');
    insert.run(
      rpmHeaderBlob([
        [1000, 'kernel'],
        [1001, '6.6.44.1'],
        [1002, '1.azl3'],
        [1022, 'x86_64'],
      ]),
    );
    insert.run(
      rpmHeaderBlob([
        [1000, 'gpg-pubkey'],
        [1001, '3135ce90'],
        [1002, '5e6fda74'],
      ]),
    );
    sqlite.close();
    const disk = await createDemoDiskImage({
      path: join(dir, 'uki.img'),
      sizeMiB: 48,
      espMiB: 8,
      rootMiB: 32,
      espFiles: { 'EFI/Linux/azl.efi': fakeUki('root=PARTUUID=x ro quiet', '6.6.44.1-1.azl3') },
      files: { 'var/lib/rpm/rpmdb.sqlite': await readFile(db) },
    });
    const cosi = join(dir, 'uki.cosi');
    const result = await buildCosi({ input: disk.path, output: cosi });
    expect(result.metadata.bootloader).toEqual({
      type: 'systemd-boot',
      systemdBoot: {
        entries: [
          {
            type: 'uki-standalone',
            path: 'EFI/Linux/azl.efi',
            cmdline: 'root=PARTUUID=x ro quiet',
            kernel: '6.6.44.1-1.azl3',
          },
        ],
      },
    });
    expect(result.metadata.osPackages).toEqual([
      { name: 'kernel', version: '6.6.44.1', release: '1.azl3', arch: 'x86_64' },
      { name: 'gpg-pubkey', version: '3135ce90', release: '5e6fda74', arch: '(none)' },
    ]);
    await openValidateExtract(cosi, join(dir, 'x-uki'));
  });

  test('seekable option: independent frames plus a seek table; zstd CLI decodes the same bytes', async () => {
    const disk = await createDemoDiskImage({
      path: join(dir, 'seek.img'),
      sizeMiB: 48,
      espMiB: 8,
      rootMiB: 32,
    });
    const cosi = join(dir, 'seek.cosi');
    await buildCosi({
      input: disk.path,
      output: cosi,
      shrink: false,
      compression: { seekableFrameSize: 1024 * 1024 },
    });
    const { index, extracted } = await openValidateExtract(cosi, join(dir, 'x-seek'));
    const member = index.byPath.get('images/partition-2.raw.zst')!;
    const compressed = await readRange(cosi, member.dataOffset, member.size);
    const table = readSeekTable(compressed).frames;
    expect(table?.length).toBe(32);
    expect(table?.every((e) => e.decompressedSize === 1024 * 1024)).toBe(true);
    const viaCli = join(dir, 'p2.zst');
    await writeFile(viaCli, compressed);
    await exec('zstd', ['-d', '-q', '-f', viaCli, '-o', `${viaCli}.raw`]);
    const raw = await readFile(`${viaCli}.raw`);
    expect(raw.equals(await readFile(extracted.get(member.path)!.file))).toBe(true);
    expect(raw.equals(await readRange(disk.path, disk.root.offset, disk.root.size))).toBe(true);
  });

  test('refuses a non-GPT input with COSI_BUILD_INPUT', async () => {
    const input = join(dir, 'zeros.img');
    await writeFile(input, Buffer.alloc(1024 * 1024));
    const error = await buildCosi({ input, output: join(dir, 'no.cosi') }).catch((e: unknown) => e);
    expect(isCosiError(error, 'COSI_BUILD_INPUT')).toBe(true);
    expect(String(error)).toMatch(/not a usable GPT disk image/u);
    // A damaged table is refused too, with the GPT parser's reason as the cause.
    const disk = await createDemoDiskImage({
      path: join(dir, 'bad.img'),
      sizeMiB: 48,
      espMiB: 8,
      rootMiB: 32,
    });
    const handle = await import('node:fs/promises').then((fs) => fs.open(disk.path, 'r+'));
    await handle.write(Buffer.from([0xff]), 0, 1, 1024 + 8);
    await handle.close();
    const bad = await buildCosi({ input: disk.path, output: join(dir, 'no.cosi') }).catch((e: unknown) => e);
    expect(isCosiError(bad, 'COSI_BUILD_INPUT')).toBe(true);
  });
});
