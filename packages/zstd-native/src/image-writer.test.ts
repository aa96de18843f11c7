import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Codec,
  createImageWriter,
  type ImageWriterOptions,
  isZstdError,
  type ZstdError,
} from './index.ts';
import { chunks, count, icPrefix, image, sha384, tempDir, zstd } from './test-support/fixtures.ts';

async function writeAll(options: ImageWriterOptions, input: Uint8Array, chunkSize = 65_536) {
  const w = await createImageWriter(options);
  try {
    for (const c of chunks(input, chunkSize)) await w.write(c);
  } catch (err) {
    await w.abort();
    throw err;
  }
  return w.finish();
}

async function failure(p: Promise<unknown>): Promise<ZstdError> {
  try {
    await p;
  } catch (err) {
    if (isZstdError(err)) return err;
    throw err;
  }
  throw new Error('expected a ZstdError, the call succeeded');
}

const codecs: Codec[] = ['native', 'node-zlib', 'simple-zstd'];

describe.each(codecs)('image writer (%s)', (codec) => {
  const a = image(3 << 20, 1);
  const b = image(1 << 20, 2);
  const whole = Buffer.concat([a, b]);
  const z = Buffer.concat([icPrefix(), zstd(a, 3), zstd(b, 1)]);

  it('round-trips a skippable prefix and two frames at an offset, with hash and sizes', async () => {
    using t = tempDir();
    const file = path.join(t.dir, 'disk.img');
    const r = await writeAll(
      {
        codec,
        target: { path: file, create: true, offset: 4096, length: whole.length },
        expected: {
          sha384: `sha384:${sha384(z).toUpperCase()}`,
          compressedSize: z.length,
          uncompressedSize: whole.length,
        },
        bufferSize: 1 << 20,
      },
      z,
    );
    expect(r).toMatchObject({
      sha384: sha384(z),
      compressedBytes: z.length,
      uncompressedBytes: whole.length,
    });
    expect(r.elapsed).toBeGreaterThan(0);
    const got = fs.readFileSync(file);
    expect(got.subarray(0, 4096).every((x) => x === 0)).toBe(true);
    expect(got.subarray(4096).equals(whole)).toBe(true);
  });

  it('reports a hash mismatch with expected and actual after writing', async () => {
    using t = tempDir();
    const e = await failure(
      writeAll(
        {
          codec,
          target: { path: path.join(t.dir, 'x'), create: true },
          expected: { sha384: 'ab'.repeat(48) },
        },
        z,
      ),
    );
    expect([e.code, e.expected, e.actual]).toEqual(['ZSTD_HASH_MISMATCH', 'ab'.repeat(48), sha384(z)]);
  });

  it('rejects more or fewer bytes than declared and never writes past the range', async () => {
    using t = tempDir();
    const target = (name: string) => ({ path: path.join(t.dir, name), create: true });
    let e = await failure(
      writeAll({ codec, target: target('a'), expected: { uncompressedSize: 1 << 20 } }, z),
    );
    expect(e.code).toBe('ZSTD_SIZE_MISMATCH');
    e = await failure(
      writeAll({ codec, target: target('b'), expected: { uncompressedSize: whole.length + 1 } }, z),
    );
    expect([e.code, e.actual]).toEqual(['ZSTD_SIZE_MISMATCH', String(whole.length)]);
    const limit = (1 << 20) + 10;
    e = await failure(
      writeAll({ codec, target: { ...target('c'), offset: 512, length: limit }, bufferSize: 65_536 }, z),
    );
    expect(e.code).toBe('ZSTD_SIZE_MISMATCH');
    expect(fs.statSync(path.join(t.dir, 'c')).size).toBeLessThanOrEqual(512 + limit);
    e = await failure(
      writeAll({ codec, target: target('d'), expected: { compressedSize: z.length - 1 } }, z),
    );
    expect([e.code, e.expected]).toEqual(['ZSTD_SIZE_MISMATCH', String(z.length - 1)]);
    e = await failure(
      writeAll({ codec, target: target('e'), expected: { compressedSize: z.length + 1 } }, z),
    );
    expect([e.code, e.actual]).toEqual(['ZSTD_SIZE_MISMATCH', String(z.length)]);
  });

  it('reports truncated, corrupted and non-zstd input as corrupt frames', async () => {
    using t = tempDir();
    const target = (name: string) => ({ path: path.join(t.dir, name), create: true });
    let e = await failure(writeAll({ codec, target: target('t') }, z.subarray(0, z.length - 100), 4096));
    expect(e.code).toBe('ZSTD_CORRUPT_FRAME');
    expect(e.message).toContain('truncated');
    const bad = Buffer.from(z);
    for (let i = 200_000; i < 200_064; i++) bad[i] = 255 - bad[i]!;
    e = await failure(writeAll({ codec, target: target('c') }, bad, 4096));
    expect(e.code).toBe('ZSTD_CORRUPT_FRAME');
    e = await failure(
      writeAll({ codec, target: target('n') }, Buffer.from('this is not zstd data at all'), 4096),
    );
    expect(e.code).toBe('ZSTD_CORRUPT_FRAME');
  });

  it('enforces maxWindowLog and rejects out-of-range values', async () => {
    using t = tempDir();
    const big = zstd(image(4 << 20, 3), 3, 22);
    const e = await failure(
      writeAll({ codec, target: { path: path.join(t.dir, 'w'), create: true }, maxWindowLog: 20 }, big),
    );
    expect(e.code).toBe('ZSTD_WINDOW_TOO_LARGE');
    for (const bad of [5, 9, 32, 1.5]) {
      const e2 = await failure(
        createImageWriter({
          codec,
          target: { path: path.join(t.dir, 'w'), create: true },
          maxWindowLog: bad,
        }),
      );
      expect(e2.code).toBe('ZSTD_INVALID_OPTION');
    }
  });

  it('reports I/O errors with errno', async () => {
    using t = tempDir();
    let e = await failure(
      createImageWriter({ codec, target: { path: path.join(t.dir, 'missing', 'img'), create: true } }),
    );
    expect([e.code, e.errno, e.syscall]).toEqual(['ZSTD_IO', 2, 'open']);
    const ro = path.join(t.dir, 'ro');
    fs.writeFileSync(ro, '');
    const fd = fs.openSync(ro, 'r');
    try {
      e = await failure(writeAll({ codec, target: { fd } }, z));
      expect([e.code, e.errno, e.syscall]).toEqual(['ZSTD_IO', 9, 'pwrite']);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('turns zero runs into holes with sparse: true and keeps the full size', async () => {
    using t = tempDir();
    const data = Buffer.concat([
      image(1 << 20, 9),
      Buffer.alloc(16 << 20),
      image(1 << 20, 10),
      Buffer.alloc(1 << 20),
    ]);
    const file = path.join(t.dir, 'sparse.img');
    await writeAll(
      {
        codec,
        target: { path: file, create: true },
        sparse: true,
        expected: { uncompressedSize: data.length },
      },
      zstd(data, 1),
    );
    const st = fs.statSync(file);
    expect(st.size).toBe(data.length);
    expect(st.blocks * 512).toBeLessThan(8 << 20);
    expect(fs.readFileSync(file).equals(data)).toBe(true);
  });

  it('abort in the middle leaves no fd or thread behind and rejects later calls', async () => {
    using t = tempDir();
    const fds = count('/proc/self/fd');
    const threads = count('/proc/self/task');
    for (let round = 0; round < 3; round++) {
      const w = await createImageWriter({
        codec,
        target: { path: path.join(t.dir, 'ab'), create: true },
        highWaterMark: 65_536,
      });
      for (const c of chunks(z.subarray(0, z.length >> 1), 65_536)) await w.write(c);
      await w.abort();
      const e = await failure(w.write(z.subarray(0, 10)));
      expect(e.code).toBe('ZSTD_ABORTED');
    }
    // Child processes and libuv threads wind down asynchronously for the JS codecs.
    for (let i = 0; i < 50 && count('/proc/self/fd') > fds; i++) await new Promise((r) => setTimeout(r, 20));
    expect(count('/proc/self/fd')).toBeLessThanOrEqual(fds);
    if (codec === 'native') expect(count('/proc/self/task')).toBeLessThanOrEqual(threads);
  });

  it('runs many writers in parallel', async () => {
    using t = tempDir();
    const inputs = Array.from({ length: 8 }, (_, i) => {
      const d = image((1 << 20) + i * 777, 20 + i);
      return { d, z: zstd(d, 1) };
    });
    await Promise.all(
      inputs.map(async ({ d, z: zi }, i) => {
        const file = path.join(t.dir, `p${i}`);
        const r = await writeAll(
          {
            codec,
            target: { path: file, create: true },
            expected: { sha384: sha384(zi), uncompressedSize: d.length },
          },
          zi,
          8192 + i,
        );
        expect(r.uncompressedBytes).toBe(d.length);
        expect(fs.readFileSync(file).equals(d)).toBe(true);
      }),
    );
  });
});

describe('consumeChunks (native)', () => {
  it('frees each chunk that owns its whole buffer once copied, leaves views alone, and the image verifies', async () => {
    using t = tempDir();
    const data = image(2 << 20, 7);
    const z = zstd(data, 3);
    const file = path.join(t.dir, 'disk.img');
    const w = await createImageWriter({
      codec: 'native',
      target: { path: file, create: true },
      expected: { sha384: sha384(z), compressedSize: z.length, uncompressedSize: data.length },
      consumeChunks: true,
    });
    const owned: Uint8Array[] = [];
    const views: Uint8Array[] = [];
    let i = 0;
    for (const piece of chunks(z, 65_536)) {
      // Alternate: a chunk with a buffer of its own (as a socket read delivers it), and a view
      // into a larger buffer another reader may still hold.
      if (i++ % 2 === 0) {
        const own = new Uint8Array(piece.length);
        own.set(piece);
        owned.push(own);
        await w.write(own);
      } else {
        const shared = new Uint8Array(piece.length + 16);
        shared.set(piece, 8);
        const view = shared.subarray(8, 8 + piece.length);
        views.push(view);
        await w.write(view);
      }
    }
    const r = await w.finish();
    expect(r).toMatchObject({ sha384: sha384(z), uncompressedBytes: data.length });
    expect(fs.readFileSync(file).equals(data)).toBe(true);
    expect(owned.length).toBeGreaterThan(2);
    expect(owned.every((c) => c.byteLength === 0 && c.buffer.byteLength === 0)).toBe(true);
    expect(views.every((c) => c.byteLength > 0 && c.buffer.byteLength === c.byteLength + 16)).toBe(true);
  });
});
