import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildSeekTable,
  type Codec,
  compressFile,
  createImageWriter,
  isZstdError,
  readSeekTable,
  seekTableSize,
} from './index.ts';
import { chunks, icPrefix, image, sha384, tempDir } from './test-support/fixtures.ts';

describe('seek table', () => {
  it('parses what it builds and says how many bytes it needs', () => {
    const t = buildSeekTable([
      { compressedSize: 10, decompressedSize: 100 },
      { compressedSize: 20, decompressedSize: 200 },
    ]);
    expect(seekTableSize(t.subarray(t.length - 9))).toBe(t.length);
    const parsed = readSeekTable(Buffer.concat([Buffer.from('prefix'), t]));
    expect(parsed).toEqual({
      frames: [
        { compressedSize: 10, decompressedSize: 100 },
        { compressedSize: 20, decompressedSize: 200 },
      ],
      tableSize: t.length,
      compressedSize: 30,
      decompressedSize: 300,
    });
    for (const bad of [t.subarray(4), Buffer.from([1, 2, 3]), Buffer.concat([t, Buffer.from([0])])]) {
      expect(() => readSeekTable(bad)).toThrow(expect.objectContaining({ code: 'ZSTD_SEEK_TABLE_INVALID' }));
    }
  });
});

describe.each<Codec>(['native', 'node-zlib'])('seekable compression (%s)', (codec) => {
  it('decodes in parallel with the supplied table, a skippable prefix, and sequentially without it', async () => {
    using t = tempDir();
    const data = image((5 << 20) + 12_345, 11);
    const src = path.join(t.dir, 'src.raw');
    fs.writeFileSync(src, data);
    const out = path.join(t.dir, 'src.zst');
    const r = await compressFile(
      src,
      { path: out },
      { codec, level: 3, seekableFrameSize: 1 << 20, threads: 2 },
    );
    const z = fs.readFileSync(out);
    expect(r).toMatchObject({
      compressedBytes: z.length,
      uncompressedBytes: data.length,
      sha384: sha384(z),
      frames: 6,
    });
    const table = readSeekTable(z.subarray(z.length - seekTableSize(z.subarray(z.length - 9))));
    expect(table.decompressedSize).toBe(data.length);
    const withPrefix = Buffer.concat([icPrefix(), z]);
    for (const [input, seek] of [
      [z, true],
      [withPrefix, true],
      [withPrefix, false],
    ] as const) {
      const file = path.join(t.dir, 'out.img');
      fs.rmSync(file, { force: true });
      const w = await createImageWriter({
        target: { path: file, create: true, offset: 512 },
        expected: { sha384: sha384(input), compressedSize: input.length, uncompressedSize: data.length },
        ...(seek ? { seekTable: table } : {}),
        threads: 3,
      });
      for (const c of chunks(input, 100_000)) await w.write(c);
      const res = await w.finish();
      expect(res.uncompressedBytes).toBe(data.length);
      expect(fs.readFileSync(file).subarray(512).equals(data)).toBe(true);
    }
  });
});

describe('seekable errors (native)', () => {
  it('rejects a table that does not describe the stream', async () => {
    using t = tempDir();
    const data = image(3 << 20, 12);
    const src = path.join(t.dir, 'src.raw');
    fs.writeFileSync(src, data);
    const out = path.join(t.dir, 'src.zst');
    await compressFile(src, { path: out }, { level: 1, seekableFrameSize: 1 << 20 });
    const z = fs.readFileSync(out);
    const table = readSeekTable(z);
    const wrong = table.frames.map((f, i) => ({
      ...f,
      decompressedSize: f.decompressedSize + (i === 0 ? -1 : i === 1 ? 1 : 0),
    }));
    const run = async (frames: typeof wrong, input: Uint8Array, expected = {}) => {
      try {
        const w = await createImageWriter({
          target: { path: path.join(t.dir, 'o'), create: true },
          seekTable: frames,
          expected,
        });
        for (const c of chunks(input, 65_536)) await w.write(c);
        await w.finish();
      } catch (err) {
        if (isZstdError(err)) return err.code;
        throw err;
      }
      return 'ok';
    };
    expect(await run(wrong, z)).toBe('ZSTD_CORRUPT_FRAME');
    expect(await run(table.frames, z.subarray(0, z.length >> 1))).toBe('ZSTD_CORRUPT_FRAME');
    expect(await run(table.frames, z, { uncompressedSize: 1000 })).toBe('ZSTD_SIZE_MISMATCH');
    expect(
      await run(
        table.frames,
        Buffer.concat([z.subarray(0, z.length - table.tableSize), Buffer.from('garbage!garbage!')]),
      ),
    ).toBe('ZSTD_SEEK_TABLE_INVALID');
  });
});
