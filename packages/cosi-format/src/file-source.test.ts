import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCosiError } from './errors.ts';
import { openFileSource } from './file-source.ts';

let dir: string;
const bytes = randomBytes(9 * 1024 * 1024 + 17);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosi-file-source-'));
  await writeFile(join(dir, 'data.bin'), bytes);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('openFileSource', () => {
  it('reads and streams a file with positioned reads', async () => {
    const source = await openFileSource(join(dir, 'data.bin'));
    try {
      expect(source.size).toBe(bytes.length);
      expect(Buffer.from(await source.read(100, 50)).equals(bytes.subarray(100, 150))).toBe(true);
      const chunks: Uint8Array[] = [];
      for await (const chunk of source.stream(3, bytes.length - 3)) chunks.push(chunk);
      expect(chunks.length).toBe(3);
      expect(Buffer.concat(chunks).equals(bytes.subarray(3))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('refuses missing paths, directories, reads outside the file and reads after close with COSI_IO', async () => {
    await expect(openFileSource(join(dir, 'missing'))).rejects.toSatisfy((e) => isCosiError(e, 'COSI_IO'));
    await expect(openFileSource(dir)).rejects.toThrow(/not a regular file/u);
    const source = await openFileSource(join(dir, 'data.bin'));
    await expect(source.read(bytes.length - 1, 2)).rejects.toSatisfy((e) => isCosiError(e, 'COSI_IO'));
    await source.close();
    await expect(source.read(0, 1)).rejects.toThrow(/was closed/u);
  });

  it("raises the caller's errors and rethrows an abort's reason", async () => {
    const problems: string[] = [];
    await expect(
      openFileSource(join(dir, 'missing'), {
        error: (problem, message) => {
          problems.push(problem);
          return new Error(`mine: ${message}`);
        },
      }),
    ).rejects.toThrow(/^mine: .* does not exist/u);
    expect(problems).toEqual(['open']);
    const source = await openFileSource(join(dir, 'data.bin'));
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    const stream = source.stream(0, 10, { signal: controller.signal })[Symbol.asyncIterator]();
    await expect(stream.next()).rejects.toBe(reason);
    await source.close();
  });
});
