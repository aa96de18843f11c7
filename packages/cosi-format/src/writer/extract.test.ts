import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { isCosiError } from '../errors.ts';
import type { CosiMetadata } from '../metadata/schema.ts';
import { extractCosi } from './extract.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosi-extract-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const payload = Buffer.concat([Buffer.from('partition data'), Buffer.alloc(200_000), Buffer.from('tail')]);

/** An in-memory "archive": the compressed image at offset 0, plus metadata naming it at `path`. */
function fixture(
  path: string,
  compressed: Uint8Array = zstdCompressSync(payload),
  overrides: Partial<CosiMetadata['images'][number]['image']> = {},
) {
  const image = {
    path,
    compressedSize: compressed.length,
    uncompressedSize: payload.length,
    sha384: createHash('sha384').update(compressed).digest('hex'),
    ...overrides,
  };
  const metadata: CosiMetadata = {
    version: '1.2',
    osArch: 'x86_64',
    osRelease: '',
    images: [],
    disk: { size: 0, lbaSize: 512, type: 'gpt', gptRegions: [{ image, type: 'partition', number: 1 }] },
  };
  return {
    source: createBufferSource(compressed),
    entries: new Map([[path, { dataOffset: 0, size: compressed.length }]]),
    metadata,
  };
}

describe('extractCosi', () => {
  test('writes the decompressed image under the directory, without .zst, from any ByteSource', async () => {
    const out = join(dir, 'ok');
    const result = await extractCosi(fixture('images/sub/p1.raw.zst'), out);
    expect(result).toEqual([
      { imagePath: 'images/sub/p1.raw.zst', file: join(out, 'images/sub/p1.raw'), size: payload.length },
    ]);
    expect((await readFile(join(out, 'images/sub/p1.raw'))).equals(payload)).toBe(true);
  });

  test.each(['../evil.raw.zst', 'images/../../evil.raw.zst', '/etc/evil.zst', 'images/..'])(
    'refuses %s',
    async (path) => {
      const out = join(dir, 'unsafe');
      const error = await extractCosi(fixture(path), out).catch((e: unknown) => e);
      expect(isCosiError(error, 'COSI_EXTRACT_UNSAFE_PATH')).toBe(true);
      expect(await readdir(out)).toEqual([]);
    },
  );

  test('refuses to follow a symlink planted inside the directory', async () => {
    const out = join(dir, 'link');
    await extractCosi(fixture('images/a.raw.zst'), out);
    await rm(join(out, 'images'), { recursive: true });
    await symlink(dir, join(out, 'images'));
    const error = await extractCosi(fixture('images/a.raw.zst'), out).catch((e: unknown) => e);
    expect(isCosiError(error, 'COSI_EXTRACT_UNSAFE_PATH')).toBe(true);
  });

  test('a wrong hash or size fails with a coded error and leaves no file', async () => {
    const out = join(dir, 'bad');
    const badHash = await extractCosi(
      fixture('images/p.raw.zst', undefined, { sha384: '0'.repeat(96) }),
      out,
    ).catch((e: unknown) => e);
    expect(isCosiError(badHash, 'COSI_IMAGE_HASH_MISMATCH')).toBe(true);
    const badSize = await extractCosi(
      fixture('images/p.raw.zst', undefined, { uncompressedSize: 10 }),
      out,
    ).catch((e: unknown) => e);
    expect(isCosiError(badSize, 'COSI_IMAGE_SIZE_MISMATCH')).toBe(true);
    const short = await extractCosi(
      fixture('images/p.raw.zst', undefined, { uncompressedSize: payload.length + 1 }),
      out,
    ).catch((e: unknown) => e);
    expect(isCosiError(short, 'COSI_IMAGE_SIZE_MISMATCH')).toBe(true);
    expect(await readdir(join(out, 'images'))).toEqual([]);
  });

  test('decodes Image Customizer style images: a 24-byte skippable frame, then the zstd frame', async () => {
    const skippable = Buffer.alloc(24);
    skippable.writeUInt32LE(0x184d2a50, 0);
    skippable.writeUInt32LE(16, 4);
    const out = join(dir, 'ic');
    await extractCosi(
      fixture('images/ic.raw.zst', Buffer.concat([skippable, zstdCompressSync(payload)])),
      out,
    );
    expect((await readFile(join(out, 'images/ic.raw'))).equals(payload)).toBe(true);
  });
});
