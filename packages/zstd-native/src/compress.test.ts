import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Codec, compressFile, createCompressor, createImageWriter, isZstdError } from './index.ts';
import { chunks, image, sha384, tempDir } from './test-support/fixtures.ts';

describe.each<Codec>(['native', 'node-zlib'])('compressor (%s)', (codec) => {
  it('streams at an offset with long mode and reports hash and sizes of the output', async () => {
    using t = tempDir();
    const data = image(6 << 20, 30);
    const out = path.join(t.dir, 'cosi.tar');
    fs.writeFileSync(out, Buffer.alloc(20 << 20, 1)); // older, longer content is cut off
    const c = await createCompressor(
      { path: out, offset: 1024 },
      { codec, level: 5, windowLog: 24, long: true, threads: 2 },
    );
    expect(c.codec).toBe(codec);
    for (const part of chunks(data, 300_000)) await c.write(part);
    const r = await c.finish();
    const file = fs.readFileSync(out);
    const z = file.subarray(1024);
    expect(file.length).toBe(1024 + r.compressedBytes);
    expect(r).toMatchObject({ uncompressedBytes: data.length, sha384: sha384(z) });
    const dest = path.join(t.dir, 'img');
    const w = await createImageWriter({
      target: { path: dest, create: true },
      maxWindowLog: 24,
      expected: { sha384: r.sha384 },
    });
    for (const part of chunks(z, 1 << 20)) await w.write(part);
    await w.finish();
    expect(fs.readFileSync(dest).equals(data)).toBe(true);
  });

  it('compresses a byte range of a file (a partition of a disk image)', async () => {
    using t = tempDir();
    const data = image(3 << 20, 41);
    const disk = path.join(t.dir, 'disk.raw');
    fs.writeFileSync(disk, data);
    const out = path.join(t.dir, 'part.zst');
    const r = await compressFile(
      { path: disk, offset: 4096, length: 1 << 20 },
      { path: out },
      { codec, level: 1 },
    );
    expect(r.uncompressedBytes).toBe(1 << 20);
    const dest = path.join(t.dir, 'part.img');
    const w = await createImageWriter({
      target: { path: dest, create: true },
      expected: { sha384: r.sha384, uncompressedSize: 1 << 20 },
    });
    await w.write(fs.readFileSync(out));
    await w.finish();
    expect(fs.readFileSync(dest).equals(data.subarray(4096, 4096 + (1 << 20)))).toBe(true);
  });

  it('stops when its signal aborts: already aborted, and midway through a large input', async () => {
    using t = tempDir();
    const disk = path.join(t.dir, 'big.raw');
    fs.writeFileSync(disk, image(24 << 20, 43));
    const out = { path: path.join(t.dir, 'big.zst') };
    await expect(compressFile(disk, out, { codec, signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ZSTD_ABORTED',
    });
    const controller = new AbortController();
    // Level 19 on 24 MiB takes many seconds: the abort lands while blocks are being compressed;
    // without it the promise would resolve.
    const running = compressFile(disk, out, { codec, level: 19, threads: 1, signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await expect(running).rejects.toMatchObject({ code: 'ZSTD_ABORTED' });
  });

  it('rejects bad options with a coded error', async () => {
    using t = tempDir();
    for (const bad of [{ level: 23 }, { windowLog: 9 }, { threads: 0 }, { seekableFrameSize: 100 }]) {
      await expect(
        compressFile(path.join(t.dir, 'x'), { path: path.join(t.dir, 'y') }, { codec, ...bad }),
      ).rejects.toMatchObject({
        code: 'ZSTD_INVALID_OPTION',
      });
    }
    const e = await compressFile(
      path.join(t.dir, 'missing'),
      { path: path.join(t.dir, 'y') },
      { codec },
    ).catch((err: unknown) => err);
    expect(isZstdError(e, 'ZSTD_IO') && e.errno).toBe(2);
  });
});
