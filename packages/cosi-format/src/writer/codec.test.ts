import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSeekTable } from '@trident/zstd-native';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { isCosiError } from '../errors.ts';
import { exec } from '../test-support/writer-checks.ts';
import { createNodeZstdCodec } from './codec.ts';

let dir: string;
let input: string;
const data = Buffer.alloc(3 * 1024 * 1024 + 123);
for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosi-codec-'));
  input = join(dir, 'in.bin');
  await writeFile(input, Buffer.concat([Buffer.alloc(4096, 7), data]));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const codec = createNodeZstdCodec();
async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}
async function* from(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}
const range = () => ({ path: input, offset: 4096, length: data.length });

test('compresses a file range; zstd CLI and the codec decode it back', async () => {
  const compressed = await collect(
    codec.compress(range(), { level: 9, windowLog: 23, longDistanceMatching: true }),
  );
  expect((await collect(codec.decompress(from([compressed]), { maxWindowLog: 23 }))).equals(data)).toBe(true);
  await writeFile(join(dir, 'a.zst'), compressed);
  await exec('zstd', ['-d', '-q', '-f', '--long=23', join(dir, 'a.zst'), '-o', join(dir, 'a.out')]);
});

test('seekable: 1 MiB frames, seek table sizes add up, frames decode with a small window limit', async () => {
  const compressed = await collect(
    codec.compress(range(), {
      level: 3,
      windowLog: 20,
      longDistanceMatching: false,
      seekableFrameSize: 1 << 20,
    }),
  );
  const table = readSeekTable(compressed).frames;
  expect(table.map((e) => e.decompressedSize)).toEqual([1 << 20, 1 << 20, 1 << 20, 123]);
  const frames = table.reduce((n, e) => n + e.compressedSize, 0);
  expect(compressed.length - frames).toBe(8 + table.length * 8 + 9);
  // Chunks split at odd places must not confuse the frame splitter.
  const pieces = Array.from({ length: Math.ceil(compressed.length / 777) }, (_, i) =>
    compressed.subarray(i * 777, (i + 1) * 777),
  );
  expect((await collect(codec.decompress(from(pieces), { maxWindowLog: 20 }))).equals(data)).toBe(true);
});

test('a frame needing a larger window than maxWindowLog is refused as corrupt', async () => {
  const compressed = await collect(
    codec.compress(range(), { level: 1, windowLog: 22, longDistanceMatching: false }),
  );
  const error = await collect(codec.decompress(from([compressed]), { maxWindowLog: 10 })).catch(
    (e: unknown) => e,
  );
  expect(isCosiError(error, 'COSI_IMAGE_CORRUPT')).toBe(true);
});

test('out-of-range settings and garbage input give coded errors', async () => {
  expect(() => codec.compress(range(), { level: 30, windowLog: 23, longDistanceMatching: false })).toThrow(
    /level 30/u,
  );
  expect(() => codec.compress(range(), { level: 3, windowLog: 9, longDistanceMatching: false })).toThrow(
    /windowLog 9/u,
  );
  const error = await collect(codec.decompress(from([Buffer.from('not zstd at all')]), {})).catch(
    (e: unknown) => e,
  );
  expect(isCosiError(error, 'COSI_IMAGE_CORRUPT')).toBe(true);
});
