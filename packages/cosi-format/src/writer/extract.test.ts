import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { componentAvailable } from '@trident/test-support/component';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { isCosiError } from '../errors.ts';
import type { CosiMetadata } from '../metadata/schema.ts';
import { openCosi } from '../reader/open-cosi.ts';
import type { TarEntry } from '../tar/tar-index.ts';
import { buildFixtureCosi } from '../test-support/fixture-cosi.ts';
import { extractCosi } from './extract.ts';
import { extractIoError } from './output-file.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosi-extract-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const payload = Buffer.concat([Buffer.from('partition data'), Buffer.alloc(200_000), Buffer.from('tail')]);

function member(path: string, size: number, type: TarEntry['type'] = 'file'): TarEntry {
  return {
    path,
    rawName: path,
    type,
    headerOffset: 0,
    dataOffset: 0,
    size,
    mode: 0o400,
    uid: 0,
    gid: 0,
    mtime: 0,
    linkname: '',
    format: 'ustar',
    extended: false,
  };
}

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
    entries: new Map([[path, member(path, compressed.length)]]),
    metadata,
  };
}

/** Every name in a directory tree, temporary files included. */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true }))
    out.push(join(entry.parentPath, entry.name).slice(root.length + 1));
  return out.sort();
}

describe('extractCosi', () => {
  test('writes the decompressed image under the directory, without .zst, from any ByteSource', async () => {
    const out = join(dir, 'ok');
    const result = await extractCosi(fixture('images/sub/p1.raw.zst'), out);
    expect(result).toEqual([
      { imagePath: 'images/sub/p1.raw.zst', file: join(out, 'images/sub/p1.raw'), size: payload.length },
    ]);
    expect((await readFile(join(out, 'images/sub/p1.raw'))).equals(payload)).toBe(true);
    expect(await tree(out)).toEqual(['images', 'images/sub', 'images/sub/p1.raw']);
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

  test('refuses to follow a symlinked directory planted inside the directory', async () => {
    const out = join(dir, 'link');
    await extractCosi(fixture('images/a.raw.zst'), out);
    await rm(join(out, 'images'), { recursive: true });
    await symlink(dir, join(out, 'images'));
    const error = await extractCosi(fixture('images/a.raw.zst'), out).catch((e: unknown) => e);
    expect(isCosiError(error, 'COSI_EXTRACT_UNSAFE_PATH')).toBe(true);
  });

  test('a wrong hash or size fails with a coded error, and no file (final or temporary) is left', async () => {
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

describe('extractCosi never writes through what is planted at an output path', () => {
  const victimContent = 'precious data, not an image';

  async function plant(name: string, how: 'hardlink' | 'symlink') {
    const out = join(dir, name);
    const victim = join(dir, `${name}-victim`);
    await writeFile(victim, victimContent);
    await mkdir(join(out, 'images'), { recursive: true });
    if (how === 'hardlink') await link(victim, join(out, 'images/p.raw'));
    else await symlink(victim, join(out, 'images/p.raw'));
    return { out, victim };
  }

  test.each(['hardlink', 'symlink'] as const)(
    'a %s is refused by default, the file it reaches untouched',
    async (how) => {
      const { out, victim } = await plant(`refuse-${how}`, how);
      const error = await extractCosi(fixture('images/p.raw.zst'), out).catch((e: unknown) => e);
      expect(isCosiError(error, 'COSI_EXTRACT_EXISTS')).toBe(true);
      expect((error as Error).message).toContain(join(out, 'images/p.raw'));
      expect(await readFile(victim, 'utf8')).toBe(victimContent);
      expect(await tree(out)).toEqual(['images', 'images/p.raw']);
    },
  );

  test.each(['hardlink', 'symlink'] as const)(
    'with overwrite, a %s is replaced, never written through',
    async (how) => {
      const { out, victim } = await plant(`replace-${how}`, how);
      await extractCosi(fixture('images/p.raw.zst'), out, { overwrite: true });
      expect(await readFile(victim, 'utf8')).toBe(victimContent);
      expect((await readFile(join(out, 'images/p.raw'))).equals(payload)).toBe(true);
      expect((await stat(join(out, 'images/p.raw'))).nlink).toBe(1);
      expect(await tree(out)).toEqual(['images', 'images/p.raw']);
    },
  );

  test('a bad image never replaces an existing file, even with overwrite', async () => {
    const { out, victim } = await plant('replace-bad', 'hardlink');
    const error = await extractCosi(fixture('images/p.raw.zst', undefined, { sha384: '1'.repeat(96) }), out, {
      overwrite: true,
    }).catch((e: unknown) => e);
    expect(isCosiError(error, 'COSI_IMAGE_HASH_MISMATCH')).toBe(true);
    expect(await readFile(join(out, 'images/p.raw'), 'utf8')).toBe(victimContent);
    expect(await readFile(victim, 'utf8')).toBe(victimContent);
    expect(await tree(out)).toEqual(['images', 'images/p.raw']);
  });
});

describe('archive members that are not regular files', () => {
  test.each([
    ['1', 'hardlink'],
    ['2', 'symlink'],
    ['3', 'char-device'],
    ['6', 'fifo'],
  ])('typeflag %s (%s): validation and extraction refuse it by the same rule', async (typeflag, type) => {
    const cosi = buildFixtureCosi({
      members: (members) =>
        members.map((m) =>
          m.name === 'images/root.raw.zst' ? { ...m, typeflag, data: new Uint8Array(0) } : m,
        ),
    });
    const reader = await openCosi(createBufferSource(cosi.bytes, 'links.cosi'));
    const report = await reader.validate('trident');
    expect(report.errors.map((e) => [e.code, e.path])).toContainEqual([
      'COSI_IMAGE_MEMBER_NOT_FILE',
      'images[1].image.path',
    ]);
    const out = join(dir, `member-${type}`);
    const error = await extractCosi(
      { source: reader.source, entries: reader.index.byPath, metadata: reader.metadata },
      out,
    ).catch((e: unknown) => e);
    expect(isCosiError(error, 'COSI_MEMBER_NOT_REGULAR')).toBe(true);
    expect((error as Error).message).toContain(`is a ${type}`);
    expect(await readdir(out)).toEqual([]);
  });
});

describe('interruption and file-system failures', () => {
  test('an abort mid-image throws the signal reason and leaves no partial file', async () => {
    const out = join(dir, 'aborted');
    const big = Buffer.alloc(32 * 1024 * 1024, 7);
    const controller = new AbortController();
    const reason = Object.assign(new Error('interrupted by SIGINT'), { code: 'CLI_INTERRUPTED' });
    const input = fixture('images/big.raw.zst', zstdCompressSync(big), { uncompressedSize: big.length });
    // Abort as soon as the first compressed bytes are read.
    const source = {
      ...input.source,
      read: async (offset: number, length: number) => {
        controller.abort(reason);
        return input.source.read(offset, length);
      },
    };
    const error = await extractCosi({ ...input, source }, out, { signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(error).toBe(reason);
    expect(await tree(out)).toEqual(['images']);
  });

  test('raw EEXIST, ELOOP and ENOSPC become coded errors naming the path', () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    expect(extractIoError(errno('EEXIST'), '/x/p.raw', 'images/p.raw.zst')).toMatchObject({
      code: 'COSI_EXTRACT_EXISTS',
      message: expect.stringContaining('/x/p.raw'),
    });
    expect(extractIoError(errno('ELOOP'), '/x/p.raw', 'images/p.raw.zst')).toMatchObject({
      code: 'COSI_EXTRACT_UNSAFE_PATH',
    });
    expect(extractIoError(errno('ENOSPC'), '/x/p.raw', 'images/p.raw.zst')).toMatchObject({
      code: 'COSI_EXTRACT_NO_SPACE',
      message: expect.stringContaining('/x/p.raw'),
    });
  });

  const root = process.getuid?.() === 0;
  test.runIf(componentAvailable(root, 'tmpfs mount (ENOSPC)', 'mounting a tmpfs needs root'))(
    'a full file system is COSI_EXTRACT_NO_SPACE and the partial file is removed',
    async () => {
      const out = join(dir, 'full');
      await mkdir(out);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', out]);
      try {
        const noisy = Buffer.from(Array.from({ length: 512 * 1024 }, (_, i) => (i * 2654435761) >>> 24));
        const input = fixture('images/p.raw.zst', zstdCompressSync(noisy), {
          uncompressedSize: noisy.length,
        });
        const error = await extractCosi(input, out).catch((e: unknown) => e);
        expect(isCosiError(error, 'COSI_EXTRACT_NO_SPACE')).toBe(true);
        expect((error as Error).message).toContain(out);
        expect(await tree(out)).toEqual(['images']);
      } finally {
        execFileSync('umount', [out]);
      }
    },
  );
});
