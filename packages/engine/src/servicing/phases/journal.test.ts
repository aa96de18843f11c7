import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Journal, journalPath, readJournal, removeJournal, saveJournal } from './journal.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'engine-journal-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const journal = (path: string): Journal => ({
  version: 1,
  metadataSha384: 'ab'.repeat(48),
  target: { path, size: 1024 },
  images: [{ partitionNumber: 1, offset: 0, uncompressedSize: 512, sha384: 'cd'.repeat(48), sample: 'ef' }],
});

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('resume journal files', () => {
  it('never writes through a symlink planted at the old temp name or at the journal itself', async () => {
    const target = join(dir, 'disk.img');
    const file = journalPath(target, 'image-file');
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const before = sha(victim);
    symlinkSync(victim, `${file}.tmp`);
    await saveJournal(file, journal(target));
    expect(sha(victim)).toBe(before);
    expect(lstatSync(file).isFile()).toBe(true);
    expect((await readJournal(file))?.images).toHaveLength(1);

    rmSync(file);
    symlinkSync(victim, file);
    // A planted link is not read through either.
    expect(await readJournal(file)).toBeUndefined();
    await saveJournal(file, journal(target));
    expect(sha(victim)).toBe(before);
    expect(lstatSync(file).isFile()).toBe(true);
    expect(lstatSync(file).mode & 0o777).toBe(0o600);
  });

  it('removes the journal and the private temporaries a killed run left, nothing else', async () => {
    const target = join(dir, 'other.img');
    const file = journalPath(target, 'image-file');
    await saveJournal(file, journal(target));
    const leftover = join(dir, `.${file.split('/').pop()}.0123456789abcdef.tmp`);
    writeFileSync(leftover, '{}');
    const unrelated = join(dir, `.${file.split('/').pop()}.not-ours.tmp`);
    writeFileSync(unrelated, 'x');
    await removeJournal(file);
    const left = readdirSync(dir);
    expect(left).not.toContain(file.split('/').pop());
    expect(left).not.toContain(leftover.split('/').pop());
    expect(left).toContain(unrelated.split('/').pop());
  });
});
