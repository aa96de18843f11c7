import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve(import.meta.dirname, 'main.ts');

/** Runs the real CLI as a user would, in its own Node process. */
function trident(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
let cosi: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trident-cli-'));
  await createDemoDiskImage({ path: join(dir, 'disk.img'), sizeMiB: 2048, espMiB: 64, rootMiB: 256 });
  cosi = join(dir, 'demo.cosi');
  const build = trident('cosi', 'build', join(dir, 'disk.img'), '-o', cosi);
  expect(build.stderr).not.toMatch(/trident: \[/u);
  expect(build.code).toBe(0);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('trident CLI', () => {
  it('reports its version and zstd codec', () => {
    const { code, stdout } = trident('--version');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^trident \d+\.\d+\.\d+ \(node v\d+.*zstd codec: /u);
  });

  it('builds a COSI from a 2 GiB disk that passes the spec profile, images included', () => {
    const { code, stdout } = trident('cosi', 'validate', cosi, '--profile', 'spec');
    expect(stdout).toContain('valid (spec profile): 0 error(s)');
    expect(code).toBe(0);
  });

  it('inspects as a table and as JSON', () => {
    const table = trident('cosi', 'inspect', cosi);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/1\s+esp\s+esp\s+1\.0 MiB\s+64\.0 MiB\s+vfat\s+\/boot\/efi/u);
    const json = JSON.parse(trident('cosi', 'inspect', cosi, '--json').stdout);
    expect(json.disk).toEqual({ size: 2 * 1024 ** 3, lbaSize: 512, type: 'gpt' });
    expect(json.partitions.map((p: { mountPoint: string }) => p.mountPoint)).toEqual(['/boot/efi', '/']);
  });

  it('prints the metadata hash that validation accepts, in both spellings', () => {
    const hash = trident('cosi', 'hash', cosi).stdout.trim();
    expect(hash).toMatch(/^[0-9a-f]{96}$/u);
    expect(trident('cosi', 'validate', cosi, '--metadata-only', '--sha384', `sha384:${hash}`).code).toBe(0);
    const wrong = trident('cosi', 'validate', cosi, '--sha384', `sha384:${'ab'.repeat(48)}`);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('[COSI_METADATA_HASH_MISMATCH]');
  });

  it('exits 1 with code, JSON path and message on invalid metadata', async () => {
    // Flip osArch in place (same length) so the tar stays valid but the metadata does not.
    const bytes = await readFile(cosi);
    const text = bytes.toString('latin1').replace(/("osArch": ?)"x86_64"/u, '$1"x86_65"');
    const bad = join(dir, 'bad.cosi');
    await writeFile(bad, Buffer.from(text, 'latin1'));
    const result = trident('cosi', 'validate', bad, '--metadata-only');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('error COSI_OS_ARCH_UNKNOWN at osArch');
    const json = JSON.parse(trident('cosi', 'validate', bad, '--metadata-only', '--json').stdout);
    expect(json.valid).toBe(false);
    expect(json.errors[0]).toMatchObject({ code: 'COSI_OS_ARCH_UNKNOWN', path: 'osArch' });
  });

  it('exits 3 naming the file when it cannot be read, and 2 on a bad command line', () => {
    const missing = trident('cosi', 'inspect', join(dir, 'nope.cosi'));
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('nope.cosi');
    expect(trident('cosi', 'validate', cosi, '--profile', 'loose').code).toBe(2);
    expect(trident('frobnicate').code).toBe(2);
  });

  it('refuses a file that is not a tar archive with a coded error', async () => {
    const junk = join(dir, 'junk.cosi');
    await writeFile(junk, Buffer.alloc(4096, 0x41));
    const result = trident('cosi', 'inspect', junk);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[COSI_TAR_CHECKSUM]');
  });

  it('extracts verified images into a directory', () => {
    const out = join(dir, 'out');
    const result = trident('cosi', 'extract', cosi, '-o', out, '--json');
    expect(result.code).toBe(0);
    const files = JSON.parse(result.stdout) as Array<{ imagePath: string; size: number }>;
    expect(files.map((f) => f.imagePath).sort()).toEqual([
      'images/partition-1.raw.zst',
      'images/partition-2.raw.zst',
      'images/primary-gpt.raw.zst',
    ]);
  });
});
