import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { isCosiError } from '../errors.ts';
import { readTarIndex } from '../tar/tar-index.ts';
import { exec } from '../test-support/writer-checks.ts';
import { writeCosiTar } from './cosi-tar.ts';
import { encodeTarHeader } from './tar-writer.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosi-tar-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const long = `images/${'d'.repeat(120)}/partition.raw.zst`; // splits into prefix + name
const unsplittable = `images/${'x'.repeat(150)}.raw.zst`; // needs PAX path
const unicode = 'images/päivä.raw.zst'; // needs PAX path

test('USTAR fields: mode 0400, uid/gid 0, mtime 0, magic, checksum; PAX only when needed', async () => {
  const short = encodeTarHeader({ name: 'cosi-marker', size: 0 });
  expect(short.length).toBe(512);
  const text = Buffer.from(short).toString('latin1');
  expect(text.slice(100, 108)).toBe('0000400\0');
  expect(text.slice(108, 124)).toBe('0000000\u00000000000\0');
  expect(text.slice(124, 148)).toBe('00000000000\u000000000000000\0');
  expect(text.slice(156, 157)).toBe('0');
  expect(text.slice(257, 265)).toBe('ustar\u000000');
  expect(encodeTarHeader({ name: long, size: 1 }).length).toBe(512);
  expect(encodeTarHeader({ name: unsplittable, size: 1 }).length).toBe(1536);
  expect(
    Buffer.from(encodeTarHeader({ name: 'images/big.raw.zst', size: 2 ** 34 })).toString('latin1'),
  ).toContain('size=17179869184');
});

test('archives read back identically with GNU tar and the package reader', async () => {
  const out = join(dir, 'a.tar');
  await writeFile(join(dir, 'payload'), 'x'.repeat(1000));
  await writeCosiTar(out, [
    { name: 'cosi-marker', data: new Uint8Array(0) },
    { name: 'metadata.json', data: Buffer.from('{}') },
    { name: long, data: { file: join(dir, 'payload'), size: 1000 } },
    { name: unsplittable, data: Buffer.from('abc') },
    { name: unicode, data: Buffer.from('ü') },
  ]);
  const { stdout } = await exec('tar', ['-tf', out]);
  expect(stdout.trim().split('\n')).toEqual(['cosi-marker', 'metadata.json', long, unsplittable, unicode]);
  const bytes = await readFile(out);
  expect(bytes.length % 512).toBe(0);
  expect(bytes.subarray(-1024).every((b) => b === 0)).toBe(true);
  const index = await readTarIndex(createBufferSource(bytes));
  expect(index.entries.map((e) => [e.path, e.size])).toEqual([
    ['cosi-marker', 0],
    ['metadata.json', 2],
    [long, 1000],
    [unsplittable, 3],
    [unicode, 2],
  ]);
  expect(index.end).toBe('double-zero');
});

test.each(['/abs', './rel', 'a/../b', 'a//b', ''])('refuses member name %j', (name) => {
  let error: unknown;
  try {
    encodeTarHeader({ name, size: 0 });
  } catch (e) {
    error = e;
  }
  expect(isCosiError(error, 'COSI_BUILD_INPUT')).toBe(true);
});
